//! Rate limits shared by two gateways through Redis, and the policy when Redis is gone.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// One key at `--rate-limit 20 --burst 20` hammered through two gateways for 10 s: the
/// accepted total is what one gateway alone would allow (20 at once, then 20/s: 220), not
/// twice that; the rest are 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_share_one_budget() {
    let db = TestDb::create().await;
    let redis = redis();
    let client = http();
    let seed = small_registry_dir();
    let core = core(&db, seed.path());
    let key = keygen(&db, "hammer", "query");
    let prefix = format!("jessy-test:{}:", uuid_like());
    let flags = [
        "--rate-limit",
        "20",
        "--burst",
        "20",
        "--redis",
        &redis.url,
        "--redis-prefix",
        &prefix,
    ];
    let gateways = [
        gateway(&db, &[&core], &flags),
        gateway(&db, &[&core], &flags),
    ];
    for gw in &gateways {
        let health: serde_json::Value = client
            .get(gw.url("/api/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            health["rate_limits"]["state"], "ok",
            "Redis is required for this test and must be reachable at {}: {health}",
            redis.url
        );
    }
    let accepted = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = Duration::from_secs(10);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = gateways[worker % 2].url("/api/v1/dimensions");
        let (client, key) = (client.clone(), key.clone());
        let (accepted, limited, other) = (accepted.clone(), limited.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run {
                let response = client.get(&url).bearer_auth(&key).send().await.unwrap();
                match response.status().as_u16() {
                    200 => accepted.fetch_add(1, Ordering::Relaxed),
                    429 => {
                        assert!(
                            response.headers().contains_key("retry-after"),
                            "429 without Retry-After"
                        );
                        limited.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => other.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (accepted, limited, other) = (
        accepted.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    let allowed = 20.0 + 20.0 * elapsed;
    eprintln!(
        "two gateways, {elapsed:.2} s: {accepted} accepted ({:.1}/s; one budget allows {allowed:.0}), {limited} refused with 429, {other} other",
        accepted as f64 / elapsed
    );
    assert_eq!(other, 0);
    assert!(
        limited > accepted,
        "the load must exceed the limit to test it"
    );
    // GCRA admits at most burst + rate × time; a few requests in flight when the clock ran
    // out are counted after it, hence the small margin above, and none is needed below.
    assert!(
        (accepted as f64) <= allowed + 5.0 && (accepted as f64) >= 0.9 * allowed,
        "{accepted} accepted, one shared budget allows {allowed:.0}"
    );
}

/// Redis unreachable: by default the gateway fails closed (503 `not_ready`) and says so in
/// `/api/health`; with `--redis-failure-policy open` it admits requests without a limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_redis_follows_the_policy() {
    let db = TestDb::create().await;
    let client = http();
    let seed = small_registry_dir();
    let core = core(&db, seed.path());
    let key = keygen(&db, "policy", "query");
    // Port 1 on loopback: nothing listens there, so connecting fails at once.
    let closed = gateway(&db, &[&core], &["--redis", "redis://127.0.0.1:1"]);
    let open = gateway(
        &db,
        &[&core],
        &[
            "--redis",
            "redis://127.0.0.1:1",
            "--redis-failure-policy",
            "open",
        ],
    );
    let health: serde_json::Value = client
        .get(closed.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["rate_limits"]["state"], "unreachable", "{health}");
    assert_eq!(health["rate_limits"]["policy"], "closed", "{health}");
    let refused = client
        .get(closed.url("/api/v1/dimensions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    let admitted = client
        .get(open.url("/api/v1/dimensions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), 200);
    let health: serde_json::Value = client
        .get(open.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["rate_limits"]["policy"], "open", "{health}");
}

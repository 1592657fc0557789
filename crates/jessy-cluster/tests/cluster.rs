//! Cluster mode end to end: real jessy-core and jessy-api processes on one PostgreSQL
//! database, on a server of each test's own (see `common`).

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use jessy_testkit::eventually;

/// Three cores and two gateways on one cluster: a core joining an existing cluster serves its
/// current generation without building; a layer written through core A is served by B and C
/// within 2 s; a key created once works on both gateways, and revoking it stops it on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_cores_two_gateways_share_one_registry() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    let seed = small_registry_dir();
    let a = core(&db, seed.path());
    let a_url = a.url("");
    let seeded = cluster_status(&client, &a_url).await;
    assert_eq!(seeded["database"]["state"], "connected", "{seeded}");
    assert!(
        a.stderr().contains("seeded the empty cluster"),
        "{}",
        a.stderr()
    );

    // B and C start with empty directories: they adopt the cluster's generation.
    let (b_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = core(&db, b_dir.path());
    let c = core(&db, c_dir.path());
    for joined in [&b, &c] {
        let status = cluster_status(&client, &joined.url("")).await;
        assert_eq!(status["digest"], seeded["digest"], "{status}");
        assert_eq!(status["local_generation"], seeded["generation"], "{status}");
        assert!(
            joined.stderr().contains("adopting its current generation"),
            "{}",
            joined.stderr()
        );
        // The small registry's two dimensions, not the default registry's fourteen: nothing
        // was built on the joining core.
        let dims: serde_json::Value = client
            .get(joined.url("/v1/dimensions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            dims["dimensions"].as_array().map(Vec::len),
            Some(2),
            "{dims}"
        );
    }

    let written = put_layer(
        &client,
        &a_url,
        "garden",
        "orchids",
        &layer_body("orchid", 1.1),
    )
    .await;
    let generation = written["generation"].as_u64().unwrap();
    let started = Instant::now();
    for replica in [&b, &c] {
        let url = replica.url("");
        eventually(
            Duration::from_secs(2),
            "the write to reach every core",
            || has_layer(&client, &url, "garden", "orchids"),
        )
        .await;
    }
    let propagation = started.elapsed();
    eprintln!("propagation to both replicas: {propagation:?}");
    for replica in [&b, &c] {
        let status = cluster_status(&client, &replica.url("")).await;
        assert_eq!(status["generation"].as_u64(), Some(generation), "{status}");
        assert_eq!(status["lag"].as_u64(), Some(0), "{status}");
    }

    let key = keygen(&db, "shared-client", "query,write");
    let g1 = gateway(&db, &[&a, &b, &c], &[]);
    let mut g2 = gateway(&db, &[&a, &b, &c], &[]);
    for gw in [&g1, &g2] {
        let url = gw.url("/api/v1/query");
        let key = key.clone();
        let client = client.clone();
        eventually(
            Duration::from_secs(10),
            "the cluster key to work",
            move || {
                let (url, key, client) = (url.clone(), key.clone(), client.clone());
                async move {
                    client
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&serde_json::json!({"query": "how do i prune my roses"}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                }
            },
        )
        .await;
    }
    // The gateway's status lists every core's generation: all three at the written one.
    let admin = keygen(&db, "operator", "query,admin");
    let status_url = g1.url("/api/v1/status");
    let status = eventually(Duration::from_secs(10), "the admin key to work", || {
        let (client, url, admin) = (client.clone(), status_url.clone(), admin.clone());
        async move {
            let response = client.get(&url).bearer_auth(&admin).send().await.ok()?;
            if response.status() != 200 {
                return None;
            }
            response.json::<serde_json::Value>().await.ok()
        }
    })
    .await;
    let cores = status["cores"].as_array().expect("cores listed");
    assert_eq!(cores.len(), 3, "{status}");
    assert!(
        cores
            .iter()
            .all(|c| c["generation"].as_u64() == Some(generation)),
        "{status}"
    );
    // The console's Cluster page (`GET /api/v1/cluster`): each gateway lists both gateways
    // (from their heartbeats in PostgreSQL), itself marked, and every core at the written
    // generation with no lag and its database connected.
    for (gw, other) in [(&g1, &g2), (&g2, &g1)] {
        let view = gateways_view(&client, gw, &admin, |v| {
            v["gateways"].as_array().is_some_and(|g| g.len() == 2)
        })
        .await;
        let listed = |addr: std::net::SocketAddr| {
            view["gateways"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["address"] == addr.to_string())
                .cloned()
        };
        let (me, peer) = (
            listed(gw.addr).expect("itself listed"),
            listed(other.addr).expect("the other gateway listed"),
        );
        assert_eq!(
            (me["this"].as_bool(), peer["this"].as_bool()),
            (Some(true), Some(false)),
            "{view}"
        );
        assert!(
            [&me, &peer].iter().all(|g| g["liveness"] == "live"),
            "{view}"
        );
        assert_eq!(view["mode"], "cluster", "{view}");
        let cores = view["cores"].as_array().expect("cores");
        assert_eq!(cores.len(), 3, "{view}");
        for core in cores {
            assert_eq!(
                core["readiness"]["generation"].as_u64(),
                Some(generation),
                "{view}"
            );
            assert_eq!(
                core["cluster"]["cluster_generation"].as_u64(),
                Some(generation),
                "{view}"
            );
            assert_eq!(core["cluster"]["lag"].as_u64(), Some(0), "{view}");
            assert_eq!(core["cluster"]["database"]["state"], "connected", "{view}");
        }
    }
    // A key made after the gateways started works on both too (notified).
    let late = keygen(&db, "late-client", "query");
    for gw in [&g1, &g2] {
        let url = gw.url("/api/v1/dimensions");
        until_get_answers(&client, &url, &late, 200, "a new cluster key to work").await;
    }
    let revoked = jessy_testkit::command(binary("jessy-api"))
        .args(["revoke", "late-client", "--cluster", &db.url])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    for gw in [&g1, &g2] {
        let url = gw.url("/api/v1/dimensions");
        until_get_answers(&client, &url, &late, 401, "a revoked key to stop working").await;
    }
    // A gateway that stops cleanly stays listed, as stopped (a crashed one would turn stale).
    let g2_addr = g2.addr.to_string();
    g2.signal(jessy_testkit::Signal::SIGTERM);
    assert!(g2.wait_exit(Duration::from_secs(20)).success());
    gateways_view(&client, &g1, &admin, |v| {
        v["gateways"].as_array().is_some_and(|g| {
            g.iter()
                .any(|g| g["address"] == g2_addr.as_str() && g["liveness"] == "stopped")
        })
    })
    .await;
}

/// `GET /api/v1/cluster` of gateway `gw` with `key`, once `accept` holds for it (the key and the
/// heartbeats reach a gateway within a reload interval).
async fn gateways_view(
    client: &reqwest::Client,
    gw: &jessy_testkit::RunningProcess,
    key: &str,
    accept: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let url = gw.url("/api/v1/cluster");
    let accept = &accept;
    eventually(
        Duration::from_secs(15),
        "the gateway's cluster view",
        || {
            let (client, url, key) = (client.clone(), url.clone(), key.to_string());
            async move {
                let response = client.get(&url).bearer_auth(&key).send().await.ok()?;
                if response.status() != 200 {
                    return None;
                }
                let view = response.json::<serde_json::Value>().await.ok()?;
                accept(&view).then_some(view)
            }
        },
    )
    .await
}

/// Two writers on different cores, 100 layer writes each, interleaved: all 200 are present
/// afterwards on both cores and in the source rows, each writer saw strictly increasing
/// generations, and no two acknowledged writes share a generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_lose_nothing() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    let seed = small_registry_dir();
    let a = core(&db, seed.path());
    let b_dir = tempfile::tempdir().unwrap();
    let b = core(&db, b_dir.path());
    const WRITES: usize = 100;
    let writer = |url: String, prefix: &'static str, dimension: &'static str| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut generations = Vec::with_capacity(WRITES);
            for i in 0..WRITES {
                let layer = format!("{prefix}-{i}");
                let frequency = if dimension == "garden" { 1.3 } else { 2.7 };
                let answer = put_layer(
                    &client,
                    &url,
                    dimension,
                    &layer,
                    &layer_body(&format!("{prefix}word{i}"), frequency),
                )
                .await;
                generations.push(answer["generation"].as_u64().expect("generation"));
            }
            generations
        })
    };
    let first = writer(a.url(""), "a", "garden");
    let second = writer(b.url(""), "b", "kitchen");
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    for generations in [&first, &second] {
        assert!(
            generations.windows(2).all(|w| w[0] < w[1]),
            "a writer's generations must increase: {generations:?}"
        );
    }
    let all: BTreeSet<u64> = first.iter().chain(&second).copied().collect();
    assert_eq!(
        all.len(),
        2 * WRITES,
        "two acknowledged writes share a generation"
    );
    let last = *all.iter().max().unwrap();
    for core in [&a, &b] {
        let url = core.url("");
        eventually(Duration::from_secs(10), "both cores at the last generation", || {
            let (client, url) = (client.clone(), url.clone());
            async move { cluster_status(&client, &url).await["generation"].as_u64() == Some(last) }
        })
        .await;
        for i in 0..WRITES {
            assert!(
                has_layer(&client, &url, "garden", &format!("a-{i}")).await,
                "a-{i} missing on {url}"
            );
            assert!(
                has_layer(&client, &url, "kitchen", &format!("b-{i}")).await,
                "b-{i} missing on {url}"
            );
        }
    }
    let rows = jessy_cluster::source::layers(&db.client().await)
        .await
        .unwrap();
    let written = rows
        .iter()
        .filter(|(_, id, _)| id.starts_with("a-") || id.starts_with("b-"))
        .count();
    assert_eq!(written, 2 * WRITES);
    let kept = jessy_cluster::generations::list(&db.client().await)
        .await
        .unwrap();
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]) && kept.last() == Some(&last),
        "{kept:?}"
    );
}

/// A writing core killed with SIGKILL in the middle of a write: the cluster never shows a
/// half-published generation (every recorded generation downloads with a matching digest),
/// the acknowledged write before it survives, the other cores answer every query throughout,
/// and the killed core, restarted, rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_writer_mid_write_loses_nothing() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    // The default registry, whose writes take long enough (a rebuild of fourteen dimensions)
    // for the kill to land inside one.
    let a_dir = tempfile::tempdir().unwrap();
    let a = core(&db, a_dir.path());
    let (b_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = core(&db, b_dir.path());
    let c = core(&db, c_dir.path());

    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for url in [b.url(""), c.url("")] {
        let (client, failures, answered, stop) = (
            client.clone(),
            failures.clone(),
            answered.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match query_core(&client, &url, "I'm so anxious about my exam tomorrow").await {
                    Ok(()) => answered.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("query failed on {url}: {e}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }

    let acknowledged = put_layer(
        &client,
        &a.url(""),
        "emotion",
        "acknowledged",
        &layer_body("acknowledgedword", 1.0),
    )
    .await["generation"]
        .as_u64()
        .unwrap();
    // The next write is killed mid-flight.
    let doomed = {
        let (client, url) = (client.clone(), a.url(""));
        tokio::spawn(async move {
            client
                .put(format!("{url}/v1/dimensions/emotion/layers/doomed"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&layer_body("doomedword", 1.0))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    // Kill only once the write holds the cluster's build lock: it is then between reading the
    // current generation and committing the next one.
    let watcher = db.client().await;
    let key = jessy_cluster::locks::BUILD;
    let (classid, objid) = ((key >> 32) as u32 as i64, (key & 0xffff_ffff) as u32 as i64);
    eventually(
        Duration::from_secs(30),
        "the write to take the build lock",
        || {
            let (watcher, name) = (&watcher, db.name.clone());
            async move {
                watcher
                    .query_one(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                      WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1
                        AND l.classid::bigint = $2 AND l.objid::bigint = $3",
                        &[&name, &classid, &objid],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0)
                    == 1
            }
        },
    )
    .await;
    a.kill_9();
    let doomed = doomed.await.unwrap();
    // The connection broke under the request: the kill landed while the write was in
    // progress (a write that had already answered would show its status here).
    assert!(
        doomed.is_err(),
        "the write was not in progress when the core was killed: {doomed:?}"
    );

    let pg = db.client().await;
    let current = jessy_cluster::generations::current(&pg)
        .await
        .unwrap()
        .unwrap();
    assert!(
        current.generation >= acknowledged,
        "{current:?} vs acknowledged {acknowledged}"
    );
    for number in jessy_cluster::generations::list(&pg).await.unwrap() {
        let head = pg
            .query_one(
                "SELECT digest, size FROM jessy_generations WHERE generation = $1",
                &[&(number as i64)],
            )
            .await
            .unwrap();
        let head = jessy_cluster::GenerationHead {
            generation: number,
            digest: head.get(0),
            size: head.get::<_, i64>(1) as u64,
        };
        jessy_cluster::generations::fetch(&pg, &head)
            .await
            .unwrap_or_else(|e| panic!("generation {number} is not complete: {e}"));
    }
    for replica in [&b, &c] {
        let url = replica.url("");
        eventually(
            Duration::from_secs(10),
            "replicas at the cluster's generation",
            || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    cluster_status(&client, &url).await["generation"].as_u64()
                        == Some(current.generation)
                }
            },
        )
        .await;
        assert!(has_layer(&client, &url, "emotion", "acknowledged").await);
    }
    // The killed core comes back on its directory and rejoins; a write through it reaches
    // the others.
    let a = core(&db, a_dir.path());
    let again = put_layer(
        &client,
        &a.url(""),
        "emotion",
        "after-crash",
        &layer_body("aftercrashword", 1.0),
    )
    .await;
    assert!(again["generation"].as_u64().unwrap() > current.generation);
    for replica in [&b, &c] {
        let url = replica.url("");
        eventually(
            Duration::from_secs(10),
            "the post-crash write everywhere",
            || has_layer(&client, &url, "emotion", "after-crash"),
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    eprintln!(
        "queries answered during the run: {}, failed: {}",
        answered.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    assert!(answered.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "queries failed during the run"
    );
}

/// How the database server goes away in [`losing_the_database_degrades_and_recovers`].
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// `pg_ctl stop -m fast`: sessions ended, a checkpoint, a clean exit.
    FastStop,
    /// SIGKILL to the server and its backends: the next start replays the WAL.
    Kill,
}

/// The database server goes away under query load and comes back on the same data directory
/// and port, twice: stopped with a fast shutdown, then killed with SIGKILL. Each time queries
/// keep being answered from the last generation, `/ready` says `degraded`, writes and feedback
/// are refused with 503, and once the server is back the cores reconnect, a new write reaches
/// every core and feedback is taken again. The server is the test's own even when
/// `JESSY_TEST_POSTGRES_URL` names one: it has to be stopped and killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_database_degrades_and_recovers() {
    let _serial = serial().await;
    let mut db = TestDb::create_on_own_server().await;
    let client = http();
    let seed = small_registry_dir();
    let a = core(&db, seed.path());
    let b_dir = tempfile::tempdir().unwrap();
    let b = core(&db, b_dir.path());

    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for url in [a.url(""), b.url("")] {
        let (client, failures, answered, stop) = (
            client.clone(),
            failures.clone(),
            answered.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match query_core(&client, &url, "my sourdough bread is too dense").await {
                    Ok(()) => answered.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    for (round, outage) in [Outage::FastStop, Outage::Kill].into_iter().enumerate() {
        let held = connections_to(&db).await;
        assert!(held > 0, "the cores held connections to lose ({outage:?})");
        let t0 = Instant::now();
        let server = db.own_server().expect("the test's own server");
        match outage {
            Outage::FastStop => server.stop_fast().await,
            Outage::Kill => server.kill(),
        }
        .unwrap_or_else(|e| panic!("{outage:?}: {e}"));
        for core in [&a, &b] {
            let url = core.url("/ready");
            eventually(Duration::from_secs(10), "/ready to report degraded", || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let response = client.get(&url).send().await.ok()?;
                    let status = response.status();
                    let body: serde_json::Value = response.json().await.ok()?;
                    (status == 200 && body["degraded"].is_string()).then_some(())
                }
            })
            .await;
        }
        let refused = client
            .put(a.url("/v1/dimensions/garden/layers/while-down"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&layer_body("whiledown", 1.0))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            503,
            "a write without the database is refused ({outage:?})"
        );
        // Feedback too: refused (the client can retry), never acknowledged and lost.
        let feedback = client
            .post(a.url("/v1/feedback"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"text": "while down", "layer": "garden/roses"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            feedback.status(),
            503,
            "feedback without the database is refused ({outage:?})"
        );
        eprintln!("{outage:?}: degraded and refused after {:?}", t0.elapsed());
        tokio::time::sleep(Duration::from_secs(1)).await;
        db.own_server()
            .expect("the test's own server")
            .start_again()
            .await
            .unwrap_or_else(|e| panic!("restart after {outage:?}: {e}"));
        for core in [&a, &b] {
            let url = core.url("");
            eventually(Duration::from_secs(15), "the cores to reconnect", || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    cluster_status(&client, &url).await["database"]["state"] == "connected"
                }
            })
            .await;
        }
        eprintln!("{outage:?}: reconnected after {:?}", t0.elapsed());
        let layer = format!("after-outage-{round}");
        put_layer(
            &client,
            &a.url(""),
            "garden",
            &layer,
            &layer_body(&format!("afteroutage{round}"), 1.0),
        )
        .await;
        let (status, answer) = post_admin(
            &client,
            a.url("/v1/feedback"),
            &serde_json::json!({"text": "after the outage", "layer": "garden/roses"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        // One accepted per round, none of the refused ones: nothing was lost or doubled.
        assert_eq!(answer["feedback_total"], round + 1, "{answer}");
        let b_url = b.url("");
        eventually(
            Duration::from_secs(5),
            "the post-outage write on the other core",
            || has_layer(&client, &b_url, "garden", &layer),
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    eprintln!(
        "queries answered: {}, failed: {}",
        answered.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
}

/// How many sessions (other than this one) are connected to the test's database now.
async fn connections_to(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .expect("count sessions")
        .get(0)
}

/// `jessy cluster push` seeds an empty cluster explicitly (a core then adopts it), refuses to
/// replace a seeded cluster's registry without `--replace`, and with it publishes the next
/// generation, which the running core follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_push_seeds_and_replaces() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    let snapshot = small_registry_dir();
    let push = |replace: bool| {
        let mut command = jessy_testkit::command(binary("jessy"));
        command.args([
            "cluster",
            "push",
            snapshot.path().to_str().unwrap(),
            "--cluster",
            &db.url,
        ]);
        if replace {
            command.arg("--replace");
        }
        command.output().expect("run jessy cluster push")
    };
    let first = push(false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let core = core(&db, dir.path());
    let status = cluster_status(&client, &core.url("")).await;
    let seeded = status["generation"].as_u64().expect("a generation");
    assert!(
        core.stderr().contains("adopting its current generation"),
        "{}",
        core.stderr()
    );
    let refused = push(false);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--replace"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let replaced = push(true);
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    let url = core.url("");
    eventually(Duration::from_secs(5), "the core to follow the pushed generation", || {
        let (client, url) = (client.clone(), url.clone());
        async move { cluster_status(&client, &url).await["generation"].as_u64() == Some(seeded + 1) }
    })
    .await;
}

/// `POST` JSON to a core with the admin token: status and JSON answer.
async fn post_admin(
    client: &reqwest::Client,
    url: String,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text }));
    (status, json)
}

/// The first layer a core routes `text` to (`dimension/layer`), or the outcome.
async fn routed(client: &reqwest::Client, core: &str, text: &str) -> String {
    let result: serde_json::Value = client
        .post(format!("{core}/v1/query"))
        .json(&serde_json::json!({ "query": text }))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("JSON");
    match result["top_layers"][0].as_object() {
        Some(top) if result["outcome"] != "no_match" => {
            format!(
                "{}/{}",
                top["dimension"].as_str().unwrap_or(""),
                top["layer"].as_str().unwrap_or("")
            )
        }
        _ => format!("{}", result["outcome"]),
    }
}

/// Feedback given to either core lands in the cluster's log (not a core's own file); a
/// learning run on one core learns from all of it, publishes through the cluster, and every
/// core serves what was learned, with the learned source rows in PostgreSQL; accepting a
/// suggestion on one core creates its layer on all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feedback_and_learning_go_through_the_cluster() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    let seed = small_registry_dir();
    let a = core(&db, seed.path());
    let b_dir = tempfile::tempdir().unwrap();
    let b = core(&db, b_dir.path());
    let (a_url, b_url) = (a.url(""), b.url(""));
    let start = cluster_status(&client, &b_url).await["generation"]
        .as_u64()
        .expect("B joined");

    // Phrases no layer knows, each labelled by feedback: half given to A, half to B.
    let taught: Vec<(String, &str)> = (0..12)
        .flat_map(|i| {
            [
                (
                    format!("aphids keep eating the petals again {i}"),
                    "garden/roses",
                ),
                (
                    format!("laminating croissant butter layers batch {i}"),
                    "kitchen/bread",
                ),
            ]
        })
        .collect();
    let probe_rose = "aphids keep eating the petals";
    let probe_bread = "laminating croissant butter layers";
    assert_ne!(routed(&client, &a_url, probe_rose).await, "garden/roses");
    assert_ne!(routed(&client, &a_url, probe_bread).await, "kitchen/bread");
    let (first, second) = taught.split_at(taught.len() / 2);
    let mut total = 0;
    for (url, batch) in [(&a_url, first), (&b_url, second)] {
        let items: Vec<_> = batch
            .iter()
            .map(|(text, layer)| serde_json::json!({ "text": text, "layer": layer }))
            .collect();
        let (status, answer) = post_admin(
            &client,
            format!("{url}/v1/feedback"),
            &serde_json::json!(items),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        total += batch.len();
        assert_eq!(
            answer["feedback_total"].as_u64(),
            Some(total as u64),
            "{answer}"
        );
    }
    // In the cluster's log, committed; no core kept a local log.
    let pg = db.client().await;
    assert_eq!(
        jessy_cluster::feedback::count(&pg).await.unwrap(),
        taught.len()
    );
    for dir in [seed.path(), b_dir.path()] {
        assert!(!dir.join("feedback.jsonl").exists(), "{}", dir.display());
    }
    // An unknown layer is refused before anything is stored.
    let (status, answer) = post_admin(
        &client,
        format!("{a_url}/v1/feedback"),
        &serde_json::json!({"text": "x", "layer": "garden/cacti"}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        jessy_cluster::feedback::count(&pg).await.unwrap(),
        taught.len()
    );

    // Learning on B uses A's feedback too, and A serves the result.
    let (status, report) =
        post_admin(&client, format!("{b_url}/v1/learn"), &serde_json::json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["published"], true, "{report}");
    assert_eq!(
        report["feedback_total"].as_u64(),
        Some(taught.len() as u64),
        "{report}"
    );
    let learned = report["generation"].as_u64().expect("generation");
    assert!(learned > start, "{report}");
    eventually(Duration::from_secs(2), "A to serve the learned generation", || {
        let (client, url) = (client.clone(), a_url.clone());
        async move { cluster_status(&client, &url).await["generation"].as_u64() == Some(learned) }
    })
    .await;
    for url in [&a_url, &b_url] {
        assert_eq!(routed(&client, url, probe_rose).await, "garden/roses");
        assert_eq!(routed(&client, url, probe_bread).await, "kitchen/bread");
    }
    // The learned examples are in the source of record.
    let roses: serde_json::Value = pg
        .query_one(
            "SELECT body FROM jessy_layers WHERE dimension = 'garden' AND id = 'roses'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        roses["examples"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .is_some_and(|e| e.starts_with("aphids keep eating"))),
        "{roses}"
    );
    // Nothing new to learn: nothing published, on either core.
    let (status, again) =
        post_admin(&client, format!("{a_url}/v1/learn"), &serde_json::json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["published"], false, "{again}");
    assert_eq!(again["generation"].as_u64(), Some(learned), "{again}");

    // A suggestion from A's unrouted traffic, accepted on A, is a layer on B.
    for text in ["flurbo gizmo", "gizmo flurbo", "flurbos and gizmos"] {
        assert_eq!(routed(&client, &a_url, text).await, "\"no_match\"");
    }
    let list: serde_json::Value = client
        .get(format!("{a_url}/v1/suggestions"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "flurbo gizmo")
        })
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("{list}"))
        .to_string();
    let (status, accepted) = post_admin(
        &client,
        format!("{a_url}/v1/suggestions/{id}/accept"),
        &serde_json::json!({"dimension": "garden", "layer": "flurbo-gizmos", "name": "Flurbo gizmos"}),
    )
    .await;
    assert_eq!(status, 201, "{accepted}");
    assert!(
        accepted["generation"].as_u64() > Some(learned),
        "{accepted}"
    );
    eventually(
        Duration::from_secs(2),
        "B to serve the accepted layer",
        || has_layer(&client, &b_url, "garden", "flurbo-gizmos"),
    )
    .await;
}

/// Waits up to 10 s for `GET url` with `key` to answer `status`.
async fn until_get_answers(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    status: u16,
    what: &str,
) {
    eventually(Duration::from_secs(10), what, || async {
        client
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .is_ok_and(|r| r.status() == status)
    })
    .await;
}

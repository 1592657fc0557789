//! The store's API against a PostgreSQL of each test's own: concurrent migrations, generations in
//! chunks, the feedback log.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use jessy_cluster::feedback::{self, FeedbackRecord};
use jessy_cluster::{generations, locks, migrate};

/// Eight services starting at once against an empty database: one migrates, none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_once() {
    let db = TestDb::create().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = jessy_cluster::connect(&url).await.unwrap();
            migrate::migrate(&mut client).await.unwrap()
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        applied.extend(task.await.unwrap());
    }
    assert_eq!(
        applied,
        (1..=migrate::latest()).collect::<Vec<_>>(),
        "each migration applied exactly once"
    );
}

/// A generation larger than one chunk round-trips; a corrupted chunk is refused.
#[tokio::test]
async fn generations_round_trip_in_chunks_and_corruption_is_caught() {
    let db = TestDb::create().await;
    let mut client = db.client().await;
    migrate::migrate(&mut client).await.unwrap();
    assert_eq!(generations::current(&client).await.unwrap(), None);
    let bytes: Vec<u8> = (0..generations::CHUNK_BYTES * 2 + 12_345)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let tx = client.transaction().await.unwrap();
    locks::lock_for_transaction(&tx, locks::BUILD)
        .await
        .unwrap();
    let head = generations::publish(&tx, 7, None, &bytes, "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        generations::current(&client).await.unwrap(),
        Some(head.clone())
    );
    assert_eq!(generations::fetch(&client, &head).await.unwrap(), bytes);
    client
        .execute(
            "UPDATE jessy_generation_chunks SET bytes = 'x' WHERE generation = 7 AND seq = 1",
            &[],
        )
        .await
        .unwrap();
    let error = generations::fetch(&client, &head).await.unwrap_err();
    assert!(error.to_string().contains("generation 7"), "{error}");
    // A transaction that never commits publishes nothing.
    let tx = client.transaction().await.unwrap();
    generations::publish(&tx, 8, Some(7), b"never", "test")
        .await
        .unwrap();
    drop(tx);
    assert_eq!(
        generations::current(&client)
            .await
            .unwrap()
            .map(|h| h.generation),
        Some(7)
    );
}

/// Feedback batches are committed when `append` returns and read back in order, all or
/// after an id.
#[tokio::test]
async fn feedback_appends_durably_and_reads_since_an_id() {
    let db = TestDb::create().await;
    let mut client = db.client().await;
    migrate::migrate(&mut client).await.unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let record = |text: &str, layer: Option<&str>| FeedbackRecord {
        text: text.to_string(),
        layer: layer.map(str::to_string),
        query_id: Some(format!("q-{text}")),
        received_at: at,
    };
    let first = feedback::append(
        &mut client,
        &[record("one", Some("garden/roses")), record("two", None)],
    )
    .await
    .unwrap();
    let second = feedback::append(&mut client, &[record("three", Some("kitchen/bread"))])
        .await
        .unwrap();
    // Read on another connection: committed, not merely visible to the writer.
    let other = db.client().await;
    let all = feedback::read_all(&other).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|f| f.record.text.as_str())
            .collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert_eq!(all[0].record, record("one", Some("garden/roses")));
    assert_eq!(all[1].record.layer, None);
    let since = feedback::read_since(&other, first[1]).await.unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].id, second[0]);
    assert_eq!(feedback::count(&other).await.unwrap(), 3);
    let total = feedback::append_counted(&mut client, &[record("four", None)])
        .await
        .unwrap();
    assert_eq!(total, 4);
}

/// Gateway heartbeats: two gateways see each other; one whose beats stopped is listed as stale
/// (not dropped), one that stopped cleanly as stopped, and a beat after a stop revives the row.
#[tokio::test]
async fn gateway_heartbeats_list_live_stale_and_stopped_gateways() {
    use jessy_cluster::gateways::{self, Beat, Liveness};
    let db = TestDb::create().await;
    let mut client = db.client().await;
    migrate::migrate(&mut client).await.unwrap();
    let beat = |id: &'static str, uptime_secs: f64| Beat {
        id,
        address: "127.0.0.1:3000",
        version: "9.9.9",
        uptime_secs,
    };
    gateways::beat(&client, &beat("gw-a", 120.0)).await.unwrap();
    gateways::beat(&client, &beat("gw-b", 0.0)).await.unwrap();
    gateways::beat(&client, &beat("gw-a", 125.0)).await.unwrap();
    let (rows, total) = gateways::list(&client, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.liveness(15.0) == Liveness::Live),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|r| r.version == "9.9.9" && r.last_seen_at.ends_with('Z')));
    // Started at now() - uptime on the database's clock: gw-a two minutes before gw-b.
    let started = |id: &str| rows.iter().find(|r| r.id == id).unwrap().started_at.clone();
    assert!(started("gw-a") < started("gw-b"), "{rows:?}");

    // gw-a stops beating (as after a crash): a minute later it is stale, and still listed.
    client
        .execute(
            "UPDATE jessy_gateways SET last_seen_at = now() - interval '1 minute' WHERE id = 'gw-a'",
            &[],
        )
        .await
        .unwrap();
    gateways::stopped(&client, "gw-b").await.unwrap();
    let (rows, _) = gateways::list(&client, 10).await.unwrap();
    let find = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(find("gw-a").liveness(15.0), Liveness::Stale);
    assert!(find("gw-a").seen_secs_ago >= 60.0);
    assert_eq!(find("gw-b").liveness(15.0), Liveness::Stopped);
    // Not stopped first: the stale one is listed before the stopped one.
    assert_eq!(rows[0].id, "gw-a");
    // A limit shows fewer rows but the total counts all.
    let (first, total) = gateways::list(&client, 1).await.unwrap();
    assert_eq!((first.len(), total), (1, 2));

    gateways::beat(&client, &beat("gw-b", 30.0)).await.unwrap();
    let (rows, _) = gateways::list(&client, 10).await.unwrap();
    let b = rows.iter().find(|r| r.id == "gw-b").unwrap();
    assert_eq!(b.liveness(15.0), Liveness::Live, "{b:?}");
}

//! Readers never block on writers and never see a torn generation.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jessy_engine::result::QueryResult;
use serde_json::{json, Value};

use crate::util::{client, get_json, layer_body, prepared_dir, start_core};

/// Concurrent query loops, hammering while the writer publishes.
const READERS: usize = 3;
/// Alternating create/delete of one layer: four generations published under load.
const WRITES: usize = 4;
/// Pause between one reader's queries: enough to leave the writer's retrain some of the two
/// shared cores, short enough that every write overlaps many queries.
const READER_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_stay_whole_while_layers_are_written() {
    let dir = prepared_dir();
    let server = Arc::new(start_core(dir.path(), &[]));
    let http = client();
    let ready: Value = get_json(&http, server.url("/ready")).await;
    let g0 = ready["generation"].as_u64().unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (server, http, done) = (server.clone(), http.clone(), done.clone());
            tokio::spawn(async move {
                // Half the readers ask about the layer being written, half about something else.
                let text = if i % 2 == 0 {
                    "how do i configure quuxwidget"
                } else {
                    "my rust code does not compile"
                };
                let mut seen = Vec::new();
                while !done.load(Ordering::Acquire) || seen.is_empty() {
                    let response = http
                        .post(server.url("/v1/query"))
                        .json(&json!({"query": text}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let bytes = response.bytes().await.unwrap();
                    let result: QueryResult = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!(
                            "incomplete result ({e}): {}",
                            String::from_utf8_lossy(&bytes)
                        )
                    });
                    assert_eq!(result.query, text);
                    for hit in &result.top_layers {
                        assert!(
                            !hit.dimension.is_empty() && !hit.layer.is_empty(),
                            "{result:?}"
                        );
                    }
                    seen.push(result.generation);
                    tokio::time::sleep(READER_PAUSE).await;
                }
                seen
            })
        })
        .collect();

    // One writer alternates creating and deleting a layer: every write is a new generation.
    let url = server.url("/v1/dimensions/technical/layers/quuxwidget");
    let mut acknowledged = BTreeSet::from([g0]);
    for n in 0..WRITES {
        let response = if n % 2 == 0 {
            http.put(&url)
                .json(&layer_body("Quux widget", "quuxwidget"))
                .send()
                .await
                .unwrap()
        } else {
            http.delete(&url).send().await.unwrap()
        };
        assert!(
            response.status().is_success(),
            "write {n}: {}",
            response.status()
        );
        let outcome: Value = response.json().await.unwrap();
        acknowledged.insert(outcome["generation"].as_u64().unwrap());
    }
    done.store(true, Ordering::Release);

    assert_eq!(
        acknowledged.len(),
        WRITES + 1,
        "every write publishes its own generation: {acknowledged:?}"
    );
    let mut total = 0;
    let mut distinct = BTreeSet::new();
    for reader in readers {
        let seen = reader.await.unwrap();
        total += seen.len();
        distinct.extend(seen.iter().copied());
        for generation in &seen {
            assert!(
                acknowledged.contains(generation),
                "generation {generation} never existed: {acknowledged:?}"
            );
        }
        // Each reader's queries are sequential, so it never goes back in time.
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "generations went backwards: {seen:?}"
        );
    }
    // Readers kept answering while the writes happened: they saw several generations.
    assert!(
        distinct.len() >= 2,
        "readers saw only {distinct:?} in {total} queries"
    );
}

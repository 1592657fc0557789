//! The writer's rules hold in cluster mode as they do standalone (jessy-core's
//! `tests/service/routes.rs` checks the standalone side): real cores on one PostgreSQL
//! database (a fresh one per test).

mod common;

use std::time::Duration;

use common::*;
use jessy_testkit::eventually;

/// A layer with children is not deleted, in cluster mode too: the delete is answered 422
/// `invalid_layer` naming the child, publishes nothing, and leaves the parent served. The
/// child is written through one core and the delete sent to the other straight away, so the
/// refusal must come from the generation the delete is built from (caught up under the
/// build lock), not from what the second core happened to serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_parent_layer_is_refused_in_cluster_mode() {
    let _serial = serial().await;
    let db = TestDb::create().await;
    let client = http();
    let seed = small_registry_dir();
    let a = core(&db, seed.path());
    let a_url = a.url("");
    assert_eq!(
        cluster_status(&client, &a_url).await["database"]["state"],
        "connected"
    );
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b = core(&db, b_dir.path());
    let b_url = b.url("");

    let parent = put_layer(
        &client,
        &a_url,
        "garden",
        "orchids",
        &layer_body("orchid", 1.1),
    )
    .await;
    let mut child_body = layer_body("phalaenopsis", 1.15);
    child_body["parent"] = serde_json::json!("orchids");
    let child = put_layer(&client, &a_url, "garden", "moth-orchids", &child_body).await;
    let generation = child["generation"].as_u64().expect("generation");
    assert_eq!(
        parent["generation"].as_u64().map(|g| g + 1),
        Some(generation)
    );

    for core in [&b_url, &a_url] {
        let response = client
            .delete(format!("{core}/v1/dimensions/garden/layers/orchids"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("DELETE");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.expect("JSON error body");
        assert_eq!(status, 422, "{core}: {body}");
        assert_eq!(body["error"]["code"], "invalid_layer", "{core}: {body}");
        // The writer's refusal, not the validator's "unknown parent" on the child (which
        // is what cluster mode answered before the rule held there too).
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("has child layers moth-orchids"),
            "{core}: {message}"
        );
    }

    // Nothing was published: both cores serve the child's generation, parent included.
    for core in [&a_url, &b_url] {
        let url = core.clone();
        let client = client.clone();
        eventually(
            Duration::from_secs(5),
            "every core to serve the child's generation",
            || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    cluster_status(&client, &url).await["generation"].as_u64() == Some(generation)
                }
            },
        )
        .await;
        assert!(
            has_layer(&client, core, "garden", "orchids").await,
            "{core}"
        );
    }
    let pg = db.client().await;
    let current = jessy_cluster::generations::current(&pg)
        .await
        .expect("current generation")
        .expect("a seeded cluster");
    assert_eq!(current.generation, generation);

    // Once the child is gone, the parent can go, through either core.
    for (core, layer) in [(&b_url, "moth-orchids"), (&a_url, "orchids")] {
        let response = client
            .delete(format!("{core}/v1/dimensions/garden/layers/{layer}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status().as_u16(), 200, "{core} {layer}");
    }
}

//! The replica entry points a cluster uses: prepare a write's generation without publishing
//! it, install generations built elsewhere (keeping their number, or restamping when the
//! directory is ahead), adopt a generation into an empty directory.

use jessy_engine::registry::{Keyword, LayerSource};
use jessy_engine::Engine;

fn layer(id: &str) -> LayerSource {
    LayerSource {
        id: id.to_string(),
        name: format!("Layer {id}"),
        parent: None,
        frequency: 1.0,
        keywords: vec![Keyword::Plain(format!("{id}word"))],
        examples: vec![format!("tell me about {id}word")],
        content: format!("About {id}."),
    }
}

#[test]
fn prepared_generations_install_on_replicas_with_their_number_or_restamped() {
    let builder_dir = tempfile::tempdir().unwrap();
    let builder = Engine::open_or_init_default(builder_dir.path()).unwrap();
    let base = builder.stats().generation;

    // A new replica adopts the builder's bytes as they are: same number, same bytes.
    let replica_dir = tempfile::tempdir().unwrap();
    let replica =
        Engine::open_or_adopt(replica_dir.path(), Some(&builder.current_bytes().unwrap())).unwrap();
    assert_eq!(replica.stats().generation, base);
    assert_eq!(
        replica.current_bytes().unwrap(),
        builder.current_bytes().unwrap()
    );

    // Preparing publishes nothing; installing publishes on whichever engine installs it.
    let prepared = builder
        .prepare_upsert("emotion", layer("alpha"), base + 1)
        .unwrap();
    assert!(prepared.created);
    assert_eq!(builder.stats().generation, base, "prepare must not publish");
    assert!(builder.registry().layer("emotion", "alpha").is_none());
    assert_eq!(replica.install(&prepared.bytes).unwrap(), base + 1);
    assert!(replica.registry().layer("emotion", "alpha").is_some());
    assert_eq!(builder.install(&prepared.bytes).unwrap(), base + 1);
    assert_eq!(replica.current_bytes().unwrap(), prepared.bytes);

    // A directory ahead of the cluster (it served its own writes) gets the bytes restamped to
    // its next number, with the same content.
    let ahead_dir = tempfile::tempdir().unwrap();
    let ahead = Engine::open_or_init_default(ahead_dir.path()).unwrap();
    ahead.upsert_layer("emotion", layer("x1")).unwrap();
    let local = ahead.stats().generation;
    assert!(local > base, "the next free number is above the cluster's");
    assert_eq!(ahead.install(&prepared.bytes).unwrap(), local + 1);
    let registry = ahead.registry();
    assert!(registry.layer("emotion", "alpha").is_some());
    assert!(
        registry.layer("emotion", "x1").is_none(),
        "the cluster's registry replaced the local one"
    );
    drop(registry);
    // Reopened from disk, the restamped generation validates like any other.
    drop(ahead);
    let reopened = Engine::open(ahead_dir.path()).unwrap();
    assert_eq!(reopened.stats().generation, local + 1);

    // Corrupt bytes are refused and leave the current generation in place.
    let mut corrupt = prepared.bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    assert!(replica.install(&corrupt).is_err());
    assert_eq!(replica.stats().generation, base + 1);

    // Renumbered bytes for a cluster push validate and carry the new number.
    let renumbered = replica.current_bytes_as(base + 10).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let adopted = Engine::open_or_adopt(fresh.path(), Some(&renumbered)).unwrap();
    assert_eq!(adopted.stats().generation, base + 10);
}

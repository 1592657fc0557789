//! The snapshot directory as the engine owns it: one writer per directory, a lost manifest
//! never wipes the registry, and only an empty directory gets the default registry.

use std::path::Path;

use jessy_engine::build::{self, BuildError, BuildOptions};
use jessy_engine::registry::{self, Keyword, LayerSource};
use jessy_engine::{Engine, EngineError, OpenError, PublishError, WriteError};

fn layer(id: &str) -> LayerSource {
    LayerSource {
        id: id.into(),
        name: format!("Layer {id}"),
        parent: None,
        frequency: 3.0,
        keywords: vec![Keyword::Plain(id.into())],
        examples: vec![
            format!("how do i set up {id}"),
            format!("my {id} keeps failing"),
        ],
        content: format!("Guidance about {id}."),
    }
}

fn generation_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") && n.ends_with(".snap"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_deleted_manifest_is_recovered_and_acknowledged_layers_survive() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_or_init_default(dir.path()).unwrap();
    let acknowledged = engine
        .upsert_layer("technical", layer("frobnicator"))
        .unwrap()
        .generation;
    // Keep an older generation's file on disk too, as a reader holding it would.
    let held = engine.registry();
    engine
        .upsert_layer("technical", layer("glimmerdrive"))
        .unwrap();
    let last = engine.stats().generation;
    assert!(last > acknowledged);
    drop(engine);
    drop(held);
    let files_before = generation_files(dir.path());
    assert!(!files_before.is_empty());

    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let engine = Engine::open_or_init_default(dir.path()).unwrap();
    let recovery = engine.recovery().expect("the recovery is reported");
    assert_eq!(recovery.generation, last);
    assert_eq!(engine.stats().generation, last);
    let registry = engine.registry();
    assert!(registry.layer("technical", "frobnicator").is_some());
    assert!(registry.layer("technical", "glimmerdrive").is_some());
    assert_eq!(
        generation_files(dir.path()),
        files_before,
        "no file deleted"
    );
    drop(engine);

    // Opened normally afterwards: nothing left to recover.
    let engine = Engine::open(dir.path()).unwrap();
    assert!(engine.recovery().is_none());
    assert_eq!(engine.stats().generation, last);
}

#[test]
fn generation_files_that_all_fail_to_validate_are_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gen-0000000000000007.snap");
    std::fs::write(&file, b"JESSYSNP not a snapshot").unwrap();
    let err = Engine::open_or_init_default(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(err, EngineError::Open(OpenError::Unrecoverable { .. })),
        "{err}"
    );
    assert_eq!(
        generation_files(dir.path()),
        vec!["gen-0000000000000007.snap"]
    );
    assert!(!dir.path().join("CURRENT").exists());
}

#[test]
fn only_an_empty_or_absent_directory_gets_the_default_registry() {
    let parent = tempfile::tempdir().unwrap();
    let absent = parent.path().join("a").join("registry");
    let engine = Engine::open_or_init_default(&absent).unwrap();
    assert_eq!(engine.stats().generation, 1);
    assert!(engine.recovery().is_none());
    drop(engine);

    let with_other_files = tempfile::tempdir().unwrap();
    std::fs::write(with_other_files.path().join("notes.txt"), b"mine").unwrap();
    let engine = Engine::open_or_init_default(with_other_files.path()).unwrap();
    assert_eq!(engine.stats().generation, 1);
    assert_eq!(
        std::fs::read(with_other_files.path().join("notes.txt")).unwrap(),
        b"mine",
        "files that are not Jessy's are left alone"
    );

    assert!(matches!(
        Engine::open(&parent.path().join("missing")),
        Err(EngineError::Open(OpenError::NoSnapshot { .. }))
    ));
}

#[test]
fn a_second_writer_on_one_directory_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = Engine::open_or_init_default(dir.path()).unwrap();
    for second in [
        Engine::open(dir.path()),
        Engine::open_or_init_default(dir.path()),
    ] {
        let err = second.err().expect("second writer refused");
        assert!(
            matches!(err, EngineError::Open(OpenError::Locked { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }
    // A one-shot build into the owned directory would fork its history: refused.
    let source = registry::default_source().unwrap();
    let err = build::build_dir(&source, dir.path(), &BuildOptions::default())
        .err()
        .expect("build refused");
    assert!(
        matches!(err, BuildError::Publish(PublishError::Locked { .. })),
        "{err}"
    );
    // Readers need no ownership; they cannot write.
    let reader = Engine::open_read_only(dir.path()).unwrap();
    assert!(!reader.is_writable());
    assert!(matches!(
        reader.upsert_layer("technical", layer("snorkelbus")),
        Err(WriteError::Publish(PublishError::ReadOnly { .. }))
    ));

    let generation = first
        .upsert_layer("technical", layer("snorkelbus"))
        .unwrap()
        .generation;
    drop(first);
    let second = Engine::open(dir.path()).unwrap();
    assert_eq!(second.stats().generation, generation);
    assert!(second.registry().layer("technical", "snorkelbus").is_some());
}

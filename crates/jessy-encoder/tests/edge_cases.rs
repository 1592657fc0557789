//! The tokenizer and the forward pass on awkward input: never a panic, always a finite unit
//! vector of the model's width.

mod common;

use jessy_encoder::{LoadError, SentenceEncoder};
use jessy_engine::semantic::Encoder;

fn assert_unit(v: &[f32], what: &str) {
    assert_eq!(v.len(), 384, "{what}");
    assert!(
        v.iter().all(|x| x.is_finite()),
        "{what}: non-finite component"
    );
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{what}: norm {norm}");
}

#[test]
fn awkward_texts_give_unit_vectors() {
    let encoder = common::encoder();
    let long = "the quick brown fox jumps over the lazy dog ".repeat(240); // ~10.5 KB
    assert!(long.len() >= 10_000);
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("only spaces", "   \t\n ".into()),
        // Control and zero-width characters: BERT's normalizer removes them all.
        (
            "empty after normalization",
            "\u{0}\u{7}\u{200b}\u{feff}\u{fffd}".into(),
        ),
        ("10 KB", long.clone()),
        ("10 KB without spaces", "x".repeat(10_240)),
        ("emoji", "🎉🔥👍🏽 👨‍👩‍👧‍👦".into()),
        ("CJK", "東京の天気はどうですか 我的银行余额是多少".into()),
        (
            "combining marks",
            "e\u{301}e\u{301}\u{302} Z\u{335}\u{30c}\u{331}a\u{36b}l\u{489}g\u{35c}o".into(),
        ),
        ("RTL and mixed scripts", "مرحبا שלום привет".into()),
        ("lone surrogate replacement", "\u{fffd}\u{fffd}".into()),
    ];
    let texts: Vec<&str> = cases.iter().map(|(_, t)| t.as_str()).collect();
    let vectors = encoder.embed(&texts).expect("every text encodes");
    for ((what, _), v) in cases.iter().zip(&vectors) {
        assert_unit(v, what);
    }
    // Truncation: the 10 KB text is cut to the sequence cap, not rejected.
    let ids = encoder.token_ids(&long).unwrap();
    assert_eq!(ids.len(), jessy_encoder::DEFAULT_MAX_SEQ_LEN);
    assert!(encoder.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_missing_or_broken_directory_is_a_typed_error() {
    let missing = std::path::Path::new("/nonexistent/jessy-model");
    assert!(matches!(
        SentenceEncoder::load(missing),
        Err(LoadError::Io { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let err = SentenceEncoder::load(dir.path()).err().expect("refused");
    assert!(matches!(err, LoadError::Config { .. }), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type":"bert","vocab_size":10,"hidden_size":384,"num_hidden_layers":1,
            "num_attention_heads":5,"intermediate_size":8,"max_position_embeddings":16}"#,
    )
    .unwrap();
    let err = SentenceEncoder::load(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("multiple"), "{err}");
    // A good config beside weights that are not safetensors.
    let real = common::model_dir();
    std::fs::copy(real.join("config.json"), dir.path().join("config.json")).unwrap();
    std::fs::copy(
        real.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
    let err = SentenceEncoder::load(dir.path()).err().expect("refused");
    assert!(matches!(err, LoadError::Weights { .. }), "{err}");
}

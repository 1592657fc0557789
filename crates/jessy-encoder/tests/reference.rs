//! The encoder's vectors against reference vectors computed once by an independent
//! implementation (see `data/README.md`): same token ids, cosine ≥ 0.999.

mod common;

use jessy_engine::semantic::Encoder;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    text: String,
    token_ids: Vec<u32>,
    vector: Vec<f32>,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("data/reference.json")).expect("reference.json parses")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_the_reference_implementation() {
    let encoder = common::encoder();
    let reference = reference();
    assert!(reference.cases.len() >= 5);
    let texts: Vec<&str> = reference.cases.iter().map(|c| c.text.as_str()).collect();
    // Once as one batch (sorted and padded inside) and once each alone: both must match.
    let batched = encoder.embed(&texts).unwrap();
    for (case, got) in reference.cases.iter().zip(&batched) {
        assert_eq!(got.len(), 384);
        let c = cosine(got, &case.vector);
        assert!(c >= 0.999, "{:?}: cosine {c} to the reference", case.text);
        let alone = encoder.embed(&[case.text.as_str()]).unwrap();
        let c = cosine(&alone[0], &case.vector);
        assert!(
            c >= 0.999,
            "{:?} alone: cosine {c} to the reference",
            case.text
        );
    }
    // Different sentences must not collapse to one vector (a broken mask or pooling would).
    let c = cosine(&batched[0], &batched[3]);
    assert!(c < 0.5, "unrelated sentences at cosine {c}");
}

#[test]
fn identity_is_a_digest_of_the_files() {
    let a = common::encoder();
    let b = common::encoder();
    assert_eq!(a.identity(), b.identity());
    assert_eq!(a.dim(), 384);
    assert_ne!(a.identity().digest, [0u8; 32]);
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    // The reference ids come from transformers' pure-Python BertTokenizer; the encoder's own
    // tokenizer must agree on each text, or the vectors would only match by luck.
    let encoder = common::encoder();
    for case in reference().cases {
        let ids = encoder.token_ids(&case.text).unwrap();
        assert_eq!(ids, case.token_ids, "{:?}", case.text);
    }
}

//! Parser tests: tokens, stems, stopwords, limits, reuse.
use super::stem::stem;
use super::*;
use proptest::prelude::*;

fn words(q: &ParsedQuery) -> Vec<&str> {
    q.words().collect()
}

fn stems(q: &ParsedQuery) -> Vec<&str> {
    q.stems().collect()
}

#[test]
fn lowercases_folds_and_splits_on_punctuation() {
    let q = parse("Héllo, WORLD!  Café-au-lait").unwrap();
    assert_eq!(words(&q), ["hello", "world", "cafe", "au", "lait"]);
}

#[test]
fn compatibility_folding() {
    let q = parse("ＡＢＣ ﬁle ²").unwrap();
    assert_eq!(words(&q), ["abc", "file", "2"]);
}

#[test]
fn control_characters_split_and_invisible_ones_vanish() {
    let q = parse("foo\u{0}bar\tbaz qu\u{200b}ux").unwrap();
    assert_eq!(words(&q), ["foo", "bar", "baz", "quux"]);
}

#[test]
fn contractions_expand_and_keep_negation() {
    let q = parse("I don't know, you can't, won't they? it's cannot dont").unwrap();
    assert_eq!(
        words(&q),
        [
            "i", "do", "not", "know", "you", "can", "not", "will", "not", "they", "it", "can",
            "not", "do", "not"
        ]
    );
    assert!(words(&q).contains(&"not"));
    assert!(stems(&q).contains(&"not"));
    let q = parse("I’m sure we’ll go; they've been").unwrap();
    assert_eq!(
        words(&q),
        ["i", "am", "sure", "we", "will", "go", "they", "have", "been"]
    );
    let q = parse("'quoted' users' o'clock").unwrap();
    assert_eq!(words(&q), ["quoted", "users", "oclock"]);
    assert!(!words(&q).contains(&"not"));
}

#[test]
fn numbers_are_tokens() {
    let q = parse("transfer $1,000.50 to account 42 at 5pm.").unwrap();
    assert_eq!(
        words(&q),
        ["transfer", "1000.50", "to", "account", "42", "at", "5pm"]
    );
    assert_eq!(stems(&q), ["transfer", "1000.50", "account", "42", "5pm"]);
}

#[test]
fn stopwords_removed_negations_and_question_words_kept() {
    let q = parse("What is the balance of my account? Not the savings, without fees").unwrap();
    assert_eq!(
        stems(&q),
        ["what", "balanc", "account", "not", "save", "without", "fee"]
    );
}

#[test]
fn porter_reference_stems() {
    for (w, s) in [
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("cats", "cat"),
        ("feed", "feed"),
        ("agreed", "agre"),
        ("plastered", "plaster"),
        ("motoring", "motor"),
        ("sing", "sing"),
        ("conflated", "conflat"),
        ("troubled", "troubl"),
        ("sized", "size"),
        ("hopping", "hop"),
        ("falling", "fall"),
        ("hissing", "hiss"),
        ("filing", "file"),
        ("happy", "happi"),
        ("relational", "relat"),
        ("conditional", "condit"),
        ("digitizer", "digit"),
        ("generalization", "gener"),
        ("hopefulness", "hope"),
        ("electrical", "electr"),
        ("adjustment", "adjust"),
        ("replacement", "replac"),
        ("adoption", "adopt"),
        ("controlling", "control"),
        ("rate", "rate"),
        ("reservations", "reserv"),
        ("running", "run"),
    ] {
        assert_eq!(stem(w), s, "stem({w})");
    }
}

#[test]
fn non_ascii_and_short_words_are_not_stemmed() {
    assert_eq!(stem("is"), "is");
    assert_eq!(stem("größer"), "größer");
    assert_eq!(stem("x2ing"), "x2ing");
    let q = parse("Привет мир 東京タワー").unwrap();
    assert_eq!(words(&q), ["привет", "мир", "東京タワー"]);
    let q = parse("한국어 नमस्ते").unwrap();
    assert_eq!(words(&q), ["한국어", "नमस्ते"]);
}

#[test]
fn errors_are_typed() {
    assert_eq!(parse(""), Err(ParseError::Empty));
    assert_eq!(parse("  \t\n ?!... \u{1}"), Err(ParseError::Empty));
    assert_eq!(parse("😀 🎉"), Err(ParseError::Empty));
    let long = "a".repeat(MAX_QUERY_BYTES + 1);
    assert_eq!(
        parse(&long),
        Err(ParseError::TooLong {
            len: MAX_QUERY_BYTES + 1,
            max: MAX_QUERY_BYTES
        })
    );
    assert!(parse(&"a ".repeat(MAX_QUERY_BYTES / 2)).is_ok());
}

#[test]
fn failed_parse_leaves_value_empty() {
    let mut q = parse("hello world").unwrap();
    assert_eq!(q.parse_into("..."), Err(ParseError::Empty));
    assert!(q.is_empty());
    assert_eq!(q.num_stems(), 0);
    assert_eq!(q.word(0), None);
}

#[test]
fn indexed_access_matches_iterators() {
    let q = parse("book a flight to Paris").unwrap();
    assert_eq!(q.num_words(), 5);
    assert_eq!(q.word(2), Some("flight"));
    assert_eq!(q.stem(0), Some("book"));
    assert_eq!(q.stem(4), Some("pari"));
    assert_eq!(
        q.all_stems().collect::<Vec<_>>(),
        ["book", "a", "flight", "to", "pari"]
    );
    assert!(q.is_stopword_at(1) && !q.is_stopword_at(0) && !q.is_stopword_at(9));
    assert_eq!(q.stems().len(), q.num_stems());
}

proptest! {
    #[test]
    fn never_panics_and_reuse_equals_fresh(a in any::<String>(), b in any::<String>()) {
        let fresh_a = parse(&a);
        let fresh_b = parse(&b);
        let mut reused = ParsedQuery::new();
        let _ = reused.parse_into(&a);
        let rb = reused.parse_into(&b);
        prop_assert_eq!(&rb, &fresh_b.as_ref().map(|_| ()).map_err(|e| *e));
        if let Ok(fb) = &fresh_b {
            prop_assert_eq!(&reused, fb);
            prop_assert_eq!(fb.words().count(), fb.num_words());
            for w in fb.words() {
                prop_assert!(!w.is_empty());
            }
        }
        if let Ok(fa) = fresh_a {
            let again = parse(&a).unwrap();
            prop_assert_eq!(fa, again);
        }
    }

    #[test]
    fn arbitrary_lossy_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(q) = parse(&String::from_utf8_lossy(&bytes)) {
            prop_assert!(!q.is_empty());
        }
    }


    #[test]
    fn wordy_ascii_text_always_parses(s in "[a-zA-Z0-9' ,.!?-]{0,80}") {
        let has_alnum = s.chars().any(|c| c.is_ascii_alphanumeric());
        prop_assert_eq!(parse(&s).is_ok(), has_alnum);
    }
}

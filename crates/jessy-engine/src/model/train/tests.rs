//! Trainer tests.
use super::docs::Docs;
use super::solve::*;
use super::*;

#[test]
fn rng_shuffle_is_a_deterministic_permutation() {
    let mut a: Vec<u32> = (0..100).collect();
    let mut b = a.clone();
    Rng(7).shuffle(&mut a);
    Rng(7).shuffle(&mut b);
    assert_eq!(a, b);
    assert_ne!(a, (0..100).collect::<Vec<_>>());
    a.sort_unstable();
    assert_eq!(a, (0..100).collect::<Vec<_>>());
}

#[test]
fn solvers_reach_the_known_optimum() {
    // One feature, one positive (cost 2) and one negative (cost 10) on the same point:
    // with w = b = t, the squared-hinge primal is t² + 2(1 − 2t)² + 10(1 + 2t)², minimized
    // at t = −16/49.
    let docs = Docs {
        start: vec![0, 1, 2],
        row: vec![0, 0],
        value: vec![1.0, 1.0],
        sq_norm: vec![2.0, 2.0],
    };
    let (y, cost) = ([1.0, -1.0], [2.0, 10.0]);
    let cfg = TrainConfig {
        tolerance: 1e-4,
        max_epochs: 10_000,
        ..TrainConfig::default()
    };
    let (w, b, _, _) = solve_squared_hinge(&docs, &y, &cost, 1, &cfg, 1, None);
    assert!(
        (w[0] + 16.0 / 49.0).abs() < 1e-3 && (b + 16.0 / 49.0).abs() < 1e-3,
        "{w:?} {b}"
    );
    // Logistic: t² + 2 ln(1 + e^{-2t}) + 10 ln(1 + e^{2t}); its gradient must vanish.
    let (w, b, _) = solve_logistic(&docs, &y, &cost, 1, &cfg, 1);
    let t = w[0];
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let grad = 2.0 * t - 4.0 * sig(-2.0 * t) + 20.0 * sig(2.0 * t);
    assert!(
        (w[0] - b).abs() < 1e-9 && t < 0.0 && grad.abs() < 1e-2,
        "{w:?} {b} {grad}"
    );
}

#[test]
fn rejects_bad_input() {
    let ex = |label, weight| Example {
        text: "hello",
        label,
        weight,
    };
    let cfg = TrainConfig::default();
    assert_eq!(
        train(&[ex(Some(0), 1.0)], 0, &cfg),
        Err(TrainError::NoClasses)
    );
    assert!(matches!(
        train(&[ex(Some(3), 1.0)], 2, &cfg),
        Err(TrainError::LabelOutOfRange { index: 0, .. })
    ));
    assert!(matches!(
        train(&[ex(Some(0), f32::NAN)], 2, &cfg),
        Err(TrainError::BadWeight { .. })
    ));
    let bad = TrainConfig { c: 0.0, ..cfg };
    assert!(matches!(
        train(&[ex(Some(0), 1.0)], 1, &bad),
        Err(TrainError::BadConfig(_))
    ));
}

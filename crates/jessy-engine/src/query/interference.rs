//! The Interference Engine: active dimensions as frequency states that reinforce or cancel.
//!
//! Each active dimension contributes a state `(frequency, amplitude)`: the frequency of the
//! layer it navigated to and its confidence. For every pair:
//! - **constructive** when `|Δf| < 0.2 Hz`: both amplitudes rise in proportion to the partner's;
//! - **destructive** when `|Δf| > 2.0 Hz`: both fall in proportion to the partner's;
//! - **harmonic** when the frequency ratio is within 5 % of 2:1, 3:2, 4:3 or 5:4: a smaller rise;
//! - otherwise neutral.
//!
//! Modulation is additive in products of amplitudes (`a_i += k · a_i · a_j`), which keeps the
//! order of the two members of a pair but can reorder dimensions with different partners, and
//! can lift a dimension over (or push it under) the activation floor: interference changes the
//! routing decision, it does not only decorate it. Every factor is bounded so no amplitude
//! leaves `[0, 1]`.
//!
//! The dominant frequency is the amplitude-weighted mean. Balance is needed when it exceeds
//! 3.5 Hz or when destructive pairs outweigh the others; then every frequency is pulled toward
//! the balance centre and the dominant frequency is reported after that modulation.

use serde::{Deserialize, Serialize};

/// `|Δf|` below which a pair reinforces (Hz).
pub const CONSTRUCTIVE_BELOW: f32 = 0.2;
/// `|Δf|` above which a pair cancels (Hz).
pub const DESTRUCTIVE_ABOVE: f32 = 2.0;
/// Relative tolerance for harmonic ratios.
pub const HARMONIC_TOLERANCE: f32 = 0.05;
/// Dominant frequency above which the result is marked as needing balance (Hz).
pub const BALANCE_ABOVE: f32 = 3.5;
/// Where balance modulation pulls frequencies (Hz): the middle of the calm band.
pub const BALANCE_CENTRE: f32 = 1.2;
/// Share of the distance to the balance centre removed by balance modulation.
pub const BALANCE_PULL: f32 = 0.3;
/// Gain of a constructive pair (`a_i += 0.25 · a_i · a_j`).
const CONSTRUCTIVE_GAIN: f32 = 0.25;
/// Gain of a harmonic pair.
const HARMONIC_GAIN: f32 = 0.12;
/// Loss of a destructive pair (`a_i -= 0.25 · a_i · a_j`).
const DESTRUCTIVE_LOSS: f32 = 0.25;

/// The kind of a pair's interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Frequencies close: reinforce.
    Constructive,
    /// Frequencies far apart: cancel.
    Destructive,
    /// A consonant ratio: mild reinforcement.
    Harmonic,
    /// None of the above.
    Neutral,
}

/// A musical interval recognised between two frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// 2:1.
    Octave,
    /// 3:2.
    Fifth,
    /// 4:3.
    Fourth,
    /// 5:4.
    MajorThird,
}

const INTERVALS: [(Interval, f32); 4] = [
    (Interval::Octave, 2.0),
    (Interval::Fifth, 1.5),
    (Interval::Fourth, 4.0 / 3.0),
    (Interval::MajorThird, 1.25),
];

/// The interval between two frequencies, if their ratio is within tolerance of one.
pub fn harmonic(f1: f32, f2: f32) -> Option<Interval> {
    let (lo, hi) = if f1 <= f2 { (f1, f2) } else { (f2, f1) };
    if lo <= 0.0 {
        return None;
    }
    let ratio = hi / lo;
    INTERVALS
        .iter()
        .find(|(_, r)| ((ratio - r) / r).abs() <= HARMONIC_TOLERANCE)
        .map(|(i, _)| *i)
}

/// Classifies a pair of frequencies.
pub fn classify(f1: f32, f2: f32) -> (PairKind, Option<Interval>) {
    let delta = (f1 - f2).abs();
    if delta < CONSTRUCTIVE_BELOW {
        (PairKind::Constructive, None)
    } else if delta > DESTRUCTIVE_ABOVE {
        (PairKind::Destructive, harmonic(f1, f2))
    } else if let Some(interval) = harmonic(f1, f2) {
        (PairKind::Harmonic, Some(interval))
    } else {
        (PairKind::Neutral, None)
    }
}

/// One dimension's state going into interference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyState {
    /// Frequency of the navigated layer (Hz).
    pub frequency: f32,
    /// Confidence, in `[0, 1]`.
    pub amplitude: f32,
}

/// One pair's interaction, by index into the states.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    /// First state.
    pub a: usize,
    /// Second state.
    pub b: usize,
    /// Interaction kind.
    pub kind: PairKind,
    /// Interval, when the ratio is harmonic.
    pub interval: Option<Interval>,
}

/// What interference did to a set of states.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interference {
    /// Modulated amplitudes, parallel to the input states.
    pub amplitudes: Vec<f32>,
    /// Every non-neutral pair.
    pub pairs: Vec<Pair>,
    /// Amplitude-weighted mean frequency, before balance.
    pub dominant_frequency: f32,
    /// Whether balance modulation was applied.
    pub balance_needed: bool,
    /// Dominant frequency after balance modulation (equal to the above when not needed).
    pub balanced_frequency: f32,
}

/// Runs interference over `states`, writing into `out` (reused across queries).
pub fn interfere(states: &[FrequencyState], out: &mut Interference) {
    out.amplitudes.clear();
    out.pairs.clear();
    out.amplitudes
        .extend(states.iter().map(|s| s.amplitude.clamp(0.0, 1.0)));
    let mut delta = [0f32; 16];
    let n = states.len().min(delta.len());
    let (mut destructive, mut other) = (0usize, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let (kind, interval) = classify(states[i].frequency, states[j].frequency);
            let gain = match kind {
                PairKind::Constructive => CONSTRUCTIVE_GAIN,
                PairKind::Harmonic => HARMONIC_GAIN,
                PairKind::Destructive => -DESTRUCTIVE_LOSS,
                PairKind::Neutral => 0.0,
            };
            if kind == PairKind::Neutral {
                continue;
            }
            if kind == PairKind::Destructive {
                destructive += 1;
            } else {
                other += 1;
            }
            let (ai, aj) = (out.amplitudes[i], out.amplitudes[j]);
            delta[i] += gain * ai * aj;
            delta[j] += gain * ai * aj;
            out.pairs.push(Pair {
                a: i,
                b: j,
                kind,
                interval,
            });
        }
    }
    for (a, d) in out.amplitudes.iter_mut().zip(delta.iter()) {
        // Bounded: at most +/-50 % of the amplitude however many partners, and within [0, 1].
        let bounded = d.clamp(-0.5 * *a, 0.5 * *a);
        *a = (*a + bounded).clamp(0.0, 1.0);
    }
    let total: f32 = out.amplitudes.iter().sum();
    out.dominant_frequency = if total > 0.0 {
        states
            .iter()
            .zip(&out.amplitudes)
            .map(|(s, a)| s.frequency * a)
            .sum::<f32>()
            / total
    } else {
        0.0
    };
    out.balance_needed = out.dominant_frequency > BALANCE_ABOVE || destructive > other;
    out.balanced_frequency = if out.balance_needed {
        out.dominant_frequency + (BALANCE_CENTRE - out.dominant_frequency) * BALANCE_PULL
    } else {
        out.dominant_frequency
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(states: &[(f32, f32)]) -> Interference {
        let states: Vec<_> = states
            .iter()
            .map(|&(frequency, amplitude)| FrequencyState {
                frequency,
                amplitude,
            })
            .collect();
        let mut out = Interference::default();
        interfere(&states, &mut out);
        out
    }

    #[test]
    fn classifies_pairs_by_frequency_difference_and_ratio() {
        assert_eq!(classify(1.0, 1.1).0, PairKind::Constructive);
        assert_eq!(classify(0.5, 3.0).0, PairKind::Destructive);
        assert_eq!(
            classify(1.0, 2.0),
            (PairKind::Harmonic, Some(Interval::Octave))
        );
        assert_eq!(
            classify(2.0, 3.0),
            (PairKind::Harmonic, Some(Interval::Fifth))
        );
        assert_eq!(
            classify(3.0, 4.0),
            (PairKind::Harmonic, Some(Interval::Fourth))
        );
        assert_eq!(
            classify(2.0, 2.5),
            (PairKind::Harmonic, Some(Interval::MajorThird))
        );
        assert_eq!(classify(1.0, 1.9).0, PairKind::Neutral);
        assert_eq!(harmonic(1.0, 2.09), Some(Interval::Octave), "within 5 %");
        assert_eq!(harmonic(1.0, 2.2), None);
    }

    #[test]
    fn constructive_raises_destructive_lowers_and_stays_bounded() {
        let c = run(&[(1.0, 0.6), (1.1, 0.5)]);
        assert!(c.amplitudes[0] > 0.6 && c.amplitudes[1] > 0.5);
        let d = run(&[(0.5, 0.6), (3.0, 0.5)]);
        assert!(d.amplitudes[0] < 0.6 && d.amplitudes[1] < 0.5);
        let many = run(&[(1.0, 1.0); 10]);
        assert!(many.amplitudes.iter().all(|&a| a <= 1.0));
    }

    #[test]
    fn interference_can_reorder_dimensions() {
        // B starts weaker than A but has a constructive partner C, while A is cancelled by C.
        let out = run(&[(0.3, 0.50), (2.7, 0.48), (2.75, 0.6)]);
        assert!(
            out.amplitudes[1] > out.amplitudes[0],
            "{:?}",
            out.amplitudes
        );
    }

    #[test]
    fn dominant_frequency_and_balance() {
        let out = run(&[(4.0, 0.9), (4.1, 0.9)]);
        assert!(out.dominant_frequency > BALANCE_ABOVE);
        assert!(out.balance_needed);
        assert!(out.balanced_frequency < out.dominant_frequency);
        let calm = run(&[(1.0, 0.5)]);
        assert!((calm.dominant_frequency - 1.0).abs() < 1e-6);
        assert!(!calm.balance_needed);
    }
}

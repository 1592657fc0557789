//! Synesthetic associations: term-to-term links that let a query word reach terms it co-occurs
//! with.
//!
//! A link starts at [`BASE_STRENGTH`] on its first co-occurrence and grows ×1.1 per further
//! co-occurrence (capped at 1). Each idle *period* multiplies it by 0.95; links that fall below
//! [`PRUNE_BELOW`] are removed. Decay is lazy and idempotent: a link remembers the period it was
//! last brought up to date, and catching up applies `0.95^(periods elapsed)` exactly once, so
//! decaying twice in the same period changes nothing (no compounding).
//!
//! The build step feeds every training example through an [`AssociationMemory`] (one period:
//! the training set) and stores the surviving links in the snapshot, where the convergence
//! stage uses them to expand queries.

use std::collections::HashMap;

/// Strength of a link after its first co-occurrence.
pub const BASE_STRENGTH: f32 = 0.1;
/// Growth per co-occurrence.
pub const GROWTH: f32 = 1.1;
/// Decay per idle period.
pub const DECAY: f32 = 0.95;
/// Links weaker than this are pruned. A link seen once survives ~2 idle periods above it;
/// one seen 8 times, ~14.
pub const PRUNE_BELOW: f32 = 0.09;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Link {
    strength: f32,
    period: u64,
}

/// A growing and decaying map of directed term links.
#[derive(Debug, Default, Clone)]
pub struct AssociationMemory {
    links: HashMap<(String, String), Link>,
    period: u64,
}

impl AssociationMemory {
    /// An empty memory at period 0.
    pub fn new() -> AssociationMemory {
        AssociationMemory::default()
    }

    /// The current period.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Records one co-occurrence of `a` and `b` (both directions).
    pub fn observe(&mut self, a: &str, b: &str) {
        if a == b {
            return;
        }
        for (from, to) in [(a, b), (b, a)] {
            let period = self.period;
            let link = self
                .links
                .entry((from.to_owned(), to.to_owned()))
                .and_modify(|l| {
                    catch_up(l, period);
                    l.strength = (l.strength * GROWTH).min(1.0);
                })
                .or_insert(Link {
                    strength: BASE_STRENGTH,
                    period,
                });
            link.period = period;
        }
    }

    /// Ends the current period: idle links decay when next touched; links that have already
    /// fallen below the floor are pruned now.
    pub fn advance_period(&mut self) {
        self.period += 1;
        let period = self.period;
        self.links.retain(|_, l| {
            catch_up(l, period);
            l.strength >= PRUNE_BELOW
        });
    }

    /// Current strength of `from → to`, decayed to the current period (0 if absent or pruned).
    pub fn strength(&self, from: &str, to: &str) -> f32 {
        self.links
            .get(&(from.to_owned(), to.to_owned()))
            .map(|l| {
                let mut l = *l;
                catch_up(&mut l, self.period);
                if l.strength >= PRUNE_BELOW {
                    l.strength
                } else {
                    0.0
                }
            })
            .unwrap_or(0.0)
    }

    /// Every live link `(from, to, strength)`, strongest first per source, at most `per_source`
    /// per source term.
    pub fn links(&self, per_source: usize) -> Vec<(String, String, f32)> {
        let mut all: Vec<(String, String, f32)> = self
            .links
            .keys()
            .map(|(a, b)| (a.clone(), b.clone(), self.strength(a, b)))
            .filter(|(_, _, s)| *s > 0.0)
            .collect();
        all.sort_by(|x, y| x.0.cmp(&y.0).then(y.2.total_cmp(&x.2)).then(x.1.cmp(&y.1)));
        let mut out = Vec::with_capacity(all.len());
        let mut count = 0;
        for (i, link) in all.into_iter().enumerate() {
            count = if i > 0
                && out
                    .last()
                    .is_some_and(|l: &(String, String, f32)| l.0 == link.0)
            {
                count + 1
            } else {
                0
            };
            if count < per_source {
                out.push(link);
            }
        }
        out
    }
}

/// Applies the decay of every period between the link's last update and `period`, once.
fn catch_up(link: &mut Link, period: u64) {
    if period > link.period {
        let idle = (period - link.period).min(i32::MAX as u64) as i32;
        link.strength *= DECAY.powi(idle);
        link.period = period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_ten_percent_per_co_occurrence_and_caps_at_one() {
        let mut m = AssociationMemory::new();
        m.observe("exam", "nervous");
        assert!((m.strength("exam", "nervous") - BASE_STRENGTH).abs() < 1e-6);
        m.observe("exam", "nervous");
        assert!((m.strength("exam", "nervous") - BASE_STRENGTH * 1.1).abs() < 1e-6);
        assert!((m.strength("nervous", "exam") - BASE_STRENGTH * 1.1).abs() < 1e-6);
        for _ in 0..100 {
            m.observe("exam", "nervous");
        }
        assert_eq!(m.strength("exam", "nervous"), 1.0);
    }

    #[test]
    fn decays_once_per_period_without_compounding() {
        let mut m = AssociationMemory::new();
        for _ in 0..30 {
            m.observe("a", "b");
        }
        let s0 = m.strength("a", "b");
        m.advance_period();
        let s1 = m.strength("a", "b");
        assert!((s1 - s0 * DECAY).abs() < 1e-6);
        // Reading again in the same period does not decay again.
        assert_eq!(m.strength("a", "b"), s1);
        m.advance_period();
        m.advance_period();
        assert!((m.strength("a", "b") - s0 * DECAY.powi(3)).abs() < 1e-5);
    }

    #[test]
    fn prunes_below_the_floor() {
        let mut m = AssociationMemory::new();
        m.observe("x", "y");
        for _ in 0..3 {
            m.advance_period();
        }
        assert_eq!(m.strength("x", "y"), 0.0);
        assert!(m.links(10).is_empty());
    }

    #[test]
    fn links_are_capped_per_source() {
        let mut m = AssociationMemory::new();
        for t in ["b", "c", "d"] {
            m.observe("a", t);
        }
        m.observe("a", "c");
        let links = m.links(2);
        let from_a: Vec<_> = links.iter().filter(|l| l.0 == "a").collect();
        assert_eq!(from_a.len(), 2);
        assert_eq!(from_a[0].1, "c", "strongest first");
    }
}

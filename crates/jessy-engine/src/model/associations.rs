//! Synesthetic associations: term-to-term links that let a query word reach terms it co-occurs
//! with.
//!
//! A link starts at [`BASE_STRENGTH`] on its first co-occurrence and grows ×[`GROWTH`] per
//! further co-occurrence (capped at 1). A fresh build feeds every training example through an
//! [`AssociationMemory`] as one period and stores the links that grew beyond a single
//! co-occurrence.
//!
//! Learning from usage carries the memory on ([`AssociationCarry`]): a rebuild starts from the
//! serving generation's links, observes only the utterances that are new (confirmed feedback,
//! a written layer's new examples), and when a *learning period* ends, every link that saw no
//! co-occurrence in it decays ×[`DECAY`]; links weaker than [`PRUNE_BELOW`] are forgotten.
//! So traffic that keeps confirming a link strengthens it, and links nobody confirms fade.
//! The query path expands only through links stronger than [`BASE_STRENGTH`] (more than one
//! co-occurrence's worth); weaker ones are kept as state so that they can grow.

use std::collections::{HashMap, HashSet};

/// Strength of a link after its first co-occurrence.
pub const BASE_STRENGTH: f32 = 0.1;
/// Growth per co-occurrence.
pub const GROWTH: f32 = 1.1;
/// Decay of a link per learning period without a co-occurrence.
pub const DECAY: f32 = 0.95;
/// Links weaker than this are pruned: half a first co-occurrence, reached by a single
/// co-occurrence after 14 idle periods.
pub const PRUNE_BELOW: f32 = 0.05;

/// The links a rebuild carries over from the serving generation, and what it observes new.
#[derive(Debug, Clone, Default)]
pub struct AssociationCarry {
    /// The serving generation's links: `(source key, target term, strength)`.
    pub links: Vec<(u64, String, f32)>,
    /// Utterances to observe (confirmed traffic, new examples).
    pub observe: Vec<String>,
    /// Whether a learning period ends with this rebuild (idle links decay).
    pub period_ends: bool,
}

/// A map of directed term links keyed by the source term's feature key (how the snapshot
/// stores them) and the target term.
#[derive(Debug, Default, Clone)]
pub struct AssociationMemory {
    links: HashMap<(u64, String), f32>,
    observed: HashSet<(u64, String)>,
}

impl AssociationMemory {
    /// An empty memory.
    pub fn new() -> AssociationMemory {
        AssociationMemory::default()
    }

    /// A memory holding `links`.
    pub fn from_links(links: &[(u64, String, f32)]) -> AssociationMemory {
        AssociationMemory {
            links: links
                .iter()
                .map(|(k, t, s)| ((*k, t.clone()), *s))
                .collect(),
            observed: HashSet::new(),
        }
    }

    /// Records one co-occurrence of `a` and `b` (both directions); `key` gives a term's
    /// feature key.
    pub fn observe(&mut self, a: &str, b: &str, key: impl Fn(&str) -> u64) {
        if a == b {
            return;
        }
        for (from, to) in [(a, b), (b, a)] {
            let link = (key(from), to.to_owned());
            self.links
                .entry(link.clone())
                .and_modify(|s| *s = (*s * GROWTH).min(1.0))
                .or_insert(BASE_STRENGTH);
            self.observed.insert(link);
        }
    }

    /// Ends a learning period: links not observed since the last period decay ×[`DECAY`], and
    /// links weaker than [`PRUNE_BELOW`] are forgotten.
    pub fn end_period(&mut self) {
        let observed = std::mem::take(&mut self.observed);
        self.links.retain(|link, strength| {
            if !observed.contains(link) {
                *strength *= DECAY;
            }
            *strength >= PRUNE_BELOW
        });
    }

    /// Current strength of `from → to` (0 if absent).
    #[cfg(test)]
    pub fn strength(&self, from: u64, to: &str) -> f32 {
        self.links
            .get(&(from, to.to_owned()))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every link `(source key, target, strength)`, strongest first per source, at most
    /// `per_source` per source.
    pub fn links(&self, per_source: usize) -> Vec<(u64, String, f32)> {
        let mut all: Vec<(u64, String, f32)> = self
            .links
            .iter()
            .map(|((a, b), &s)| (*a, b.clone(), s))
            .collect();
        all.sort_by(|x, y| x.0.cmp(&y.0).then(y.2.total_cmp(&x.2)).then(x.1.cmp(&y.1)));
        let mut out: Vec<(u64, String, f32)> = Vec::with_capacity(all.len());
        let mut count = 0;
        for link in all {
            count = if out.last().is_some_and(|l| l.0 == link.0) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(term: &str) -> u64 {
        term.len() as u64 * 1000 + term.bytes().map(u64::from).sum::<u64>()
    }

    #[test]
    fn grows_by_ten_percent_per_co_occurrence_and_caps_at_one() {
        let mut m = AssociationMemory::new();
        m.observe("exam", "nervous", key);
        assert!((m.strength(key("exam"), "nervous") - BASE_STRENGTH).abs() < 1e-6);
        m.observe("exam", "nervous", key);
        assert!((m.strength(key("exam"), "nervous") - BASE_STRENGTH * 1.1).abs() < 1e-6);
        assert!((m.strength(key("nervous"), "exam") - BASE_STRENGTH * 1.1).abs() < 1e-6);
        for _ in 0..100 {
            m.observe("exam", "nervous", key);
        }
        assert_eq!(m.strength(key("exam"), "nervous"), 1.0);
    }

    #[test]
    fn idle_links_decay_per_period_and_are_pruned() {
        let mut m = AssociationMemory::from_links(&[(key("a"), "b".into(), 0.2)]);
        m.observe("c", "d", key);
        m.end_period();
        assert!(
            (m.strength(key("a"), "b") - 0.2 * DECAY).abs() < 1e-6,
            "idle: decays"
        );
        assert!(
            (m.strength(key("c"), "d") - BASE_STRENGTH).abs() < 1e-6,
            "observed: kept"
        );
        m.observe("a", "b", key);
        m.end_period();
        assert!((m.strength(key("a"), "b") - 0.2 * DECAY * GROWTH).abs() < 1e-6);
        for _ in 0..14 {
            m.end_period();
        }
        assert_eq!(
            m.strength(key("c"), "d"),
            0.0,
            "a single co-occurrence fades away"
        );
        assert!(
            m.strength(key("a"), "b") > 0.0,
            "a stronger link outlives it"
        );
    }

    #[test]
    fn links_are_capped_per_source() {
        let mut m = AssociationMemory::new();
        for t in ["b", "c", "d"] {
            m.observe("a", t, key);
        }
        m.observe("a", "c", key);
        let links = m.links(2);
        let from_a: Vec<_> = links.iter().filter(|l| l.0 == key("a")).collect();
        assert_eq!(from_a.len(), 2);
        assert_eq!(from_a[0].1, "c", "strongest first");
    }
}

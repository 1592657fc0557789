//! Synesthetic associations: term-to-term links that let a query word reach terms it co-occurs
//! with.
//!
//! A link starts at [`BASE_STRENGTH`] on its first co-occurrence and grows ×[`GROWTH`] per
//! further co-occurrence (capped at 1). The build step feeds every training example through an
//! [`AssociationMemory`] and stores the strongest links in the snapshot, where the convergence
//! stage uses them to expand queries. (Wave 1 also decayed idle links per period; a build is a
//! single period, so decay never applied and was removed with its constants.)

use std::collections::HashMap;

/// Strength of a link after its first co-occurrence.
pub const BASE_STRENGTH: f32 = 0.1;
/// Growth per co-occurrence.
pub const GROWTH: f32 = 1.1;

/// A growing map of directed term links.
#[derive(Debug, Default, Clone)]
pub struct AssociationMemory {
    links: HashMap<(String, String), f32>,
}

impl AssociationMemory {
    /// An empty memory.
    pub fn new() -> AssociationMemory {
        AssociationMemory::default()
    }

    /// Records one co-occurrence of `a` and `b` (both directions).
    pub fn observe(&mut self, a: &str, b: &str) {
        if a == b {
            return;
        }
        for (from, to) in [(a, b), (b, a)] {
            self.links
                .entry((from.to_owned(), to.to_owned()))
                .and_modify(|s| *s = (*s * GROWTH).min(1.0))
                .or_insert(BASE_STRENGTH);
        }
    }

    /// Current strength of `from → to` (0 if absent).
    #[cfg(test)]
    pub fn strength(&self, from: &str, to: &str) -> f32 {
        self.links
            .get(&(from.to_owned(), to.to_owned()))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every link `(from, to, strength)`, strongest first per source, at most `per_source`
    /// per source term.
    pub fn links(&self, per_source: usize) -> Vec<(String, String, f32)> {
        let mut all: Vec<(String, String, f32)> = self
            .links
            .iter()
            .map(|((a, b), &s)| (a.clone(), b.clone(), s))
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

//! Suggested layers: the no-match inbox grouped by similarity.
//!
//! Grouping is leader clustering over content stems: entries are taken most-asked first; each
//! joins the group whose leader (its first, most asked member) shares the most stems with it,
//! measured by Jaccard similarity, when that is at least [`JOIN_SIMILARITY`]; otherwise it
//! leads a new group. It is deterministic, linear in groups per entry, and explainable (a
//! member is in a group because it shares words with the group's leader).
//!
//! [`JOIN_SIMILARITY`] was chosen on CLINC150's *training* lines (`examples/suggest_threshold.rs`
//! treats the lines of 30 intents as unrouted traffic and scores each threshold by pairwise
//! F1 against the intents).

use std::collections::BTreeMap;

use serde::Serialize;

use super::inbox::InboxEntry;
use crate::parser::distinct_stems;

/// Least Jaccard similarity of stems for an entry to join a group.
pub const JOIN_SIMILARITY: f32 = 0.25;
/// Smallest group offered as a suggestion (one query is an anecdote, not a layer).
pub const MIN_GROUP: usize = 2;
/// Representative queries shown per suggestion.
const REPRESENTATIVES: usize = 5;
/// Keywords proposed per suggestion.
const KEYWORDS: usize = 5;

/// A group of similar unrouted queries, offered as a new layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// Stable id: a digest of the members' normalized texts.
    pub id: String,
    /// Times its members were asked, in all.
    pub size: u64,
    /// The most asked members.
    pub queries: Vec<String>,
    /// Every member text.
    pub members: Vec<String>,
    /// Proposed keywords: the stems most members share.
    pub keywords: Vec<String>,
    /// The existing layer the leader comes closest to, if any scored at all.
    pub closest: Option<ClosestLayer>,
}

/// The existing layer nearest a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosestLayer {
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub layer: String,
    /// Its confidence for the group's leader (below the no-match threshold).
    pub confidence: f32,
}

struct Group {
    leader: Vec<String>,
    members: Vec<(InboxEntry, Vec<String>)>,
}

/// Groups `entries` (most asked first) into suggestions of at least [`MIN_GROUP`] distinct
/// texts; `closest` names the nearest existing layer for a text.
pub fn group(
    entries: &[InboxEntry],
    closest: impl Fn(&str) -> Option<ClosestLayer>,
) -> Vec<Suggestion> {
    let mut groups: Vec<Group> = Vec::new();
    for entry in entries {
        let stems = distinct_stems(&entry.text);
        if stems.is_empty() {
            continue;
        }
        let best = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i, jaccard(&stems, &g.leader)))
            .filter(|&(_, s)| s >= JOIN_SIMILARITY)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((i, _)) => groups[i].members.push((entry.clone(), stems)),
            None => groups.push(Group {
                leader: stems.clone(),
                members: vec![(entry.clone(), stems)],
            }),
        }
    }
    let mut out: Vec<Suggestion> = groups
        .into_iter()
        .filter(|g| g.members.len() >= MIN_GROUP)
        .map(|g| suggestion(g, &closest))
        .collect();
    out.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    out
}

fn suggestion(g: Group, closest: &impl Fn(&str) -> Option<ClosestLayer>) -> Suggestion {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, stems) in &g.members {
        for s in stems {
            *counts.entry(s).or_insert(0) += 1;
        }
    }
    let mut keywords: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|&(_, n)| 2 * n >= g.members.len())
        .collect();
    keywords.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut keys: Vec<String> = g
        .members
        .iter()
        .map(|(e, _)| super::fold::normalize(&e.text))
        .collect();
    keys.sort();
    Suggestion {
        id: digest(&keys),
        size: g.members.iter().map(|(e, _)| e.count).sum(),
        queries: g
            .members
            .iter()
            .take(REPRESENTATIVES)
            .map(|(e, _)| e.text.clone())
            .collect(),
        members: g.members.iter().map(|(e, _)| e.text.clone()).collect(),
        keywords: keywords
            .into_iter()
            .take(KEYWORDS)
            .map(|(k, _)| k.to_string())
            .collect(),
        closest: closest(&g.members[0].0.text),
    }
}

/// Jaccard similarity of two sorted, de-duplicated stem lists.
fn jaccard(a: &[String], b: &[String]) -> f32 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        0.0
    } else {
        both as f32 / union as f32
    }
}

fn digest(keys: &[String]) -> String {
    let h = super::fold::fnv1a(keys.iter().flat_map(|k| k.bytes().chain([0u8])));
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str, count: u64) -> InboxEntry {
        InboxEntry {
            text: text.into(),
            count,
            seen: 0,
        }
    }

    #[test]
    fn similar_queries_group_and_singletons_are_not_offered() {
        let entries = vec![
            entry("how do i repair my bicycle tire", 5),
            entry("repair a flat bicycle tire", 3),
            entry("bicycle tire repair kit", 2),
            entry("what is the capital of peru", 1),
        ];
        let out = group(&entries, |_| None);
        assert_eq!(out.len(), 1, "{out:#?}");
        let s = &out[0];
        assert_eq!(s.size, 10);
        assert_eq!(s.members.len(), 3);
        assert_eq!(s.queries[0], "how do i repair my bicycle tire");
        assert!(
            s.keywords.iter().any(|k| k.starts_with("bicycl")),
            "{:?}",
            s.keywords
        );
        let again = group(&entries, |_| None);
        assert_eq!(again[0].id, s.id, "ids are stable");
    }

    #[test]
    fn jaccard_counts_shared_stems() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(jaccard(&v(&["a", "b"]), &v(&["b", "c"])), 1.0 / 3.0);
        assert_eq!(jaccard(&v(&[]), &v(&[])), 0.0);
    }
}

//! Recent queries, remembered so feedback can name a query by the id its result carried.
//!
//! Ids are a per-process prefix and a sequence number (`1a2b3c4d-000000000042`). Sequence
//! numbers make the memory a ring indexed by arithmetic: no hash map, one short lock per
//! query, and "expired" is simply "older than the ring". The prefix keeps an id from one
//! process (or one run) from naming a different query in another.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many recent queries are remembered (the oldest are forgotten first).
pub const RECENT_QUERIES: usize = 100_000;

/// What was remembered of one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentQuery {
    /// The query text.
    pub text: String,
    /// The generation that answered.
    pub generation: u64,
    /// The decision: `(dimension, layer)` of the top layer, or `None` for a no-match.
    pub decision: Option<(String, String)>,
}

/// A bounded memory of the last queries.
#[derive(Debug)]
pub struct RecentQueries {
    prefix: u32,
    capacity: usize,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Sequence number of `entries[0]`.
    first: u64,
    entries: VecDeque<RecentQuery>,
}

impl RecentQueries {
    /// A memory of the last `capacity` queries (at least one).
    pub fn new(capacity: usize) -> RecentQueries {
        RecentQueries {
            prefix: process_prefix(),
            capacity: capacity.max(1),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// Remembers a query and returns its id.
    pub fn remember(&self, query: RecentQuery) -> String {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.entries.len() == self.capacity {
            ring.entries.pop_front();
            ring.first += 1;
        }
        ring.entries.push_back(query);
        let seq = ring.first + ring.entries.len() as u64 - 1;
        drop(ring);
        format_id(self.prefix, seq)
    }

    /// The prefix of every id this memory issues (`1a2b3c4d`): what a gateway in front of
    /// several processes matches a feedback's query id against to find the one that knows it.
    pub fn prefix(&self) -> String {
        format!("{:08x}", self.prefix)
    }

    /// The query named by `id`, if it is this memory's and not yet forgotten.
    pub fn get(&self, id: &str) -> Option<RecentQuery> {
        let (prefix, seq) = parse_id(id)?;
        if prefix != self.prefix {
            return None;
        }
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let index = seq.checked_sub(ring.first)?;
        ring.entries.get(usize::try_from(index).ok()?).cloned()
    }
}

fn format_id(prefix: u32, seq: u64) -> String {
    format!("{prefix:08x}-{seq:012x}")
}

fn parse_id(id: &str) -> Option<(u32, u64)> {
    let (prefix, seq) = id.split_once('-')?;
    if prefix.len() != 8 || seq.is_empty() || seq.len() > 16 {
        return None;
    }
    Some((
        u32::from_str_radix(prefix, 16).ok()?,
        u64::from_str_radix(seq, 16).ok()?,
    ))
}

/// A prefix that differs between processes and between memories of one process: the clock,
/// the process id and a per-process counter, mixed.
fn process_prefix() -> u32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64 finalizer: every input bit reaches the 32 bits kept.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> RecentQuery {
        RecentQuery {
            text: text.into(),
            generation: 1,
            decision: None,
        }
    }

    #[test]
    fn ids_find_their_query_until_it_is_forgotten() {
        let memory = RecentQueries::new(2);
        let a = memory.remember(q("a"));
        let b = memory.remember(q("b"));
        assert_eq!(memory.get(&a).unwrap().text, "a");
        let c = memory.remember(q("c"));
        assert_eq!(memory.get(&a), None, "the oldest is forgotten");
        assert_eq!(memory.get(&b).unwrap().text, "b");
        assert_eq!(memory.get(&c).unwrap().text, "c");
    }

    #[test]
    fn foreign_and_malformed_ids_are_unknown() {
        let one = RecentQueries::new(10);
        let other = RecentQueries::new(10);
        let id = one.remember(q("a"));
        other.remember(q("b"));
        assert_eq!(other.get(&id), None, "another memory's id");
        for bad in [
            "",
            "-",
            "zz-1",
            "12345678-",
            "12345678-ffffffffffffffffff",
            "x",
        ] {
            assert_eq!(one.get(bad), None, "{bad:?}");
        }
        let (prefix, _) = parse_id(&id).unwrap();
        assert_eq!(one.get(&format_id(prefix, 99)), None, "a future id");
    }
}

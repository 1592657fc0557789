//! Prompt-ready context: the chosen layers' content, read zero-copy from the MMAP regions and
//! assembled under a token budget, with provenance per layer.
//!
//! Priority: first the chosen (deepest) layer of every active dimension, strongest dimension
//! first — the most specific guidance — then, budget permitting, their ancestors from the
//! nearest up. A part that does not fit whole is cut at a word boundary and marked truncated.

use crate::pool::Candidate;
use crate::result::{Context, ContextSource};
use crate::storage::Snapshot;

/// Estimates LLM tokens of `text` without a vocabulary: every run of letters or digits counts
/// one token per started 4 characters, every other visible character one token. On English
/// prose this lands within ~15 % of common BPE tokenizers, erring high — the safe side for a
/// budget.
pub fn estimate_tokens(text: &str) -> u32 {
    let mut tokens = 0u32;
    let mut run = 0u32;
    for c in text.chars() {
        if c.is_alphanumeric() {
            run += 1;
        } else {
            tokens += run.div_ceil(4);
            run = 0;
            if !c.is_whitespace() {
                tokens += 1;
            }
        }
    }
    tokens + run.div_ceil(4)
}

/// The longest prefix of `text`, cut after a whole word, that fits in `budget` tokens. One
/// pass: tokens are counted as in [`estimate_tokens`], and the last word end within budget wins.
fn fit(text: &str, budget: u32) -> &str {
    let (mut tokens, mut run, mut best) = (0u32, 0u32, 0usize);
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            run += 1;
            continue;
        }
        tokens += run.div_ceil(4);
        run = 0;
        if tokens > budget {
            return text[..best].trim_end();
        }
        if c.is_whitespace() {
            best = i;
        } else {
            tokens += 1;
        }
    }
    if tokens + run.div_ceil(4) <= budget {
        text
    } else {
        text[..best].trim_end()
    }
}

/// Assembles the context for the active dimensions in `candidates`.
pub fn assemble(snapshot: &Snapshot, candidates: &[Candidate], budget: u32) -> Context {
    let dims = snapshot.dimension_records();
    let layers = snapshot.layer_records();
    let mut order: Vec<(usize, u32)> = Vec::new();
    let max_depth = candidates
        .iter()
        .map(|c| c.state.path().len())
        .max()
        .unwrap_or(0);
    // Pass k takes the k-th layer from the end of every path: chosen layers first, then parents.
    for k in 0..max_depth {
        for (d, c) in candidates.iter().enumerate() {
            let path = c.state.path();
            if k < path.len() {
                order.push((d, path[path.len() - 1 - k]));
            }
        }
    }
    let mut out = Context {
        budget,
        ..Context::default()
    };
    let mut used = 0u32;
    for (d, layer) in order {
        let Some(l) = layers.get(layer as usize) else {
            continue;
        };
        let content = snapshot.str(l.content).trim();
        if content.is_empty() {
            continue;
        }
        let dim = &dims[candidates[d].state.dimension as usize];
        let heading = format!("## {} › {}\n", snapshot.str(dim.name), snapshot.str(l.name));
        let separator = if out.text.is_empty() { 0 } else { 1 };
        let fixed = estimate_tokens(&heading) + separator;
        if used + fixed >= budget {
            break;
        }
        let room = budget - used - fixed;
        // Whole layers use the token count stored at build time; only a layer that must be cut
        // is scanned.
        let (part, part_tokens) = if l.content_tokens <= room {
            (content, l.content_tokens)
        } else {
            let p = fit(content, room);
            (p, estimate_tokens(p))
        };
        if part.is_empty() {
            break;
        }
        let truncated = part.len() < content.len();
        if separator == 1 {
            out.text.push_str("\n\n");
        }
        out.text.push_str(&heading);
        out.text.push_str(part);
        let tokens = fixed + part_tokens;
        used += tokens;
        out.sources.push(ContextSource {
            dimension: snapshot.str(dim.id).to_string(),
            layer: snapshot.str(l.id).to_string(),
            tokens,
            truncated,
        });
        if truncated {
            break;
        }
    }
    out.tokens = used;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_tokens() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("the cat"), 2);
        assert_eq!(estimate_tokens("anxiety!"), 3);
        assert_eq!(estimate_tokens("## A › B"), 5);
    }

    #[test]
    fn fit_cuts_at_words_within_budget() {
        let text = "one two three four five six";
        let cut = fit(text, 3);
        assert_eq!(cut, "one two", "\"three\" is two tokens");
        assert!(estimate_tokens(cut) <= 3);
        assert_eq!(fit(text, 100), text);
    }
}

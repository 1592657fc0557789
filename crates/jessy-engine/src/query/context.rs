//! Prompt-ready context: the chosen layers' content, read zero-copy from the MMAP regions and
//! assembled under a token budget, with provenance per layer.
//!
//! Priority: first the chosen (deepest) layer of every active dimension, strongest dimension
//! first — the most specific guidance — then, budget permitting, their ancestors from the
//! nearest up. A part that does not fit whole is cut at a word boundary and marked truncated.

use super::pool::Candidate;
use super::result::{Context, ContextSource};
use crate::parser::{estimate_tokens, fit_tokens};
use crate::storage::Snapshot;

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
            let p = fit_tokens(content, room);
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

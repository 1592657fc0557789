//! The Navigator: from per-layer confidences to each dimension's activation and layer path.
//!
//! A layer's *reach* is the best confidence in its subtree. A dimension's activation is the
//! best reach among its roots (its most confident layer), so the strongest dimension is the
//! one holding the registry's most likely layer. Depth navigation starts at that root and descends L0 → L3, each
//! step to the child with the highest reach, and stops at the layer whose own confidence is its
//! subtree's best — so the path always ends at the dimension's most confident layer and passes
//! only through its ancestors.

use crate::storage::format::{DimensionRecord, LayerRecord, NO_PARENT};

/// Deepest path: depths 0..=3.
pub const MAX_PATH: usize = 4;

/// One dimension after navigation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DimensionState {
    /// Index of the dimension.
    pub dimension: u32,
    /// Activation in `[0, 1]` (best layer confidence in the dimension).
    pub activation: f32,
    /// Layer indices from root to the chosen layer.
    pub path: [u32; MAX_PATH],
    /// How many entries of `path` are used (≥ 1).
    pub path_len: u8,
}

impl DimensionState {
    /// The chosen (deepest) layer.
    pub fn layer(&self) -> u32 {
        self.path[self.path_len.max(1) as usize - 1]
    }

    /// The layers of the path.
    pub fn path(&self) -> &[u32] {
        &self.path[..self.path_len as usize]
    }
}

/// Computes `reach` for every layer and one [`DimensionState`] per dimension into `out`.
pub fn navigate(
    dimensions: &[DimensionRecord],
    layers: &[LayerRecord],
    confidence: &[f32],
    reach: &mut Vec<f32>,
    out: &mut Vec<DimensionState>,
) {
    reach.clear();
    reach.extend_from_slice(&confidence[..layers.len().min(confidence.len())]);
    reach.resize(layers.len(), 0.0);
    // Children come after their parent (breadth-first order), so one reverse pass folds every
    // subtree into its root.
    for i in (0..layers.len()).rev() {
        let parent = layers[i].parent;
        if parent != NO_PARENT {
            let p = parent as usize;
            if reach[i] > reach[p] {
                reach[p] = reach[i];
            }
        }
    }
    out.clear();
    for (d, dim) in dimensions.iter().enumerate() {
        let range = dim.layers.as_range();
        let mut best: Option<usize> = None;
        for i in range.clone() {
            if layers[i].parent == NO_PARENT && best.is_none_or(|b| reach[i] > reach[b]) {
                best = Some(i);
            }
        }
        let Some(mut node) = best else { continue };
        let mut state = DimensionState {
            dimension: d as u32,
            activation: reach[node],
            ..Default::default()
        };
        loop {
            state.path[state.path_len as usize] = node as u32;
            state.path_len += 1;
            if confidence.get(node).copied().unwrap_or(0.0) >= reach[node]
                || state.path_len as usize == MAX_PATH
            {
                break;
            }
            let children = layers[node].children.as_range();
            let next = children
                .clone()
                .max_by(|&a, &b| reach[a].total_cmp(&reach[b]).then(b.cmp(&a)));
            match next {
                Some(child) => node = child,
                None => break,
            }
        }
        out.push(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::format::{Range32, StrRef};

    fn layer(dimension: u32, parent: u32, children: (u32, u32), depth: u32) -> LayerRecord {
        LayerRecord {
            id: StrRef::default(),
            name: StrRef::default(),
            content: StrRef::default(),
            dimension,
            parent,
            children: Range32 {
                start: children.0,
                count: children.1,
            },
            keywords: Range32::default(),
            learned: Range32::default(),
            examples: Range32::default(),
            expansion: Range32::default(),
            depth,
            frequency: 1.0,
            content_tokens: 0,
            reserved: 0,
        }
    }

    #[test]
    fn descends_to_the_most_confident_layer_through_its_ancestors() {
        // Tree: 0 -> {1, 2}; 2 -> {3}; 3 -> {4}. Layer 4 (depth 3) is the most confident.
        let layers = vec![
            layer(0, NO_PARENT, (1, 2), 0),
            layer(0, 0, (0, 0), 1),
            layer(0, 0, (3, 1), 1),
            layer(0, 2, (4, 1), 2),
            layer(0, 3, (0, 0), 3),
        ];
        let dims = vec![DimensionRecord {
            id: StrRef::default(),
            name: StrRef::default(),
            description: StrRef::default(),
            freq_min: 0.1,
            freq_max: 4.5,
            layers: Range32 { start: 0, count: 5 },
        }];
        let (mut reach, mut out) = (Vec::new(), Vec::new());
        navigate(
            &dims,
            &layers,
            &[0.2, 0.5, 0.1, 0.1, 0.9],
            &mut reach,
            &mut out,
        );
        assert_eq!(out[0].path(), &[0, 2, 3, 4]);
        assert_eq!(out[0].activation, 0.9);
        navigate(
            &dims,
            &layers,
            &[0.2, 0.5, 0.1, 0.1, 0.3],
            &mut reach,
            &mut out,
        );
        assert_eq!(out[0].path(), &[0, 1]);
        navigate(
            &dims,
            &layers,
            &[0.8, 0.5, 0.1, 0.1, 0.3],
            &mut reach,
            &mut out,
        );
        assert_eq!(out[0].path(), &[0], "stops where the layer itself is best");
    }
}

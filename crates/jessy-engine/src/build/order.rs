//! The layer table's order: dimensions in source order, each dimension's layers breadth-first,
//! so a dimension's layers and a layer's children are contiguous ranges in the snapshot.

use std::collections::VecDeque;

use crate::registry::RegistrySource;
use crate::storage::format::NO_PARENT;

/// The layer table's shape: per layer (in table order) its `(dimension, index in source)`, its
/// parent's table index, its children range and its depth.
pub(super) struct LayerOrder {
    pub(super) order: Vec<(usize, usize)>,
    pub(super) parents: Vec<u32>,
    pub(super) children: Vec<(u32, u32)>,
    pub(super) depths: Vec<u32>,
}

/// Breadth-first order of each dimension's layers.
pub(super) fn order_layers(source: &RegistrySource) -> LayerOrder {
    let mut order = Vec::new();
    let mut parents = Vec::new();
    let mut depths = Vec::new();
    for (d, dim) in source.dimensions.iter().enumerate() {
        let mut queue: VecDeque<(Option<&str>, u32, u32)> = VecDeque::from([(None, NO_PARENT, 0)]);
        while let Some((parent_id, parent_index, depth)) = queue.pop_front() {
            for (l, layer) in dim.layers.iter().enumerate() {
                if layer.parent.as_deref() == parent_id {
                    let index = order.len() as u32;
                    order.push((d, l));
                    parents.push(parent_index);
                    depths.push(depth);
                    queue.push_back((Some(layer.id.as_str()), index, depth + 1));
                }
            }
        }
    }
    let mut children = vec![(0u32, 0u32); order.len()];
    for (i, &p) in parents.iter().enumerate() {
        if p != NO_PARENT {
            let c = &mut children[p as usize];
            if c.1 == 0 {
                c.0 = i as u32;
            }
            c.1 += 1;
        }
    }
    LayerOrder {
        order,
        parents,
        children,
        depths,
    }
}

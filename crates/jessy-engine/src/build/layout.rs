//! Laying a compiled registry out as the records storage writes.

use super::Compiled;
use crate::parser::estimate_tokens;
use crate::storage::{writer, DimensionData, LayerData, ModelMeta, SnapshotData};

impl Compiled {
    /// Lays the registry out as the bytes of generation `generation`.
    pub fn encode(&self, generation: u64) -> Vec<u8> {
        let s = &self.source;
        let order = &self.layers.order;
        let mut dimensions = Vec::with_capacity(s.dimensions.len());
        let mut start = 0u32;
        for (d, dim) in s.dimensions.iter().enumerate() {
            let count = order.iter().filter(|(od, _)| *od == d).count() as u32;
            dimensions.push(DimensionData {
                id: &dim.id,
                name: &dim.name,
                description: &dim.description,
                frequency: dim.frequency,
                layers: (start, count),
            });
            start += count;
        }
        let layers = order
            .iter()
            .enumerate()
            .map(|(i, &(d, l))| {
                let layer = &s.dimensions[d].layers[l];
                LayerData {
                    id: &layer.id,
                    name: &layer.name,
                    content: &layer.content,
                    dimension: d as u32,
                    parent: self.layers.parents[i],
                    children: self.layers.children[i],
                    depth: self.layers.depths[i],
                    frequency: layer.frequency,
                    keywords: layer
                        .keywords
                        .iter()
                        .map(|k| (k.term(), k.weight()))
                        .collect(),
                    learned: self.derived.learned[i].clone(),
                    examples: layer.examples.iter().map(String::as_str).collect(),
                    expansion: self.derived.expansion[i].clone(),
                    content_tokens: estimate_tokens(layer.content.trim()),
                }
            })
            .collect();
        let semantic = self
            .semantic
            .as_ref()
            .map(|(h, _)| h.to_bytes())
            .unwrap_or_default();
        let data = SnapshotData {
            name: &s.name,
            description: &s.description,
            dimensions,
            layers,
            out_of_scope: s.out_of_scope.iter().map(String::as_str).collect(),
            model: self.model.sections(),
            model_meta: ModelMeta {
                num_classes: self.model.num_classes,
                threshold: self.calibration.threshold,
                calibrated: self.calibration.calibrated,
                feature_params: self.model.feature_config.to_params(),
            },
            associations: self.derived.associations.clone(),
            validation: self
                .validation
                .iter()
                .map(|(text, ids)| match ids {
                    Some((d, l)) => (text.as_str(), d.as_str(), l.as_str()),
                    None => (text.as_str(), "", ""),
                })
                .collect(),
            semantic: &semantic,
            build_flags: if self.no_refit {
                super::BUILD_FLAG_NO_REFIT
            } else {
                0
            },
        };
        writer::encode(&data, generation)
    }
}

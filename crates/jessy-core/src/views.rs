//! Read-only views of one snapshot generation, shaped for JSON.
//!
//! Built only from the engine's typed registry views, so the engine keeps no HTTP-specific
//! types and the file format stays private. Every view is taken from a single
//! `Arc<Registry>` and carries its generation: a response never mixes two generations, even
//! while a write publishes a new one.

use jessy_engine::{DimensionView, LayerView, Registry};
use serde::Serialize;
use utoipa::ToSchema;

/// A dimension in the listing.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DimensionSummary {
    /// Slug id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// One-sentence description.
    pub description: String,
    /// Frequency range of its layers, in Hz.
    pub frequency: FrequencyRange,
    /// Number of layers.
    pub layer_count: usize,
}

/// A frequency range in Hz.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct FrequencyRange {
    /// Low end.
    pub min: f32,
    /// High end.
    pub max: f32,
}

/// `GET /v1/dimensions`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DimensionList {
    /// Snapshot generation the listing was read from.
    pub generation: u64,
    /// Every dimension, in registry order.
    pub dimensions: Vec<DimensionSummary>,
}

/// `GET /v1/dimensions/{id}`: a dimension and its layer tree (without content).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DimensionDetail {
    /// Snapshot generation.
    pub generation: u64,
    /// Slug id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// One-sentence description.
    pub description: String,
    /// Frequency range, Hz.
    pub frequency: FrequencyRange,
    /// Layers, breadth-first (roots first).
    pub layers: Vec<LayerSummary>,
}

/// A layer inside a dimension view.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LayerSummary {
    /// Slug id, unique within the dimension.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Parent layer id; `null` for a root.
    pub parent: Option<String>,
    /// Depth, 0 for roots.
    pub depth: u32,
    /// Frequency, Hz.
    pub frequency: f32,
    /// Authored keywords (terms learned from examples are not listed).
    pub keywords: Vec<KeywordView>,
}

/// A weighted keyword.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KeywordView {
    /// The term.
    pub term: String,
    /// Its weight (1.0 when written as a plain string).
    pub weight: f32,
}

/// `GET /v1/dimensions/{id}/layers/{layer}`: everything about one layer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LayerDetail {
    /// Snapshot generation.
    pub generation: u64,
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Parent layer id; `null` for a root.
    pub parent: Option<String>,
    /// Ids of the child layers.
    pub children: Vec<String>,
    /// Depth, 0 for roots.
    pub depth: u32,
    /// Frequency, Hz.
    pub frequency: f32,
    /// Authored keywords.
    pub keywords: Vec<KeywordView>,
    /// Example utterances.
    pub examples: Vec<String>,
    /// Markdown content returned as context.
    pub content: String,
}

/// Every dimension of `registry`.
pub fn dimension_list(registry: &Registry) -> DimensionList {
    let dimensions = registry
        .dimensions()
        .map(|d| DimensionSummary {
            id: d.id().to_string(),
            name: d.name().to_string(),
            description: d.description().to_string(),
            frequency: frequency_range(&d),
            layer_count: d.layers().len(),
        })
        .collect();
    DimensionList {
        generation: registry.generation(),
        dimensions,
    }
}

fn frequency_range(d: &DimensionView<'_>) -> FrequencyRange {
    let [min, max] = d.frequency();
    FrequencyRange { min, max }
}

/// One dimension with its layers, or `None` if there is no such dimension.
pub fn dimension_detail(registry: &Registry, id: &str) -> Option<DimensionDetail> {
    let d = registry.dimension(id)?;
    Some(DimensionDetail {
        generation: registry.generation(),
        id: d.id().to_string(),
        name: d.name().to_string(),
        description: d.description().to_string(),
        frequency: frequency_range(&d),
        layers: d
            .layers()
            .map(|l| LayerSummary {
                id: l.id().to_string(),
                name: l.name().to_string(),
                parent: l.parent().map(|p| p.id().to_string()),
                depth: l.depth(),
                frequency: l.frequency(),
                keywords: keywords(&l),
            })
            .collect(),
    })
}

/// Whether dimension `dimension` has a layer `layer` in `registry`.
pub fn has_layer(registry: &Registry, dimension: &str, layer: &str) -> bool {
    registry.layer(dimension, layer).is_some()
}

/// Why a layer view could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerLookup {
    /// No dimension with that id.
    UnknownDimension,
    /// The dimension exists, the layer does not.
    UnknownLayer,
}

/// Everything about one layer.
pub fn layer_detail(
    registry: &Registry,
    dimension: &str,
    layer: &str,
) -> Result<LayerDetail, LayerLookup> {
    let d = registry
        .dimension(dimension)
        .ok_or(LayerLookup::UnknownDimension)?;
    let l = d.layer(layer).ok_or(LayerLookup::UnknownLayer)?;
    Ok(LayerDetail {
        generation: registry.generation(),
        dimension: dimension.to_string(),
        id: l.id().to_string(),
        name: l.name().to_string(),
        parent: l.parent().map(|p| p.id().to_string()),
        children: l.children().map(|c| c.id().to_string()).collect(),
        depth: l.depth(),
        frequency: l.frequency(),
        keywords: keywords(&l),
        examples: l.examples().map(str::to_string).collect(),
        content: l.content().to_string(),
    })
}

fn keywords(layer: &LayerView<'_>) -> Vec<KeywordView> {
    layer
        .keywords()
        .map(|(term, weight)| KeywordView {
            term: term.to_string(),
            weight,
        })
        .collect()
}

/// Numbers for `/ready`: dimensions and layers of the current generation.
pub fn counts(registry: &Registry) -> (usize, usize) {
    (registry.dimensions().len(), registry.layer_count())
}

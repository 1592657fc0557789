//! Read-only views of one snapshot generation, shaped for JSON.
//!
//! Built only from the engine's public accessors, so the engine keeps no HTTP-specific types.
//! Every view is taken from a single `Arc<Snapshot>` and carries its generation: a response
//! never mixes two generations, even while a write publishes a new one.

use jessy_engine::storage::format::{LayerRecord, NO_PARENT};
use jessy_engine::storage::Snapshot;
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

/// Every dimension of `snapshot`.
pub fn dimension_list(snapshot: &Snapshot) -> DimensionList {
    let dimensions = snapshot
        .dimension_records()
        .iter()
        .map(|d| DimensionSummary {
            id: snapshot.str(d.id).to_string(),
            name: snapshot.str(d.name).to_string(),
            description: snapshot.str(d.description).to_string(),
            frequency: FrequencyRange {
                min: d.freq_min,
                max: d.freq_max,
            },
            layer_count: d.layers.count as usize,
        })
        .collect();
    DimensionList {
        generation: snapshot.generation(),
        dimensions,
    }
}

/// Index of dimension `id`, if it exists.
fn find_dimension(snapshot: &Snapshot, id: &str) -> Option<usize> {
    snapshot
        .dimension_records()
        .iter()
        .position(|d| snapshot.str(d.id) == id)
}

/// One dimension with its layers, or `None` if there is no such dimension.
pub fn dimension_detail(snapshot: &Snapshot, id: &str) -> Option<DimensionDetail> {
    let index = find_dimension(snapshot, id)?;
    let d = &snapshot.dimension_records()[index];
    let layers = snapshot
        .layer_records()
        .get(d.layers.as_range())
        .unwrap_or(&[]);
    Some(DimensionDetail {
        generation: snapshot.generation(),
        id: snapshot.str(d.id).to_string(),
        name: snapshot.str(d.name).to_string(),
        description: snapshot.str(d.description).to_string(),
        frequency: FrequencyRange {
            min: d.freq_min,
            max: d.freq_max,
        },
        layers: layers
            .iter()
            .map(|l| LayerSummary {
                id: snapshot.str(l.id).to_string(),
                name: snapshot.str(l.name).to_string(),
                parent: parent_id(snapshot, l),
                depth: l.depth,
                frequency: l.frequency,
                keywords: keywords(snapshot, l),
            })
            .collect(),
    })
}

/// Whether dimension `dimension` has a layer `layer` in `snapshot`.
pub fn has_layer(snapshot: &Snapshot, dimension: &str, layer: &str) -> bool {
    find_layer(snapshot, dimension, layer).is_some()
}

fn find_layer<'s>(snapshot: &'s Snapshot, dimension: &str, layer: &str) -> Option<&'s LayerRecord> {
    let d = &snapshot.dimension_records()[find_dimension(snapshot, dimension)?];
    snapshot
        .layer_records()
        .get(d.layers.as_range())?
        .iter()
        .find(|l| snapshot.str(l.id) == layer)
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
    snapshot: &Snapshot,
    dimension: &str,
    layer: &str,
) -> Result<LayerDetail, LayerLookup> {
    find_dimension(snapshot, dimension).ok_or(LayerLookup::UnknownDimension)?;
    let l = find_layer(snapshot, dimension, layer).ok_or(LayerLookup::UnknownLayer)?;
    let layers = snapshot.layer_records();
    let examples = snapshot
        .example_refs()
        .get(l.examples.as_range())
        .unwrap_or(&[]);
    Ok(LayerDetail {
        generation: snapshot.generation(),
        dimension: dimension.to_string(),
        id: snapshot.str(l.id).to_string(),
        name: snapshot.str(l.name).to_string(),
        parent: parent_id(snapshot, l),
        children: layers
            .get(l.children.as_range())
            .unwrap_or(&[])
            .iter()
            .map(|c| snapshot.str(c.id).to_string())
            .collect(),
        depth: l.depth,
        frequency: l.frequency,
        keywords: keywords(snapshot, l),
        examples: examples
            .iter()
            .map(|&e| snapshot.str(e).to_string())
            .collect(),
        content: snapshot.str(l.content).to_string(),
    })
}

fn parent_id(snapshot: &Snapshot, layer: &LayerRecord) -> Option<String> {
    if layer.parent == NO_PARENT {
        return None;
    }
    snapshot
        .layer_records()
        .get(layer.parent as usize)
        .map(|p| snapshot.str(p.id).to_string())
}

fn keywords(snapshot: &Snapshot, layer: &LayerRecord) -> Vec<KeywordView> {
    snapshot
        .term_records()
        .get(layer.keywords.as_range())
        .unwrap_or(&[])
        .iter()
        .map(|t| KeywordView {
            term: snapshot.str(t.term).to_string(),
            weight: t.weight,
        })
        .collect()
}

/// Numbers for `/ready`: dimensions and layers of the current generation.
pub fn counts(snapshot: &Snapshot) -> (usize, usize) {
    (
        snapshot.dimension_records().len(),
        snapshot.layer_records().len(),
    )
}

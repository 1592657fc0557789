//! Typed, zero-copy views of a loaded [`Registry`]'s dimensions and layers: what the services
//! and tools read, so the on-disk records stay private to the engine.

use super::Registry;
use crate::storage::format::{DimensionRecord, LayerRecord, NO_PARENT};

/// One dimension of a loaded registry. Strings are borrowed from the mapped snapshot.
#[derive(Clone, Copy)]
pub struct DimensionView<'a> {
    registry: &'a Registry,
    index: usize,
}

impl<'a> DimensionView<'a> {
    pub(super) fn new(registry: &'a Registry, index: usize) -> DimensionView<'a> {
        DimensionView { registry, index }
    }

    fn record(&self) -> &'a DimensionRecord {
        &self.registry.snapshot().dimension_records()[self.index]
    }

    fn str(&self, r: crate::storage::format::StrRef) -> &'a str {
        self.registry.snapshot().str(r)
    }

    /// Position in the registry (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Slug id.
    pub fn id(&self) -> &'a str {
        self.str(self.record().id)
    }

    /// Human name.
    pub fn name(&self) -> &'a str {
        self.str(self.record().name)
    }

    /// One-sentence description.
    pub fn description(&self) -> &'a str {
        self.str(self.record().description)
    }

    /// Frequency range of its layers, Hz: `[min, max]`.
    pub fn frequency(&self) -> [f32; 2] {
        let d = self.record();
        [d.freq_min, d.freq_max]
    }

    /// Its layers, breadth-first (roots first).
    pub fn layers(&self) -> impl ExactSizeIterator<Item = LayerView<'a>> {
        let registry = self.registry;
        self.record()
            .layers
            .as_range()
            .map(move |i| LayerView { registry, index: i })
    }

    /// Its layer with slug `id`.
    pub fn layer(&self, id: &str) -> Option<LayerView<'a>> {
        self.layers().find(|l| l.id() == id)
    }
}

/// One layer of a loaded registry. Strings are borrowed from the mapped snapshot.
#[derive(Clone, Copy)]
pub struct LayerView<'a> {
    registry: &'a Registry,
    index: usize,
}

impl<'a> LayerView<'a> {
    fn record(&self) -> &'a LayerRecord {
        &self.registry.snapshot().layer_records()[self.index]
    }

    fn str(&self, r: crate::storage::format::StrRef) -> &'a str {
        self.registry.snapshot().str(r)
    }

    /// Slug id, unique within its dimension.
    pub fn id(&self) -> &'a str {
        self.str(self.record().id)
    }

    /// Human name.
    pub fn name(&self) -> &'a str {
        self.str(self.record().name)
    }

    /// Markdown content, returned as context.
    pub fn content(&self) -> &'a str {
        self.str(self.record().content)
    }

    /// Estimated tokens of the content (counted at build time).
    pub fn content_tokens(&self) -> u32 {
        self.record().content_tokens
    }

    /// Depth, 0 for roots.
    pub fn depth(&self) -> u32 {
        self.record().depth
    }

    /// Frequency, Hz.
    pub fn frequency(&self) -> f32 {
        self.record().frequency
    }

    /// The dimension it belongs to.
    pub fn dimension(&self) -> DimensionView<'a> {
        DimensionView::new(self.registry, self.record().dimension as usize)
    }

    /// Its parent layer; `None` for a root.
    pub fn parent(&self) -> Option<LayerView<'a>> {
        let p = self.record().parent;
        (p != NO_PARENT).then_some(LayerView {
            registry: self.registry,
            index: p as usize,
        })
    }

    /// Its child layers.
    pub fn children(&self) -> impl ExactSizeIterator<Item = LayerView<'a>> {
        let registry = self.registry;
        self.record()
            .children
            .as_range()
            .map(move |i| LayerView { registry, index: i })
    }

    /// Authored keywords with their weights.
    pub fn keywords(&self) -> impl ExactSizeIterator<Item = (&'a str, f32)> {
        self.terms(self.record().keywords)
    }

    /// Terms learned from the examples, with their weights.
    pub fn learned_terms(&self) -> impl ExactSizeIterator<Item = (&'a str, f32)> {
        self.terms(self.record().learned)
    }

    /// Example utterances.
    pub fn examples(&self) -> impl ExactSizeIterator<Item = &'a str> {
        let snapshot = self.registry.snapshot();
        snapshot.example_refs()[self.record().examples.as_range()]
            .iter()
            .map(move |r| snapshot.str(*r))
    }

    fn terms(
        &self,
        range: crate::storage::format::Range32,
    ) -> impl ExactSizeIterator<Item = (&'a str, f32)> {
        let snapshot = self.registry.snapshot();
        snapshot.term_records()[range.as_range()]
            .iter()
            .map(move |t| (snapshot.str(t.term), t.weight))
    }
}

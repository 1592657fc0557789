//! Serializes a compiled registry into the bytes of one generation file.
//!
//! Storage does not know how a registry is compiled: the build path fills a [`SnapshotData`]
//! (already in the order the format requires) and this module lays it out.

use std::collections::HashMap;

use bytemuck::Pod;

use super::format::*;

/// A dimension to write.
#[derive(Debug, Clone)]
pub struct DimensionData<'a> {
    /// Slug id.
    pub id: &'a str,
    /// Human name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Frequency range in Hz.
    pub frequency: [f32; 2],
    /// First layer index and count (layers of a dimension are contiguous).
    pub layers: (u32, u32),
}

/// A layer to write. Indices refer to positions in [`SnapshotData::layers`].
#[derive(Debug, Clone)]
pub struct LayerData<'a> {
    /// Slug id.
    pub id: &'a str,
    /// Human name.
    pub name: &'a str,
    /// Markdown content.
    pub content: &'a str,
    /// Dimension index.
    pub dimension: u32,
    /// Parent index or [`NO_PARENT`].
    pub parent: u32,
    /// First child index and count.
    pub children: (u32, u32),
    /// Depth (0 = root).
    pub depth: u32,
    /// Frequency in Hz.
    pub frequency: f32,
    /// Authored keywords.
    pub keywords: Vec<(&'a str, f32)>,
    /// Learned terms.
    pub learned: Vec<(String, f32)>,
    /// Training examples.
    pub examples: Vec<&'a str>,
    /// Expansion vector: feature rows of the layer's terms, weighted.
    pub expansion: Vec<FeatureValue>,
    /// Estimated tokens of `content`, counted by the builder (storage does not tokenize).
    pub content_tokens: u32,
}

/// Everything one generation file holds.
#[derive(Debug, Clone)]
pub struct SnapshotData<'a> {
    /// Registry name.
    pub name: &'a str,
    /// Registry description.
    pub description: &'a str,
    /// Dimensions in order.
    pub dimensions: Vec<DimensionData<'a>>,
    /// Layers grouped by dimension, breadth-first within each.
    pub layers: Vec<LayerData<'a>>,
    /// Out-of-scope examples.
    pub out_of_scope: Vec<&'a str>,
    /// The learned model's arrays.
    pub model: ModelSections<'a>,
    /// The model's scalars: classes, no-match threshold, feature parameters.
    pub model_meta: ModelMeta,
    /// Validation lines `(text, dimension id, layer id)`, ids empty for out of scope.
    pub validation: Vec<(&'a str, &'a str, &'a str)>,
    /// Build settings, opaque to storage ([`RegistryMeta::build_flags`]).
    pub build_flags: u32,
    /// Associations `(source key, target term, target feature row, strength)`, any order.
    pub associations: Vec<(u64, String, u32, f32)>,
    /// The semantic head's bytes (opaque to storage); empty without one.
    pub semantic: &'a [u8],
}

/// Interns strings into one blob; equal strings are stored once.
#[derive(Default)]
struct StringBlob {
    bytes: Vec<u8>,
    seen: HashMap<String, StrRef>,
}

impl StringBlob {
    fn add(&mut self, s: &str) -> StrRef {
        // Large texts (content) are rarely repeated; skip the map for them to save memory.
        if s.len() > 256 {
            return self.push(s);
        }
        if let Some(r) = self.seen.get(s) {
            return *r;
        }
        let r = self.push(s);
        self.seen.insert(s.to_owned(), r);
        r
    }

    fn push(&mut self, s: &str) -> StrRef {
        let r = StrRef {
            offset: self.bytes.len() as u64,
            len: s.len() as u64,
        };
        self.bytes.extend_from_slice(s.as_bytes());
        r
    }
}

fn range(start: usize, count: usize) -> Range32 {
    Range32 {
        start: start as u32,
        count: count as u32,
    }
}

/// Lays out `data` as generation `generation` and returns the complete file bytes.
pub fn encode(data: &SnapshotData<'_>, generation: u64) -> Vec<u8> {
    encode_version(data, generation, FORMAT_VERSION)
}

/// [`encode`] in the layout of format `version` (sections newer than it left out): how the
/// tests make files of older versions to prove they are still read.
pub(super) fn encode_version(data: &SnapshotData<'_>, generation: u64, version: u32) -> Vec<u8> {
    let mut strings = StringBlob::default();
    let mut terms: Vec<TermRecord> = Vec::new();
    let mut examples: Vec<StrRef> = Vec::new();
    let mut expansion: Vec<FeatureValue> = Vec::new();
    let term = |strings: &mut StringBlob, t: &str, weight: f32| TermRecord {
        term: strings.add(t),
        weight,
        reserved: 0,
    };

    let dimensions: Vec<DimensionRecord> = data
        .dimensions
        .iter()
        .map(|d| DimensionRecord {
            id: strings.add(d.id),
            name: strings.add(d.name),
            description: strings.add(d.description),
            freq_min: d.frequency[0],
            freq_max: d.frequency[1],
            layers: range(d.layers.0 as usize, d.layers.1 as usize),
        })
        .collect();
    let mut layers = Vec::with_capacity(data.layers.len());
    for l in &data.layers {
        let keywords_start = terms.len();
        for (t, w) in &l.keywords {
            terms.push(term(&mut strings, t, *w));
        }
        let learned_start = terms.len();
        for (t, w) in &l.learned {
            terms.push(term(&mut strings, t, *w));
        }
        let examples_start = examples.len();
        examples.extend(l.examples.iter().map(|e| strings.add(e)));
        let expansion_start = expansion.len();
        expansion.extend_from_slice(&l.expansion);
        layers.push(LayerRecord {
            id: strings.add(l.id),
            name: strings.add(l.name),
            content: strings.add(l.content),
            dimension: l.dimension,
            parent: l.parent,
            children: range(l.children.0 as usize, l.children.1 as usize),
            keywords: range(keywords_start, l.keywords.len()),
            learned: range(learned_start, l.learned.len()),
            examples: range(examples_start, l.examples.len()),
            expansion: range(expansion_start, l.expansion.len()),
            depth: l.depth,
            frequency: l.frequency,
            content_tokens: l.content_tokens,
            reserved: 0,
        });
    }
    let out_of_scope: Vec<StrRef> = data.out_of_scope.iter().map(|e| strings.add(e)).collect();
    let validation: Vec<ValidationRecord> = data
        .validation
        .iter()
        .map(|(text, dimension, layer)| ValidationRecord {
            text: strings.add(text),
            dimension: strings.add(dimension),
            layer: strings.add(layer),
        })
        .collect();
    let mut associations: Vec<AssocRecord> = data
        .associations
        .iter()
        .map(|(key, target, row, strength)| AssocRecord {
            source_key: *key,
            target: strings.add(target),
            strength: *strength,
            target_row: *row,
        })
        .collect();
    associations.sort_by(|a, b| {
        a.source_key
            .cmp(&b.source_key)
            .then(b.strength.total_cmp(&a.strength))
    });
    let m = &data.model;
    let meta = RegistryMeta {
        name: strings.add(data.name),
        description: strings.add(data.description),
        num_classes: data.model_meta.num_classes,
        threshold: data.model_meta.threshold,
        calibrated: data.model_meta.calibrated as u32,
        feature_params: data.model_meta.feature_params,
        build_flags: data.build_flags,
        reserved_params: [0.0; 8],
    };

    let sections: Vec<(SectionKind, &[u8])> = vec![
        (SectionKind::Strings, &strings.bytes),
        (SectionKind::Meta, bytes_of(std::slice::from_ref(&meta))),
        (SectionKind::Dimensions, bytes_of(&dimensions)),
        (SectionKind::Layers, bytes_of(&layers)),
        (SectionKind::Terms, bytes_of(&terms)),
        (SectionKind::Examples, bytes_of(&examples)),
        (SectionKind::OutOfScope, bytes_of(&out_of_scope)),
        (SectionKind::ModelKeys, bytes_of(m.keys)),
        (SectionKind::ModelIdf, bytes_of(m.idf)),
        (SectionKind::ModelRows, bytes_of(m.row_start)),
        (SectionKind::ModelPostClass, bytes_of(m.post_class)),
        (SectionKind::ModelPostWeight, bytes_of(m.post_weight)),
        (SectionKind::ModelBias, bytes_of(m.bias)),
        (SectionKind::ModelDenseRows, bytes_of(m.dense_rows)),
        (SectionKind::ModelDense, bytes_of(m.dense)),
        (SectionKind::Associations, bytes_of(&associations)),
        (SectionKind::Expansion, bytes_of(&expansion)),
        (SectionKind::Validation, bytes_of(&validation)),
        (SectionKind::Semantic, data.semantic),
    ];
    let sections: Vec<(SectionKind, &[u8])> = sections
        .into_iter()
        .filter(|(kind, _)| kind.since_version() <= version)
        .collect();
    assemble(generation, version, &sections)
}

fn bytes_of<T: Pod>(records: &[T]) -> &[u8] {
    bytemuck::cast_slice(records)
}

/// Header, section table, aligned sections, footer.
fn assemble(generation: u64, version: u32, sections: &[(SectionKind, &[u8])]) -> Vec<u8> {
    let header_len = std::mem::size_of::<Header>();
    let table_len = sections.len() * std::mem::size_of::<SectionEntry>();
    let mut offset = align_up(header_len + table_len);
    let mut entries = Vec::with_capacity(sections.len());
    for (kind, bytes) in sections {
        entries.push(SectionEntry {
            kind: *kind as u32,
            record_size: kind.record_size() as u32,
            offset: offset as u64,
            len: bytes.len() as u64,
        });
        offset = align_up(offset + bytes.len());
    }
    let total = offset + FOOTER_LEN;
    let header = Header {
        magic: DATA_MAGIC,
        version,
        section_count: sections.len() as u32,
        generation,
        file_len: total as u64,
        reserved: [0; 4],
    };
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(bytemuck::bytes_of(&header));
    out.extend_from_slice(bytemuck::cast_slice(&entries));
    for ((_, bytes), entry) in sections.iter().zip(&entries) {
        out.resize(entry.offset as usize, 0);
        out.extend_from_slice(bytes);
    }
    out.resize(offset, 0);
    let foot = footer(&out, total as u64);
    out.extend_from_slice(&foot);
    out
}

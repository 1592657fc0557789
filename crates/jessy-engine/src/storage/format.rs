//! The on-disk layout of snapshot files: fixed little-endian records, addressable by offset.
//!
//! A generation file is:
//!
//! ```text
//! Header (64 bytes) | SectionEntry × section_count | sections, each 8-byte aligned | Footer (16 bytes)
//! ```
//!
//! Every record type here is `#[repr(C)]`, has no padding and is `bytemuck::Pod`, so a validated
//! byte range of the map can be viewed as `&[Record]` without copying. Integers are little-endian;
//! the crate refuses to compile on big-endian targets rather than silently misreading files.

use bytemuck::{Pod, Zeroable};

#[cfg(target_endian = "big")]
compile_error!("jessy snapshot files are little-endian; big-endian targets are not supported");

/// Magic bytes at the start of a generation file.
pub const DATA_MAGIC: [u8; 8] = *b"JESSYSNP";
/// Magic bytes at the start of the manifest (`CURRENT`).
pub const MANIFEST_MAGIC: [u8; 8] = *b"JESSYMAN";
/// Magic bytes closing every file, right after its CRC.
pub const FOOTER_MAGIC: [u8; 4] = *b"JEND";
/// Format version written by this build.
///
/// 5 added the [`SectionKind::Validation`] lines and [`RegistryMeta::build_flags`], so a
/// rebuild after a layer write can re-calibrate exactly as the original build did; 6 added the
/// optional [`SectionKind::Semantic`] head (empty when the registry was built without an
/// encoder).
pub const FORMAT_VERSION: u32 = 6;
/// Oldest format version this build reads: a version-4 file is read as a version-5 file with
/// no validation lines and no build flags (its meta field was zero), and a version-4 or -5 file
/// as one without a semantic head. Older ones are refused.
pub const OLDEST_READABLE_VERSION: u32 = 4;

/// Whether files (and manifests) of `version` can be read by this build.
pub fn readable_version(version: u32) -> bool {
    (OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version)
}
/// Alignment of every section, so any record type can be viewed in place.
pub const SECTION_ALIGN: usize = 8;
/// Bytes of the footer: CRC32 (u32) + magic (4 bytes) + file length (u64).
pub const FOOTER_LEN: usize = 16;

/// The fixed header of a generation file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Header {
    /// [`DATA_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// Number of [`SectionEntry`] records after the header.
    pub section_count: u32,
    /// Generation number this file belongs to.
    pub generation: u64,
    /// Total file length, footer included.
    pub file_len: u64,
    /// Reserved, zero.
    pub reserved: [u64; 4],
}

/// Where one section lives in the file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SectionEntry {
    /// A [`SectionKind`] code.
    pub kind: u32,
    /// Size of one record of the section (1 for byte blobs), checked against the kind.
    pub record_size: u32,
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// The sections of a generation file. Codes are part of the format: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SectionKind {
    /// UTF-8 string blob referenced by [`StrRef`]s.
    Strings = 1,
    /// Registry-wide scalars: [`RegistryMeta`].
    Meta = 2,
    /// [`DimensionRecord`]s.
    Dimensions = 3,
    /// [`LayerRecord`]s, grouped by dimension, breadth-first within a dimension.
    Layers = 4,
    /// [`TermRecord`]s: authored keywords, then learned terms, addressed by ranges from layers.
    Terms = 5,
    /// [`StrRef`]s of training examples, addressed by ranges from layers.
    Examples = 6,
    /// [`StrRef`]s of out-of-scope examples.
    OutOfScope = 7,
    /// Model: sorted feature keys (u64).
    ModelKeys = 8,
    /// Model: IDF per feature (f32).
    ModelIdf = 9,
    /// Model: CSR row starts (u32), `keys + 1` entries.
    ModelRows = 10,
    /// Model: posting class ids (u32).
    ModelPostClass = 11,
    /// Model: posting weights (f32).
    ModelPostWeight = 12,
    /// Model: per-class bias (f32).
    ModelBias = 13,
    /// Term associations: [`AssocRecord`]s sorted by source key.
    Associations = 14,
    /// Per-layer expansion vectors: [`FeatureValue`]s addressed by ranges from layers.
    Expansion = 15,
    /// Model: rows stored dense (u32, ascending); their CSR ranges are empty.
    ModelDenseRows = 16,
    /// Model: weights of the dense rows (bfloat16 bits, u16), one per output, row-major.
    ModelDense = 17,
    /// [`ValidationRecord`]s: the labeled lines the no-match threshold was calibrated on
    /// (format 5; absent, read as empty, in format 4).
    Validation = 18,
    /// The semantic cascade's head and the identity of its encoder, a byte blob owned by the
    /// engine's `semantic` module (format 6; empty when built without an encoder, absent in
    /// older formats).
    Semantic = 19,
}

impl SectionKind {
    /// Every kind, in the order they are written.
    pub const ALL: [SectionKind; 19] = [
        SectionKind::Strings,
        SectionKind::Meta,
        SectionKind::Dimensions,
        SectionKind::Layers,
        SectionKind::Terms,
        SectionKind::Examples,
        SectionKind::OutOfScope,
        SectionKind::ModelKeys,
        SectionKind::ModelIdf,
        SectionKind::ModelRows,
        SectionKind::ModelPostClass,
        SectionKind::ModelPostWeight,
        SectionKind::ModelBias,
        SectionKind::Associations,
        SectionKind::Expansion,
        SectionKind::ModelDenseRows,
        SectionKind::ModelDense,
        SectionKind::Validation,
        SectionKind::Semantic,
    ];

    /// The format version that introduced this kind: a file of an older version lacks it.
    pub fn since_version(self) -> u32 {
        match self {
            SectionKind::Validation => 5,
            SectionKind::Semantic => 6,
            _ => 4,
        }
    }

    /// The kind for a code read from a file.
    pub fn from_code(code: u32) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|k| *k as u32 == code)
    }

    /// Size in bytes of one record of this section.
    pub fn record_size(self) -> usize {
        use std::mem::size_of;
        match self {
            SectionKind::Strings | SectionKind::Semantic => 1,
            SectionKind::Meta => size_of::<RegistryMeta>(),
            SectionKind::Dimensions => size_of::<DimensionRecord>(),
            SectionKind::Layers => size_of::<LayerRecord>(),
            SectionKind::Terms => size_of::<TermRecord>(),
            SectionKind::Examples | SectionKind::OutOfScope => size_of::<StrRef>(),
            SectionKind::ModelKeys => 8,
            SectionKind::ModelIdf
            | SectionKind::ModelRows
            | SectionKind::ModelPostClass
            | SectionKind::ModelPostWeight
            | SectionKind::ModelBias
            | SectionKind::ModelDenseRows => 4,
            SectionKind::ModelDense => 2,
            SectionKind::Associations => size_of::<AssocRecord>(),
            SectionKind::Expansion => size_of::<FeatureValue>(),
            SectionKind::Validation => size_of::<ValidationRecord>(),
        }
    }
}

/// A string in the [`SectionKind::Strings`] blob.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct StrRef {
    /// Byte offset into the blob.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// A contiguous range of records in another section.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct Range32 {
    /// First record.
    pub start: u32,
    /// Number of records.
    pub count: u32,
}

impl Range32 {
    /// As a `usize` range.
    pub fn as_range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.count as usize
    }
}

/// Registry-wide scalars and the learned model's small parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RegistryMeta {
    /// Registry name.
    pub name: StrRef,
    /// Registry description.
    pub description: StrRef,
    /// Number of model classes (layers); the out-of-scope class, if any, is extra.
    pub num_classes: u32,
    /// Calibrated no-match threshold on the top layer's confidence.
    pub threshold: f32,
    /// 1 when the threshold was calibrated on a validation file.
    pub calibrated: u32,
    /// Feature-extraction parameters, opaque to storage (owned by the model).
    pub feature_params: [u32; 8],
    /// Build settings a rebuild must repeat, opaque to storage (owned by the build path);
    /// zero in format 4.
    pub build_flags: u32,
    /// Reserved, zero (format 4 set aside eight model parameters that no model has used).
    pub reserved_params: [f32; 8],
}

/// One dimension.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct DimensionRecord {
    /// Slug id.
    pub id: StrRef,
    /// Human name.
    pub name: StrRef,
    /// Description.
    pub description: StrRef,
    /// Frequency range low end (Hz).
    pub freq_min: f32,
    /// Frequency range high end (Hz).
    pub freq_max: f32,
    /// Its layers in the layer table.
    pub layers: Range32,
}

/// No parent (a root layer).
pub const NO_PARENT: u32 = u32::MAX;

/// One layer. Layers of a dimension are contiguous and breadth-first, so the children of a
/// layer are a contiguous range too.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LayerRecord {
    /// Slug id, unique within the dimension.
    pub id: StrRef,
    /// Human name.
    pub name: StrRef,
    /// Markdown content.
    pub content: StrRef,
    /// Index of the dimension.
    pub dimension: u32,
    /// Index of the parent layer, or [`NO_PARENT`].
    pub parent: u32,
    /// Children in the layer table.
    pub children: Range32,
    /// Authored keywords in the term table.
    pub keywords: Range32,
    /// Learned terms (from examples) in the term table.
    pub learned: Range32,
    /// Examples in the example table.
    pub examples: Range32,
    /// The layer's expansion vector in the expansion table.
    pub expansion: Range32,
    /// Depth, 0 for roots.
    pub depth: u32,
    /// Frequency in Hz.
    pub frequency: f32,
    /// Estimated tokens of `content`, counted once at build time so assembling a context under
    /// a budget does not rescan every layer's text on every query.
    pub content_tokens: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// A weighted term (keyword or learned term).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct TermRecord {
    /// The term text.
    pub term: StrRef,
    /// Its weight.
    pub weight: f32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// A term-to-term association: a query word reaching a term it co-occurs with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AssocRecord {
    /// Stable hash of the source stem (computed by the model), the sort key.
    pub source_key: u64,
    /// The associated term's text.
    pub target: StrRef,
    /// Strength in (0, 1].
    pub strength: f32,
    /// Model feature row of the target term, so expansion needs no parsing at query time.
    pub target_row: u32,
}

/// One labeled validation line. Labels are stored by id, not by class index, so they still
/// name the right layer after a write adds or removes layers. Empty `dimension` and `layer`:
/// an out-of-scope line.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ValidationRecord {
    /// The utterance.
    pub text: StrRef,
    /// Dimension id, or empty.
    pub dimension: StrRef,
    /// Layer id, or empty.
    pub layer: StrRef,
}

/// A model feature row with a value: one entry of a sparse feature vector.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct FeatureValue {
    /// Row in the model's feature table.
    pub row: u32,
    /// Value (already weighted).
    pub value: f32,
}

/// The fixed part of the manifest (`CURRENT`), followed by the file name bytes and a footer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ManifestHeader {
    /// [`MANIFEST_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// CRC32 of the whole generation file (footer excluded), so a swapped file is caught.
    pub data_crc: u32,
    /// The published generation.
    pub generation: u64,
    /// Length of the generation file.
    pub data_len: u64,
    /// Length of the file name that follows.
    pub name_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Rounds `n` up to the section alignment.
pub fn align_up(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// Builds the 16-byte footer for the bytes before it.
pub fn footer(body: &[u8], total_len: u64) -> [u8; FOOTER_LEN] {
    let mut out = [0u8; FOOTER_LEN];
    out[..4].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    out[4..8].copy_from_slice(&FOOTER_MAGIC);
    out[8..].copy_from_slice(&total_len.to_le_bytes());
    out
}

/// The learned model's arrays as stored, one slice per model section. Storage checks only that
/// each section is a whole number of records; what the arrays mean and which invariants hold
/// between them is the model's business, checked when a registry generation is loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelSections<'a> {
    /// Sorted feature keys ([`SectionKind::ModelKeys`]).
    pub keys: &'a [u64],
    /// IDF per feature ([`SectionKind::ModelIdf`]).
    pub idf: &'a [f32],
    /// CSR row starts, `keys + 1` entries ([`SectionKind::ModelRows`]).
    pub row_start: &'a [u32],
    /// Posting classes ([`SectionKind::ModelPostClass`]).
    pub post_class: &'a [u32],
    /// Posting weights ([`SectionKind::ModelPostWeight`]).
    pub post_weight: &'a [f32],
    /// Bias per output ([`SectionKind::ModelBias`]).
    pub bias: &'a [f32],
    /// Rows stored dense, ascending ([`SectionKind::ModelDenseRows`]).
    pub dense_rows: &'a [u32],
    /// Weights of the dense rows as bfloat16 bits, row-major ([`SectionKind::ModelDense`]).
    pub dense: &'a [u16],
}

/// The model's scalars, stored in [`RegistryMeta`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelMeta {
    /// Number of in-scope classes (= layers).
    pub num_classes: u32,
    /// No-match threshold.
    pub threshold: f32,
    /// Whether the threshold was calibrated on validation data.
    pub calibrated: bool,
    /// Feature-extraction parameters, opaque to storage.
    pub feature_params: [u32; 8],
}

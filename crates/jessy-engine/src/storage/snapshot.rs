//! A validated generation file and zero-copy views into it.
//!
//! Opening is validation: magic, version, length, CRC, the section table, every record's
//! offsets, lengths and indices, and the UTF-8 of the string blob are checked before any view
//! is handed out. After that, accessors only index into ranges that were proven in bounds, so a
//! corrupt file is a typed [`OpenError`] at open, never a panic later.

use std::path::{Path, PathBuf};

use bytemuck::Pod;

use super::error::{Corruption, OpenError};
use super::format::*;
use super::mmap::Region;

/// One opened and validated generation file.
pub struct Snapshot {
    region: Region,
    path: PathBuf,
    generation: u64,
    sections: [(usize, usize); SectionKind::ALL.len()],
    meta: RegistryMeta,
}

type Sections = [(usize, usize); SectionKind::ALL.len()];

fn index_of(kind: SectionKind) -> usize {
    SectionKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL")
}

impl Snapshot {
    /// Maps and validates a generation file.
    pub fn open(path: &Path) -> Result<Snapshot, OpenError> {
        Snapshot::from_region(Region::map(path)?, path)
    }

    /// Validates bytes held in memory (the in-memory backend).
    pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<Snapshot, OpenError> {
        Snapshot::from_region(Region::from_bytes(bytes), name)
    }

    fn from_region(mut region: Region, path: &Path) -> Result<Snapshot, OpenError> {
        let corrupt = |problem: Corruption| OpenError::Corrupt {
            path: path.to_path_buf(),
            problem,
        };
        let (generation, sections) = validate_layout(region.bytes()).map_err(corrupt)?;
        let (offset, len) = sections[index_of(SectionKind::Strings)];
        region.mark_utf8(offset..offset + len).map_err(|e| {
            corrupt(structure(format!(
                "string blob is not UTF-8 at byte {}",
                e.valid_up_to()
            )))
        })?;
        let meta = validate_records(&region, &sections).map_err(corrupt)?;
        Ok(Snapshot {
            region,
            path: path.to_path_buf(),
            generation,
            sections,
            meta,
        })
    }

    /// The generation number recorded in the file.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The file this snapshot was read from (or the name given to an in-memory one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn len_bytes(&self) -> usize {
        self.region.bytes().len()
    }

    /// Whether the bytes are a file map (zero-copy) rather than a heap buffer.
    pub fn is_mapped(&self) -> bool {
        self.region.is_mapped()
    }

    /// The CRC32 stored in the file's footer (checked against the contents at open).
    pub fn stored_crc(&self) -> u32 {
        let bytes = self.region.bytes();
        let at = bytes.len() - FOOTER_LEN;
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Whether `text` is borrowed from this snapshot's bytes (proof of a zero-copy read).
    pub fn contains(&self, text: &str) -> bool {
        let bytes = self.region.bytes().as_ptr_range();
        let text = text.as_bytes().as_ptr_range();
        bytes.start as usize <= text.start as usize && text.end as usize <= bytes.end as usize
    }

    /// Number of sections (regions of the file).
    pub fn region_count(&self) -> usize {
        self.sections.len()
    }

    fn raw(&self, kind: SectionKind) -> &[u8] {
        let (offset, len) = self.sections[index_of(kind)];
        &self.region.bytes()[offset..offset + len]
    }

    fn records<T: Pod>(&self, kind: SectionKind) -> &[T] {
        // Alignment and size were checked at open; an error here is impossible by construction
        // but degrades to an empty slice rather than a panic.
        bytemuck::try_cast_slice(self.raw(kind)).unwrap_or(&[])
    }

    /// Resolves a string reference (validated at open; `""` if it were somehow not).
    pub fn str(&self, r: StrRef) -> &str {
        Region::str_at(self.region.utf8_blob(), r.offset, r.len).unwrap_or("")
    }

    /// Registry-wide scalars.
    pub fn meta(&self) -> &RegistryMeta {
        &self.meta
    }

    /// Dimension records.
    pub fn dimension_records(&self) -> &[DimensionRecord] {
        self.records(SectionKind::Dimensions)
    }

    /// Layer records.
    pub fn layer_records(&self) -> &[LayerRecord] {
        self.records(SectionKind::Layers)
    }

    /// Term records (keywords and learned terms).
    pub fn term_records(&self) -> &[TermRecord] {
        self.records(SectionKind::Terms)
    }

    /// Example references.
    pub fn example_refs(&self) -> &[StrRef] {
        self.records(SectionKind::Examples)
    }

    /// Out-of-scope example references.
    pub fn out_of_scope_refs(&self) -> &[StrRef] {
        self.records(SectionKind::OutOfScope)
    }

    /// Association records, sorted by source key.
    pub fn associations(&self) -> &[AssocRecord] {
        self.records(SectionKind::Associations)
    }

    /// Labeled validation lines (empty in a format-4 file).
    pub fn validation_records(&self) -> &[ValidationRecord] {
        self.records(SectionKind::Validation)
    }

    /// The semantic head's bytes, opaque here (empty when the registry has none, and in files
    /// older than format 6).
    pub fn semantic_bytes(&self) -> &[u8] {
        self.raw(SectionKind::Semantic)
    }

    /// Expansion vector entries (addressed by each layer's `expansion` range).
    pub fn expansion(&self) -> &[FeatureValue] {
        self.records(SectionKind::Expansion)
    }

    /// The learned model's arrays, borrowed from the map (their meaning is checked by the
    /// model when a registry generation is loaded, not here).
    pub fn model_sections(&self) -> ModelSections<'_> {
        ModelSections {
            keys: self.records(SectionKind::ModelKeys),
            idf: self.records(SectionKind::ModelIdf),
            row_start: self.records(SectionKind::ModelRows),
            post_class: self.records(SectionKind::ModelPostClass),
            post_weight: self.records(SectionKind::ModelPostWeight),
            bias: self.records(SectionKind::ModelBias),
            dense_rows: self.records(SectionKind::ModelDenseRows),
            dense: self.records(SectionKind::ModelDense),
        }
    }

    /// The model's scalars from the meta record.
    pub fn model_meta(&self) -> ModelMeta {
        ModelMeta {
            num_classes: self.meta.num_classes,
            threshold: self.meta.threshold,
            calibrated: self.meta.calibrated != 0,
            feature_params: self.meta.feature_params,
        }
    }
}

fn read<T: Pod>(bytes: &[u8], offset: usize) -> Result<T, Corruption> {
    let size = std::mem::size_of::<T>();
    bytes
        .get(offset..offset + size)
        .map(bytemuck::pod_read_unaligned)
        .ok_or_else(|| Corruption::Structure(format!("record at {offset} runs past the end")))
}

fn structure(msg: impl Into<String>) -> Corruption {
    Corruption::Structure(msg.into())
}

/// Checks the header, footer (length, CRC) and section table; returns the generation and the
/// section table.
fn validate_layout(bytes: &[u8]) -> Result<(u64, Sections), Corruption> {
    let len = bytes.len();
    let header_len = std::mem::size_of::<Header>();
    if len < header_len + FOOTER_LEN {
        return Err(Corruption::TooShort { len: len as u64 });
    }
    let header: Header = read(bytes, 0)?;
    if header.magic != DATA_MAGIC {
        return Err(Corruption::BadMagic {
            expected: String::from_utf8_lossy(&DATA_MAGIC).into(),
            found: String::from_utf8_lossy(&header.magic).into(),
        });
    }
    if !readable_version(header.version) {
        return Err(Corruption::Version {
            expected: FORMAT_VERSION,
            oldest: OLDEST_READABLE_VERSION,
            found: header.version,
        });
    }
    if header.file_len != len as u64 {
        return Err(Corruption::Length {
            recorded: header.file_len,
            actual: len as u64,
        });
    }
    check_footer(bytes)?;

    let count = header.section_count as usize;
    let expected = SectionKind::ALL
        .iter()
        .filter(|k| k.since_version() <= header.version)
        .count();
    if count != expected {
        return Err(structure(format!(
            "{count} sections, format {} has {expected}",
            header.version
        )));
    }
    let table_end = header_len + count * std::mem::size_of::<SectionEntry>();
    let body_end = len - FOOTER_LEN;
    if table_end > body_end {
        return Err(structure("section table runs past the end"));
    }
    let mut sections: Sections = [(0, 0); SectionKind::ALL.len()];
    let mut seen = [false; SectionKind::ALL.len()];
    for i in 0..count {
        let entry: SectionEntry =
            read(bytes, header_len + i * std::mem::size_of::<SectionEntry>())?;
        let kind = SectionKind::from_code(entry.kind)
            .filter(|k| k.since_version() <= header.version)
            .ok_or_else(|| structure(format!("unknown section kind {}", entry.kind)))?;
        let idx = index_of(kind);
        if std::mem::replace(&mut seen[idx], true) {
            return Err(structure(format!("section {kind:?} appears twice")));
        }
        if entry.record_size as usize != kind.record_size() {
            return Err(structure(format!(
                "section {kind:?} record size {} (expected {})",
                entry.record_size,
                kind.record_size()
            )));
        }
        let offset =
            usize::try_from(entry.offset).map_err(|_| structure("section offset overflows"))?;
        let slen = usize::try_from(entry.len).map_err(|_| structure("section length overflows"))?;
        let end = offset
            .checked_add(slen)
            .ok_or_else(|| structure("section end overflows"))?;
        if offset < table_end || end > body_end || offset % SECTION_ALIGN != 0 {
            return Err(structure(format!(
                "section {kind:?} at {offset}+{slen} is outside the body [{table_end}, {body_end}) or misaligned"
            )));
        }
        if slen % kind.record_size() != 0 {
            return Err(structure(format!(
                "section {kind:?} length {slen} is not a whole number of records"
            )));
        }
        sections[idx] = (offset, slen);
    }
    Ok((header.generation, sections))
}

/// Checks every record of every section against the others; returns the meta record.
fn validate_records(region: &Region, sections: &Sections) -> Result<RegistryMeta, Corruption> {
    let bytes = region.bytes();

    let view = |kind: SectionKind| {
        let (o, l) = sections[index_of(kind)];
        &bytes[o..o + l]
    };
    fn cast<T: Pod>(b: &[u8]) -> Result<&[T], Corruption> {
        if b.is_empty() {
            // An absent section (older format) is empty wherever its offset points.
            return Ok(&[]);
        }
        bytemuck::try_cast_slice(b)
            .map_err(|e| Corruption::Structure(format!("cannot view records: {e}")))
    }
    let blob = region.utf8_blob();
    let check_str = |r: &StrRef, what: &str| {
        Region::str_at(blob, r.offset, r.len)
            .map(|_| ())
            .ok_or_else(|| {
                structure(format!(
                    "{what}: string {}+{} out of range or splits a character",
                    r.offset, r.len
                ))
            })
    };
    let metas: &[RegistryMeta] = cast(view(SectionKind::Meta))?;
    let [meta] = metas else {
        return Err(structure(format!(
            "{} meta records, expected 1",
            metas.len()
        )));
    };
    check_str(&meta.name, "registry name")?;
    check_str(&meta.description, "registry description")?;

    let dimensions: &[DimensionRecord] = cast(view(SectionKind::Dimensions))?;
    let layers: &[LayerRecord] = cast(view(SectionKind::Layers))?;
    let terms: &[TermRecord] = cast(view(SectionKind::Terms))?;
    let examples: &[StrRef] = cast(view(SectionKind::Examples))?;
    let expansion: &[FeatureValue] = cast(view(SectionKind::Expansion))?;
    let in_range = |r: Range32, n: usize| {
        (r.start as usize)
            .checked_add(r.count as usize)
            .is_some_and(|e| e <= n)
    };

    let mut expected_start = 0usize;
    for (i, d) in dimensions.iter().enumerate() {
        let what = format!("dimension {i}");
        check_str(&d.id, &what)?;
        check_str(&d.name, &what)?;
        check_str(&d.description, &what)?;
        if !(d.freq_min.is_finite() && d.freq_max.is_finite() && d.freq_min <= d.freq_max) {
            return Err(structure(format!("{what}: bad frequency range")));
        }
        if d.layers.start as usize != expected_start || !in_range(d.layers, layers.len()) {
            return Err(structure(format!(
                "{what}: layer range does not tile the layer table"
            )));
        }
        expected_start += d.layers.count as usize;
    }
    if expected_start != layers.len() {
        return Err(structure("dimensions do not cover every layer"));
    }
    for (i, l) in layers.iter().enumerate() {
        let what = format!("layer {i}");
        check_str(&l.id, &what)?;
        check_str(&l.name, &what)?;
        check_str(&l.content, &what)?;
        let dim = dimensions.get(l.dimension as usize).ok_or_else(|| {
            structure(format!(
                "{what}: dimension index {} out of range",
                l.dimension
            ))
        })?;
        if !dim.layers.as_range().contains(&i) {
            return Err(structure(format!(
                "{what}: not inside its dimension's range"
            )));
        }
        if l.parent != NO_PARENT {
            let p = l.parent as usize;
            let parent = layers
                .get(p)
                .filter(|_| p < i && dim.layers.as_range().contains(&p));
            let Some(parent) = parent else {
                return Err(structure(format!(
                    "{what}: parent {p} is not an earlier layer of its dimension"
                )));
            };
            if l.depth != parent.depth + 1 || !parent.children.as_range().contains(&i) {
                return Err(structure(format!(
                    "{what}: depth or parent's child range inconsistent"
                )));
            }
        } else if l.depth != 0 {
            return Err(structure(format!("{what}: root with depth {}", l.depth)));
        }
        if l.depth > 3 || !l.frequency.is_finite() {
            return Err(structure(format!(
                "{what}: depth {} or frequency invalid",
                l.depth
            )));
        }
        let children = l.children.as_range();
        if l.children.count > 0
            && (!in_range(l.children, layers.len())
                || children.start <= i
                || !dim.layers.as_range().contains(&children.start)
                || !dim.layers.as_range().contains(&(children.end - 1)))
        {
            return Err(structure(format!("{what}: children out of range")));
        }
        for r in [l.keywords, l.learned] {
            if !in_range(r, terms.len()) {
                return Err(structure(format!("{what}: term range out of range")));
            }
        }
        if !in_range(l.examples, examples.len()) {
            return Err(structure(format!("{what}: example range out of range")));
        }
        if !in_range(l.expansion, expansion.len()) {
            return Err(structure(format!("{what}: expansion range out of range")));
        }
    }
    for (i, t) in terms.iter().enumerate() {
        check_str(&t.term, &format!("term {i}"))?;
        if !t.weight.is_finite() {
            return Err(structure(format!("term {i}: weight not finite")));
        }
    }
    for (i, e) in examples.iter().enumerate() {
        check_str(e, &format!("example {i}"))?;
    }
    let oos: &[StrRef] = cast(view(SectionKind::OutOfScope))?;
    for (i, e) in oos.iter().enumerate() {
        check_str(e, &format!("out-of-scope example {i}"))?;
    }
    let validation: &[ValidationRecord] = cast(view(SectionKind::Validation))?;
    for (i, v) in validation.iter().enumerate() {
        let what = format!("validation line {i}");
        check_str(&v.text, &what)?;
        check_str(&v.dimension, &what)?;
        check_str(&v.layer, &what)?;
    }
    let assoc: &[AssocRecord] = cast(view(SectionKind::Associations))?;
    for (i, a) in assoc.iter().enumerate() {
        check_str(&a.target, &format!("association {i}"))?;
        if !(a.strength.is_finite() && a.strength > 0.0) {
            return Err(structure(format!("association {i}: strength not positive")));
        }
        if i > 0 && assoc[i - 1].source_key > a.source_key {
            return Err(structure("associations are not sorted"));
        }
    }
    if meta.num_classes as usize != layers.len() {
        return Err(structure(format!(
            "model has {} classes for {} layers",
            meta.num_classes,
            layers.len()
        )));
    }
    // Referential integrity only: rows named by other records exist in the model's key table.
    // The model's own invariants are checked by the model when the generation is loaded.
    let features = cast::<u64>(view(SectionKind::ModelKeys))?.len();
    if expansion
        .iter()
        .any(|f| f.row as usize >= features || !f.value.is_finite())
    {
        return Err(structure(
            "expansion entry with an unknown feature row or bad value",
        ));
    }
    if assoc.iter().any(|a| a.target_row as usize >= features) {
        return Err(structure("association with an unknown target feature row"));
    }
    Ok(*meta)
}

/// Checks the footer's magic, recorded length and CRC of everything before it.
pub(super) fn check_footer(bytes: &[u8]) -> Result<(), Corruption> {
    let len = bytes.len();
    if len < FOOTER_LEN {
        return Err(Corruption::TooShort { len: len as u64 });
    }
    let foot = &bytes[len - FOOTER_LEN..];
    if foot[4..8] != FOOTER_MAGIC {
        return Err(Corruption::BadMagic {
            expected: String::from_utf8_lossy(&FOOTER_MAGIC).into(),
            found: String::from_utf8_lossy(&foot[4..8]).into(),
        });
    }
    let recorded = u64::from_le_bytes(foot[8..16].try_into().expect("8 bytes"));
    if recorded != len as u64 {
        return Err(Corruption::Length {
            recorded,
            actual: len as u64,
        });
    }
    let stored = u32::from_le_bytes(foot[..4].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[..len - FOOTER_LEN]);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    Ok(())
}

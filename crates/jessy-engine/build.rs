//! Embeds the default registry source (`registry/default/`) into the engine.
//!
//! The file list is generated rather than written by hand so that adding a dimension file is
//! enough to ship it; each file is pulled in with `include_str!`, so Cargo rebuilds when any
//! of them changes.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../../registry/default");
    println!("cargo:rerun-if-changed={}", root.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("dimensions").display()
    );

    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let registry = root.join("registry.toml");
    if registry.exists() {
        files.push(("registry.toml".into(), registry));
    }
    if let Ok(entries) = fs::read_dir(root.join("dimensions")) {
        let mut dims: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        dims.sort();
        for path in dims {
            let name = format!("dimensions/{}", path.file_name().unwrap().to_string_lossy());
            files.push((name, path));
        }
    }

    let mut out =
        String::from("/// The embedded default registry source: `(relative path, file text)`.\n");
    out.push_str("pub(super) const FILES: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        let path = canonical(path);
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    // The validation file the default registry is calibrated on, if present.
    let validation = root.join("validation.jsonl");
    out.push_str("/// The embedded default registry's validation lines (labeled JSONL).\n");
    if validation.exists() {
        out.push_str(&format!(
            "pub(super) const VALIDATION: Option<&str> = Some(include_str!({:?}));\n",
            canonical(&validation).display().to_string()
        ));
    } else {
        out.push_str("pub(super) const VALIDATION: Option<&str> = None;\n");
    }
    // The engine's own sources go into the default snapshot's cache key too: a change to how
    // registries are compiled must not be served from a cache built by older code.
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("src").display()
    );
    let mut sources = Vec::new();
    collect_files(&manifest_dir.join("src"), &mut sources);
    sources.sort();
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &sources {
        for &b in fs::read(path)
            .unwrap_or_default()
            .iter()
            .chain([0xffu8].iter())
        {
            digest ^= b as u64;
            digest = digest.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    out.push_str("/// FNV-1a digest of the engine's source files at build time.\n");
    out.push_str(&format!(
        "pub(super) const ENGINE_SOURCE_DIGEST: u64 = {digest:#018x};\n"
    ));
    let dest =
        PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("default_registry.rs");
    fs::write(dest, out).expect("write generated file list");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

//! One function per subcommand; `main` only parses arguments and reports errors.

pub mod cluster;
pub mod healthcheck;
pub mod semantic;
pub mod serve;
pub mod usage;

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context as _};
use jessy_engine::build::{self, import as importer, BuildOptions};
use jessy_engine::registry::RegistrySource;
use jessy_engine::{dataset, eval as evaluation, Engine, QueryOptions, Registry};

pub use healthcheck::healthcheck;

use crate::report;

/// Opens a snapshot directory read-only (so it works beside the core that owns it), or the
/// embedded default registry: from the user's cache directory when there is one (built there
/// on first use), else compiled in memory.
pub fn open_engine(registry: Option<&Path>) -> anyhow::Result<Engine> {
    if let Some(dir) = registry {
        return Ok(Engine::open_read_only(dir)?);
    }
    if let Some(cache) = cache_root() {
        match Engine::open_default_cached(&cache) {
            Ok(engine) => return Ok(engine),
            Err(e) => eprintln!(
                "jessy: note: cannot use the default-registry cache in {} ({e}); building it in memory",
                cache.display()
            ),
        }
    }
    Engine::default_in_memory().context("building the embedded default registry")
}

/// `$XDG_CACHE_HOME/jessy`, else `$HOME/.cache/jessy` (the XDG base-directory rules).
fn cache_root() -> Option<std::path::PathBuf> {
    let absolute = |v: std::ffi::OsString| {
        let p = std::path::PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })
        .map(|base| base.join("jessy"))
}

/// `jessy query`.
pub fn query(
    text: &OsStr,
    json: bool,
    registry: Option<&Path>,
    budget: u32,
    max_iterations: u32,
    encoder: Option<&Path>,
) -> anyhow::Result<()> {
    let Some(text) = text.to_str() else {
        bail!("the query is not valid UTF-8; pass text in a UTF-8 locale or encoding");
    };
    let engine = semantic::attach(open_engine(registry)?, encoder)?;
    let options = QueryOptions {
        max_iterations,
        token_budget: budget,
        include_content: true,
    };
    let result = engine.query(text, &options).context("invalid query")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer(&mut out, &result)?;
        writeln!(out)?;
    } else {
        report::print_result(&mut out, &result, std::io::stdout().is_terminal())?;
    }
    Ok(())
}

/// `jessy build`.
pub fn build(
    source: &Path,
    out: &Path,
    calibrate: Option<&Path>,
    no_refit: bool,
    encoder: Option<&Path>,
    escalate_at_most: Option<f32>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let registry = RegistrySource::read_dir(source)?;
    let mut options = match calibrate {
        Some(path) => BuildOptions::calibrate_on(path)?,
        None => BuildOptions::default(),
    };
    options.no_refit = no_refit;
    if let Some(dir) = semantic::build_encoder_dir(encoder, &registry, source) {
        if calibrate.is_none() {
            bail!(
                "the semantic cascade (encoder {}) needs --calibrate: its settings are chosen \
                 on validation lines",
                dir.display()
            );
        }
        options.semantic = Some(build::SemanticBuild {
            escalate_at_most: escalate_at_most
                .unwrap_or(jessy_engine::build::DEFAULT_ESCALATE_AT_MOST),
            ..semantic::build_settings(&dir, out)?
        });
    } else if escalate_at_most.is_some() {
        bail!(
            "--escalate-at-most needs an encoder (--encoder, or [encoder] path in registry.toml)"
        );
    }
    let compiled = build::compile(&registry, &options)?;
    let generation = build::publish_compiled(&compiled, out)?;
    let built = Registry::open(out)?;
    let calibration = compiled.calibration();
    eprintln!(
        "built {} → {} generation {generation}: {} dimensions, {} layers, {} training utterances, {} bytes, threshold {:.4}{} in {:.1}s",
        source.display(),
        out.display(),
        built.dimensions().len(),
        built.layer_count(),
        compiled.training_examples,
        built.len_bytes(),
        calibration.threshold,
        if calibration.calibrated { " (calibrated)" } else { " (default)" },
        started.elapsed().as_secs_f64()
    );
    if let Some(head) = compiled.semantic_head() {
        semantic::report_head(head, compiled.semantic_cost());
    }
    Ok(())
}

/// `jessy verify`.
pub fn verify(dir: &Path) -> anyhow::Result<()> {
    let registry = Registry::open(dir)?;
    let stale = registry
        .unreferenced_generations()
        .with_context(|| format!("listing {}", dir.display()))?;
    println!(
        "ok: {} generation {} ({} bytes, {} regions, {} dimensions, {} layers, CRC {:#010x})",
        registry.path().display(),
        registry.generation(),
        registry.len_bytes(),
        registry.region_count(),
        registry.dimensions().len(),
        registry.layer_count(),
        registry.stored_crc()
    );
    if !stale.is_empty() {
        println!(
            "note: unreferenced generation files {stale:?} will be removed by the next publish"
        );
    }
    Ok(())
}

/// `jessy import`.
pub fn import(file: &Path, out: &Path) -> anyhow::Result<()> {
    let source = importer::import_file(file, out)?;
    let layers: usize = source.dimensions.iter().map(|d| d.layers.len()).sum();
    let examples: usize = source
        .dimensions
        .iter()
        .flat_map(|d| &d.layers)
        .map(|l| l.examples.len())
        .sum();
    eprintln!(
        "imported {} → {}: {} dimensions, {layers} layers, {examples} examples, {} out-of-scope examples",
        file.display(),
        out.display(),
        source.dimensions.len(),
        source.out_of_scope.len()
    );
    Ok(())
}

/// `jessy eval`.
pub fn eval(
    registry: &Path,
    file: &Path,
    json: bool,
    encoder: Option<&Path>,
) -> anyhow::Result<()> {
    let lexical_only = Engine::open_read_only(registry)?;
    let engine = semantic::attach(Engine::open_read_only(registry)?, encoder)?;
    let examples = dataset::read_jsonl(file)?;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(examples.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = evaluation::evaluate(&engine, &examples, |n| {
        if let Some(bar) = &bar {
            if n % 64 == 0 || n == examples.len() {
                bar.set_position(n as u64);
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // With the cascade, the same snapshot without the encoder, in the same run: the fast
    // path's own numbers beside the cascade's.
    let without = engine
        .has_cascade()
        .then(|| evaluation::evaluate(&lexical_only, &examples, |_| {}));
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let (Some(w), Some(map)) = (&without, value.as_object_mut()) {
            map.insert("without_encoder".into(), serde_json::to_value(w)?);
        }
        println!("{value}");
    } else {
        let mut out = std::io::stdout().lock();
        report::print_eval(&mut out, &report)?;
        if let Some(w) = &without {
            writeln!(out, "\nthe same snapshot without the encoder:")?;
            report::print_eval(&mut out, w)?;
        }
    }
    Ok(())
}

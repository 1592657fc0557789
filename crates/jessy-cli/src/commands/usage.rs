//! `jessy feedback`, `jessy learn` and `jessy suggest`: learning from usage on a registry
//! directory this process owns (a running core owns its directory; use its HTTP endpoints).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use jessy_engine::build::import::slugify;
use jessy_engine::usage::{FeedbackItem, FeedbackTarget, MAX_FEEDBACK_BATCH};
use jessy_engine::Engine;
use serde_json::Value;

/// Opens `dir` for writing, explaining what to do when a core owns it.
fn open_writable(dir: &Path) -> anyhow::Result<Engine> {
    Engine::open(dir).with_context(|| {
        format!(
            "opening {} for writing (if a jessy-core serves it, use its /v1/feedback, /v1/learn and /v1/suggestions endpoints instead)",
            dir.display()
        )
    })
}

/// One line of a feedback file: `{"text","layer"}` with `layer` as `"dimension/layer"` ids or
/// null, or the import format `{"text","dimension","layer"}` (both null: out of scope), whose
/// labels are named as `jessy import` names them (slugs), so a labelled file and the
/// registry imported from its sibling agree.
fn parse_line(line: &str, number: usize) -> anyhow::Result<FeedbackItem> {
    let value: Value =
        serde_json::from_str(line).with_context(|| format!("line {number}: not JSON"))?;
    let Some(object) = value.as_object() else {
        bail!("line {number}: expected a JSON object");
    };
    let text = match object.get("text") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        _ => bail!("line {number}: \"text\" must be a non-empty string"),
    };
    let string_or_null = |key: &str| -> anyhow::Result<Option<String>> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("line {number}: \"{key}\" must be a string or null"),
        }
    };
    let layer = if object.contains_key("dimension") {
        match (string_or_null("dimension")?, string_or_null("layer")?) {
            (Some(d), Some(l)) => Some(format!("{}/{}", slugify(&d), slugify(&l))),
            (None, None) => None,
            _ => bail!("line {number}: give both \"dimension\" and \"layer\", or neither"),
        }
    } else {
        string_or_null("layer")?
    };
    Ok(FeedbackItem {
        target: FeedbackTarget::Text(text),
        layer,
    })
}

/// `jessy feedback --registry DIR FILE.jsonl`: checks every line, then records them all.
pub fn feedback(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{}: not valid UTF-8", file.display()))?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            items.push(parse_line(line, i + 1).with_context(|| file.display().to_string())?);
        }
    }
    if items.is_empty() {
        bail!("{}: no feedback lines", file.display());
    }
    let engine = open_writable(dir)?;
    // All or nothing: check every label before the first batch is written.
    let registry = engine.registry();
    for (i, item) in items.iter().enumerate() {
        if let Some(layer) = &item.layer {
            let known = jessy_engine::usage::feedback::split_layer(layer)
                .is_some_and(|(d, l)| registry.layer(d, l).is_some());
            if !known {
                bail!(
                    "{}: item {}: unknown layer {layer:?} (expected \"dimension/layer\" of an existing layer); nothing recorded",
                    file.display(),
                    i + 1
                );
            }
        }
    }
    let mut total = 0;
    for batch in items.chunks(MAX_FEEDBACK_BATCH) {
        total = engine.record_feedback(batch)?;
    }
    eprintln!(
        "recorded {} feedback items in {} (the log holds {total}); run `jessy learn --registry {}` to learn from them",
        items.len(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// `jessy learn --registry DIR [--json]`.
pub fn learn(dir: &Path, json: bool) -> anyhow::Result<()> {
    let engine = open_writable(dir)?;
    let report = engine.learn()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: {}",
        if report.published {
            format!("published generation {}", report.generation)
        } else {
            format!("kept generation {}", report.generation)
        },
        report.reason
    )?;
    writeln!(
        out,
        "feedback: {} records, {} used ({} texts trained, {} held out, {} contradictory, {} stale, {} already known)",
        report.feedback_total,
        report.feedback_used,
        report.texts_trained,
        report.held_out,
        report.contradictory,
        report.stale,
        report.known
    )?;
    writeln!(
        out,
        "exam of {} lines: in-scope accuracy {:.4} → {:.4}, OOS recall {:.4} → {:.4} ({:.0} ms)",
        report.before.examples,
        report.before.in_scope_accuracy,
        report.after.in_scope_accuracy,
        report.before.oos_recall,
        report.after.oos_recall,
        report.duration_ms
    )?;
    Ok(())
}

/// What `jessy suggest` should do with a suggestion.
pub struct Accept<'a> {
    /// The suggestion id.
    pub id: &'a str,
    /// Dimension of the new layer.
    pub dimension: &'a str,
    /// Id of the new layer.
    pub layer: &'a str,
    /// Name of the new layer.
    pub name: &'a str,
}

/// `jessy suggest --registry DIR [--json] [--accept ID --dimension D --layer L --name N]`.
pub fn suggest(dir: &Path, json: bool, accept: Option<Accept<'_>>) -> anyhow::Result<()> {
    if let Some(a) = accept {
        let engine = open_writable(dir)?;
        let upserted = engine.accept_suggestion(a.id, a.dimension, a.layer, a.name)?;
        engine.save_inbox()?;
        eprintln!(
            "created layer {}/{} from suggestion {}: generation {}",
            a.dimension, a.layer, a.id, upserted.generation
        );
        return Ok(());
    }
    let engine = Engine::open_read_only(dir)?;
    let suggestions = engine.suggestions();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer(&mut out, &suggestions)?;
        writeln!(out)?;
        return Ok(());
    }
    if suggestions.is_empty() {
        writeln!(
            out,
            "no suggestions: {} unrouted queries in the inbox, none similar enough to group",
            engine.inbox_entries().len()
        )?;
    }
    for s in &suggestions {
        writeln!(
            out,
            "{}  asked {}×, {} distinct queries",
            s.id,
            s.size,
            s.members.len()
        )?;
        writeln!(out, "  keywords: {}", s.keywords.join(", "))?;
        if let Some(c) = &s.closest {
            writeln!(
                out,
                "  closest layer: {}/{} ({:.3})",
                c.dimension, c.layer, c.confidence
            )?;
        }
        for q in &s.queries {
            writeln!(out, "  - {q}")?;
        }
    }
    Ok(())
}

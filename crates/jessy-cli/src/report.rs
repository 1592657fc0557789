//! Human-readable output, with colour when printing to a terminal.

use std::io::{self, Write};

use jessy_engine::eval::EvalReport;
use jessy_engine::result::{Outcome, QueryResult};

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// Prints a query result as a readable report.
pub fn print_result(out: &mut impl Write, r: &QueryResult, colour: bool) -> io::Result<()> {
    let s = Style { on: colour };
    match r.outcome {
        Outcome::Matched => writeln!(
            out,
            "{} {}",
            s.green("matched"),
            s.dim(&format!("(generation {})", r.generation))
        )?,
        Outcome::NoMatch => writeln!(
            out,
            "{} — {}",
            s.yellow("no match"),
            r.no_match_reason.as_deref().unwrap_or("nothing applies")
        )?,
    }
    for d in &r.dimensions {
        let path: Vec<&str> = d.layers.iter().map(|l| l.id.as_str()).collect();
        writeln!(
            out,
            "  {:<12} {:>5.3} {}  {} {}",
            s.bold(&d.id),
            d.confidence,
            s.dim(&format!(
                "(raw {:.3}, {:.2} Hz)",
                d.raw_confidence, d.frequency
            )),
            path.join(" › "),
            s.dim(&format!("[{}]", d.name))
        )?;
    }
    if r.outcome == Outcome::Matched {
        let i = &r.interference;
        writeln!(
            out,
            "interference: dominant {:.2} Hz, {} pair(s), {} harmonic(s){}",
            i.dominant_frequency,
            i.pairs.len(),
            i.harmonics,
            if i.balance.needed {
                format!(", balance → {:.2} Hz", i.balance.modulated_frequency)
            } else {
                String::new()
            }
        )?;
    }
    let c = &r.convergence;
    writeln!(
        out,
        "convergence: {} iteration(s), {}{}",
        c.iterations,
        if c.converged {
            "converged"
        } else {
            "not converged"
        },
        if c.return_to_source {
            ", returned to source (more than 6 dimensions were active)"
        } else {
            ""
        }
    )?;
    if r.safety.evaluated {
        let line = format!("safety: security activation {:.3}", r.safety.activation);
        writeln!(
            out,
            "{}",
            if r.safety.flagged {
                s.red(&format!("{line} — FLAGGED"))
            } else {
                line
            }
        )?;
    }
    if !r.context.text.is_empty() {
        writeln!(
            out,
            "\n{}",
            s.bold(&format!(
                "context ({} / {} tokens)",
                r.context.tokens, r.context.budget
            ))
        )?;
        writeln!(out, "{}", r.context.text)?;
    }
    let t = &r.timings_us;
    writeln!(
        out,
        "\n{}",
        s.dim(&format!(
            "timings µs: parse {:.1}, scan {:.1}, interference {:.1}, convergence {:.1}, context {:.1}, encoder {:.1}, total {:.1}",
            t.parse, t.scan, t.interference, t.convergence, t.context, t.encoder, t.total
        ))
    )?;
    if let Some(c) = &r.cascade {
        let margin = c
            .margin
            .map_or_else(|| "none (no known word)".to_string(), |m| format!("{m:.3}"));
        writeln!(
            out,
            "{}",
            s.dim(&format!(
                "answered by the {:?} path (lexical margin {margin}){}",
                c.path,
                c.error
                    .as_deref()
                    .map(|e| format!("; encoder not used: {e}"))
                    .unwrap_or_default()
            ))
        )?;
    }
    Ok(())
}

/// Prints an evaluation report as a table.
pub fn print_eval(out: &mut impl Write, r: &EvalReport) -> io::Result<()> {
    let rows = [
        (
            "examples",
            format!(
                "{} ({} in scope, {} out of scope)",
                r.examples, r.in_scope, r.out_of_scope
            ),
        ),
        ("in_scope_accuracy", format!("{:.4}", r.in_scope_accuracy)),
        ("top3_accuracy", format!("{:.4}", r.top3_accuracy)),
        ("dimension_accuracy", format!("{:.4}", r.dimension_accuracy)),
        ("oos_recall", format!("{:.4}", r.oos_recall)),
        ("oos_precision", format!("{:.4}", r.oos_precision)),
        ("rejected queries", r.rejected.to_string()),
        ("p50 latency", format!("{:.1} µs", r.p50_us)),
        ("p90 latency", format!("{:.1} µs", r.p90_us)),
        ("p99 latency", format!("{:.1} µs", r.p99_us)),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<20} {value}")?;
    }
    if let (Some(lexical), Some(semantic)) = (&r.lexical_path, &r.semantic_path) {
        writeln!(out, "{:<20} {:.4}", "escalation_rate", r.escalation_rate)?;
        writeln!(out, "{:<20} {:.1} µs", "encoder p50", r.encoder_p50_us)?;
        writeln!(out, "{:<20} {:.1} µs", "rewarm p50", r.rewarm_p50_us)?;
        for (name, p) in [("lexical path", lexical), ("semantic path", semantic)] {
            writeln!(
                out,
                "{name:<20} {} lines: in-scope {:.4} of {}, oos recall {:.4} of {}",
                p.lines, p.in_scope_accuracy, p.in_scope, p.oos_recall, p.out_of_scope
            )?;
        }
    }
    Ok(())
}

//! `jessy` — the command-line face of the engine: query, build, verify, import, eval, serve.
//!
//! Exit codes: 0 success; 1 any error (the message and its causes go to stderr). A query that
//! routes nowhere is a successful run that prints `no_match`.

mod commands;
mod report;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Jessy: which layers of knowledge apply to a query, and what context they give.
#[derive(Parser)]
#[command(name = "jessy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Route a query and print the result.
    Query {
        /// The query text.
        text: OsString,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
        /// Snapshot directory (default: the embedded default registry, built once into
        /// `$XDG_CACHE_HOME/jessy` or `~/.cache/jessy` and mapped from there).
        #[arg(long, env = "JESSY_REGISTRY")]
        registry: Option<PathBuf>,
        /// Token budget of the assembled context.
        #[arg(long, default_value_t = jessy_engine::DEFAULT_TOKEN_BUDGET)]
        budget: u32,
        /// Convergence iteration cap (1–9).
        #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(1..=9))]
        max_iterations: u32,
        /// Sentence-encoder model directory (config.json, model.safetensors, tokenizer.json;
        /// `scripts/fetch-encoder.sh` fetches all-MiniLM-L6-v2): enables the semantic cascade
        /// of a snapshot built with one.
        #[arg(long, env = "JESSY_ENCODER")]
        encoder: Option<PathBuf>,
    },
    /// Compile a registry source directory into a snapshot generation.
    Build {
        /// Source directory (registry.toml + dimensions/*.toml).
        source: PathBuf,
        /// Snapshot directory to publish into (created if missing). Refused while a running
        /// jessy-core owns the directory: its next layer write would publish over this build.
        #[arg(long)]
        out: PathBuf,
        /// Labeled JSONL validation file to calibrate the no-match threshold on. After the
        /// threshold is chosen, the model is retrained with the validation lines added.
        #[arg(long)]
        calibrate: Option<PathBuf>,
        /// With --calibrate: keep the model trained on the registry's examples alone.
        #[arg(long, requires = "calibrate")]
        no_refit: bool,
        /// Sentence-encoder model directory: also train the semantic cascade's head on the
        /// lines' embeddings (needs --calibrate; embeddings are cached in OUT/embeddings.cache).
        /// Overrides `[encoder] path` in the source's registry.toml.
        #[arg(long)]
        encoder: Option<PathBuf>,
        /// With an encoder: the most share of the validation lines the cascade may send to
        /// the encoder; the escalation margin is chosen on them for the best accuracy under it
        /// (default 0.3).
        #[arg(long, value_parser = parse_share)]
        escalate_at_most: Option<f32>,
    },
    /// Check a snapshot directory: manifest, magic, version, CRC, every offset and length.
    Verify {
        /// Snapshot directory.
        snapshot: PathBuf,
    },
    /// Turn labeled JSONL into a registry source directory.
    Import {
        /// Labeled JSONL file: {"text", "dimension", "layer"} per line; layer null = out of scope.
        file: PathBuf,
        /// Source directory to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate routing on a labeled JSONL test file.
    Eval {
        /// Snapshot directory.
        #[arg(long)]
        registry: PathBuf,
        /// Labeled JSONL test file.
        file: PathBuf,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Sentence-encoder model directory (config.json, model.safetensors, tokenizer.json;
        /// `scripts/fetch-encoder.sh` fetches all-MiniLM-L6-v2): evaluates the semantic
        /// cascade, and the same snapshot without it in the same run.
        #[arg(long, env = "JESSY_ENCODER")]
        encoder: Option<PathBuf>,
    },
    /// Run jessy-core and jessy-api together in this process, with a development API key.
    Serve(commands::serve::ServeArgs),
    /// Cluster mode (PostgreSQL): operator commands.
    #[command(subcommand)]
    Cluster(commands::cluster::ClusterCommand),
    /// Record feedback (lines `{"text","layer":"dimension/layer"|null}` or the import format)
    /// in a registry directory's feedback log.
    Feedback {
        /// The registry directory (it must not be owned by a running core).
        #[arg(long, env = "JESSY_REGISTRY")]
        registry: PathBuf,
        /// Labelled JSONL file.
        file: PathBuf,
    },
    /// Learn from the recorded feedback: retrain, re-calibrate, and publish only if the
    /// regression guard passes.
    Learn {
        /// The registry directory (it must not be owned by a running core).
        #[arg(long, env = "JESSY_REGISTRY")]
        registry: PathBuf,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List suggested layers grouped from the queries nobody routed, or accept one.
    Suggest {
        /// The registry directory.
        #[arg(long, env = "JESSY_REGISTRY")]
        registry: PathBuf,
        /// Print the suggestions as JSON.
        #[arg(long)]
        json: bool,
        /// Accept this suggestion: create a layer from it (needs --dimension, --layer, --name).
        #[arg(long, requires_all = ["dimension", "layer", "name"])]
        accept: Option<String>,
        /// Dimension of the new layer.
        #[arg(long)]
        dimension: Option<String>,
        /// Id of the new layer.
        #[arg(long)]
        layer: Option<String>,
        /// Name of the new layer.
        #[arg(long)]
        name: Option<String>,
    },
    /// Exit 0 when URL answers HTTP 200 within the timeout, 1 otherwise (container health checks).
    Healthcheck {
        /// URL to GET, e.g. http://127.0.0.1:8080/health.
        url: String,
        /// Timeout in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

/// A share in [0, 1].
fn parse_share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Query {
            text,
            json,
            registry,
            budget,
            max_iterations,
            encoder,
        } => commands::query(
            &text,
            json,
            registry.as_deref(),
            budget,
            max_iterations,
            encoder.as_deref(),
        ),
        Command::Build {
            source,
            out,
            calibrate,
            no_refit,
            encoder,
            escalate_at_most,
        } => commands::build(
            &source,
            &out,
            calibrate.as_deref(),
            no_refit,
            encoder.as_deref(),
            escalate_at_most,
        ),
        Command::Verify { snapshot } => commands::verify(&snapshot),
        Command::Import { file, out } => commands::import(&file, &out),
        Command::Eval {
            registry,
            file,
            json,
            encoder,
        } => commands::eval(&registry, &file, json, encoder.as_deref()),
        Command::Serve(args) => commands::serve::run(args),
        Command::Cluster(command) => commands::cluster::run(command),
        Command::Feedback { registry, file } => commands::usage::feedback(&registry, &file),
        Command::Learn { registry, json } => commands::usage::learn(&registry, json),
        Command::Suggest {
            registry,
            json,
            accept,
            dimension,
            layer,
            name,
        } => {
            let accept = match (&accept, &dimension, &layer, &name) {
                (Some(id), Some(dimension), Some(layer), Some(name)) => {
                    Some(commands::usage::Accept {
                        id,
                        dimension,
                        layer,
                        name,
                    })
                }
                _ => None,
            };
            commands::usage::suggest(&registry, json, accept)
        }
        Command::Healthcheck { url, timeout_ms } => commands::healthcheck(&url, timeout_ms),
    };
    if let Err(err) = outcome {
        eprintln!("jessy: error: {err:#}");
        std::process::exit(1);
    }
}

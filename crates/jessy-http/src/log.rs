//! Logging: `tracing` to stderr, as text or JSON lines, the same way in both services.
//!
//! stderr, not stdout: a service's stdout carries exactly one line, `… listening on
//! http://ADDR`, which tests and scripts read to learn the bound port.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr (`--log-format`, `JESSY_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A log filter that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid JESSY_LOG filter {filter:?}: {reason}")]
pub struct LogFilterError {
    filter: String,
    reason: String,
}

/// Installs the process-wide subscriber with `filter` (EnvFilter syntax, e.g. `info` or
/// `jessy_core=debug`). When a subscriber is already installed (a service embedded in
/// `jessy serve`, or a test), the existing one is kept: logging is the process owner's
/// choice. Colours only for a person at a terminal; files and collectors get plain text.
/// JSON lines carry the request span's fields (method, route, request id) once, flattened.
pub fn init(filter: &str, format: LogFormat) -> Result<(), LogFilterError> {
    let parsed = EnvFilter::try_new(filter).map_err(|e| LogFilterError {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(parsed)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // `try_init` fails only when a global subscriber exists already; that one stays.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_reported_and_a_second_init_is_harmless() {
        let err = init("jessy_core=notalevel", LogFormat::Text).unwrap_err();
        assert!(err.to_string().contains("JESSY_LOG"), "{err}");
        init("warn", LogFormat::Json).unwrap();
        init("info", LogFormat::Text).unwrap();
    }
}

//! Logging: `tracing` to stderr, as text or JSON lines.
//!
//! stderr, not stdout: stdout carries exactly one line, `jessy-core listening on http://ADDR`,
//! which tests and scripts read to learn the bound port.

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the process-wide subscriber with `filter` (EnvFilter syntax, e.g. `info` or
/// `jessy_core=debug`). When a subscriber is already installed (jessy-core embedded in
/// `jessy serve`, or a test), the existing one is kept and this returns `Ok`: logging is the
/// process owner's choice.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .with_context(|| format!("invalid JESSY_LOG filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a global subscriber exists already; that one stays.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            // The request span (method, route, request id) once per line, not twice.
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
        assert!(format!("{err:#}").contains("JESSY_LOG"), "{err:#}");
        init("warn", LogFormat::Json).unwrap();
        init("info", LogFormat::Text).unwrap();
    }
}

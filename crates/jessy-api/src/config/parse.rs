//! Parsers for flag values that clap cannot read by itself: core URLs, CORS origins,
//! optional listen addresses and decimal seconds. Each one refuses a bad value at startup
//! with a message naming it, instead of every request failing later.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use reqwest::Url;

/// Parses and checks one core base URL: absolute, `http`, with a host, no query or fragment.
/// Rejecting at startup gives a clear error instead of every request failing later.
pub fn parse_core_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("invalid core URL {raw:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "core URL {raw:?} must use http:// (TLS is terminated in front of the gateway)"
        ));
    }
    if url.host_str().unwrap_or("").is_empty() {
        return Err(format!("core URL {raw:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "core URL {raw:?} must not have a query or fragment"
        ));
    }
    Ok(url)
}

/// Parses a socket address, or `off`/`none` for "no listener".
pub(super) fn parse_optional_addr(raw: &str) -> Result<Option<SocketAddr>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") || raw.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|e| format!("invalid address {raw:?} (or `off`): {e}"))
}

/// Parses a CORS origin such as `https://app.example.com` into a header value.
pub(super) fn parse_origin(raw: &str) -> Result<HeaderValue, String> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed).map_err(|e| format!("invalid CORS origin {raw:?}: {e}"))?;
    if url.host_str().is_none() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "CORS origin {raw:?} must be an http(s) origin like https://app.example.com"
        ));
    }
    HeaderValue::from_str(trimmed.trim_end_matches('/'))
        .map_err(|e| format!("invalid CORS origin {raw:?}: {e}"))
}

/// Parses decimal seconds (`10`, `0.25`) into a positive duration.
pub(super) fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!("{raw:?} must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use clap::Parser;

    #[test]
    fn bad_core_urls_are_rejected() {
        for bad in ["https://a:1", "not a url", "http://a/?x=1", "file:///tmp"] {
            assert!(parse_core_url(bad).is_err(), "{bad} accepted");
        }
        assert!(Config::try_parse_from(["jessy-api", "--core", "ftp://x"]).is_err());
    }

    #[test]
    fn seconds_are_positive_decimals_up_to_a_day() {
        assert_eq!(parse_seconds(" 0.25 "), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("86400"), Ok(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "86401", "NaN", "inf", "ten"] {
            assert!(parse_seconds(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn listen_addresses_can_be_off_and_origins_lose_a_trailing_slash() {
        assert_eq!(parse_optional_addr("OFF"), Ok(None));
        assert_eq!(parse_optional_addr("none"), Ok(None));
        assert_eq!(
            parse_optional_addr("127.0.0.1:9"),
            Ok(Some(SocketAddr::from(([127, 0, 0, 1], 9))))
        );
        assert_eq!(
            parse_origin("https://app.example.com/"),
            Ok(HeaderValue::from_static("https://app.example.com"))
        );
        assert!(parse_origin("ftp://app.example.com").is_err());
    }
}

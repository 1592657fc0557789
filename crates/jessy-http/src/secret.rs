//! Shared secrets in the configuration: the core's admin token, which the gateway presents on
//! the writes it forwards.
//!
//! One type for both services, so the two sides of one token follow one rule: at least
//! [`Secret::MIN_LEN`] visible ASCII characters, never printed (`Debug` is redacted, so a
//! logged configuration does not leak it), compared in constant time.

use std::path::Path;
use std::sync::Arc;

/// Why a text or a file is not an acceptable secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// Shorter than [`Secret::MIN_LEN`] after trimming.
    #[error("the admin token must be at least {min} characters")]
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// Holds a space, a control character or a non-ASCII character.
    #[error("the admin token must be visible ASCII characters (no spaces)")]
    NotVisibleAscii,
    /// The token file could not be read.
    #[error("cannot read the admin token file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The token file's first line is not an acceptable token.
    #[error("admin token file {path}: {source}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong with its first line.
        source: Box<SecretError>,
    },
}

/// A shared secret. `Debug` is redacted; [`Secret::matches`] and equality compare SHA-256
/// digests in constant time, so neither logs nor timing reveal it. Cloning is a reference
/// count bump.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Shortest secret accepted: a guessable token would make the check pointless.
    pub const MIN_LEN: usize = 16;

    /// A secret from its text, surrounding whitespace removed: at least [`Self::MIN_LEN`]
    /// bytes of visible ASCII.
    pub fn new(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        if text.len() < Self::MIN_LEN {
            return Err(SecretError::TooShort { min: Self::MIN_LEN });
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::NotVisibleAscii);
        }
        Ok(Secret(text.into()))
    }

    /// A secret from the first line of `path`.
    pub fn read(path: &Path) -> Result<Secret, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Secret::new(text.lines().next().unwrap_or("")).map_err(|e| SecretError::InFile {
            path: path.display().to_string(),
            source: Box::new(e),
        })
    }

    /// The secret itself, to send as `Authorization: Bearer <secret>`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        let want = sha2::Sha256::digest(self.0.as_bytes());
        let got = sha2::Sha256::digest(presented.as_bytes());
        want.ct_eq(&got).into()
    }

    /// Whether `headers` carry `Authorization: Bearer <this secret>` ([`bearer_token`]).
    pub fn matches_bearer(&self, headers: &http::HeaderMap) -> bool {
        bearer_token(headers).is_some_and(|token| self.matches(token))
    }
}

/// The token of an `Authorization: Bearer <token>` header, trimmed; `None` without one, with
/// another scheme or an empty token. The scheme is matched case-insensitively, as HTTP auth
/// schemes are. The one reading of the header: the core's admin token and the gateway's API
/// keys both arrive this way.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl std::str::FromStr for Secret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Secret, SecretError> {
        Secret::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_invisible_secrets_are_refused() {
        assert_eq!(
            Secret::new("  short  ").unwrap_err(),
            SecretError::TooShort { min: 16 }
        );
        assert_eq!(
            Secret::new("sixteen chars here").unwrap_err(),
            SecretError::NotVisibleAscii
        );
        assert_eq!(
            Secret::new(" 0123456789abcdef\n").unwrap().expose(),
            "0123456789abcdef"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn bearer_headers_match_only_the_secret() {
        let secret = Secret::new("0123456789abcdef").unwrap();
        let headers = |v: &str| {
            let mut map = http::HeaderMap::new();
            map.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(v).unwrap(),
            );
            map
        };
        assert!(secret.matches_bearer(&headers("Bearer 0123456789abcdef")));
        assert!(secret.matches_bearer(&headers("bearer  0123456789abcdef ")));
        assert!(!secret.matches_bearer(&headers("Bearer 0123456789abcdeF")));
        assert!(!secret.matches_bearer(&headers("Basic 0123456789abcdef")));
        assert!(!secret.matches_bearer(&http::HeaderMap::new()));
    }

    #[test]
    fn a_token_file_is_read_from_its_first_line() {
        let dir = std::env::temp_dir().join(format!("jessy-http-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "0123456789abcdef\nignored\n").unwrap();
        assert_eq!(Secret::read(&file).unwrap().expose(), "0123456789abcdef");
        std::fs::write(&file, "short\n").unwrap();
        let err = Secret::read(&file).unwrap_err().to_string();
        assert!(
            err.contains("admin token file") && err.contains("at least 16"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(Secret::read(&file), Err(SecretError::Read { .. })));
    }
}

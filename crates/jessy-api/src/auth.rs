//! API keys: the keys file, key generation, and the bearer-token check.
//!
//! The keys file holds one `name:sha256-hex-of-key` per line, never a key itself, so reading
//! the file (a backup, a config repo, a support bundle) does not give anyone access. Blank
//! lines and lines starting with `#` are ignored. The same name may appear on several lines:
//! that is how a client's key is rotated (old and new both work until the old line is
//! removed) and both keys share the name's rate-limit bucket. The same digest twice is an
//! error, because one key must map to one name.
//!
//! A presented key is hashed and compared with every stored digest in constant time
//! ([`subtle`]), visiting all entries whatever matches, so response timing says nothing about
//! how close a guess was or which entry it hit.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of generated keys: makes a Jessy key recognisable in a secret scanner or a log
/// line without revealing anything about it.
pub const KEY_PREFIX: &str = "jsy_";

/// Longest key name accepted; names become metric labels and log fields, so they stay short.
pub const MAX_NAME_LEN: usize = 64;

/// The name of the client a request was authenticated as. Put in request and response
/// extensions by [`require_api_key`] so rate limiting, metrics and logs can use it; the key
/// itself never travels further than the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(Arc<str>);

impl KeyName {
    /// The name as written in the keys file.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a keys file could not be used. Every variant names the file, and line errors the
/// 1-based line number, so an operator can fix it without guessing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysFileError {
    /// The file could not be read.
    #[error("cannot read keys file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line is not `name:sha256hex`.
    #[error("keys file {}, line {line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One parsed line of the keys file.
#[derive(Clone)]
struct KeyEntry {
    name: KeyName,
    digest: [u8; 32],
}

/// The set of accepted keys, as digests. Cheap to share: built once at startup.
#[derive(Clone, Default)]
pub struct KeyStore {
    entries: Vec<KeyEntry>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digests are not secrets, but there is no reason to spray them into logs either.
        f.debug_struct("KeyStore")
            .field("keys", &self.entries.len())
            .finish()
    }
}

impl KeyStore {
    /// Reads and parses a keys file.
    pub fn load(path: &Path) -> Result<Self, KeysFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses keys-file text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, KeysFileError> {
        let mut entries: Vec<KeyEntry> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason: String| KeysFileError::Malformed {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            let (name, hex_digest) = line
                .split_once(':')
                .ok_or_else(|| malformed("expected `name:sha256-hex`".to_owned()))?;
            let name = name.trim();
            validate_name(name).map_err(malformed)?;
            let hex_digest = hex_digest.trim();
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex_digest, &mut digest).map_err(|_| {
                malformed(format!(
                    "key digest for {name:?} must be 64 hex characters (a SHA-256), not a plaintext key"
                ))
            })?;
            if let Some(previous) = entries.iter().find(|e| e.digest == digest) {
                return Err(malformed(format!(
                    "digest already listed for {:?}; one key must map to one name",
                    previous.name.as_str()
                )));
            }
            entries.push(KeyEntry {
                name: KeyName(Arc::from(name)),
                digest,
            });
        }
        Ok(Self { entries })
    }

    /// Number of accepted keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is accepted at all (every authenticated request gets 401).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns the name of the entry whose digest is SHA-256(`presented`), if any.
    ///
    /// Every entry is compared, with constant-time equality and a constant-time select of the
    /// matching index, so the work done does not depend on which entry (if any) matched.
    pub fn verify(&self, presented: &str) -> Option<KeyName> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let matches = entry.digest.ct_eq(&digest);
            // Entry counts are tiny (a keys file), so the cast cannot truncate in practice;
            // saturate rather than wrap if it ever did.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            index.conditional_assign(&i, matches);
            found |= matches;
        }
        if bool::from(found) {
            self.entries
                .get(index as usize)
                .map(|entry| entry.name.clone())
        } else {
            None
        }
    }
}

/// Checks that a key name is usable as a file field, log field and metric label.
fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("key name is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("key name is longer than {MAX_NAME_LEN} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "key name {name:?} contains {c:?}; use letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(())
}

/// Creates a new random key for `name`, appends `name:sha256hex` to `keys_file` and returns
/// the key, which is shown once and stored nowhere.
///
/// The key is [`KEY_PREFIX`] followed by 32 random bytes from the OS generator in hex (256
/// bits: guessing is hopeless, so the gateway need not throttle failed attempts). The file is
/// created with mode 0600 if absent; an existing file is parsed first so a key is never
/// appended to a file the gateway would refuse to load. Used by `jessy-api keygen` and by
/// `jessy serve` to create a development key.
pub fn generate_key(name: &str, keys_file: &Path) -> anyhow::Result<String> {
    validate_name(name).map_err(|reason| anyhow::anyhow!("invalid key name: {reason}"))?;
    let existing = match std::fs::read_to_string(keys_file) {
        Ok(text) => {
            KeyStore::parse(keys_file, &text)?;
            Some(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(KeysFileError::Read {
                path: keys_file.to_owned(),
                source,
            }
            .into())
        }
    };

    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let digest = hex::encode(Sha256::digest(key.as_bytes()));

    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(keys_file)
        .with_context(|| format!("cannot open keys file {}", keys_file.display()))?;
    let needs_newline = existing
        .as_deref()
        .is_some_and(|text| !text.is_empty() && !text.ends_with('\n'));
    let line = format!("{}{name}:{digest}\n", if needs_newline { "\n" } else { "" });
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write keys file {}", keys_file.display()))?;
    Ok(key)
}

/// Extracts the token of an `Authorization: Bearer <token>` header. The scheme is matched
/// case-insensitively, as HTTP auth schemes are.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Middleware on `/api/v1/*`: refuses requests without a known key (401) and records the key
/// name in request and response extensions for the rate limiter and metrics.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(name) = bearer_token(request.headers()).and_then(|key| state.keys().verify(key))
    else {
        return ApiError::Unauthorized.into_response();
    };
    tracing::Span::current().record("key", name.as_str());
    request.extensions_mut().insert(name.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(name);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    #[test]
    fn parses_names_digests_comments_and_blank_lines() {
        let text = format!(
            "# clients\n\nalice:{}\n  bob : {}  \n# rotated\nalice:{}\n",
            digest_of("a1"),
            digest_of("b1").to_uppercase(),
            digest_of("a2")
        );
        let store = KeyStore::parse(Path::new("k"), &text).expect("parse");
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.verify("a1").map(|n| n.to_string()),
            Some("alice".into())
        );
        assert_eq!(
            store.verify("a2").map(|n| n.to_string()),
            Some("alice".into())
        );
        assert_eq!(
            store.verify("b1").map(|n| n.to_string()),
            Some("bob".into())
        );
        assert_eq!(store.verify("b2"), None);
        assert_eq!(store.verify(""), None);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases = [
            ("ok:".to_owned() + &digest_of("x") + "\nno-colon-here\n", 2),
            ("alice:plaintext-key\n".to_owned(), 1),
            ("\n\n:".to_owned() + &digest_of("x"), 3),
            ("bad name:".to_owned() + &digest_of("x"), 1),
            (format!("a:{0}\nb:{0}\n", digest_of("same")), 2),
        ];
        for (text, line) in cases {
            let err = KeyStore::parse(Path::new("/etc/jessy/keys"), &text).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("/etc/jessy/keys"), "{message}");
            assert!(message.contains(&format!("line {line}:")), "{message}");
        }
    }

    #[test]
    fn missing_file_is_a_read_error_naming_it() {
        let err = KeyStore::load(Path::new("/nonexistent/jessy-keys")).unwrap_err();
        assert!(matches!(err, KeysFileError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/jessy-keys"));
    }

    #[test]
    fn generated_keys_verify_and_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        let first = generate_key("alice", &path).expect("keygen");
        let second = generate_key("bob", &path).expect("keygen");
        assert!(first.starts_with(KEY_PREFIX));
        assert_eq!(first.len(), KEY_PREFIX.len() + 64);
        assert_ne!(first, second);

        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&first), "plaintext key stored");
        let store = KeyStore::load(&path).expect("load");
        assert_eq!(store.verify(&first).expect("alice").as_str(), "alice");
        assert_eq!(store.verify(&second).expect("bob").as_str(), "bob");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn generate_appends_after_a_missing_final_newline_and_refuses_bad_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("# hand written\nold:{}", digest_of("old"))).expect("write");
        let key = generate_key("new", &path).expect("keygen");
        let store = KeyStore::load(&path).expect("load");
        assert_eq!(store.len(), 2);
        assert_eq!(store.verify(&key).expect("new").as_str(), "new");
        assert_eq!(store.verify("old").expect("old").as_str(), "old");

        assert!(generate_key("has space", &path).is_err());
        assert!(generate_key("", &path).is_err());
        let corrupt = dir.path().join("corrupt");
        std::fs::write(&corrupt, "garbage\n").expect("write");
        let err = generate_key("x", &corrupt).unwrap_err();
        assert!(format!("{err:#}").contains("line 1"));
        assert_eq!(
            std::fs::read_to_string(&corrupt).expect("read"),
            "garbage\n"
        );
    }

    #[test]
    fn bearer_header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer   abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("abc", None),
        ] {
            headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
            assert_eq!(bearer_token(&headers), expected, "{value}");
        }
    }
}

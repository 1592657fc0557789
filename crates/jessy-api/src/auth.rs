//! API keys: the keys file, key generation, scopes, and the bearer-token check.
//!
//! The keys file holds one `name:sha256-hex-of-key[:scopes]` per line, never a key itself, so
//! reading the file (a backup, a config repo, a support bundle) does not give anyone access.
//! Blank lines and lines starting with `#` are ignored.
//!
//! **Scopes** say what a key may do ([`Scope`]): `query` (queries, the WebSocket stream,
//! browsing dimensions), `write` (layer writes, forwarded to a core with its admin token),
//! `admin` (health details and `/api/v1/status`, which name the internal cores). They are
//! written comma-separated after the digest (`ops:ab12…:query,admin`). A line without scopes
//! — every key file written before scopes existed — grants `query` only: the least privilege,
//! and exactly what such keys could do before (the gateway had no write or admin routes).
//! Scopes are independent: a `write`-only key cannot query. The same name may appear on several lines:
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

/// One permission an API key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Queries, the stream, and reading the dimension catalogue.
    Query,
    /// Creating, replacing and deleting layers.
    Write,
    /// Operator views that name internal cores: health details, `/api/v1/status`.
    Admin,
}

impl Scope {
    /// Every scope, in file order.
    pub const ALL: [Scope; 3] = [Scope::Query, Scope::Write, Scope::Admin];

    /// The name used in the keys file and in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Query => "query",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Scope::Query => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of scopes of one key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// What a key without a scopes field gets: `query`.
    pub const DEFAULT: Scopes = Scopes(1);
    /// Every scope (the development key of `jessy serve`).
    pub const ALL: Scopes = Scopes(7);

    /// A set of these scopes.
    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Parses a comma-separated list such as `query,write`; empty or unknown names are errors.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut bits = 0;
        for name in text.split(',').map(str::trim) {
            let scope = Scope::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    format!("unknown scope {name:?}; scopes are query, write and admin")
                })?;
            bits |= scope.bit();
        }
        Ok(Scopes(bits))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl std::str::FromStr for Scopes {
    type Err = String;

    fn from_str(text: &str) -> Result<Scopes, String> {
        Scopes::parse(text)
    }
}

/// Who a request was authenticated as: the key's name and scopes. Put in request extensions
/// by [`require_api_key`]; handlers ask for a scope with the [`Authorized`] extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's name.
    pub name: KeyName,
    /// What the key may do.
    pub scopes: Scopes,
}

/// A scope a handler needs, as a type ([`QueryScope`], [`WriteScope`], [`AdminScope`]).
pub trait RequiredScope {
    /// The scope.
    const SCOPE: Scope;
}

/// Marker: the route needs [`Scope::Query`].
#[derive(Debug)]
pub struct QueryScope;
/// Marker: the route needs [`Scope::Write`].
#[derive(Debug)]
pub struct WriteScope;
/// Marker: the route needs [`Scope::Admin`].
#[derive(Debug)]
pub struct AdminScope;

impl RequiredScope for QueryScope {
    const SCOPE: Scope = Scope::Query;
}
impl RequiredScope for WriteScope {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for AdminScope {
    const SCOPE: Scope = Scope::Admin;
}

/// Extractor that lets a handler run only for a caller holding scope `S::SCOPE`: 403
/// `forbidden` otherwise. Runs before the body is read.
#[derive(Debug)]
pub struct Authorized<S>(pub Caller, pub std::marker::PhantomData<S>);

impl<S: RequiredScope, St: Send + Sync> axum::extract::FromRequestParts<St> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &St,
    ) -> Result<Self, ApiError> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "scope check without authentication: the auth layer is missing"
            ))
        })?;
        if caller.scopes.contains(S::SCOPE) {
            Ok(Authorized(caller, std::marker::PhantomData))
        } else {
            Err(ApiError::Forbidden { scope: S::SCOPE })
        }
    }
}

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
    scopes: Scopes,
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
            let (name, rest) = line
                .split_once(':')
                .ok_or_else(|| malformed("expected `name:sha256-hex[:scopes]`".to_owned()))?;
            let name = name.trim();
            validate_name(name).map_err(malformed)?;
            let (hex_digest, scopes) = match rest.split_once(':') {
                Some((digest, scopes)) => (
                    digest,
                    Scopes::parse(scopes)
                        .map_err(|reason| malformed(format!("scopes of {name:?}: {reason}")))?,
                ),
                None => (rest, Scopes::DEFAULT),
            };
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
                scopes,
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
        self.authenticate(presented).map(|caller| caller.name)
    }

    /// Like [`KeyStore::verify`], with the key's scopes.
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
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
            self.entries.get(index as usize).map(|entry| Caller {
                name: entry.name.clone(),
                scopes: entry.scopes,
            })
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
/// The key gets the default scope (`query`); see [`generate_key_with_scopes`]. The key is
/// [`KEY_PREFIX`] followed by 32 random bytes from the OS generator in hex (256 bits: guessing
/// is hopeless; failed attempts are throttled per address all the same). The file is
/// created with mode 0600 if absent; an existing file is parsed first so a key is never
/// appended to a file the gateway would refuse to load. Used by `jessy-api keygen` and by
/// `jessy serve` to create a development key.
pub fn generate_key(name: &str, keys_file: &Path) -> anyhow::Result<String> {
    generate_key_with_scopes(name, Scopes::DEFAULT, keys_file)
}

/// [`generate_key`] for a key with these scopes. A key with only the default scope is written
/// without a scopes field, so older gateways can still read the file.
pub fn generate_key_with_scopes(
    name: &str,
    scopes: Scopes,
    keys_file: &Path,
) -> anyhow::Result<String> {
    validate_name(name).map_err(|reason| anyhow::anyhow!("invalid key name: {reason}"))?;
    let existing = read_existing(keys_file)?;
    let (key, line) = new_key_line(name, scopes);
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
    let line = format!("{}{line}", if needs_newline { "\n" } else { "" });
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write keys file {}", keys_file.display()))?;
    Ok(key)
}

/// Makes a new key for `name` with `scopes` the only key of that name in `keys_file`: every
/// other line of that name is removed (comments and other names are kept as written) and the
/// file is replaced atomically (mode 0600). What `jessy serve` does with its development key
/// at each start, so restarts do not pile up valid keys nobody holds any more.
pub fn replace_key(name: &str, scopes: Scopes, keys_file: &Path) -> anyhow::Result<String> {
    validate_name(name).map_err(|reason| anyhow::anyhow!("invalid key name: {reason}"))?;
    let existing = read_existing(keys_file)?.unwrap_or_default();
    let mut text: String = existing
        .lines()
        .filter(|line| {
            let line = line.trim();
            line.starts_with('#')
                || line
                    .split_once(':')
                    .is_none_or(|(other, _)| other.trim() != name)
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    let (key, line) = new_key_line(name, scopes);
    text.push_str(&line);
    let dir = keys_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = keys_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, keys_file)
    };
    write().with_context(|| format!("cannot write keys file {}", keys_file.display()))?;
    Ok(key)
}

/// 32 random bytes from the OS generator, in hex: an admin token (`jessy serve` makes one per
/// start for its core and gateway).
pub fn random_token() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    hex::encode(secret)
}

/// Writes a random admin token (64 hex characters from the OS generator) to `file` with mode
/// 0600, unless `file` already exists; returns whether it wrote one. The token is the shared
/// secret of jessy-core's `--admin-token-file` and the gateway's `--core-admin-token-file`.
pub fn write_admin_token(file: &Path) -> anyhow::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut handle = match options.open(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot create admin token file {}: {e}",
                file.display()
            ))
        }
    };
    handle
        .write_all(format!("{}\n", random_token()).as_bytes())
        .and_then(|()| handle.sync_all())
        .with_context(|| format!("cannot write admin token file {}", file.display()))?;
    Ok(true)
}

/// A fresh key and its keys-file line (with a trailing newline).
fn new_key_line(name: &str, scopes: Scopes) -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let line = if scopes == Scopes::DEFAULT {
        format!("{name}:{digest}\n")
    } else {
        format!("{name}:{digest}:{scopes}\n")
    };
    (key, line)
}

/// The keys file's text, checked to parse, or `None` when it does not exist.
fn read_existing(keys_file: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(keys_file) {
        Ok(text) => {
            KeyStore::parse(keys_file, &text)?;
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeysFileError::Read {
            path: keys_file.to_owned(),
            source,
        }
        .into()),
    }
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

/// The client address of a request: the TCP peer recorded by the server
/// (`ConnectInfo<SocketAddr>`, which [`jessy_http::serve`] attaches to every request), or the
/// unspecified address when the router runs without one
/// (tests driving it directly), so such requests share one failed-authentication budget.
pub fn client_ip<B>(request: &axum::http::Request<B>) -> std::net::IpAddr {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |info| info.0.ip())
}

/// Authenticates the bearer key of a request from `client`: 429 when the address is
/// throttled for failed attempts (the key is not even checked), 401 when the key is missing
/// or unknown (and the failure is counted against the address).
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Caller, ApiError> {
    if let Some(wait) = state.auth_failures().blocked(client) {
        return Err(ApiError::AuthThrottled {
            retry_after_secs: crate::rate_limit::retry_after_secs(wait),
        });
    }
    match bearer_token(headers).and_then(|key| state.keys().authenticate(key)) {
        Some(caller) => Ok(caller),
        None => {
            state.auth_failures().record_failure(client);
            Err(ApiError::Unauthorized)
        }
    }
}

/// Middleware on `/api/v1/*`: refuses requests without a known key (401; 429 once the client
/// address has failed too often, see [`crate::rate_limit::FailedAuthLimiter`]) and records
/// the caller (name and scopes) in request extensions and the name in response extensions,
/// for the scope checks, the rate limiter and metrics.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_ip(&request);
    let caller = match authenticate(&state, request.headers(), client) {
        Ok(caller) => caller,
        Err(error) => {
            if matches!(error, ApiError::AuthThrottled { .. }) {
                tracing::debug!(%client, "authentication throttled");
            }
            return error.into_response();
        }
    };
    let name = caller.name.clone();
    tracing::Span::current().record("key", name.as_str());
    request.extensions_mut().insert(name.clone());
    request.extensions_mut().insert(caller);
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

#[cfg(test)]
mod scope_tests {
    use super::*;

    fn digest_of(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    #[test]
    fn lines_without_scopes_grant_query_only_and_scopes_parse() {
        let text = format!(
            "old:{}\nops:{}:query,admin\nwriter:{}: write \n",
            digest_of("o"),
            digest_of("p"),
            digest_of("w")
        );
        let store = KeyStore::parse(Path::new("k"), &text).expect("parse");
        let old = store.authenticate("o").expect("old");
        assert_eq!(old.scopes, Scopes::DEFAULT);
        assert!(old.scopes.contains(Scope::Query));
        assert!(!old.scopes.contains(Scope::Write) && !old.scopes.contains(Scope::Admin));
        let ops = store.authenticate("p").expect("ops").scopes;
        assert!(ops.contains(Scope::Admin) && ops.contains(Scope::Query));
        assert!(!ops.contains(Scope::Write));
        assert_eq!(ops.to_string(), "query,admin");
        let writer = store.authenticate("w").expect("writer").scopes;
        assert_eq!(writer, Scopes::of(&[Scope::Write]));
        for bad in [
            format!("a:{}:", digest_of("x")),
            format!("a:{}:query,root", digest_of("x")),
        ] {
            let err = KeyStore::parse(Path::new("k"), &bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("scope"), "{err}");
        }
    }

    #[test]
    fn replace_key_keeps_one_key_per_name_and_the_rest_of_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("# mine\nalice:{}\n", digest_of("a"))).expect("write");
        let first = replace_key("dev", Scopes::ALL, &path).expect("first");
        let second = replace_key("dev", Scopes::ALL, &path).expect("second");
        let third = replace_key("dev", Scopes::ALL, &path).expect("third");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.matches("dev:").count(), 1, "{text}");
        assert!(text.starts_with("# mine\nalice:"), "{text}");
        let store = KeyStore::load(&path).expect("load");
        assert_eq!(store.len(), 2);
        assert!(store.verify(&first).is_none() && store.verify(&second).is_none());
        assert_eq!(store.authenticate(&third).expect("dev").scopes, Scopes::ALL);
        assert!(store.verify("a").is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let fresh = dir.path().join("fresh");
        let key = replace_key("dev", Scopes::ALL, &fresh).expect("fresh file");
        assert!(KeyStore::load(&fresh).expect("load").verify(&key).is_some());
    }
}

//! The set of accepted API keys ([`KeyStore`]): the keys-file format, its parsing rules, and
//! the constant-time check of a presented key.
//!
//! The keys file holds one `name:sha256-hex-of-key[:scopes]` per line, never a key itself, so
//! reading the file (a backup, a config repo, a support bundle) does not give anyone access.
//! Blank lines and lines starting with `#` are ignored. A line without scopes — every key
//! file written before scopes existed — grants `query` only ([`Scopes::DEFAULT`]). The same
//! name may appear on several lines: that is how a client's key is rotated (old and new both
//! work until the old line is removed) and both keys share the name's rate-limit bucket. The
//! same digest twice is an error, because one key must map to one name.
//!
//! Cluster mode stores the same triples in PostgreSQL and parses them with these same rules
//! ([`crate::cluster_keys`]), so a key means the same thing wherever it is kept.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::caller::{Caller, KeyName, Scopes};

/// Prefix of generated keys: makes a Jessy key recognisable in a secret scanner or a log
/// line without revealing anything about it.
pub const KEY_PREFIX: &str = "jsy_";

/// Longest key name accepted; names become metric labels and log fields, so they stay short.
pub const MAX_NAME_LEN: usize = 64;

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

/// The set of accepted keys, as digests. Cheap to share: built once at startup (and, in
/// cluster mode, again whenever the cluster's keys change).
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
                name: KeyName::new(name),
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
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
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

/// A newly made key and what is stored of it.
pub(crate) struct NewKey {
    /// The key itself: [`KEY_PREFIX`] and 32 random bytes from the OS generator in hex (256
    /// bits: guessing is hopeless; failed attempts are throttled per address all the same).
    /// Shown once to the operator and stored nowhere.
    pub(crate) key: String,
    /// Its SHA-256 in hex: the only thing a keys file or the cluster keeps.
    pub(crate) digest: String,
}

impl NewKey {
    /// A fresh random key. The one place keys are made, for keys files and the cluster alike.
    pub(crate) fn generate() -> NewKey {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        NewKey { key, digest }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Scope;

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
    fn new_keys_are_prefixed_random_and_match_their_digest() {
        let (a, b) = (NewKey::generate(), NewKey::generate());
        assert!(a.key.starts_with(KEY_PREFIX));
        assert_eq!(a.key.len(), KEY_PREFIX.len() + 64);
        assert_ne!(a.key, b.key);
        assert_eq!(a.digest, digest_of(&a.key));
        let store = KeyStore::parse(Path::new("k"), &format!("a:{}\n", a.digest)).expect("parse");
        assert_eq!(store.verify(&a.key).expect("a").as_str(), "a");
    }
}

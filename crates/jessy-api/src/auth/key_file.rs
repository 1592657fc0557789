//! Writing keys files: adding a key ([`generate_key`], for `jessy-api keygen`) and replacing
//! every key of a name ([`replace_key`], for the development key of `jessy serve`).
//!
//! Both refuse to touch a file the gateway would refuse to load (it is parsed first), keep
//! the file private (mode 0600), and store only the key's digest; the key is returned once
//! for the operator to save.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::keys::{validate_name, KeyStore, KeysFileError, NewKey};
use crate::caller::Scopes;

/// Creates a new random key for `name`, appends `name:sha256hex` to `keys_file` and returns
/// the key, which is shown once and stored nowhere.
///
/// The key gets the default scope (`query`); see [`generate_key_with_scopes`]. The key is
/// [`super::KEY_PREFIX`] followed by 32 random bytes from the OS generator in hex (256 bits:
/// guessing is hopeless; failed attempts are throttled per address all the same). The file
/// is created with mode 0600 if absent; an existing file is parsed first so a key is never
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

/// A fresh key and its keys-file line (with a trailing newline).
fn new_key_line(name: &str, scopes: Scopes) -> (String, String) {
    let NewKey { key, digest } = NewKey::generate();
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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::auth::KEY_PREFIX;

    fn digest_of(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
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

//! The shared secret between the gateway and its cores (jessy-core's admin token): how a
//! fresh one is made and written to a file. The type itself is jessy-http's [`Secret`], the
//! one both services hold.
//!
//! A module of its own, with nothing from the rest of the crate, because the token is not an
//! API key (clients never see it; [`crate::auth`] is about their keys).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::RngCore;

pub use jessy_http::Secret;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_trimmed_and_never_printed() {
        let secret = Secret::new("  core-token-0123456789 \n").expect("valid");
        assert_eq!(secret.expose(), "core-token-0123456789");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(Secret::new("short").is_err());
        assert!(Secret::new("has a space in the middle").is_err());
    }

    #[test]
    fn an_admin_token_file_is_written_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        assert!(write_admin_token(&file).expect("first"));
        let first = std::fs::read_to_string(&file).expect("read");
        assert!(Secret::new(&first).is_ok(), "{first:?}");
        assert_eq!(first.trim().len(), 64);
        assert!(!write_admin_token(&file).expect("second"), "overwrote it");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(random_token(), random_token());
    }
}

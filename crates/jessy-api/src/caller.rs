//! Who a request comes from and what it may do: the key's [`KeyName`], its [`Scopes`], and
//! the [`Caller`] that carries both through a request.
//!
//! These are plain values with no behaviour beyond parsing and printing, kept out of
//! [`crate::auth`] on purpose: the error type names the scope a caller lacked, the rate
//! limiters key their buckets by name and the request log labels lines with it, and none of
//! them should depend on how keys are stored or checked. So this module imports nothing from
//! the crate, and everything that needs an identity imports it from here.

use std::fmt;
use std::sync::Arc;

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

/// The name of the client a request was authenticated as. Put in request and response
/// extensions by the authentication middleware so rate limiting, metrics and logs can use it;
/// the key itself never travels further than the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(Arc<str>);

impl KeyName {
    /// A name already checked by the keys-file rules; only the key store makes them, so every
    /// `KeyName` a request carries is one the keys file (or the cluster) listed.
    pub(crate) fn new(name: &str) -> KeyName {
        KeyName(Arc::from(name))
    }

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

/// Who a request was authenticated as: the key's name and scopes. Put in request extensions
/// by the authentication middleware; handlers ask for a scope with
/// [`crate::auth::Authorized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's name.
    pub name: KeyName,
    /// What the key may do.
    pub scopes: Scopes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_refuse_unknown_names() {
        let scopes = Scopes::parse(" admin ,query").expect("parse");
        assert_eq!(scopes, Scopes::of(&[Scope::Query, Scope::Admin]));
        assert_eq!(scopes.to_string(), "query,admin");
        assert_eq!(format!("{scopes:?}"), "Scopes(query,admin)");
        assert!(!scopes.contains(Scope::Write));
        assert_eq!(
            Scopes::parse("query,write,admin").expect("all"),
            Scopes::ALL
        );
        for bad in ["", "query,", "root", "Query"] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}

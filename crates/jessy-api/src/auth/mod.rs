//! API keys: who may call `/api/v1`, and as whom.
//!
//! - `keys` — the keys file's format and the [`KeyStore`] of accepted digests, with the
//!   constant-time check of a presented key;
//! - `key_file` — adding and replacing keys in a keys file (`jessy-api keygen`,
//!   `jessy serve`);
//! - `throttle` — the per-address throttle on failed attempts;
//! - `scope` — the [`Authorized`] extractor handlers use to require a scope;
//! - this module — the [`Authenticator`] that combines the store and the throttle, and the
//!   [`require_api_key`] middleware that runs it on every `/api/v1` request.
//!
//! **Scopes** say what a key may do ([`Scope`]): `query` (queries, the WebSocket stream,
//! browsing dimensions), `write` (layer writes, forwarded to a core with its admin token),
//! `admin` (health details and `/api/v1/status`, which name the internal cores). They are
//! written comma-separated after the digest (`ops:ab12…:query,admin`); a line without scopes
//! grants `query` only: the least privilege, and exactly what such keys could do before (the
//! gateway had no write or admin routes). Scopes are independent: a `write`-only key cannot
//! query.
//!
//! A presented key is hashed and compared with every stored digest in constant time
//! ([`subtle`]), visiting all entries whatever matches, so response timing says nothing about
//! how close a guess was or which entry it hit.
//!
//! Nothing here knows the gateway's state: the middleware takes the [`Authenticator`] alone
//! (the state hands it over through `FromRef`), and cluster mode swaps its keys through
//! [`Authenticator::replace_keys`].

pub(crate) mod key_file;
pub(crate) mod keys;
pub(crate) mod scope;
pub(crate) mod throttle;

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::caller::{Caller, KeyName, Scope, Scopes};
use crate::error::{retry_after_secs, ApiError};
pub use key_file::{generate_key, generate_key_with_scopes, replace_key};
pub use keys::{KeyStore, KeysFileError, KEY_PREFIX, MAX_NAME_LEN};
pub use scope::{AdminScope, Authorized, QueryScope, RequiredScope, WriteScope};
pub use throttle::FailedAuthLimiter;

/// The bearer-key check: the accepted keys and the failed-attempt throttle, which only make
/// sense together (a failure is counted where the key was refused).
#[derive(Debug)]
pub struct Authenticator {
    /// Swappable: in cluster mode the keys are reloaded from PostgreSQL while serving.
    keys: ArcSwap<KeyStore>,
    failures: FailedAuthLimiter,
}

impl Authenticator {
    /// Accepts `keys`, throttling addresses as `failures` says.
    pub fn new(keys: KeyStore, failures: FailedAuthLimiter) -> Self {
        Self {
            keys: ArcSwap::from_pointee(keys),
            failures,
        }
    }

    /// Replaces the accepted keys (cluster mode reloads them from PostgreSQL); requests
    /// already past the check keep the caller they were given.
    pub fn replace_keys(&self, keys: KeyStore) {
        self.keys.store(Arc::new(keys));
    }

    /// Authenticates the bearer key of a request from `client`: 429 when the address is
    /// throttled for failed attempts (the key is not even checked), 401 when the key is
    /// missing or unknown (and the failure is counted against the address).
    pub fn authenticate(&self, headers: &HeaderMap, client: IpAddr) -> Result<Caller, ApiError> {
        if let Some(wait) = self.failures.blocked(client) {
            return Err(ApiError::AuthThrottled {
                retry_after_secs: retry_after_secs(wait),
            });
        }
        match bearer_token(headers).and_then(|key| self.keys.load().authenticate(key)) {
            Some(caller) => Ok(caller),
            None => {
                self.failures.record_failure(client);
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header: jessy-http's one reading of it,
/// the same the core applies to its admin token.
pub use jessy_http::secret::bearer_token;

/// The client address of a request: the TCP peer recorded by the server
/// (`ConnectInfo<SocketAddr>`, which [`jessy_http::serve`] attaches to every request), or the
/// unspecified address when the router runs without one (tests driving it directly), so such
/// requests share one failed-authentication budget.
pub fn client_ip<B>(request: &axum::http::Request<B>) -> IpAddr {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip())
}

/// Middleware on `/api/v1/*`: refuses requests without a known key (401; 429 once the client
/// address has failed too often, see [`FailedAuthLimiter`]) and records the caller (name and
/// scopes) in request extensions and the name in response extensions, for the scope checks,
/// the rate limiter and metrics.
pub async fn require_api_key(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_ip(&request);
    let caller = match auth.authenticate(request.headers(), client) {
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
    use std::num::NonZeroU32;
    use std::path::Path;
    use std::time::Duration;

    use axum::http::header;
    use sha2::{Digest, Sha256};

    use super::*;

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

    #[test]
    fn failures_are_counted_until_the_address_is_throttled_even_for_a_good_key() {
        let digest = hex::encode(Sha256::digest(b"good-key"));
        let store = KeyStore::parse(Path::new("k"), &format!("alice:{digest}\n")).expect("parse");
        let auth = Authenticator::new(
            store,
            FailedAuthLimiter::new(NonZeroU32::new(2).expect("nz"), Duration::from_secs(60)),
        );
        let client = IpAddr::from([192, 0, 2, 7]);
        let with_key = |key: &str| {
            let mut headers = HeaderMap::new();
            let value = format!("Bearer {key}").parse().expect("header");
            headers.insert(header::AUTHORIZATION, value);
            headers
        };
        let caller = auth
            .authenticate(&with_key("good-key"), client)
            .expect("ok");
        assert_eq!(caller.name.as_str(), "alice");
        for _ in 0..2 {
            let refused = auth.authenticate(&with_key("bad-key"), client);
            assert!(
                matches!(refused, Err(ApiError::Unauthorized)),
                "{refused:?}"
            );
        }
        let throttled = auth.authenticate(&with_key("good-key"), client);
        assert!(
            matches!(throttled, Err(ApiError::AuthThrottled { retry_after_secs }) if retry_after_secs >= 59),
            "{throttled:?}"
        );
        auth.replace_keys(KeyStore::default());
        let other = IpAddr::from([192, 0, 2, 8]);
        assert!(matches!(
            auth.authenticate(&with_key("good-key"), other),
            Err(ApiError::Unauthorized)
        ));
    }
}

//! Per-key rate limiting: one token bucket (GCRA, via [`governor`]) per key name.
//!
//! Buckets are keyed by the *name* from the keys file, not by the key or the client address:
//! rotated keys of one client share a budget, and clients behind one NAT do not starve each
//! other. The limiter runs after authentication, so only names from the keys file ever become
//! bucket keys and its memory is bounded by the size of that file.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::KeyName;
use crate::error::ApiError;
use crate::state::AppState;

/// Token buckets for all key names.
pub struct KeyRateLimiter {
    limiter: DefaultKeyedRateLimiter<KeyName>,
}

impl std::fmt::Debug for KeyRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRateLimiter").finish_non_exhaustive()
    }
}

impl KeyRateLimiter {
    /// A limiter allowing `per_second` sustained requests per name with bursts of `burst`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Takes one token from `name`'s bucket, or says how long until one is available.
    pub fn check(&self, name: &KeyName) -> Result<(), Duration> {
        self.limiter
            .check_key(name)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Like [`Self::check`] but as the API error clients see: `Retry-After` is the wait
    /// rounded *up* to whole seconds (at least 1), so a client that honours it succeeds.
    pub fn admit(&self, name: &KeyName) -> Result<(), ApiError> {
        self.check(name).map_err(|wait| ApiError::RateLimited {
            retry_after_secs: retry_after_secs(wait),
        })
    }
}

/// Whole seconds to tell the client, never 0 (which would invite an immediate retry).
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Middleware on `/api/v1/*` (inside authentication): 429 when the key's bucket is empty.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(name) = request.extensions().get::<KeyName>().cloned() else {
        // Authentication always runs first; reaching here without a name is a wiring bug.
        return ApiError::Internal(anyhow::anyhow!("rate limiter reached without a key name"))
            .into_response();
    };
    match state.rate_limiter().admit(&name) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::debug!(key = %name, "rate limited");
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyStore;
    use sha2::Digest;

    fn names() -> (KeyName, KeyName) {
        let text = format!(
            "a:{}\nb:{}\n",
            hex::encode(sha2::Sha256::digest(b"ka")),
            hex::encode(sha2::Sha256::digest(b"kb"))
        );
        let store = KeyStore::parse(std::path::Path::new("k"), &text).expect("parse");
        (
            store.verify("ka").expect("a"),
            store.verify("kb").expect("b"),
        )
    }

    #[test]
    fn burst_then_reject_per_name() {
        let limiter = KeyRateLimiter::new(
            NonZeroU32::new(1).expect("nz"),
            NonZeroU32::new(3).expect("nz"),
        );
        let (a, b) = names();
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        let wait = limiter.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        match limiter.admit(&a) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        // Another name has its own bucket.
        assert!(limiter.check(&b).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}

//! Per-key rate limiting: one token bucket (GCRA, via [`governor`]) per key name, or, in
//! cluster mode, one budget per name shared by every gateway through Redis
//! ([`crate::rate_limit_redis`]).
//!
//! Buckets are keyed by the *name* from the keys file, not by the key or the client address:
//! rotated keys of one client share a budget, and clients behind one NAT do not starve each
//! other. The limiter runs after authentication, so only names from the keys file ever become
//! bucket keys and its memory is bounded by the size of that file.
//!
//! (Failed *authentication* attempts are throttled per address by
//! [`crate::auth::FailedAuthLimiter`], before any key is known.)

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::caller::KeyName;
use crate::error::{retry_after_secs, ApiError};
use crate::rate_limit_redis::SharedRateLimiter;

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

/// The gateway's rate limits: this gateway's own buckets, and the Redis-shared budget when
/// `--redis` is given (which then decides for `/api/v1` requests).
#[derive(Debug)]
pub struct RateLimits {
    local: KeyRateLimiter,
    shared: Option<SharedRateLimiter>,
}

impl RateLimits {
    /// Limits with `local` buckets and, in cluster mode, the `shared` budget.
    pub fn new(local: KeyRateLimiter, shared: Option<SharedRateLimiter>) -> Self {
        Self { local, shared }
    }

    /// This gateway's own buckets.
    pub fn local(&self) -> &KeyRateLimiter {
        &self.local
    }

    /// The budget shared through Redis, when `--redis` is given.
    pub fn shared(&self) -> Option<&SharedRateLimiter> {
        self.shared.as_ref()
    }

    /// Takes one request from `name`'s budget: the shared one in cluster mode (one budget
    /// across all gateways), this gateway's buckets otherwise.
    pub async fn admit(&self, name: &KeyName) -> Result<(), ApiError> {
        match &self.shared {
            Some(shared) => shared.admit(name).await,
            None => self.local.admit(name),
        }
    }
}

/// Middleware on `/api/v1/*` (inside authentication): 429 when the key's bucket is empty.
pub async fn enforce(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(name) = request.extensions().get::<KeyName>().cloned() else {
        // Authentication always runs first; reaching here without a name is a wiring bug.
        return ApiError::Internal(anyhow::anyhow!("rate limiter reached without a key name"))
            .into_response();
    };
    match limits.admit(&name).await {
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

    fn names() -> (KeyName, KeyName) {
        (KeyName::new("a"), KeyName::new("b"))
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

    #[tokio::test]
    async fn without_redis_the_local_buckets_decide() {
        let limits = RateLimits::new(
            KeyRateLimiter::new(
                NonZeroU32::new(1).expect("nz"),
                NonZeroU32::new(1).expect("nz"),
            ),
            None,
        );
        let (a, _) = names();
        assert!(limits.shared().is_none());
        assert!(limits.admit(&a).await.is_ok());
        assert!(matches!(
            limits.admit(&a).await,
            Err(ApiError::RateLimited { .. })
        ));
        assert!(limits.local().check(&a).is_err(), "one bucket, not two");
    }
}

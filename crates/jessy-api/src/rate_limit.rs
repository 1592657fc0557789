//! Per-key rate limiting: one token bucket (GCRA, via [`governor`]) per key name; and
//! [`FailedAuthLimiter`], which throttles client addresses that keep presenting bad keys.
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
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Most client addresses tracked at once. Beyond it, addresses whose window has ended are
/// dropped; if all are still live (a distributed attack), new addresses go untracked until
/// some expire, so the table's memory stays bounded.
const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// Failed-authentication throttle per client address: after `limit` failed attempts within
/// `window` (counted from the first failure), the address gets 429 `rate_limited` with
/// `Retry-After` until the window ends, without its keys being checked — so guessing runs
/// at `limit` keys per window at best, and a throttled client cannot tell a good key from a
/// bad one. IPv6 addresses count per /64, the block one host usually controls.
///
/// The address is the TCP peer. Behind a reverse proxy every client has the proxy's address,
/// so one client's failures throttle everyone: raise the limit there, or let the proxy
/// throttle.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    limit: u32,
    window: Duration,
    clients: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, FailureWindow>>,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    started: std::time::Instant,
    failures: u32,
}

impl FailedAuthLimiter {
    /// `limit` failures per `window` per address.
    pub fn new(limit: NonZeroU32, window: Duration) -> Self {
        Self {
            limit: limit.get(),
            window,
            clients: std::sync::Mutex::default(),
        }
    }

    fn bucket(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(prefix.into())
            }
            v4 => v4,
        }
    }

    /// How long `ip` must still wait, when it is throttled.
    pub fn blocked(&self, ip: std::net::IpAddr) -> Option<Duration> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let entry = clients.get(&Self::bucket(ip))?;
        let elapsed = entry.started.elapsed();
        (entry.failures >= self.limit && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failed attempt from `ip`.
    pub fn record_failure(&self, ip: std::net::IpAddr) {
        let now = std::time::Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = Self::bucket(ip);
        if !clients.contains_key(&key) && clients.len() >= MAX_TRACKED_ADDRESSES {
            let window = self.window;
            clients.retain(|_, entry| now.duration_since(entry.started) < window);
            if clients.len() >= MAX_TRACKED_ADDRESSES {
                return;
            }
        }
        let entry = clients.entry(key).or_insert(FailureWindow {
            started: now,
            failures: 0,
        });
        if now.duration_since(entry.started) >= self.window {
            *entry = FailureWindow {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

/// Middleware on `/api/v1/*` (inside authentication): 429 when the key's bucket is empty.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(name) = request.extensions().get::<KeyName>().cloned() else {
        // Authentication always runs first; reaching here without a name is a wiring bug.
        return ApiError::Internal(anyhow::anyhow!("rate limiter reached without a key name"))
            .into_response();
    };
    let verdict = match state.shared_limiter() {
        // Cluster mode: one budget across all gateways.
        Some(shared) => shared.admit(&name).await,
        None => state.rate_limiter().admit(&name),
    };
    match verdict {
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
    fn failed_auth_blocks_an_address_after_the_limit_until_the_window_ends() {
        let limiter =
            FailedAuthLimiter::new(NonZeroU32::new(3).expect("nz"), Duration::from_millis(300));
        let a: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
        let b: std::net::IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..2 {
            limiter.record_failure(a);
            assert_eq!(limiter.blocked(a), None);
        }
        limiter.record_failure(a);
        let wait = limiter.blocked(a).expect("blocked after 3 failures");
        assert!(wait <= Duration::from_millis(300));
        assert_eq!(limiter.blocked(b), None, "other addresses are not affected");
        // One IPv6 /64 is one budget.
        let v6a: std::net::IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let v6b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        for _ in 0..3 {
            limiter.record_failure(v6a);
        }
        assert!(limiter.blocked(v6b).is_some());
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(limiter.blocked(a), None, "the window ended");
        limiter.record_failure(a);
        assert_eq!(limiter.blocked(a), None, "a new window starts from zero");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}

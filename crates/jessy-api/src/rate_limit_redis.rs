//! Rate limits shared by every gateway of a cluster, in Redis
//! ([`jessy_cluster::ratelimit`]: one atomic GCRA script), and the policy when Redis cannot
//! be reached.
//!
//! The policy is explicit because both answers are wrong sometimes: failing **closed** (the
//! default) refuses `/api/v1` requests with 503 `not_ready` while Redis is down, so no key
//! can exceed its budget, at the price of an outage that follows Redis's; failing **open**
//! admits every authenticated request with no limit, keeping the service up while letting a
//! client exceed its budget. `/api/health` reports the limiter's state and the policy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jessy_cluster::ratelimit::RedisRateLimiter;
use jessy_protocol::ErrorCode;

use crate::caller::KeyName;
use crate::error::{retry_after_secs, ApiError};

/// What to do with a request when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Refuse it (503 `not_ready`).
    Closed,
    /// Admit it, unlimited.
    Open,
}

/// Longest a request waits for Redis before the policy applies.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// The shared limiter: a Redis connection (made at start and remade in the background after
/// it fails), the policy, and what happened last.
#[derive(Debug)]
pub struct SharedRateLimiter {
    url: String,
    per_second: u32,
    burst: u32,
    prefix: String,
    policy: FailurePolicy,
    limiter: ArcSwapOption<RedisRateLimiter>,
    reachable: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl SharedRateLimiter {
    /// A limiter for `url`, not connected yet ([`SharedRateLimiter::connect`]).
    pub fn new(
        url: String,
        per_second: u32,
        burst: u32,
        prefix: String,
        policy: FailurePolicy,
    ) -> SharedRateLimiter {
        SharedRateLimiter {
            url,
            per_second,
            burst,
            prefix,
            policy,
            limiter: ArcSwapOption::empty(),
            reachable: AtomicBool::new(false),
            last_error: Mutex::new(Some("not connected yet".to_owned())),
        }
    }

    fn note(&self, error: Option<String>) {
        let was = self.reachable.swap(error.is_none(), Ordering::Relaxed);
        match (&error, was) {
            (Some(e), true) => {
                tracing::warn!(error = %e, policy = ?self.policy, "Redis unreachable: rate limits follow the failure policy")
            }
            (None, false) => tracing::info!("Redis reachable: shared rate limits enforced"),
            _ => {}
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    /// Connects (when not connected) and pings; records the outcome for `/api/health`.
    pub async fn connect(&self) {
        if let Some(limiter) = self.limiter.load_full() {
            let ping = tokio::time::timeout(CHECK_TIMEOUT, limiter.ping()).await;
            match ping {
                Ok(Ok(())) => self.note(None),
                Ok(Err(e)) => self.note(Some(e.to_string())),
                Err(_) => self.note(Some("Redis did not answer a PING in time".to_owned())),
            }
            return;
        }
        let connecting =
            RedisRateLimiter::connect(&self.url, self.per_second, self.burst, &self.prefix);
        match tokio::time::timeout(CHECK_TIMEOUT * 4, connecting).await {
            Ok(Ok(limiter)) => {
                self.limiter.store(Some(std::sync::Arc::new(limiter)));
                self.note(None);
            }
            Ok(Err(e)) => self.note(Some(e.to_string())),
            Err(_) => self.note(Some("connecting to Redis timed out".to_owned())),
        }
    }

    /// Takes one request from `name`'s shared budget: 429 when spent, and when Redis cannot
    /// answer, whatever the policy says.
    pub async fn admit(&self, name: &KeyName) -> Result<(), ApiError> {
        let outcome = match self.limiter.load_full() {
            None => Err("not connected".to_owned()),
            Some(limiter) => {
                match tokio::time::timeout(CHECK_TIMEOUT, limiter.check(name.as_str())).await {
                    Ok(Ok(verdict)) => Ok(verdict),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("Redis did not answer in time".to_owned()),
                }
            }
        };
        match outcome {
            Ok(None) => {
                if !self.reachable.load(Ordering::Relaxed) {
                    self.note(None);
                }
                Ok(())
            }
            Ok(Some(wait)) => Err(ApiError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            }),
            Err(error) => {
                self.note(Some(error));
                match self.policy {
                    FailurePolicy::Open => Ok(()),
                    FailurePolicy::Closed => Err(ApiError::request(
                        ErrorCode::NotReady,
                        "rate limits cannot be checked (Redis unreachable); requests are refused until it returns",
                    )),
                }
            }
        }
    }

    /// For `/api/health`: `{"backend":"redis","state":"ok"|"unreachable","policy",…}`.
    pub fn health(&self) -> serde_json::Value {
        let reachable = self.reachable.load(Ordering::Relaxed);
        let error = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        serde_json::json!({
            "backend": "redis",
            "state": if reachable { "ok" } else { "unreachable" },
            "policy": self.policy,
            "effect": match (reachable, self.policy) {
                (true, _) => "shared limits enforced",
                (false, FailurePolicy::Closed) => "failing closed: /api/v1 requests are refused",
                (false, FailurePolicy::Open) => "failing open: requests are admitted without a limit",
            },
            "error": if reachable { None } else { error },
        })
    }

    /// Whether the last contact with Redis worked.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }
}

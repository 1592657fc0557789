//! Rate limits shared by every gateway: GCRA (the generic cell rate algorithm, the same
//! algorithm as the gateways' in-process limiter) as one Redis script.
//!
//! Each key name has one Redis value, its *theoretical arrival time* (TAT) in microseconds.
//! A request is admitted when `now >= TAT - (burst - 1) * interval`, and then moves the TAT
//! one interval on. The script reads the clock from Redis (`TIME`), not from the gateways, so
//! gateways with skewed clocks still share one budget, and it runs atomically, so two gateways
//! admitting at once cannot both take the last token. The value expires once the bucket is
//! full again, so idle names cost nothing.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::ClusterError;

const GCRA: &str = r#"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - (burst - 1) * interval
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, 0}
"#;

/// A shared limiter: `per_second` sustained requests per name, bursts of `burst`.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Script,
    interval_us: u64,
    burst: u32,
    prefix: String,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("interval_us", &self.interval_us)
            .field("burst", &self.burst)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How long a Redis call may take before the request is treated as "Redis unreachable" (the
/// gateway's policy then decides). Short: a rate-limit check sits on every request's path.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);

impl RedisRateLimiter {
    /// Connects to Redis at `url`. The connection reconnects by itself after a failure; calls
    /// made while it is down fail fast with [`ClusterError::Redis`]. `prefix` namespaces the
    /// keys (one per cluster, or per test).
    pub async fn connect(
        url: &str,
        per_second: u32,
        burst: u32,
        prefix: &str,
    ) -> Result<RedisRateLimiter, ClusterError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(RESPONSE_TIMEOUT * 4)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisRateLimiter {
            connection,
            script: Script::new(GCRA),
            interval_us: 1_000_000 / u64::from(per_second.max(1)),
            burst: burst.max(1),
            prefix: prefix.to_string(),
        })
    }

    /// Takes one request from `name`'s budget: `Ok(None)` when admitted, `Ok(Some(wait))`
    /// when refused (retry after `wait`), `Err` when Redis could not answer.
    pub async fn check(&self, name: &str) -> Result<Option<Duration>, ClusterError> {
        let mut connection = self.connection.clone();
        let (admitted, wait_us): (i64, i64) = self
            .script
            .key(format!("{}{name}", self.prefix))
            .arg(self.interval_us)
            .arg(self.burst)
            .invoke_async(&mut connection)
            .await?;
        Ok((admitted == 0).then(|| Duration::from_micros(wait_us.max(0) as u64)))
    }

    /// Whether Redis answers a `PING` now (for health reports).
    pub async fn ping(&self) -> Result<(), ClusterError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await?;
        Ok(())
    }
}

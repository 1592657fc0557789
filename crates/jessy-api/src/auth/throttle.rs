//! The failed-authentication throttle: per client address, so guessing keys is slow even
//! though a valid key is never rate limited by it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    clients: Mutex<HashMap<IpAddr, FailureWindow>>,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    started: Instant,
    failures: u32,
}

impl FailedAuthLimiter {
    /// `limit` failures per `window` per address.
    pub fn new(limit: NonZeroU32, window: Duration) -> Self {
        Self {
            limit: limit.get(),
            window,
            clients: Mutex::default(),
        }
    }

    fn bucket(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
            v4 => v4,
        }
    }

    /// How long `ip` must still wait, when it is throttled.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let entry = clients.get(&Self::bucket(ip))?;
        let elapsed = entry.started.elapsed();
        (entry.failures >= self.limit && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_auth_blocks_an_address_after_the_limit_until_the_window_ends() {
        let limiter =
            FailedAuthLimiter::new(NonZeroU32::new(3).expect("nz"), Duration::from_millis(300));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..2 {
            limiter.record_failure(a);
            assert_eq!(limiter.blocked(a), None);
        }
        limiter.record_failure(a);
        let wait = limiter.blocked(a).expect("blocked after 3 failures");
        assert!(wait <= Duration::from_millis(300));
        assert_eq!(limiter.blocked(b), None, "other addresses are not affected");
        // One IPv6 /64 is one budget.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        for _ in 0..3 {
            limiter.record_failure(v6a);
        }
        assert!(limiter.blocked(v6b).is_some());
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(limiter.blocked(a), None, "the window ended");
        limiter.record_failure(a);
        assert_eq!(limiter.blocked(a), None, "a new window starts from zero");
    }
}

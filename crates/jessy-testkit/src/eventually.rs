//! Polling a condition until it holds, with a deadline: `eventually` for async checks,
//! `eventually_blocking` for plain ones (and for code that must not need a runtime).

use std::future::Future;
use std::time::{Duration, Instant};

/// A default deadline for polls: generous for a loaded 2-core machine, still far below a
/// suite's time budget.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between two checks.
const INTERVAL: Duration = Duration::from_millis(20);

/// What a check returns: `bool` (done or not yet) or `Option<T>` (done, with a value).
pub trait Check {
    /// What the poll returns once the check passes: `()` for `bool`, `T` for `Option<T>`.
    type Output;
    /// `Some` once the condition holds.
    fn passed(self) -> Option<Self::Output>;
}

impl Check for bool {
    type Output = ();
    fn passed(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Check for Option<T> {
    type Output = T;
    fn passed(self) -> Option<T> {
        self
    }
}

/// Awaits `check()` every 20 ms until it passes and returns its value; panics naming `what`
/// once `timeout` has passed.
pub async fn eventually<C, F, Fut>(timeout: Duration, what: &str, mut check: F) -> C::Output
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    let deadline = Deadline::after(timeout, what);
    loop {
        if let Some(value) = check().await.passed() {
            return value;
        }
        deadline.check();
        tokio::time::sleep(INTERVAL).await;
    }
}

/// [`eventually`] for a blocking `check`; sleeps the calling thread between checks.
pub fn eventually_blocking<C: Check>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> C,
) -> C::Output {
    let deadline = Deadline::after(timeout, what);
    loop {
        match check().passed() {
            Some(value) => return value,
            None => deadline.check(),
        }
        std::thread::sleep(INTERVAL);
    }
}

/// When a poll gives up, and what it says then.
struct Deadline<'a> {
    at: Instant,
    timeout: Duration,
    what: &'a str,
}

impl<'a> Deadline<'a> {
    fn after(timeout: Duration, what: &'a str) -> Self {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
            what,
        }
    }

    /// Panics when the deadline has passed.
    fn check(&self) {
        assert!(
            Instant::now() < self.at,
            "timed out after {:?} waiting for: {}",
            self.timeout,
            self.what
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_returns_the_value_once_the_check_passes() {
        let mut calls = 0;
        let value = eventually_blocking(TIMEOUT, "third call", || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(value, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 50ms waiting for: never")]
    fn blocking_panics_naming_what_it_waited_for() {
        eventually_blocking(Duration::from_millis(50), "never", || false);
    }

    #[tokio::test]
    async fn async_returns_once_the_check_passes() {
        let mut calls = 0;
        eventually(TIMEOUT, "second call", || {
            calls += 1;
            let done = calls == 2;
            async move { done }
        })
        .await;
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for: never")]
    async fn async_panics_naming_what_it_waited_for() {
        eventually(Duration::from_millis(50), "never", || async { None::<()> }).await;
    }
}

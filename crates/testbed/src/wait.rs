//! Polling helpers: the dataplane converges asynchronously (an agent reconciles, a kernel
//! namespace is torn down on a workqueue), so tests wait for a condition instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Result, TestbedError};

/// Calls `pred` every `interval` until it returns true; fails with [`TestbedError::Timeout`]
/// after `timeout`. The predicate is always called at least once, and once more at the deadline.
pub fn wait_until<F>(timeout: Duration, interval: Duration, mut pred: F) -> Result<()>
where
    F: FnMut() -> bool,
{
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(TestbedError::Timeout { what: "condition".into(), after: timeout });
        }
        std::thread::sleep(interval.min(deadline - now));
    }
}

/// Async [`wait_until`] for tests running on a tokio runtime (sleeps with `tokio::time::sleep`).
pub async fn wait_until_async<F, Fut>(timeout: Duration, interval: Duration, mut pred: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if pred().await {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(TestbedError::Timeout { what: "condition".into(), after: timeout });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(1), Duration::from_millis(1), || {
            n += 1;
            n == 3
        })
        .is_ok());
        assert!(matches!(
            wait_until(Duration::from_millis(30), Duration::from_millis(5), || false),
            Err(TestbedError::Timeout { .. })
        ));
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let r = rt.block_on(wait_until_async(Duration::from_millis(30), Duration::from_millis(5), || async { false }));
        assert!(r.is_err());
    }
}

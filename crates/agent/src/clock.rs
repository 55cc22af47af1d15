//! Time, injected: the runner's heartbeats, back-off, resyncs and pass timings read it
//! through [`Clock`], so a test can move time on instead of waiting for it.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Now, and waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    /// Completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told ([`FakeClock::advance`]); it notes every sleep asked
/// of it.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<watch::Sender<Instant>>,
    sleeps: Arc<std::sync::Mutex<Vec<Duration>>>,
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeClock {
    pub fn new() -> Self {
        FakeClock { now: Arc::new(watch::Sender::new(Instant::now())), sleeps: Arc::default() }
    }

    /// Moves time on by `by`, waking the sleeps that are due.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by);
    }

    /// Every sleep asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *self.now.borrow()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleeps.lock().unwrap_or_else(|e| e.into_inner()).push(duration);
        let deadline = self.now() + duration;
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; if it is gone, time stops: never wake.
            if now.wait_for(|t| *t >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fake_sleep_ends_when_time_is_moved_past_it() {
        let clock = FakeClock::new();
        let start = clock.now();
        let mut sleep = clock.sleep(Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!(futures::poll!(&mut sleep).is_pending());
        clock.advance(Duration::from_secs(1));
        assert!(futures::poll!(&mut sleep).is_ready());
        assert_eq!(clock.now() - start, Duration::from_secs(10));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(10)]);
    }
}

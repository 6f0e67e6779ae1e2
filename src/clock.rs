//! Time source for the scheduler: the real wall clock, or a manual clock that
//! tests move by hand so nothing ever sleeps for real.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::watch;

/// Where the scheduler reads the time and how it waits for a moment.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;

    /// A future that completes once `now() >= t` (at once if `t` is past).
    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The longest single timer the system clock arms before it looks at the
/// wall clock again. Tokio timers run on the monotonic clock, so a wall-clock
/// jump (NTP step, suspend/resume) is noticed within this bound.
const MAX_SLEEP_STEP: Duration = Duration::from_secs(60);

/// The real clock: `Utc::now()` and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let remaining = t - Utc::now();
                if remaining <= TimeDelta::zero() {
                    return;
                }
                let step = remaining
                    .to_std()
                    .unwrap_or(MAX_SLEEP_STEP)
                    .min(MAX_SLEEP_STEP);
                tokio::time::sleep(step).await;
            }
        })
    }
}

/// A clock that only moves when told to. Sleepers wake as soon as the clock
/// reaches their deadline; nothing sleeps for real.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let (now, _) = watch::channel(start);
        Self { now }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        self.now.send_modify(|now| {
            *now = now
                .checked_add_signed(by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        });
    }

    /// Sets the clock to `t`; going back in time simulates a wall-clock step.
    pub fn set(&self, t: DateTime<Utc>) {
        self.now.send_replace(t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives in `self`; if the clock is gone it can never
            // reach `t`, so the sleep never ends (rather than spinning).
            if now.wait_for(|now| *now >= t).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures_util::FutureExt;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn manual_sleeper_wakes_only_when_the_deadline_is_reached() {
        let clock = ManualClock::new(t0());
        let mut sleep = clock.sleep_until(t0() + TimeDelta::seconds(10));
        assert!((&mut sleep).now_or_never().is_none());
        clock.advance(Duration::from_secs(9));
        tokio::task::yield_now().await;
        assert!((&mut sleep).now_or_never().is_none());
        clock.advance(Duration::from_secs(1));
        assert_eq!((&mut sleep).now_or_never(), Some(()));
        assert_eq!(clock.now(), t0() + TimeDelta::seconds(10));
    }

    #[tokio::test]
    async fn manual_sleep_in_the_past_is_immediate_and_set_wakes_sleepers() {
        let clock = ManualClock::new(t0());
        assert_eq!(clock.sleep_until(t0()).now_or_never(), Some(()));
        let sleep = clock.sleep_until(t0() + TimeDelta::hours(1));
        let waiter = tokio::spawn(sleep);
        clock.set(t0() + TimeDelta::hours(2));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("sleeper must wake")
            .expect("task must not panic");
    }

    #[tokio::test]
    async fn system_clock_sleep_in_the_past_returns_at_once() {
        let clock = SystemClock;
        let past = clock.now() - TimeDelta::seconds(5);
        tokio::time::timeout(Duration::from_secs(5), clock.sleep_until(past))
            .await
            .expect("past deadline must not wait");
        let soon = clock.now() + TimeDelta::milliseconds(20);
        tokio::time::timeout(Duration::from_secs(5), clock.sleep_until(soon))
            .await
            .expect("near deadline must complete");
        assert!(clock.now() >= soon);
    }
}

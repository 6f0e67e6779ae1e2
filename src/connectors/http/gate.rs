//! What a source lets through, shared by every KR bound to it: the pause a
//! server asked for with `Retry-After`, and the source's `rate_limit`.
//!
//! Every request of the source (each page, each retry) first reserves a start
//! time here. The limiter is a GCRA token bucket: from N = 20 a burst of
//! B = N/10 goes out at once and the rest are spaced `period / (N - B)` apart,
//! so a window of one period holds at most N of them; below 20 requests are
//! spaced `period / N` apart (at most N + 1 in a window).
//! The burst lets KRs that share a cron slot go out together instead of
//! queueing past their fetch deadline. A
//! reservation is made only when its start falls before the caller's
//! deadline; otherwise nothing is reserved and the caller fails at once.
//! A reservation whose holder is cancelled is lost, which only spaces the
//! next requests further: the limit errs on the side of asking less.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// `N` requests per period, e.g. `600/hour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    count: u32,
    period: Duration,
}

/// Periods `RateLimit::parse` accepts, with their spellings.
const PERIODS: &[(&[&str], u64, &str)] = &[
    (&["second", "seconds", "sec", "s"], 1, "second"),
    (&["minute", "minutes", "min", "m"], 60, "minute"),
    (&["hour", "hours", "h"], 3600, "hour"),
    (&["day", "days", "d"], 86_400, "day"),
];

impl RateLimit {
    /// `count` requests per `period`; `count` ≥ 1 and `period` > 0.
    pub fn new(count: u32, period: Duration) -> Result<RateLimit, String> {
        if count == 0 {
            return Err("a rate limit must allow at least 1 request".into());
        }
        if period.is_zero() {
            return Err("a rate limit's period must be longer than 0".into());
        }
        Ok(RateLimit { count, period })
    }

    /// `N/second`, `N/minute`, `N/hour` or `N/day` (also `s`, `m`, `h`, `d`,
    /// `sec`, `min` and plurals), N ≥ 1.
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let example =
            "expected requests per period, e.g. `600/hour` (period: second, minute, hour or day)";
        let Some((count, unit)) = text.split_once('/') else {
            return Err(format!("invalid rate limit `{text}`: {example}"));
        };
        let count: u32 = count.trim().parse().map_err(|_| {
            format!(
                "invalid rate limit `{text}`: `{}` is not a whole number; {example}",
                count.trim()
            )
        })?;
        if count == 0 {
            return Err(format!(
                "invalid rate limit `{text}`: it must allow at least 1 request per period"
            ));
        }
        let unit = unit.trim().to_ascii_lowercase();
        let Some((_, secs, _)) = PERIODS
            .iter()
            .find(|(names, _, _)| names.contains(&unit.as_str()))
        else {
            return Err(format!(
                "invalid rate limit `{text}`: unknown period `{unit}` (use second, minute, hour or day)"
            ));
        };
        RateLimit::new(count, Duration::from_secs(*secs))
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// Requests that may go out at once: N/10, at least 1.
    pub fn burst(&self) -> u32 {
        (self.count / 10).max(1)
    }

    /// The spacing between requests after a burst: period / (N - burst),
    /// so that a burst plus the spaced ones stay within N per period; with
    /// no burst (N < 20), period / N.
    pub fn interval(&self) -> Duration {
        match self.burst() {
            1 => self.period / self.count,
            b => self.period / (self.count - b),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        match PERIODS.iter().find(|(_, s, _)| *s == secs) {
            Some((_, _, name)) if self.period.subsec_nanos() == 0 => {
                write!(f, "{}/{name}", self.count)
            }
            _ => write!(f, "{}/{:?}", self.count, self.period),
        }
    }
}

/// Why the gate would not let a request start before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldCause {
    /// The server asked for a pause (`Retry-After` on a 429 or 503).
    RetryAfter,
    /// The source's `rate_limit` has no free slot before then.
    RateLimit(RateLimit),
}

/// The gate holds requests back until `until`, past the caller's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub until: Instant,
    pub cause: HoldCause,
}

/// The gate of one source. Shared (in an `Arc`) by every clone of its client.
#[derive(Debug)]
pub struct SourceGate {
    rate_limit: Option<RateLimit>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// No request before this (`Retry-After`).
    not_before: Option<Instant>,
    /// The limiter's next free start time.
    next_free: Option<Instant>,
}

impl SourceGate {
    pub fn new(rate_limit: Option<RateLimit>) -> SourceGate {
        SourceGate {
            rate_limit,
            state: Mutex::new(State::default()),
        }
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// Hold every request of the source back until `until` (a server's
    /// `Retry-After`). A later pause already in force is kept.
    pub fn hold_until(&self, until: Instant) {
        let mut state = self.lock();
        if state.not_before.is_none_or(|t| t < until) {
            state.not_before = Some(until);
        }
    }

    /// The `Retry-After` pause in force at `now`, if any.
    pub fn paused_until(&self, now: Instant) -> Option<Instant> {
        self.lock().not_before.filter(|t| *t > now)
    }

    /// Reserve the start of one request: the earliest time at or after `now`
    /// that respects the pause and the rate limit. Nothing is reserved when
    /// that start is not before `deadline`.
    pub fn reserve(&self, now: Instant, deadline: Option<Instant>) -> Result<Instant, Held> {
        let mut state = self.lock();
        let paused = state.not_before.filter(|t| *t > now);
        // `next_free` is GCRA's theoretical arrival time; the burst tolerance
        // lets a request start that much before it.
        let tolerance = self
            .rate_limit
            .map(|l| l.interval() * (l.burst() - 1))
            .unwrap_or_default();
        let slot = state
            .next_free
            .map(|tat| tat.checked_sub(tolerance).unwrap_or(now))
            .filter(|t| *t > now);
        let start = now.max(paused.unwrap_or(now)).max(slot.unwrap_or(now));
        if let Some(deadline) = deadline
            && start > now
            && start >= deadline
        {
            let cause = match (paused, self.rate_limit) {
                (Some(p), Some(limit)) if p < start => HoldCause::RateLimit(limit),
                (None, Some(limit)) => HoldCause::RateLimit(limit),
                _ => HoldCause::RetryAfter,
            };
            return Err(Held {
                until: start,
                cause,
            });
        }
        if let Some(limit) = self.rate_limit {
            let tat = state.next_free.map_or(start, |t| t.max(start));
            state.next_free = Some(tat + limit.interval());
        }
        Ok(start)
    }

    /// Wait for this source's turn: reserve a start and sleep until it. A
    /// pause that a server asked for meanwhile is honoured too (the request
    /// then takes a new slot). Fails at once, reserving nothing, when the
    /// turn would come at or after `deadline`.
    pub async fn wait(&self, deadline: Option<Instant>) -> Result<(), Held> {
        loop {
            let start = self.reserve(Instant::now(), deadline)?;
            tokio::time::sleep_until(start).await;
            if self.paused_until(Instant::now()).is_none() {
                return Ok(());
            }
        }
    }

    /// When the source is idle as of `now`: no pause in force and the
    /// limiter's queue drained, so a request could start with the whole
    /// burst left. `None`: it is idle now.
    pub fn busy_until(&self, now: Instant) -> Option<Instant> {
        let state = self.lock();
        let paused = state.not_before.filter(|t| *t > now);
        let queued = state.next_free.filter(|t| *t > now);
        paused.max(queued)
    }

    /// Waits until the source is idle (`busy_until`). Backfill waits for
    /// this before each of its fetches and then takes one slot, so it uses
    /// only capacity scheduled fetches left unused: they always find the
    /// burst (less that one slot) free, and never queue behind a backfill.
    pub async fn wait_idle(&self) {
        while let Some(until) = self.busy_until(Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn parses_counts_and_periods() {
        let p = |s| RateLimit::parse(s).unwrap();
        assert_eq!(p("600/hour"), RateLimit::new(600, 3600 * S).unwrap());
        assert_eq!(p("600/hour").burst(), 60);
        assert_eq!(p("600/hour").interval(), Duration::from_secs(3600) / 540);
        assert_eq!(p("10/second").burst(), 1);
        assert_eq!(p("10/second").interval(), Duration::from_millis(100));
        assert_eq!(p("30/minute").burst(), 3);
        assert_eq!(p("30/minute").interval(), Duration::from_secs(60) / 27);
        assert_eq!(p("1/minute").interval(), Duration::from_secs(60));
        assert_eq!(p(" 10 / s "), p("10/second"));
        assert_eq!(p("10/sec"), p("10/second"));
        assert_eq!(p("5/min"), p("5/minute"));
        assert_eq!(p("5/m"), p("5/minute"));
        assert_eq!(p("5/h"), p("5/hour"));
        assert_eq!(p("1000/d"), p("1000/day"));
        assert_eq!(p("3/Minutes"), p("3/minute"));
        assert_eq!(p("600/h").to_string(), "600/hour");
        assert_eq!(p("2/d").to_string(), "2/day");
    }

    #[test]
    fn rejects_with_clear_messages() {
        let e = |s| RateLimit::parse(s).unwrap_err();
        assert!(e("lots").contains("e.g. `600/hour`"), "{}", e("lots"));
        assert!(e("0/hour").contains("at least 1"), "{}", e("0/hour"));
        assert!(e("-1/hour").contains("whole number"), "{}", e("-1/hour"));
        assert!(e("1.5/hour").contains("whole number"));
        assert!(
            e("10/week").contains("unknown period `week`"),
            "{}",
            e("10/week")
        );
        assert!(e("10/").contains("unknown period"));
        assert!(e("/hour").contains("whole number"));
    }

    #[test]
    fn requests_are_spaced_evenly() {
        let gate = SourceGate::new(Some(RateLimit::parse("10/second").unwrap()));
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..5)
            .map(|_| gate.reserve(t0, None).unwrap() - t0)
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(starts, vec![ms(0), ms(100), ms(200), ms(300), ms(400)]);
        // Later callers start on their own time once the queue has drained.
        assert_eq!(gate.reserve(t0 + S, None).unwrap(), t0 + S);
    }

    #[test]
    fn a_burst_goes_out_at_once_then_requests_are_spaced() {
        // 600/hour: 60 at once, then one every 3600/540 s; never over 600 an hour.
        let limit = RateLimit::parse("600/hour").unwrap();
        let gate = SourceGate::new(Some(limit));
        let t0 = Instant::now();
        let starts: Vec<Instant> = (0..600).map(|_| gate.reserve(t0, None).unwrap()).collect();
        assert!(starts[..60].iter().all(|s| *s == t0));
        assert_eq!(starts[60] - t0, limit.interval());
        assert!(starts[599] - t0 < Duration::from_secs(3600));
        assert!(gate.reserve(t0, None).unwrap() - t0 >= Duration::from_secs(3600));
    }

    #[test]
    fn a_start_past_the_deadline_reserves_nothing() {
        let gate = SourceGate::new(Some(RateLimit::parse("1/second").unwrap()));
        let t0 = Instant::now();
        assert_eq!(gate.reserve(t0, Some(t0 + S / 2)), Ok(t0));
        let held = gate.reserve(t0, Some(t0 + S / 2)).unwrap_err();
        assert_eq!(held.until, t0 + S);
        assert!(matches!(held.cause, HoldCause::RateLimit(_)));
        // The refusal took no slot: a caller with a longer budget gets t0 + 1 s.
        assert_eq!(gate.reserve(t0, Some(t0 + 2 * S)), Ok(t0 + S));
    }

    #[test]
    fn retry_after_pauses_everyone() {
        let gate = SourceGate::new(None);
        let t0 = Instant::now();
        gate.hold_until(t0 + 3 * S);
        // A shorter pause does not shorten the one in force.
        gate.hold_until(t0 + S);
        let held = gate.reserve(t0, Some(t0 + 2 * S)).unwrap_err();
        assert_eq!(
            held,
            Held {
                until: t0 + 3 * S,
                cause: HoldCause::RetryAfter
            }
        );
        assert_eq!(gate.reserve(t0, Some(t0 + 10 * S)), Ok(t0 + 3 * S));
        assert_eq!(gate.reserve(t0 + 4 * S, None), Ok(t0 + 4 * S));
        assert_eq!(gate.paused_until(t0 + 4 * S), None);
    }

    #[test]
    fn idle_means_no_pause_and_a_drained_queue() {
        let gate = SourceGate::new(Some(RateLimit::parse("600/hour").unwrap()));
        let t0 = Instant::now();
        assert_eq!(gate.busy_until(t0), None);
        // One request (a backfill's) leaves the burst to the others...
        gate.reserve(t0, None).unwrap();
        assert_eq!(gate.reserve(t0, None), Ok(t0));
        // ...but the next backfill waits until the queue has drained.
        let interval = RateLimit::parse("600/hour").unwrap().interval();
        assert_eq!(gate.busy_until(t0), Some(t0 + 2 * interval));
        assert_eq!(gate.busy_until(t0 + 2 * interval), None);
        gate.hold_until(t0 + 3600 * S);
        assert_eq!(gate.busy_until(t0 + 2 * interval), Some(t0 + 3600 * S));
    }

    #[test]
    fn the_limiter_queues_behind_a_pause() {
        let gate = SourceGate::new(Some(RateLimit::parse("2/second").unwrap()));
        let t0 = Instant::now();
        gate.hold_until(t0 + S);
        assert_eq!(gate.reserve(t0, None), Ok(t0 + S));
        assert_eq!(gate.reserve(t0, None), Ok(t0 + S + S / 2));
        let held = gate.reserve(t0, Some(t0 + S + S / 2)).unwrap_err();
        assert!(matches!(held.cause, HoldCause::RateLimit(_)), "{held:?}");
    }
}

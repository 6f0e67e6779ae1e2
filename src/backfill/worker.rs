//! The daemon's backfill: a lane per source, each working through a queue
//! of KRs, fed at startup (every bound KR: days that have a check-in cost
//! one index probe each) and by every reload (KRs bound for the first
//! time, or whose source, params or period changed; API approvals and
//! `okrd apply` reach the daemon as reloads).
//!
//! One KR, one day, one request at a time per source: a backfill never has
//! more than one request in flight to a source, and before each it waits
//! until the source's gate is idle (no `Retry-After` pause, the rate
//! limiter's queue drained), so it only uses capacity the schedule left
//! unused and a scheduled fetch never waits behind it. Lanes, not one
//! queue for all: a source with a slow rate limit (Plausible's 600/hour
//! is one past day every 6.7 s) must not hold the others' KRs for hours.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::report::{KrOutcome, Skip};
use super::run::{Backfill, Quiet, StopSignals};
use crate::binding::Binding;

/// How long a KR waits before its backfill is tried again after the
/// database failed it.
const STORE_RETRY: Duration = Duration::from_secs(5);

pub struct Backfiller {
    engine: Backfill,
    state: Mutex<State>,
    /// Wakes the lanes when KRs are queued.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// The bindings in force, by KR.
    bound: HashMap<String, Arc<Binding>>,
    /// The KRs to backfill, by source.
    lanes: HashMap<String, Lane>,
    /// Sources the log already named as answering only for now.
    present_only: HashSet<String>,
}

/// One source's KRs.
#[derive(Default)]
struct Lane {
    /// KRs waiting, oldest request first.
    waiting: VecDeque<String>,
    /// The same KRs, so each waits once.
    queued: HashSet<String>,
    /// The KR being backfilled, and what stops it after its current day.
    running: Option<(String, CancellationToken)>,
}

impl Lane {
    /// Queues `kr` (at the back, or `first`); false if it waits already.
    fn queue(&mut self, kr: &str, first: bool) -> bool {
        if !self.queued.insert(kr.to_string()) {
            return false;
        }
        if first {
            self.waiting.push_front(kr.to_string());
        } else {
            self.waiting.push_back(kr.to_string());
        }
        true
    }
}

impl Backfiller {
    pub fn new(engine: Backfill) -> Arc<Backfiller> {
        Arc::new(Backfiller {
            engine,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        })
    }

    /// The bindings now in force. KRs bound for the first time, or whose
    /// source, params, period or time zone changed, are queued; a KR whose
    /// binding changed or went away while it is backfilled stops after
    /// its current day (and is queued again if it is still bound).
    pub fn update(&self, bound: &[Arc<Binding>]) {
        let queued = self.lock().update(bound);
        if queued > 0 {
            tracing::debug!(key_results = queued, "key results queued for backfill");
            self.wake.notify_waiters();
        }
    }

    /// Backfills queued KRs, a lane per configured source, until
    /// `shutdown`, which also drops the fetches in flight (what was written
    /// stays; the next start goes on from there).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut lanes = JoinSet::new();
        for source in self.engine.sources.keys() {
            lanes.spawn(self.clone().lane(source.clone(), shutdown.clone()));
        }
        while lanes.join_next().await.is_some() {}
    }

    /// One source's KRs, one at a time.
    async fn lane(self: Arc<Self>, source: String, shutdown: CancellationToken) {
        loop {
            // Listening before looking: a KR queued in between still wakes us.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some((binding, after_day)) = self.next(&source, &shutdown) else {
                tokio::select! {
                    () = notified => continue,
                    () = shutdown.cancelled() => return,
                }
            };
            let stop = StopSignals {
                after_day,
                now: shutdown.clone(),
            };
            let outcome = self
                .engine
                .key_result(&binding, None, &stop, &mut Quiet)
                .await;
            self.lock().lanes.entry(source.clone()).or_default().running = None;
            match outcome {
                Ok(outcome) => self.log(&binding, &outcome),
                Err(e) => {
                    tracing::warn!(key_result = %binding.key_result, source = %source, error = %e, "backfill paused: the database is away; it goes on in a few seconds");
                    self.queue_first(&source, &binding.key_result);
                    tokio::select! {
                        () = tokio::time::sleep(STORE_RETRY) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Puts `kr` back at the head of `source`'s lane.
    fn queue_first(&self, source: &str, kr: &str) {
        let mut state = self.lock();
        state
            .lanes
            .entry(source.to_string())
            .or_default()
            .queue(kr, true);
    }

    /// The next KR of `source`'s lane still bound to it, marked running.
    fn next(
        &self,
        source: &str,
        shutdown: &CancellationToken,
    ) -> Option<(Arc<Binding>, CancellationToken)> {
        let mut state = self.lock();
        let State { bound, lanes, .. } = &mut *state;
        let lane = lanes.get_mut(source)?;
        while let Some(kr) = lane.waiting.pop_front() {
            lane.queued.remove(&kr);
            // A KR moved to another source meanwhile waits in that lane.
            if let Some(binding) = bound.get(&kr).filter(|b| b.source == source) {
                let stop = shutdown.child_token();
                lane.running = Some((kr, stop.clone()));
                return Some((binding.clone(), stop));
            }
        }
        None
    }

    /// One line per KR whose backfill did something; a source that can
    /// only tell the present is named once, not once per KR.
    fn log(&self, b: &Binding, outcome: &KrOutcome) {
        let (kr, source) = (&b.key_result, &b.source);
        match outcome {
            KrOutcome::Skipped(skip @ Skip::PresentOnly { .. }) => {
                if self.lock().present_only.insert(source.clone()) {
                    tracing::info!(source = %source, first_key_result = %kr, "not backfilled: {skip}; the KRs of this source start with no past days");
                } else {
                    tracing::debug!(key_result = %kr, source = %source, "not backfilled: {skip}");
                }
            }
            KrOutcome::Skipped(skip) => {
                tracing::info!(key_result = %kr, source = %source, "not backfilled: {skip}");
            }
            KrOutcome::Ran(r) if r.fetched == 0 && r.failed == 0 && r.stopped.is_none() => {
                tracing::debug!(key_result = %kr, source = %source, "backfill: {r}");
            }
            KrOutcome::Ran(r) if r.complete() => {
                tracing::info!(key_result = %kr, source = %source, fetched = r.fetched, skipped = r.already, failed = r.failed, "backfilled: {r}");
            }
            KrOutcome::Ran(r) => {
                tracing::warn!(key_result = %kr, source = %source, fetched = r.fetched, skipped = r.already, failed = r.failed, "backfill incomplete: {r}; the rest is tried at the next start, or with `okrd backfill`");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// See `Backfiller::update`; returns how many KRs it queued.
    fn update(&mut self, bound: &[Arc<Binding>]) -> usize {
        let mut next = HashMap::with_capacity(bound.len());
        let mut queued = 0;
        for b in bound {
            let old = self.bound.get(&b.key_result);
            let same = old.is_some_and(|old| same_fetch(old, b));
            let binding = match old {
                Some(old) if same => old.clone(),
                _ => b.clone(),
            };
            if !same {
                let lane = self.lanes.entry(b.source.clone()).or_default();
                queued += usize::from(lane.queue(&b.key_result, false));
            }
            next.insert(b.key_result.clone(), binding);
        }
        for lane in self.lanes.values() {
            let Some((kr, stop)) = &lane.running else {
                continue;
            };
            let unchanged = match (self.bound.get(kr), next.get(kr)) {
                (Some(old), Some(new)) => Arc::ptr_eq(old, new),
                _ => false,
            };
            if !unchanged {
                stop.cancel();
            }
        }
        self.bound = next;
        queued
    }
}

/// Whether two bindings fetch the same values: same source, params,
/// period and day boundaries.
fn same_fetch(a: &Binding, b: &Binding) -> bool {
    a.source == b.source && a.params == b.params && a.period == b.period && a.timezone == b.timezone
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::okr::{KrKind, Period};

    fn binding(kr: &str, source: &str) -> Arc<Binding> {
        Arc::new(Binding {
            key_result: kr.into(),
            kind: KrKind::Increase,
            source: source.into(),
            params: serde_json::Map::new(),
            period: Period::quarter_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            schedule: "* * * * *".into(),
            timezone: chrono_tz::UTC,
            guard: Default::default(),
        })
    }

    fn waiting(state: &State, source: &str) -> Vec<String> {
        state
            .lanes
            .get(source)
            .map(|l| l.waiting.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn new_and_changed_bindings_are_queued_once_in_their_sources_lane() {
        let mut state = State::default();
        assert_eq!(state.update(&[binding("a", "s"), binding("b", "s")]), 2);
        // Still waiting: not queued twice.
        let mut b = binding("b", "s");
        Arc::make_mut(&mut b).params.insert("q".into(), json!("x"));
        assert_eq!(state.update(&[binding("a", "s"), b.clone()]), 0);
        assert_eq!(waiting(&state, "s"), ["a", "b"]);
        state.lanes.clear();
        // Done with both: only a change of what is fetched queues again,
        // not one of the schedule.
        let mut a = binding("a", "s");
        Arc::make_mut(&mut a).schedule = "0 * * * *".into();
        assert_eq!(state.update(&[a.clone(), b.clone()]), 0);
        let mut b2 = b.clone();
        let end = &mut Arc::make_mut(&mut b2).period.end;
        *end = end.succ_opt().unwrap();
        assert_eq!(state.update(&[a, b2, binding("c", "t")]), 2);
        assert_eq!(waiting(&state, "s"), ["b"]);
        assert_eq!(waiting(&state, "t"), ["c"]);
    }

    #[test]
    fn a_running_backfill_stops_when_its_binding_changes_or_goes() {
        let mut state = State::default();
        state.update(&[binding("a", "s"), binding("b", "s")]);
        state.lanes.clear();
        let stop = CancellationToken::new();
        state.lanes.entry("s".into()).or_default().running = Some(("a".into(), stop.clone()));
        state.update(&[binding("a", "s"), binding("b", "s")]);
        assert!(!stop.is_cancelled());
        // Moved to another source: stopped here, queued in that lane.
        state.update(&[binding("a", "other"), binding("b", "s")]);
        assert!(stop.is_cancelled());
        assert_eq!(waiting(&state, "other"), ["a"]);
        let stop = CancellationToken::new();
        state.lanes.entry("s".into()).or_default().running = Some(("b".into(), stop.clone()));
        state.update(&[binding("a", "other")]);
        assert!(stop.is_cancelled(), "a KR no longer bound stops");
    }
}

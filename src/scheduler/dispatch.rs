//! The scheduler task and its handle: sleeps on the clock until the earliest
//! slot, starts jobs under the concurrency limit (recording how late each
//! started), and on shutdown stops dispatching at once and waits for the
//! jobs already running.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use prometheus::Histogram;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::{Fire, State};
use super::{BindingStatus, Entry, Job, Outcome, Runner, SchedulerConfig};
use crate::clock::Clock;
use crate::metrics::SchedulerTelemetry;

/// Controls a running scheduler. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    runner: Runner,
    permits: Arc<Semaphore>,
    /// Where each job's start lag goes (the process-wide histogram, or a
    /// test's own).
    lag: Histogram,
    inner: Mutex<Inner>,
    /// Wakes the loop after the heap changed outside it.
    wake: Notify,
    /// Bumped on every state change, for [`SchedulerHandle::wait_for`].
    changes: watch::Sender<u64>,
    settle: mpsc::UnboundedSender<oneshot::Sender<()>>,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
}

struct Inner {
    state: State,
    /// Every job task holds a clone; the loop waits for all of them to be
    /// dropped on shutdown. `None` once shutting down: nothing new starts.
    jobs: Option<mpsc::Sender<()>>,
}

/// Starts the scheduler with no entries, recording into `telemetry` (add them with
/// [`SchedulerHandle::set_bindings`]). The task ends after `shutdown` is
/// cancelled and the jobs already running have finished.
///
/// Must be called within a tokio runtime.
pub fn spawn(
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    runner: Runner,
    shutdown: CancellationToken,
    telemetry: SchedulerTelemetry,
) -> (SchedulerHandle, JoinHandle<()>) {
    let lag = telemetry.lag;
    let (settle_tx, settle_rx) = mpsc::unbounded_channel();
    let (jobs_tx, jobs_rx) = mpsc::channel(1);
    let shared = Arc::new(Shared {
        clock,
        runner,
        permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
        lag,
        inner: Mutex::new(Inner {
            state: State::new(config),
            jobs: Some(jobs_tx),
        }),
        wake: Notify::new(),
        changes: watch::channel(0).0,
        settle: settle_tx,
        shutdown,
        runtime: tokio::runtime::Handle::current(),
    });
    let task = tokio::spawn(run(shared.clone(), settle_rx, jobs_rx));
    (SchedulerHandle { shared }, task)
}

impl SchedulerHandle {
    /// Replaces the set of bindings. Added bindings get their first slot
    /// strictly after now, removed ones stop (a job already running for
    /// one finishes), unchanged ones keep their next slot; a binding whose
    /// schedule changed is re-planned from now and keeps its failure state.
    pub fn set_bindings(&self, bindings: Vec<Entry>) {
        {
            let mut inner = self.shared.lock();
            let now = self.shared.clock.now();
            inner.state.set_bindings(bindings, now);
        }
        self.shared.changed();
    }

    /// Every binding's schedule and health, sorted by id.
    pub fn status(&self) -> Vec<BindingStatus> {
        self.shared.lock().state.status()
    }

    /// One binding's status, if `id` is scheduled.
    pub fn binding_status(&self, id: &str) -> Option<BindingStatus> {
        self.shared.lock().state.binding_status(id)
    }

    /// Starts a job for `id` now (slot = now), regardless of its schedule
    /// and backoff. `false` if `id` is unknown, already in flight, or the
    /// scheduler is shutting down.
    pub fn run_now(&self, id: &str) -> bool {
        let started = {
            let mut inner = self.shared.lock();
            let now = self.shared.clock.now();
            match inner
                .jobs
                .clone()
                .filter(|_| !self.shared.shutdown.is_cancelled())
            {
                Some(jobs) => match inner.state.start_now(id, now) {
                    Some(fire) => {
                        self.shared.start(fire, jobs);
                        true
                    }
                    None => false,
                },
                None => false,
            }
        };
        if started {
            self.shared.changed();
        }
        started
    }

    /// Returns once the scheduler has handled every slot due at the clock's
    /// time when this was called: due jobs are dispatched (their runner may
    /// not have been polled yet) and overlapping slots are skipped. Lets
    /// tests advance a [`ManualClock`](super::ManualClock) and then look.
    /// Returns at once when the scheduler has stopped.
    pub async fn settle(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.settle.send(tx).is_ok() {
            let _ = rx.await;
        }
    }

    /// Waits until `pred` holds for [`status`](Self::status), re-checking
    /// after every change (dispatch, completion, skip, new bindings), and
    /// returns that status.
    pub async fn wait_for<F>(&self, mut pred: F) -> Vec<BindingStatus>
    where
        F: FnMut(&[BindingStatus]) -> bool,
    {
        let mut changes = self.shared.changes.subscribe();
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            // The sender lives in `shared`, which `self` keeps alive.
            let _ = changes.changed().await;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent between statements; a panic elsewhere
        // while holding the lock must not take the scheduler down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
        self.wake.notify_one();
    }

    /// Spawns the task for one job. The binding is already marked in flight.
    fn start(self: &Arc<Self>, fire: Fire, jobs: mpsc::Sender<()>) {
        tracing::debug!(binding = %fire.id, slot = %fire.slot, "dispatching job");
        let shared = self.clone();
        self.runtime.spawn(async move {
            let outcome = shared.run_job(&fire).await;
            {
                let mut inner = shared.lock();
                let now = shared.clock.now();
                inner.state.complete(&fire, outcome, now);
            }
            shared.changed();
            drop(jobs);
        });
    }

    /// Waits for a permit (giving up on shutdown), records the job's lag and
    /// runs it; `None` if it never started. A panicking runner counts as a
    /// transient failure.
    async fn run_job(&self, fire: &Fire) -> Option<Outcome> {
        let permit = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => return None,
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
        };
        // The job starts now: the wait for a permit counts as lag. A clock
        // stepped back makes it early, which counts as on time.
        let late = (self.clock.now() - fire.run_at)
            .to_std()
            .unwrap_or_default();
        self.lag.observe(late.as_secs_f64());
        let job = Job {
            binding: fire.id.clone(),
            slot: fire.slot,
        };
        let runner = self.runner.clone();
        let outcome = AssertUnwindSafe(async move { runner(job).await })
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(binding = %fire.id, slot = %fire.slot, "runner panicked");
                Outcome::Failure {
                    transient: true,
                    retry_after: None,
                }
            });
        drop(permit);
        Some(outcome)
    }
}

async fn run(
    shared: Arc<Shared>,
    mut settle: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    mut jobs: mpsc::Receiver<()>,
) {
    let mut settled = Vec::new();
    while !shared.shutdown.is_cancelled() {
        // Take settle requests before reading the clock: a request sent
        // after `ManualClock::advance` then sees the advanced time.
        while let Ok(tx) = settle.try_recv() {
            settled.push(tx);
        }
        let next_wake = {
            let mut inner = shared.lock();
            let now = shared.clock.now();
            let fires = inner.state.take_due(now);
            if let Some(jobs) = inner.jobs.clone() {
                for fire in fires {
                    shared.start(fire, jobs.clone());
                }
            }
            inner.state.next_wake()
        };
        // Dispatches and skips changed the status; no `wake`, this is the loop.
        shared.changes.send_modify(|v| *v = v.wrapping_add(1));
        for tx in settled.drain(..) {
            let _ = tx.send(());
        }
        let sleep = match next_wake {
            Some(t) => shared.clock.sleep_until(t),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            _ = shared.wake.notified() => {}
            Some(tx) = settle.recv() => settled.push(tx),
            _ = sleep => {}
        }
    }

    tracing::debug!("scheduler stopping; waiting for running jobs");
    {
        let mut inner = shared.lock();
        inner.jobs = None;
        inner.state.clear_plans();
    }
    shared.changed();
    for tx in settled.drain(..) {
        let _ = tx.send(());
    }
    drop(settle);
    // Ends when the last job task drops its sender.
    while jobs.recv().await.is_some() {}
    tracing::debug!("scheduler stopped");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeDelta, TimeZone, Utc};
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::clock::ManualClock;
    use crate::scheduler::Schedule;
    use crate::scheduler::jitter::jitter_offset;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, m, s).unwrap()
    }

    #[tokio::test]
    async fn lag_is_measured_from_slot_plus_jitter_to_the_permit() {
        let jitter = Duration::from_secs(30);
        let clock = Arc::new(ManualClock::new(at(10, 0, 0)));
        let telemetry = SchedulerTelemetry::unregistered();
        let lag = telemetry.lag.clone();
        let (tx, mut started) = mpsc::unbounded_channel::<(Job, oneshot::Sender<Outcome>)>();
        let runner: Runner = Arc::new(move |job| {
            let tx = tx.clone();
            Box::pin(async move {
                let (reply, answer) = oneshot::channel();
                let _ = tx.send((job, reply));
                answer.await.unwrap_or(Outcome::Success)
            })
        });
        let shutdown = CancellationToken::new();
        let config = SchedulerConfig {
            max_concurrency: 1,
            jitter,
            ..SchedulerConfig::default()
        };
        let (handle, task) = spawn(config, clock.clone(), runner, shutdown.clone(), telemetry);
        let every_minute = Arc::new(Schedule::parse("* * * * *", chrono_tz::UTC).unwrap());
        handle.set_bindings(
            ["a", "b"]
                .map(|id| Entry {
                    id: id.to_string(),
                    schedule: every_minute.clone(),
                })
                .to_vec(),
        );
        handle.settle().await;
        let run_at =
            |id: &str| at(10, 1, 0) + TimeDelta::from_std(jitter_offset(id, jitter)).unwrap();
        let secs = |d: TimeDelta| d.num_milliseconds() as f64 / 1000.0;

        // The scheduler wakes 7 s after the later of the two run times; one
        // job gets the only permit at once.
        let woke = run_at("a").max(run_at("b")) + TimeDelta::seconds(7);
        clock.set(woke);
        handle.settle().await;
        let (first, reply) = started.recv().await.unwrap();
        assert_eq!(first.slot, at(10, 1, 0));
        assert_eq!(lag.get_sample_count(), 1);
        let first_lag = secs(woke - run_at(&first.binding));
        assert!((lag.get_sample_sum() - first_lag).abs() < 1e-9);

        // The other waits 5 s more for the permit: that wait is lag too.
        clock.advance(Duration::from_secs(5));
        reply.send(Outcome::Success).unwrap();
        let (second, reply) = started.recv().await.unwrap();
        assert_ne!(second.binding, first.binding);
        assert_eq!(lag.get_sample_count(), 2);
        let second_lag = secs(woke + TimeDelta::seconds(5) - run_at(&second.binding));
        assert!((lag.get_sample_sum() - first_lag - second_lag).abs() < 1e-9);
        reply.send(Outcome::Success).unwrap();

        shutdown.cancel();
        task.await.unwrap();
    }
}

//! The scheduler task and its handle: sleeps on the clock until the earliest
//! slot, starts jobs under the concurrency limit, and on shutdown stops
//! dispatching at once and waits for the jobs already running.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::{Fire, State};
use super::{Binding, BindingStatus, Clock, Job, Outcome, Runner, SchedulerConfig};

/// Controls a running scheduler. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    runner: Runner,
    permits: Arc<Semaphore>,
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

/// Starts the scheduler with no bindings (add them with
/// [`SchedulerHandle::set_bindings`]). The task ends after `shutdown` is
/// cancelled and the jobs already running have finished.
///
/// Must be called within a tokio runtime.
pub fn spawn(
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    runner: Runner,
    shutdown: CancellationToken,
) -> (SchedulerHandle, JoinHandle<()>) {
    let (settle_tx, settle_rx) = mpsc::unbounded_channel();
    let (jobs_tx, jobs_rx) = mpsc::channel(1);
    let shared = Arc::new(Shared {
        clock,
        runner,
        permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
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
    pub fn set_bindings(&self, bindings: Vec<Binding>) {
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

    /// Waits for a permit (giving up on shutdown) and runs the job; `None`
    /// if it never started. A panicking runner counts as a transient failure.
    async fn run_job(&self, fire: &Fire) -> Option<Outcome> {
        let permit = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => return None,
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
        };
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

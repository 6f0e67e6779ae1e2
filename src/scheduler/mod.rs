//! Scheduler: runs each binding (a KR and its cron schedule) at its slots.
//!
//! One task owns a min-heap of next run times and sleeps on the [`Clock`]
//! until the earliest; nothing polls. At each slot it dispatches a [`Job`] to
//! the [`Runner`] unless the binding's previous job is still running (the
//! slot is skipped) or the binding is backing off after a failure. A
//! semaphore caps how many jobs run at once. Jitter spreads bindings that
//! share a schedule; `Job::slot` stays the cron time so the runner can use it
//! as an idempotency key (and, with several replicas, as a lease key). How
//! late each job starts against its slot plus jitter, the wait for a permit
//! included, goes to the `okr_scheduler_lag_seconds` histogram.
//!
//! - [`clock`]: wall clock or a manual clock for tests;
//! - [`cron`]: crontab expressions in a time zone;
//! - [`backoff`], [`jitter`]: the arithmetic;
//! - `state`: the bookkeeping (synchronous); `dispatch`: the task and handle.

pub mod backoff;
pub mod cron;
mod dispatch;
pub mod jitter;
mod state;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

pub use cron::{Schedule, parse_timezone, validate};
pub use dispatch::{SchedulerHandle, spawn};

/// One entry of the schedule: a KR id and when to fetch it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The KR id; unique among bindings.
    pub id: String,
    pub schedule: Arc<Schedule>,
}

/// One run of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The binding (KR) id.
    pub binding: String,
    /// The cron fire time (without jitter), or the request time for
    /// [`SchedulerHandle::run_now`]: the idempotency key of this run.
    pub slot: DateTime<Utc>,
}

/// How a run ended, as the runner reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure {
        /// Worth retrying soon (timeouts, 5xx, 429); drives exponential backoff.
        transient: bool,
        /// The source asked for a pause (e.g. `Retry-After`); always honoured.
        retry_after: Option<Duration>,
    },
    /// The run could not finish for a reason that is not the source's (the
    /// database was unavailable, or another replica's lease may yet
    /// expire): run the same slot again after `retry_in`, unless the next
    /// slot comes first. The binding's failures and backoff are untouched.
    Deferred {
        retry_in: Duration,
    },
}

/// Tuning; see [`SchedulerConfig::default`] for the defaults.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Jobs running at once across all bindings (0 is treated as 1).
    pub max_concurrency: usize,
    /// Upper bound of the per-binding offset added to each slot.
    pub jitter: Duration,
    /// First backoff after a transient failure; doubles per further failure.
    pub backoff_base: Duration,
    /// Longest computed backoff (an explicit `retry_after` may exceed it).
    pub backoff_max: Duration,
}

impl Default for SchedulerConfig {
    /// 16 concurrent jobs, 10 s jitter, backoff 30 s doubling up to 1 h.
    fn default() -> Self {
        Self {
            max_concurrency: 16,
            jitter: Duration::from_secs(10),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

/// Runs one job. Called once per dispatched job; the future's output decides
/// backoff. Cancellation (e.g. on shutdown) is the runner's own business: the
/// scheduler only awaits the future.
pub type Runner = Arc<dyn Fn(Job) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// A binding as the scheduler sees it right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingStatus {
    pub id: String,
    /// The next cron slot that will be run (after any backoff), if any.
    pub next_slot: Option<DateTime<Utc>>,
    /// When that slot will actually be dispatched: `next_slot` plus jitter.
    pub next_run: Option<DateTime<Utc>>,
    /// A job is in flight (running, or waiting for a concurrency permit).
    pub running: bool,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Not run before this time (backoff or `retry_after`), if set.
    pub not_before: Option<DateTime<Utc>>,
    /// Slots skipped because the previous job was still running.
    pub skipped: u64,
    /// The slot of the most recently dispatched job.
    pub last_slot: Option<DateTime<Utc>>,
}

//! Scheduler: cron schedules, jitter, backoff and the dispatch loop.

pub mod clock;
pub mod cron;

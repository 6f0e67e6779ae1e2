//! Backfill: a KR bound to a source gets its values for the past days of
//! its period, each fetched as of the end of its day (`today`, `now` and
//! `now_ts` set to that day) and recorded as a check-in observed then,
//! with origin `backfill:<source>`.
//!
//! - `days`: which days (local days in `[scheduler] timezone`, not today,
//!   at most the last year) and the moment each is fetched as of;
//! - `run`: one KR: the days without a check-in fetched through the
//!   source's client (its rate limit and retries), written, rolled up;
//! - `worker`: the daemon's backfill, a lane per source, fed by every reload;
//! - `report`: what a KR's backfill came to.
//!
//! A connector that can only tell the present (`http_json`, `exec`, a
//! manifest without `history`) is skipped, and so is a KR whose request
//! does not change with the day.

mod days;
mod report;
mod run;
mod worker;

pub use days::{MAX_DAYS, as_of, past_days};
pub use report::{KrOutcome, KrReport, Skip, Stopped};
pub use run::{Backfill, DayResult, Progress, Quiet, StopSignals, idempotency_key};
pub use worker::Backfiller;

//! Backfilling one KR: which of its past days lack a check-in, each fetched
//! as of its end through the source's client, written with the day's
//! observation time, and (in the daemon) rolled up.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::days::{as_of, past_days};
use super::report::{KrOutcome, KrReport, Skip, Stopped};
use crate::binding::{
    Binding, ConfiguredSource, Sources, fetch_value, params_for, template_context,
};
use crate::clock::Clock;
use crate::connectors::{FetchError, Reason, Redactor};
use crate::live::LiveModel;
use crate::metrics::BackfillTelemetry;
use crate::okr::guard::Hold;
use crate::okr::history::local_day;
use crate::okr::{CheckIn, Origin};
use crate::store::{CheckInWrite, CheckInWriter, DaySpan, Store, StoreError, Written};

/// Failures in a row after which a KR's backfill stops: the source is
/// likely to fail its other days the same way.
const MAX_FAILURES_IN_A_ROW: usize = 5;

/// What backfill works with: the store, the check-in writer (shared with
/// scheduled fetches in the daemon) and the configured sources.
pub struct Backfill {
    pub store: Store,
    pub writer: CheckInWriter,
    pub sources: Sources,
    pub redactor: Redactor,
    pub clock: Arc<dyn Clock>,
    /// The daemon's live model, which each new value is rolled into; none
    /// for `okrd backfill` (a daemon reads its values at its next reload).
    pub live: Option<Arc<LiveModel>>,
    pub telemetry: Option<BackfillTelemetry>,
}

/// When to stop.
#[derive(Clone, Default)]
pub struct StopSignals {
    /// Stop once the day being fetched is written (Ctrl-C, a changed binding).
    pub after_day: CancellationToken,
    /// Drop the fetch in flight too (daemon shutdown).
    pub now: CancellationToken,
}

/// How one past day went.
#[derive(Debug, Clone, Copy)]
pub enum DayResult<'a> {
    /// Fetched and written.
    Written(f64),
    /// Another process wrote the day's check-in meanwhile (a replica,
    /// `okrd backfill` next to the daemon): nothing written.
    Existing,
    Failed(&'a FetchError),
}

/// Told about each KR and day as the backfill goes (progress bars, logs).
pub trait Progress: Send {
    /// The KR's backfill starts with this many days to fetch.
    fn started(&mut self, _binding: &Binding, _to_fetch: usize) {}
    fn day(&mut self, _binding: &Binding, _day: NaiveDate, _result: DayResult<'_>) {}
}

/// A `Progress` that shows nothing.
pub struct Quiet;

impl Progress for Quiet {}

impl Backfill {
    /// Fetches and writes every past day of `binding`'s period (from
    /// `from` on) that has no check-in standing for it, oldest first. A
    /// database error ends it (what was written stays): run it again.
    pub async fn key_result(
        &self,
        binding: &Binding,
        from: Option<NaiveDate>,
        stop: &StopSignals,
        progress: &mut dyn Progress,
    ) -> Result<KrOutcome, StoreError> {
        let Some(source) = self.sources.get(&binding.source) else {
            return Ok(KrOutcome::Skipped(Skip::NotConfigured));
        };
        let merged = source.params.merged_with(&binding.params);
        if !source.connector.answers_for_past(&merged) {
            return Ok(KrOutcome::Skipped(Skip::PresentOnly {
                connector: source.connector_name.clone(),
            }));
        }
        let now = self.clock.now();
        let today = local_day(binding.timezone, now);
        let days = past_days(&binding.period, binding.timezone, today, from);
        let mut report = KrReport {
            days: days.len(),
            ..KrReport::default()
        };
        let have = self
            .store
            .days_with_check_ins(&binding.key_result, &binding.source, &days)
            .await?;
        let missing: Vec<&DaySpan> = days
            .iter()
            .filter(|d| have.binary_search(&d.day).is_err())
            .collect();
        report.already = days.len() - missing.len();
        let Some(first) = missing.first() else {
            return Ok(KrOutcome::Ran(report));
        };
        if let Err(skip) = self.asks_for_the_day(source, binding, as_of(first), now) {
            return Ok(KrOutcome::Skipped(skip));
        }
        progress.started(binding, missing.len());
        let mut in_a_row = 0;
        for span in missing {
            if stop.after_day.is_cancelled() || stop.now.is_cancelled() {
                report.stopped = Some(Stopped::Interrupted);
                break;
            }
            // Another replica, or an `okrd backfill` next to the daemon,
            // may have written it since: one index probe saves a request.
            let written = self
                .store
                .days_with_check_ins(
                    &binding.key_result,
                    &binding.source,
                    std::slice::from_ref(span),
                )
                .await?;
            if !written.is_empty() {
                report.already += 1;
                progress.day(binding, span.day, DayResult::Existing);
                continue;
            }
            let Some(result) = self.fetch_day(source, binding, span, stop).await else {
                report.stopped = Some(Stopped::Interrupted);
                break;
            };
            match result {
                Ok(value) => {
                    in_a_row = 0;
                    match self.write(binding, span, value).await? {
                        true => {
                            report.fetched += 1;
                            progress.day(binding, span.day, DayResult::Written(value));
                        }
                        false => {
                            report.already += 1;
                            progress.day(binding, span.day, DayResult::Existing);
                        }
                    }
                }
                Err(e) => {
                    in_a_row += 1;
                    report.failed += 1;
                    if let Some(t) = &self.telemetry {
                        t.failed(&binding.source, e.reason);
                    }
                    progress.day(binding, span.day, DayResult::Failed(&e));
                    let hopeless = e.reason.is_transient() || e.reason == Reason::Auth;
                    let reason = e.reason;
                    report.last_error = Some(e);
                    if hopeless || in_a_row >= MAX_FAILURES_IN_A_ROW {
                        report.stopped = Some(Stopped::SourceFailing(reason));
                        break;
                    }
                }
            }
        }
        Ok(KrOutcome::Ran(report))
    }

    /// Whether the KR's request for a past day differs from today's:
    /// params that pin the range (Plausible's `"30d"`, a JQL or SQL query
    /// without a date) would answer today's value for every past day.
    fn asks_for_the_day(
        &self,
        source: &ConfiguredSource,
        binding: &Binding,
        past: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Skip> {
        let request = |at: DateTime<Utc>| {
            let template = template_context(binding, at);
            let params = params_for(source, binding, &self.redactor, &template)
                .map_err(|e| Skip::Unusable(e.message))?;
            source
                .connector
                .request_as_of(&params, &template)
                .map_err(|e| Skip::Unusable(self.redactor.redact(&e)))
        };
        if request(past)? == request(now)? {
            return Err(Skip::SameEveryDay);
        }
        Ok(())
    }

    /// One day's value as of its end, after the source has room for it
    /// (see `SourceGate::wait_idle`). `None`: stopped meanwhile.
    async fn fetch_day(
        &self,
        source: &ConfiguredSource,
        binding: &Binding,
        span: &DaySpan,
        stop: &StopSignals,
    ) -> Option<Result<f64, FetchError>> {
        let fetch = async {
            if let Some(gate) = source.http.gate() {
                gate.wait_idle().await;
            }
            fetch_value(source, binding, &self.redactor, as_of(span)).await
        };
        tokio::select! {
            biased;
            () = stop.now.cancelled() => None,
            result = fetch => Some(result),
        }
    }

    /// Writes a day's value; true if it is new (then rolled up and counted).
    async fn write(
        &self,
        binding: &Binding,
        span: &DaySpan,
        value: f64,
    ) -> Result<bool, StoreError> {
        let at = as_of(span);
        // A past day has no "last value" to measure a step against; only
        // the guard's bounds apply: a day outside them is stored held.
        let held = binding.guard.out_of_bounds(value);
        let write = CheckInWrite {
            check_in: CheckIn {
                key_result: binding.key_result.clone(),
                value,
                observed_at: at,
                origin: Origin::backfill(&binding.source),
                note: None,
                confidence: None,
                idempotency_key: Some(idempotency_key(binding, span.day)),
            },
            is_override: false,
            hold: held.then_some(Hold::Held),
            audit: None,
            guard: None,
        };
        match self.writer.write(write).await? {
            Written::New(_) if held => {
                tracing::warn!(key_result = %binding.key_result, day = %span.day, value, "a backfilled value is outside the guard's min/max: held");
                if let Some(live) = &self.live
                    && let Err(e) = live.refresh_held(&self.store).await
                {
                    tracing::debug!(error = %e, "cannot refresh held values");
                }
                Ok(true)
            }
            Written::New(_) => {
                if let Some(live) = &self.live {
                    live.apply_value(&binding.key_result, value, at);
                }
                if let Some(t) = &self.telemetry {
                    t.written(&binding.source);
                }
                Ok(true)
            }
            Written::Existing(_) | Written::Unchanged(_) => Ok(false),
        }
    }
}

/// One check-in per KR, source and day: a day backfilled twice (two
/// replicas, a rerun) is written once; after a change of source the new
/// source's value of the day is a check-in of its own.
pub fn idempotency_key(binding: &Binding, day: NaiveDate) -> String {
    format!(
        "{}@backfill:{}:{}",
        binding.key_result,
        binding.source,
        day.format("%Y-%m-%d")
    )
}

//! Source health: fetch counters and durations (tikv `prometheus` types), and
//! the last success and failure per source for the status page and API; the
//! scheduler's lag histogram, exposed alongside.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
};

use crate::connectors::{FetchError, Reason};
use crate::metrics::names;

/// The latest outcome of a source, for people.
#[derive(Debug, Clone, Default)]
pub struct SourceHealth {
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<FailureRecord>,
}

#[derive(Debug, Clone)]
pub struct FailureRecord {
    pub at: DateTime<Utc>,
    pub reason: Reason,
    pub message: String,
}

/// Lag buckets: 1 ms (timer slack) to 60 s (a whole one-minute slot late).
const SCHEDULER_LAG_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How late the scheduler starts jobs: the time from a job's intended start
/// (its cron slot plus the binding's jitter) to the moment it got a
/// concurrency permit and its fetch began.
///
/// Process-wide, like the one scheduler a daemon runs: the scheduler records
/// into it without a handle on the daemon's [`SourceTelemetry`], and every
/// `SourceTelemetry` exposes it.
pub fn scheduler_lag() -> &'static Histogram {
    static LAG: LazyLock<Histogram> = LazyLock::new(|| {
        Histogram::with_opts(
            HistogramOpts::new(
                names::SCHEDULER_LAG,
                "Time from a scheduled fetch's intended start (cron slot plus jitter) to its actual start, waiting for a concurrency permit included.",
            )
            .buckets(SCHEDULER_LAG_BUCKETS.to_vec()),
        )
        .expect("valid metric")
    });
    &LAG
}

pub struct SourceTelemetry {
    registry: Registry,
    fetches: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    last_success: GaugeVec,
    health: Mutex<HashMap<String, SourceHealth>>,
}

impl Default for SourceTelemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl SourceTelemetry {
    pub fn new() -> SourceTelemetry {
        let registry = Registry::new();
        let fetches = IntCounterVec::new(
            Opts::new(names::SOURCE_FETCHES, "Fetches attempted from a source."),
            &["source"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                names::SOURCE_FETCH_FAILURES,
                "Failed fetches from a source, by reason.",
            ),
            &["source", "reason"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                names::SOURCE_FETCH_DURATION,
                "Time a fetch took, failures included.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["source"],
        )
        .expect("valid metric");
        let last_success = GaugeVec::new(
            Opts::new(
                names::SOURCE_LAST_SUCCESS,
                "Unix time of the last successful fetch from a source.",
            ),
            &["source"],
        )
        .expect("valid metric");
        for c in [
            Box::new(fetches.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(last_success.clone()),
            Box::new(scheduler_lag().clone()),
        ] {
            registry.register(c).expect("metrics registered once");
        }
        SourceTelemetry {
            registry,
            fetches,
            failures,
            duration,
            last_success,
            health: Mutex::new(HashMap::new()),
        }
    }

    /// Create a source's series at zero, so `rate()` and alerts work before the first failure.
    pub fn register_source(&self, source: &str) {
        self.fetches.with_label_values(&[source]);
        for r in Reason::ALL {
            self.failures.with_label_values(&[source, r.as_str()]);
        }
        self.duration.with_label_values(&[source]);
        self.lock().entry(source.to_string()).or_default();
    }

    pub fn record_success(&self, source: &str, took: Duration, at: DateTime<Utc>) {
        self.fetches.with_label_values(&[source]).inc();
        self.duration
            .with_label_values(&[source])
            .observe(took.as_secs_f64());
        self.last_success
            .with_label_values(&[source])
            .set(at.timestamp_millis() as f64 / 1000.0);
        self.lock()
            .entry(source.to_string())
            .or_default()
            .last_success = Some(at);
    }

    pub fn record_failure(
        &self,
        source: &str,
        err: &FetchError,
        took: Duration,
        at: DateTime<Utc>,
    ) {
        self.fetches.with_label_values(&[source]).inc();
        self.failures
            .with_label_values(&[source, err.reason.as_str()])
            .inc();
        self.duration
            .with_label_values(&[source])
            .observe(took.as_secs_f64());
        self.lock()
            .entry(source.to_string())
            .or_default()
            .last_failure = Some(FailureRecord {
            at,
            reason: err.reason,
            message: err.message.clone(),
        });
    }

    pub fn health(&self) -> HashMap<String, SourceHealth> {
        self.lock().clone()
    }

    /// Append the text exposition of these metrics.
    pub fn render(&self, out: &mut Vec<u8>) {
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail.
        let _ = prometheus::TextEncoder::new().encode(&families, out);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SourceHealth>> {
        // A panic elsewhere must not take health reporting down with it.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_lag_is_exposed_as_a_histogram_in_seconds() {
        scheduler_lag().observe(0.003);
        let mut out = Vec::new();
        SourceTelemetry::new().render(&mut out);
        let text = String::from_utf8(out).expect("UTF-8 exposition");
        for line in [
            "# HELP okr_scheduler_lag_seconds Time from a scheduled fetch's intended start",
            "# TYPE okr_scheduler_lag_seconds histogram",
            "okr_scheduler_lag_seconds_bucket{le=\"0.001\"}",
            "okr_scheduler_lag_seconds_bucket{le=\"60\"}",
            "okr_scheduler_lag_seconds_bucket{le=\"+Inf\"}",
            "okr_scheduler_lag_seconds_sum ",
            "okr_scheduler_lag_seconds_count ",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}

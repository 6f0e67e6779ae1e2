//! Source health: fetch counters and durations (tikv `prometheus` types), and
//! the last success and failure per source for the web app and the API.
//! Fed by the fetch events (`events`), which also log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::names;
use crate::connectors::{FetchError, Reason};

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

pub struct SourceTelemetry {
    fetches: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    last_success: GaugeVec,
    health: Mutex<HashMap<String, SourceHealth>>,
    /// The reason each KR's fetch failed with last: a failure is logged
    /// once per change of reason, not on every tick.
    pub(super) last_failure: Mutex<HashMap<String, Reason>>,
}

impl SourceTelemetry {
    /// The source families, registered in `registry`.
    pub fn new(registry: &Registry) -> SourceTelemetry {
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
        ] {
            registry.register(c).expect("metrics registered once");
        }
        SourceTelemetry {
            fetches,
            failures,
            duration,
            last_success,
            health: Mutex::new(HashMap::new()),
            last_failure: Mutex::new(HashMap::new()),
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

    pub(super) fn record_success(&self, source: &str, took: Duration, at: DateTime<Utc>) {
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

    pub(super) fn record_failure(
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SourceHealth>> {
        // A panic elsewhere must not take health reporting down with it.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

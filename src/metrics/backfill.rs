//! Past days fetched by backfill: the values it wrote and the days whose
//! fetch failed, per source. Scheduled fetches are counted apart
//! (`sources`), so a backfill never moves a source's fetch rate or health.

use prometheus::{IntCounterVec, Opts, Registry};

use super::names;
use crate::connectors::Reason;

/// Fed by the daemon's backfill. Cheap to clone.
#[derive(Clone)]
pub struct BackfillTelemetry {
    values: IntCounterVec,
    failures: IntCounterVec,
}

impl BackfillTelemetry {
    pub fn new(registry: &Registry) -> BackfillTelemetry {
        let values = IntCounterVec::new(
            Opts::new(
                names::BACKFILL_VALUES,
                "Past days' values fetched by backfill and written as check-ins.",
            ),
            &["source"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                names::BACKFILL_FAILURES,
                "Past days whose backfill fetch failed, by reason.",
            ),
            &["source", "reason"],
        )
        .expect("valid metric");
        for m in [&values, &failures] {
            registry
                .register(Box::new(m.clone()))
                .expect("metrics registered once");
        }
        BackfillTelemetry { values, failures }
    }

    /// One past day's value written.
    pub fn written(&self, source: &str) {
        self.values.with_label_values(&[source]).inc();
    }

    /// One past day's fetch failed.
    pub fn failed(&self, source: &str, reason: Reason) {
        self.failures
            .with_label_values(&[source, reason.as_str()])
            .inc();
    }
}

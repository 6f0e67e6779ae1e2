//! Fetched values waiting to be written while the database is away.

use prometheus::{IntCounter, IntGauge, Registry};

use super::names;

/// Fed by the pipeline's backlog. Cheap to clone.
#[derive(Clone)]
pub struct BacklogTelemetry {
    /// Values fetched but not yet written.
    pub waiting: IntGauge,
    /// Values dropped because the backlog was full (the oldest of a KR first).
    pub dropped: IntCounter,
}

impl BacklogTelemetry {
    pub fn new(registry: &Registry) -> BacklogTelemetry {
        let waiting = IntGauge::new(
            names::CHECK_IN_BACKLOG,
            "Fetched values waiting to be written because the database was unavailable.",
        )
        .expect("valid metric");
        let dropped = IntCounter::new(
            names::CHECK_IN_BACKLOG_DROPPED,
            "Fetched values dropped unwritten because the backlog was full (a KR's oldest first).",
        )
        .expect("valid metric");
        for m in [
            Box::new(waiting.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(dropped.clone()),
        ] {
            registry.register(m).expect("metrics registered once");
        }
        BacklogTelemetry { waiting, dropped }
    }
}

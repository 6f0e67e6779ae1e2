//! Everything okrd measures, in one home: the metric names (`names`), the
//! domain gauges rendered from the snapshot (`domain`), source telemetry
//! (`sources`) fed by fetch events that also log (`events`), and the
//! scheduler's lag (`scheduler`), values waiting for the database
//! (`backlog`), what `[storage]` saves (`storage`), and past days fetched
//! by backfill (`backfill`). `/metrics` is `Exposition` (`exposition`):
//! the domain families, then the telemetry registry, in chunks written as
//! the response is sent; `render` is the same text in one buffer.

mod backfill;
mod backlog;
mod domain;
mod events;
mod exposition;
pub mod names;
mod scheduler;
mod sources;
mod storage;
mod text;

use prometheus::{Encoder, Registry};

pub use backfill::BackfillTelemetry;
pub use backlog::BacklogTelemetry;
pub use events::{FetchFailed, FetchSucceeded, InternalEvent};
pub use exposition::{CHUNK_BYTES, Exposition, render};
pub use scheduler::SchedulerTelemetry;
pub use sources::{FailureRecord, SourceHealth, SourceTelemetry};
pub use storage::StorageTelemetry;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The daemon's own telemetry, one registry for all of it.
pub struct Telemetry {
    registry: Registry,
    pub sources: SourceTelemetry,
    pub scheduler: SchedulerTelemetry,
    pub backlog: BacklogTelemetry,
    pub storage: StorageTelemetry,
    pub backfill: BackfillTelemetry,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let registry = Registry::new();
        Telemetry {
            sources: SourceTelemetry::new(&registry),
            scheduler: SchedulerTelemetry::new(&registry),
            backlog: BacklogTelemetry::new(&registry),
            storage: StorageTelemetry::new(&registry),
            backfill: BackfillTelemetry::new(&registry),
            registry,
        }
    }

    /// Append the text exposition of the telemetry families.
    pub fn render(&self, out: &mut Vec<u8>) {
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail.
        let _ = prometheus::TextEncoder::new().encode(&families, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_lag_is_exposed_as_a_histogram_in_seconds() {
        let telemetry = Telemetry::new();
        telemetry.scheduler.lag.observe(0.003);
        let mut out = Vec::new();
        telemetry.render(&mut out);
        let text = String::from_utf8(out).expect("UTF-8 exposition");
        for line in [
            "# HELP okr_scheduler_lag_seconds Time from a scheduled fetch's intended start",
            "# TYPE okr_scheduler_lag_seconds histogram",
            "okr_scheduler_lag_seconds_bucket{le=\"0.001\"} 0",
            "okr_scheduler_lag_seconds_bucket{le=\"0.005\"} 1",
            "okr_scheduler_lag_seconds_bucket{le=\"60\"} 1",
            "okr_scheduler_lag_seconds_bucket{le=\"+Inf\"} 1",
            "okr_scheduler_lag_seconds_sum 0.003",
            "okr_scheduler_lag_seconds_count 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}

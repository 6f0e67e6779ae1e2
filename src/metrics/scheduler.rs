//! The scheduler's own telemetry: how late it starts jobs.

use prometheus::{Histogram, HistogramOpts, Registry};

use super::names;

/// Lag buckets: 1 ms (timer slack) to 60 s (a whole one-minute slot late).
const LAG_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Handed to the scheduler, which records into it. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerTelemetry {
    /// The time from a job's intended start (its cron slot plus the
    /// binding's jitter) to the moment it got a concurrency permit and its
    /// fetch began.
    pub lag: Histogram,
}

impl SchedulerTelemetry {
    /// The scheduler families, registered in `registry`.
    pub fn new(registry: &Registry) -> SchedulerTelemetry {
        let telemetry = SchedulerTelemetry::unregistered();
        registry
            .register(Box::new(telemetry.lag.clone()))
            .expect("metrics registered once");
        telemetry
    }

    /// Recorded but exposed nowhere (schedulers in tests).
    pub fn unregistered() -> SchedulerTelemetry {
        let lag = Histogram::with_opts(
            HistogramOpts::new(
                names::SCHEDULER_LAG,
                "Time from a scheduled fetch's intended start (cron slot plus jitter) to its actual start, waiting for a concurrency permit included.",
            )
            .buckets(LAG_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        SchedulerTelemetry { lag }
    }
}

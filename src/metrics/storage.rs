//! What `[storage]` saves: fetched values not stored because they were
//! unchanged, and check-ins removed by compaction.

use prometheus::{IntCounter, Registry};

use super::names;

/// Fed by the pipeline (skips) and the compaction task. Cheap to clone.
#[derive(Clone)]
pub struct StorageTelemetry {
    /// Fetched values equal to the KR's check-in before them, within the heartbeat.
    pub skipped_unchanged: IntCounter,
    /// Fetched check-ins removed because a later one of the same day stands for them.
    pub compacted: IntCounter,
}

impl StorageTelemetry {
    pub fn new(registry: &Registry) -> StorageTelemetry {
        let skipped_unchanged = IntCounter::new(
            names::CHECK_INS_SKIPPED_UNCHANGED,
            "Fetched values not stored because they equal the KR's previous check-in within the heartbeat.",
        )
        .expect("valid metric");
        let compacted = IntCounter::new(
            names::CHECK_INS_COMPACTED,
            "Fetched check-ins older than the raw retention removed by compaction (the last of each day stays).",
        )
        .expect("valid metric");
        for m in [&skipped_unchanged, &compacted] {
            registry
                .register(Box::new(m.clone()))
                .expect("metrics registered once");
        }
        StorageTelemetry {
            skipped_unchanged,
            compacted,
        }
    }
}

//! `/metrics` render time with 10,000 KRs (target < 50 ms), and the cost of
//! publishing a snapshot. Run: `cargo bench --bench render`; exits 1 when a
//! target is missed.

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use okrd::live::Snapshot;
use okrd::metrics;
use okrd::metrics::Telemetry;
use okrd::okr::rollup::RollupEngine;

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
    let set = support::model(10_000);
    let mut engine = RollupEngine::new(&set);
    let ids: Vec<String> = set.key_results.iter().map(|k| k.id.clone()).collect();
    engine.load_values(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), (i % 100) as f64, now)),
    );
    let telemetry = Telemetry::new();
    telemetry.sources.register_source("mock");

    support::table_header();
    let snapshot = Snapshot::from_engine(&engine, now);
    let mut bytes = 0;
    let t = support::time(30, || {
        bytes = metrics::render(&snapshot, &telemetry, now).len()
    });
    support::row(
        "render /metrics, 10,000 KRs",
        &t,
        Some(Duration::from_millis(50)),
    );
    let t = support::time(30, || {
        std::hint::black_box(Snapshot::from_engine(&engine, now));
    });
    support::row("publish a snapshot, 10,000 KRs", &t, None);
    println!(
        "\n/metrics body: {:.1} MiB",
        bytes as f64 / (1024.0 * 1024.0)
    );
    support::exit_if_missed();
}

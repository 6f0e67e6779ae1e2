//! `/metrics` at 10,000 and 100,000 KRs: render time as a scrape streams
//! it (targets < 50 ms and < 150 ms) and into one buffer, what gzip costs at each level for the 100,000-KR text (the
//! trade-off `web::router` chose from), and the cost of publishing a
//! snapshot. Run: `cargo bench --bench render`; exits 1 when a target is
//! missed.

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use okrd::live::Snapshot;
use okrd::metrics;
use okrd::metrics::Telemetry;
use okrd::okr::rollup::RollupEngine;

fn engine(krs: usize, now: DateTime<Utc>) -> RollupEngine {
    let set = support::model(krs);
    let mut engine = RollupEngine::new(&set);
    let ids: Vec<String> = set.key_results.iter().map(|k| k.id.clone()).collect();
    engine.load_values(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), (i % 100) as f64, now)),
    );
    engine
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
    let telemetry = Telemetry::new();
    telemetry.sources.register_source("mock");

    support::table_header();
    let mut sizes = Vec::new();
    let mut text = Vec::new();
    for (krs, runs, target) in [(10_000, 30, 50), (100_000, 10, 150)] {
        let engine = engine(krs, now);
        let snapshot = Snapshot::from_engine(&engine, now);
        // What a scrape does: chunk after chunk, each dropped once sent.
        let t = support::time(runs, || {
            for chunk in metrics::Exposition::new(&snapshot, &telemetry, now) {
                std::hint::black_box(chunk);
            }
        });
        support::row(
            &format!("render /metrics (streamed), {krs} KRs"),
            &t,
            Some(Duration::from_millis(target)),
        );
        let t = support::time(runs, || {
            text = metrics::render(&snapshot, &telemetry, now);
        });
        support::row(
            &format!("render /metrics (one buffer), {krs} KRs"),
            &t,
            None,
        );
        let t = support::time(runs, || {
            std::hint::black_box(Snapshot::from_engine(&engine, now));
        });
        support::row(&format!("publish a snapshot, {krs} KRs"), &t, None);
        sizes.push((krs, text.len()));
    }

    // The 100,000-KR text through gzip as a scrape feeds it: chunk by chunk.
    println!("\ngzip of the 100,000-KR text, fed in 64 KiB chunks:");
    for level in [1, 2, 3, 4, 6, 9] {
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(level));
        let start = Instant::now();
        for chunk in text.chunks(64 * 1024) {
            gz.write_all(chunk).unwrap();
        }
        let size = gz.finish().unwrap().len();
        println!(
            "  level {level}: {:>6.2} MiB, {:>5.0} ms CPU",
            mib(size),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    for (krs, bytes) in sizes {
        println!("/metrics body, {krs} KRs: {:.1} MiB", mib(bytes));
    }
    support::exit_if_missed();
}

//! `/metrics` text, byte for byte: a fixed, rich snapshot
//! (`tests/fixtures/metrics/okrs.toml` with values, history, a held value
//! and telemetry) renders to `tests/fixtures/metrics/golden.prom`, which
//! was written by the renderer before it streamed, whether it is rendered
//! whole, streamed in chunks of any size, or scraped over HTTP with gzip.
//! `OKRD_UPDATE_GOLDEN=1 cargo test --test it exposition::` rewrites it (only
//! for a deliberate change of the text).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, TimeZone, Utc};
use okrd::live::Snapshot;
use okrd::metrics::{self, Exposition, FetchSucceeded, InternalEvent, Telemetry};
use okrd::okr::rollup::RollupEngine;
use okrd::store::HeldValue;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name)
}

/// 2026-11-16 12:34:56.789 UTC: half way through 2026-Q4, before 2027-Q1.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 12, 34, 56).unwrap() + chrono::Duration::milliseconds(789)
}

/// The fixture's model with five days of values (so forecasts show), a
/// sustain KR's weeks, a held value, and telemetry of one source.
pub fn golden_inputs() -> (Snapshot, Telemetry) {
    let text = std::fs::read_to_string(fixture("okrs.toml")).unwrap();
    let (set, _, problems) = okrd::okr::file::parse_str("okrs.toml", &text);
    assert!(problems.is_empty(), "{problems:?}");
    let mut e = RollupEngine::new(&set);
    let day = |d: u64| {
        Utc.with_ymd_and_hms(2026, 11, 10, 9, 0, 0).unwrap()
            + Days::new(d)
            + chrono::Duration::milliseconds(123 * d as i64)
    };
    for d in 0..5u64 {
        let x = d as f64;
        e.set_value("calls", 1000.0 - 37.5 * x, day(d)).unwrap();
        e.set_value("visitors", 123_456.789 + 33_333.333_333 * x, day(d))
            .unwrap();
        e.set_value("signups-web", 20.0 * (x + 1.0), day(d))
            .unwrap();
    }
    e.set_value("signups-app", 33.0, day(2)).unwrap();
    e.set_value("uptime", 99.97, day(4)).unwrap();
    e.set_value("latency", 0.31, day(3)).unwrap();
    e.set_value("launch", 1.0, day(1)).unwrap();
    e.set_value("defects", 0.123_456_789_012_3, day(4)).unwrap();
    for (date, v) in [(5, 45.0), (12, 38.0), (19, 50.0), (26, 41.0)] {
        let at = Utc.with_ymd_and_hms(2026, 10, date, 8, 0, 0).unwrap();
        e.set_value("nps", v, at).unwrap();
    }
    e.advance_to(now());
    let held = HashMap::from([(
        "uptime".to_string(),
        HeldValue {
            check_in: 7,
            value: 12.5,
            observed_at: day(4),
        },
    )]);
    let snapshot = Snapshot {
        held: Arc::new(held),
        ..Snapshot::from_engine(&e, now())
    };

    let telemetry = Telemetry::new();
    telemetry.sources.register_source("mock");
    FetchSucceeded {
        source: "mock",
        key_result: "calls",
        took: Duration::from_millis(250),
        at: now(),
    }
    .emit(&telemetry.sources);
    telemetry.scheduler.lag.observe(0.003);
    telemetry.scheduler.lag.observe(1.5);
    telemetry.backlog.waiting.set(2);
    telemetry.backfill.written("mock");
    (snapshot, telemetry)
}

fn golden() -> Vec<u8> {
    let path = fixture("golden.prom");
    if std::env::var_os("OKRD_UPDATE_GOLDEN").is_some() {
        let (snapshot, telemetry) = golden_inputs();
        std::fs::write(&path, metrics::render(&snapshot, &telemetry, now())).unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// Where two texts part, for a readable failure.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let line = |b: &[u8]| {
        let start = b[..at.min(b.len())]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let end = b[start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |i| start + i);
        String::from_utf8_lossy(&b[start..end]).into_owned()
    };
    format!(
        "byte {at} (lengths {} and {}):\n got: {}\nwant: {}",
        got.len(),
        want.len(),
        line(got),
        line(want)
    )
}

fn assert_same(got: &[u8], want: &[u8]) {
    assert!(got == want, "{}", first_difference(got, want));
}

#[test]
fn the_whole_text_is_the_golden_one() {
    let (snapshot, telemetry) = golden_inputs();
    assert_same(&metrics::render(&snapshot, &telemetry, now()), &golden());
}

#[test]
fn the_golden_text_covers_every_family() {
    let text = String::from_utf8(golden()).unwrap();
    for needle in [
        "okr_key_result_windows_satisfied{key_result=\"nps\"",
        "okr_key_result_held{key_result=\"uptime\",objective=\"opex\",team=\"acme\",period=\"2026-Q4\"} 1",
        "okr_key_result_forecast_value{key_result=\"visitors\"",
        "okr_objective_forecast_progress_ratio{objective=\"reach\"",
        "title=\"More visitors, \\\"really\\\" \\\\ many\\nof them\"",
        "okr_source_fetches_total{source=\"mock\"} 1",
        "okr_scheduler_lag_seconds_count 2",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
}

#[test]
fn streamed_chunks_make_the_golden_text_whatever_their_size() {
    let (snapshot, telemetry) = golden_inputs();
    let snapshot = Arc::new(snapshot);
    let want = golden();
    for bytes in [1, 100, 4096, metrics::CHUNK_BYTES, usize::MAX] {
        let chunks: Vec<Vec<u8>> = Exposition::new(snapshot.clone(), &telemetry, now())
            .with_chunk_bytes(bytes)
            .collect();
        assert!(chunks.iter().all(|c| !c.is_empty()), "chunks of {bytes}");
        if bytes < want.len() {
            assert!(chunks.len() > 1, "chunks of {bytes}: {}", chunks.len());
        }
        assert_same(&chunks.concat(), &want);
    }
}

#[test]
fn a_chunk_ends_soon_after_its_size() {
    let (snapshot, telemetry) = golden_inputs();
    let chunks: Vec<Vec<u8>> = Exposition::new(&snapshot, &telemetry, now())
        .with_chunk_bytes(1000)
        .collect();
    let (last, whole) = chunks.split_last().unwrap();
    // Whole items only: every chunk but the telemetry's ends a line.
    for c in whole {
        assert!((1000..1000 + 600).contains(&c.len()), "{}", c.len());
        assert_eq!(c.last(), Some(&b'\n'));
    }
    assert!(
        last.ends_with(
            b"okr_source_last_success_timestamp_seconds{source=\"mock\"} 1794832496.789\n"
        )
    );
}

/// A daemon's `/metrics` with and without gzip: the same text, and the
/// gzip one is streamed (no Content-Length) and decompresses to it.
#[tokio::test]
async fn a_gzip_scrape_decompresses_to_the_plain_one() {
    use std::io::Read as _;

    use crate::support::api::{Options, start};
    use crate::support::backends;

    let db = backends::sqlite_db();
    let api = start(&db, Options::NOWHERE).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let scrape = |gzip: bool| {
        let mut request = raw.get(format!("{}/metrics", api.base));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        async move { request.send().await.unwrap() }
    };
    let plain = scrape(false).await;
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.bytes().await.unwrap();
    let gz = scrape(true).await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers().get("content-length"), None);
    let compressed = gz.bytes().await.unwrap();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut text)
        .unwrap();
    assert!(plain.starts_with(b"# HELP okr_key_result_value "));
    assert_same(&text, &plain);
    assert!(compressed.len() < plain.len());
    api.stop().await;
}

//! The web app's pages with 1,000 KRs and 90 days of history each: the
//! overview, a team page and a KR page (its chart drawn from 90 days of
//! 15-minute check-ins) must render in under 20 ms and weigh under 100 KB,
//! as HTML and as sent (gzip, which the server applies to every page). Run:
//! `cargo bench --bench pages`; exits 1 when a target is missed.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use okrd::live::{Snapshot, SnapshotIndex};
use okrd::metrics::SourceHealth;
use okrd::okr::rollup::RollupEngine;
use okrd::okr::{CheckIn, OkrSet, Origin};
use okrd::store::{Current, EntityMeta, Stored, StoredCheckIn};
use okrd::web::render;

const KRS: usize = 1_000;
const DAYS: i64 = 90;
const RENDER_TARGET: Duration = Duration::from_millis(20);
const WEIGHT_TARGET: usize = 100 * 1024;

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 12, 30, 0, 0, 0).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let set = support::model(KRS);
    let mut engine = RollupEngine::new(&set);
    let ids: Vec<String> = set.key_results.iter().map(|k| k.id.clone()).collect();
    // A rising line with some noise per KR, one value a day.
    let daily = |i: usize, d: i64| {
        (d as f64 * (0.5 + (i % 7) as f64 * 0.1)) + ((i as i64 * 31 + d * 17) % 9) as f64
    };
    let history: Vec<(&str, f64, chrono::DateTime<Utc>)> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            (0..DAYS).map(move |d| {
                (
                    id.as_str(),
                    daily(i, d),
                    start + chrono::Duration::days(d) + chrono::Duration::hours(12),
                )
            })
        })
        .collect();
    engine.load_history(history.iter().copied());
    engine.load_values(
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), daily(i, DAYS - 1), now)),
    );
    let index = SnapshotIndex::new(current(&set), &engine, []);
    let snapshot = Snapshot::new(&engine, Arc::new(index), 1, now);
    let health: HashMap<String, SourceHealth> = HashMap::new();
    // A KR fetched every 15 minutes for 90 days.
    let check_ins: Vec<StoredCheckIn> = (0..DAYS * 96)
        .rev()
        .map(|q| StoredCheckIn {
            id: q,
            check_in: CheckIn {
                key_result: "kr-1".into(),
                value: 20.0 + q as f64 * 0.01 + (q % 13) as f64,
                observed_at: start + chrono::Duration::minutes(15 * q),
                origin: Origin::source("mock"),
                note: None,
                confidence: None,
                idempotency_key: None,
            },
            recorded_at: start + chrono::Duration::minutes(15 * q),
            is_override: false,
            hold: None,
        })
        .collect();

    println!(
        "{KRS} KRs, {DAYS} days of history each; the KR page draws {} check-ins\n",
        check_ins.len()
    );
    support::table_header();
    let mut weights = Vec::new();
    let mut page = |what: &str, render: &dyn Fn() -> String| {
        let html = render();
        let t = support::time(30, || {
            std::hint::black_box(render());
        });
        support::row(&format!("render {what}"), &t, Some(RENDER_TARGET));
        weights.push((what.to_string(), html.len(), gzipped(&html)));
    };
    page("the overview (/)", &|| {
        render::overview_page(&snapshot, &health, now)
    });
    page("a team page (/teams/team-1)", &|| {
        render::team_page(&snapshot, &health, now, "team-1").unwrap()
    });
    page("a KR page (/key-results/kr-1)", &|| {
        render::key_result_page(&snapshot, &health, now, "kr-1", &check_ins).unwrap()
    });
    println!(
        "\n| {:<40} | {:>10} | {:>12} | {:<12} |",
        "page", "HTML", "sent (gzip)", "both < 100 KB"
    );
    println!("|{:-<42}|{:-<12}|{:-<14}|{:-<14}|", "", "", "", "");
    let mut heavy = 0;
    for (what, raw, sent) in weights {
        let ok = raw < WEIGHT_TARGET && sent < WEIGHT_TARGET;
        heavy += usize::from(!ok);
        println!(
            "| {what:<40} | {:>7.1} KB | {:>9.1} KB | {:<12} |",
            raw as f64 / 1024.0,
            sent as f64 / 1024.0,
            if ok { "ok" } else { "MISSED" }
        );
    }
    if heavy > 0 {
        eprintln!("\n{heavy} page(s) over {} KB", WEIGHT_TARGET / 1024);
        std::process::exit(1);
    }
    support::exit_if_missed();
}

/// Bytes on the wire: the server gzips pages (at its fastest level).
fn gzipped(html: &str) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(html.as_bytes()).unwrap();
    gz.finish().unwrap().len()
}

/// The stored model for `set`, as `reload` would read it.
fn current(set: &OkrSet) -> Current {
    fn stored<T: Clone>(item: &T) -> Stored<T> {
        Stored {
            item: item.clone(),
            meta: EntityMeta {
                managed_by: Some("okrs.toml".into()),
                created_at: 0,
                updated_at: 0,
            },
        }
    }
    Current {
        periods: set
            .periods
            .iter()
            .map(|p| (p.id.clone(), stored(p)))
            .collect(),
        teams: set
            .teams
            .iter()
            .map(|t| (t.id.clone(), stored(t)))
            .collect(),
        objectives: set
            .objectives
            .iter()
            .map(|o| (o.id.clone(), stored(o)))
            .collect(),
        objective_archived_at: BTreeMap::new(),
        key_results: set
            .key_results
            .iter()
            .map(|k| (k.id.clone(), stored(k)))
            .collect(),
    }
}

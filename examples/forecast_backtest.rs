//! The backtest behind `bench/forecast.sh`: forecasts on seeded synthetic
//! 90-day series (`okrd::okr::forecast::backtest`: noisy lines, s-curves,
//! flat then rising, a single spike) from the first 25%, 50% and 75% of
//! their days, against each series' actual end value; then the time one
//! forecast takes, alone and in a rollup engine loading the history of
//! many KRs at once (what a start does).
//!
//! Prints Markdown tables. Usage:
//! `cargo run --release --example forecast_backtest -- --seeds 500 --krs 100000`

use std::hint::black_box;
use std::time::Instant;

use chrono::{Days, TimeZone, Utc};
use clap::Parser;
use okrd::okr::forecast::backtest::{self, DAYS, Shape};
use okrd::okr::forecast::{Forecaster, MAX_POINTS};
use okrd::okr::rollup::RollupEngine;
use okrd::okr::{KeyResult, KrKind, Objective, OkrSet, Team, WorkflowState};

#[derive(Parser)]
struct Args {
    /// Series per shape (seeds 0..N).
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    /// KRs whose history the engine loads at once.
    #[arg(long, default_value_t = 100_000)]
    krs: usize,
    /// Days of history each of those KRs has.
    #[arg(long, default_value_t = 46)]
    days: usize,
}

const FRACTIONS: [f64; 3] = [0.25, 0.5, 0.75];

fn main() {
    let args = Args::parse();
    println!(
        "Error of the projected end value, as a share of |target − start| (median over {} series per shape), and how often the 90% band held the actual end value:\n",
        args.seeds
    );
    println!(
        "| shape | error at 25% | error at 50% | error at 75% | band held at 25% | at 50% | at 75% |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for shape in Shape::ALL {
        let s: Vec<_> = FRACTIONS
            .iter()
            .map(|&f| backtest::summary(shape, f, 0..args.seeds).expect("3 days or more"))
            .collect();
        println!(
            "| {} | {:.1}% | {:.1}% | {:.1}% | {:.0}% | {:.0}% | {:.0}% |",
            shape.name(),
            100.0 * s[0].median_error,
            100.0 * s[1].median_error,
            100.0 * s[2].median_error,
            100.0 * s[0].coverage,
            100.0 * s[1].coverage,
            100.0 * s[2].coverage,
        );
    }

    println!("\n| time per forecast | history | µs |\n|---|---|---:|");
    for days in [DAYS / 2, DAYS] {
        let histories: Vec<_> = (0..256)
            .map(|s| backtest::points(&Shape::NoisyLine.series(s), days))
            .collect();
        let p = backtest::period();
        let mut f = Forecaster::default();
        let rounds = 40_000;
        let t = Instant::now();
        for i in 0..rounds {
            let h = &histories[i % histories.len()];
            black_box(f.project(black_box(h), p.start, p.end));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("| one KR, alone | {days} days (≤ {MAX_POINTS} enter) | {us:.1} |");
    }
    // `at_least` KRs have no forecast: what recording the history alone costs.
    let (record, none) = engine_load(args.krs, args.days, KrKind::AtLeast);
    let (load, forecasts) = engine_load(args.krs, args.days, KrKind::Increase);
    for (what, took) in [
        ("recorded (`at_least`: no forecast)", record),
        ("recorded and forecast (`increase`)", load),
    ] {
        println!(
            "| {} KRs' history loaded at once, {what} | {} days each | {:.1} |",
            args.krs,
            args.days,
            took * 1e6 / args.krs as f64
        );
    }
    println!(
        "\nLoading the history of {} KRs × {} days: {:.2} s without forecasts ({none} made), \
         {:.2} s with ({forecasts} made).",
        args.krs, args.days, record, load
    );
}

/// Seconds `load_history` takes for `krs` KRs of `kind` with `days` daily
/// values each, and how many forecasts it made.
fn engine_load(krs: usize, days: usize, kind: KrKind) -> (f64, usize) {
    let period = backtest::period();
    let mut set = OkrSet {
        periods: vec![period.clone()],
        teams: vec![Team {
            id: "t".into(),
            name: "T".into(),
            parent: None,
        }],
        ..OkrSet::default()
    };
    for o in 0..krs.div_ceil(5) {
        set.objectives.push(Objective {
            id: format!("o{o}"),
            title: format!("Objective {o}"),
            description: None,
            period: period.id.clone(),
            team: "t".into(),
            parent: None,
            archived: false,
        });
    }
    for k in 0..krs {
        set.key_results.push(KeyResult {
            id: format!("kr{k}"),
            objective: format!("o{}", k / 5),
            team: "t".into(),
            owner: format!("owner{k}@acme.example"),
            title: format!("KR {k}"),
            description: None,
            kind,
            start: Some(0.0),
            target: Some(100.0),
            due: None,
            unit: None,
            weight: 1.0,
            parent: None,
            rollup: None,
            source: None,
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        });
    }
    let series: Vec<Vec<f64>> = (0..64).map(|s| Shape::NoisyLine.series(s)).collect();
    let noon = Utc.from_utc_datetime(&period.start.and_hms_opt(12, 0, 0).expect("noon"));
    // Day by day, as the store returns them (oldest first).
    let days = days.min(DAYS);
    let mut values = Vec::with_capacity(krs * days);
    for (d, at) in (0..days).map(|d| (d, noon + Days::new(d as u64))) {
        let ids = set.key_results.iter().map(|kr| kr.id.as_str());
        values.extend(ids.enumerate().map(|(k, id)| (id, series[k % 64][d], at)));
    }
    let mut engine = RollupEngine::new(&set);
    let t = Instant::now();
    engine.load_history(values.iter().copied());
    let took = t.elapsed().as_secs_f64();
    let forecasts = engine
        .key_results()
        .iter()
        .filter(|k| k.forecast.is_some())
        .count();
    (took, forecasts)
}

//! Shared by the benches: a generated OKR model and a timing table.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use okrd::okr::*;

/// `krs` approved KRs over objectives of 50 KRs, 1 team per 25 KRs, one period.
pub fn model(krs: usize) -> OkrSet {
    let period = Period {
        id: "2026-Q4".into(),
        start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    };
    let objectives = krs.div_ceil(50);
    let teams = krs.div_ceil(25);
    let mut set = OkrSet {
        periods: vec![period],
        ..OkrSet::default()
    };
    for t in 0..teams {
        set.teams.push(Team {
            id: format!("team-{t}"),
            name: format!("Team {t}"),
            parent: (t > 0).then(|| "team-0".to_string()),
        });
    }
    for o in 0..objectives {
        set.objectives.push(Objective {
            id: format!("objective-{o}"),
            title: format!("Objective {o}"),
            description: None,
            period: "2026-Q4".into(),
            team: format!("team-{}", o % teams),
            // Trees of objectives: every tenth is a root.
            parent: (o % 10 != 0).then(|| format!("objective-{}", o - o % 10)),
            archived: false,
        });
    }
    for k in 0..krs {
        set.key_results.push(KeyResult {
            id: format!("kr-{k}"),
            objective: format!("objective-{}", k / 50),
            team: format!("team-{}", k / 25),
            owner: format!("owner{}@example.com", k % 1000),
            title: format!("Key result number {k}"),
            description: None,
            kind: KrKind::Increase,
            start: Some(0.0),
            target: Some(100.0),
            due: None,
            unit: Some("things".into()),
            weight: 1.0,
            // Parent chains of depth 4 inside each block of 5: kr-5n ← 5n+1 ← ... ← 5n+4.
            parent: (k % 5 != 0).then(|| format!("kr-{}", k - 1)),
            rollup: (k % 5 == 0).then_some(Rollup::Sum),
            source: (k % 5 != 0).then(|| SourceRef {
                source: "mock".into(),
                schedule: None,
                params: Default::default(),
            }),
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        });
    }
    set
}

pub struct Timing {
    pub median: Duration,
    pub p99: Duration,
}

/// Median and p99 of `samples`.
pub fn stats(mut samples: Vec<Duration>) -> Timing {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// Run `f` `runs` times after `warmup` runs.
pub fn time_runs(warmup: usize, runs: usize, mut f: impl FnMut()) -> Timing {
    for _ in 0..warmup {
        f();
    }
    stats(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// Run `f` `runs` times after 3 warm-ups.
pub fn time(runs: usize, f: impl FnMut()) -> Timing {
    time_runs(3, runs, f)
}

/// Targets missed so far by [`row`]; [`exit_if_missed`] turns them into the
/// exit status, so a bench run that is meant to gate fails.
static MISSED: AtomicUsize = AtomicUsize::new(0);

/// One table row; a median over `target` is marked MISSED and counted.
pub fn row(what: &str, t: &Timing, target: Option<Duration>) {
    let verdict = match target {
        Some(limit) if t.median <= limit => format!("< {limit:?} ok"),
        Some(limit) => {
            MISSED.fetch_add(1, Ordering::Relaxed);
            format!("< {limit:?} MISSED")
        }
        None => String::new(),
    };
    println!(
        "| {what:<56} | {:>10.3?} | {:>10.3?} | {verdict:<16} |",
        t.median, t.p99
    );
}

pub fn table_header() {
    println!(
        "| {:<56} | {:>10} | {:>10} | {:<16} |",
        "operation", "median", "p99", "target"
    );
    println!("|{:-<58}|{:-<12}|{:-<12}|{:-<18}|", "", "", "", "");
}

/// Exits with status 1, naming how many, if any row missed its target.
pub fn exit_if_missed() {
    let missed = MISSED.load(Ordering::Relaxed);
    if missed > 0 {
        eprintln!("\n{missed} target(s) MISSED");
        std::process::exit(1);
    }
}

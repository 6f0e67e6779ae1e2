//! Rollup engine benchmark: builds a 100,000-KR tree and prints a markdown table.
//!
//! `cargo bench --bench rollup`. Plain `Instant` timing, no harness: medians
//! after warm-up, p99 where there are enough samples. Exits 1 when a target
//! is missed.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use support::{row, stats, time_runs};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use okrd::okr::rollup::RollupEngine;
use okrd::okr::{
    KeyResult, KrKind, Objective, OkrSet, Period, Rollup, SourceRef, Team, WorkflowState,
};

const TEAMS: usize = 200;
const OBJECTIVES_PER_PERIOD: usize = 1_000;
const KRS_PER_OBJECTIVE: usize = 50;
/// KRs per parent chain inside one objective; the first chain of an objective
/// continues the first chain of its parent objective, so chains get deep.
const CHAIN: usize = 10;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn kr_id(objective: usize, j: usize) -> String {
    format!("kr-{objective}-{j}")
}

fn build_set() -> OkrSet {
    let periods = vec![
        Period {
            id: "2026-Q4".into(),
            start: day(2026, 10, 1),
            end: day(2026, 12, 31),
        },
        Period {
            id: "2027-Q1".into(),
            start: day(2027, 1, 1),
            end: day(2027, 3, 31),
        },
    ];
    let teams = (0..TEAMS)
        .map(|t| Team {
            id: format!("team-{t}"),
            name: format!("Team {t}"),
            parent: None,
        })
        .collect();
    let mut objectives = Vec::new();
    let mut parent_objective = Vec::new();
    for (p, period) in periods.iter().enumerate() {
        for j in 0..OBJECTIVES_PER_PERIOD {
            let g = p * OBJECTIVES_PER_PERIOD + j;
            // A 4-ary objective tree per period, about 5 levels deep.
            let parent = (j > 0).then(|| p * OBJECTIVES_PER_PERIOD + (j - 1) / 4);
            parent_objective.push(parent);
            objectives.push(Objective {
                id: format!("obj-{g}"),
                title: format!("Objective {g}"),
                description: None,
                period: period.id.clone(),
                team: format!("team-{}", g % TEAMS),
                parent: parent.map(|p| format!("obj-{p}")),
                archived: false,
            });
        }
    }
    let rollups = [
        None,
        Some(Rollup::Sum),
        Some(Rollup::Mean),
        Some(Rollup::Min),
        Some(Rollup::Max),
    ];
    let mut has_child_objective = vec![false; objectives.len()];
    for p in parent_objective.iter().flatten() {
        has_child_objective[*p] = true;
    }
    let mut key_results = Vec::with_capacity(objectives.len() * KRS_PER_OBJECTIVE);
    for (g, parent_obj) in parent_objective.iter().enumerate() {
        for j in 0..KRS_PER_OBJECTIVE {
            let parent = if j % CHAIN != 0 {
                Some(kr_id(g, j - 1))
            } else if j == 0 {
                parent_obj.map(|p| kr_id(p, CHAIN - 1))
            } else {
                None
            };
            // The bottom of a chain is a leaf, except the first chain's bottom in an
            // objective with child objectives: their chains hang below it.
            let leaf = j % CHAIN == CHAIN - 1 && (j >= CHAIN || !has_child_objective[g]);
            // Now and then a parent with a source of its own cuts a chain.
            let own_source = leaf || (j % CHAIN == 5 && g % 7 == 0);
            key_results.push(KeyResult {
                id: kr_id(g, j),
                objective: format!("obj-{g}"),
                team: format!("team-{}", (g * 3 + j / CHAIN) % TEAMS),
                owner: format!("owner-{}@acme.example", g % 97),
                title: format!("Key result {g}/{j}"),
                description: None,
                kind: KrKind::Increase,
                start: Some(0.0),
                target: Some(100.0),
                due: None,
                unit: None,
                weight: 1.0 + (j % 3) as f64,
                parent,
                rollup: rollups[(g + j) % rollups.len()],
                source: own_source.then(|| SourceRef {
                    source: "web".into(),
                    schedule: None,
                    params: Default::default(),
                }),
                state: WorkflowState::Approved,
                sustain: None,
                guard: None,
            });
        }
    }
    OkrSet {
        periods,
        teams,
        objectives,
        key_results,
    }
}

/// A tiny LCG for reproducible values.
struct Lcg(u64);

impl Lcg {
    fn value(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 120.0
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
}

/// Number of derived parent KRs above `id`: the chain one update recomputes.
fn ancestors(engine: &RollupEngine, id: &str) -> usize {
    let mut n = 0;
    let mut cur = engine.key_result(id).and_then(|k| k.parent.as_deref());
    while let Some(p) = cur.and_then(|p| engine.key_result(p)).filter(|p| p.derived) {
        n += 1;
        cur = p.parent.as_deref();
    }
    n
}

fn main() {
    let set = build_set();
    let mut rng = Lcg(42);
    let values: Vec<(String, f64)> = set
        .key_results
        .iter()
        .map(|k| (k.id.clone(), rng.value()))
        .collect();

    let build = time_runs(1, 10, || {
        black_box(RollupEngine::new(black_box(&set)));
    });
    let mut engine = RollupEngine::new(&set);
    let load = time_runs(1, 10, || {
        engine.load_values(values.iter().map(|(id, v)| (id.as_str(), *v, t0())));
    });
    let recompute = time_runs(3, 20, || engine.recompute_all());

    // The leaf with the longest parent chain, and random leaves.
    let leaves: Vec<&str> = engine
        .key_results()
        .iter()
        .filter(|k| !k.derived)
        .map(|k| &*k.id)
        .collect();
    let (deep, depth) = leaves
        .iter()
        .map(|id| (id.to_string(), ancestors(&engine, id)))
        .max_by_key(|(_, d)| *d)
        .expect("some leaves");
    let random_leaves: Vec<String> = (0..1_000)
        .map(|_| {
            leaves[(rng.value() / 120.0 * leaves.len() as f64) as usize % leaves.len()].to_string()
        })
        .collect();

    let mut tick = 0i64;
    let mut next_at = || {
        tick += 1;
        t0() + chrono::Duration::milliseconds(tick)
    };
    let mut update = |engine: &mut RollupEngine, id: &str, at| {
        let start = Instant::now();
        engine.set_value(id, rng.value(), at).expect("known KR");
        start.elapsed()
    };
    for _ in 0..1_000 {
        update(&mut engine, &deep, next_at());
    }
    let deep_samples: Vec<Duration> = (0..10_000)
        .map(|_| update(&mut engine, &deep, next_at()))
        .collect();
    let random_samples: Vec<Duration> = (0..10_000)
        .map(|i| {
            update(
                &mut engine,
                &random_leaves[i % random_leaves.len()],
                next_at(),
            )
        })
        .collect();
    let snapshot = time_runs(1, 10, || {
        black_box(engine.clone());
    });

    println!(
        "{} KRs, {} objectives, {} team entries, {} periods; deep leaf `{deep}` has {depth} derived ancestor KRs\n",
        engine.key_results().len(),
        engine.objectives().len(),
        engine.teams().len(),
        engine.periods().len()
    );
    support::table_header();
    row("`new()` (build)", &build, None);
    row("`load_values` (100k) + recompute", &load, None);
    row(
        "`recompute_all`",
        &recompute,
        Some(Duration::from_millis(50)),
    );
    row(
        &format!("`set_value` deep leaf ({depth} ancestors), 10k updates"),
        &stats(deep_samples),
        Some(Duration::from_millis(1)),
    );
    row(
        "`set_value` random leaf, 10k updates",
        &stats(random_samples),
        Some(Duration::from_millis(1)),
    );
    row("`clone()` (snapshot)", &snapshot, None);
    support::exit_if_missed();
}

//! Engine tests: the README's progress semantics, exclusions, robustness, and a seeded
//! property test that incremental updates equal a full recompute and an
//! independent naive reference (which calls nothing in `progress` or the engine).

use std::collections::HashMap;

use chrono::TimeZone;

use super::*;
use crate::okr::model::{KeyResult, Objective, OkrSet, SourceRef, Team, WorkflowState};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An instant `n` seconds into 2026-Q4.
fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(n)
}

fn period(id: &str, start: NaiveDate, end: NaiveDate) -> Period {
    Period {
        id: id.into(),
        start,
        end,
    }
}

fn team(id: &str) -> Team {
    Team {
        id: id.into(),
        name: id.into(),
        parent: None,
    }
}

fn objective(id: &str, period: &str, parent: Option<&str>) -> Objective {
    Objective {
        id: id.into(),
        title: id.into(),
        description: None,
        period: period.into(),
        team: "t1".into(),
        parent: parent.map(Into::into),
        archived: false,
    }
}

/// An approved `increase` KR from 0 to 100 in team t1.
fn kr(id: &str, objective: &str) -> KeyResult {
    KeyResult {
        id: id.into(),
        objective: objective.into(),
        team: "t1".into(),
        owner: "dana@acme.example".into(),
        title: id.into(),
        description: None,
        kind: KrKind::Increase,
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
    }
}

fn child(id: &str, objective: &str, parent: &str) -> KeyResult {
    KeyResult {
        parent: Some(parent.into()),
        ..kr(id, objective)
    }
}

fn source(name: &str) -> Option<SourceRef> {
    Some(SourceRef {
        source: name.into(),
        schedule: None,
        params: Default::default(),
    })
}

/// Periods q1 (2026-Q4) and q2 (2027-Q1), teams t1 and t2, objective o1 in q1.
fn base(key_results: Vec<KeyResult>) -> OkrSet {
    OkrSet {
        periods: vec![
            period("q1", day(2026, 10, 1), day(2026, 12, 31)),
            period("q2", day(2027, 1, 1), day(2027, 3, 31)),
        ],
        teams: vec![team("t1"), team("t2")],
        objectives: vec![objective("o1", "q1", None)],
        key_results,
    }
}

fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-12,
        "expected {expected}, got {actual}"
    );
}

fn get<'a>(e: &'a RollupEngine, id: &str) -> &'a KrState {
    e.key_result(id).unwrap_or_else(|| panic!("no KR {id}"))
}

#[test]
fn every_kind_through_the_engine() {
    let mut krs = vec![kr("inc", "o1")];
    krs.push(KeyResult {
        kind: KrKind::Decrease,
        start: Some(1200.0),
        target: Some(600.0),
        ..kr("dec", "o1")
    });
    krs.push(KeyResult {
        kind: KrKind::AtLeast,
        start: None,
        target: Some(30.0),
        ..kr("least", "o1")
    });
    krs.push(KeyResult {
        kind: KrKind::AtMost,
        start: None,
        target: Some(5.0),
        ..kr("most", "o1")
    });
    krs.push(KeyResult {
        kind: KrKind::Milestone,
        start: None,
        target: Some(1.0),
        due: Some(day(2026, 11, 15)),
        ..kr("ms", "o1")
    });
    krs.push(kr("empty", "o1"));
    let mut e = RollupEngine::new(&base(krs));
    e.set_value("inc", 25.0, at(1)).unwrap();
    e.set_value("dec", 900.0, at(1)).unwrap();
    e.set_value("least", 30.0, at(1)).unwrap();
    e.set_value("most", 5.1, at(1)).unwrap();
    e.set_value("ms", 1.0, at(1)).unwrap();
    close(get(&e, "inc").progress, 0.25);
    close(get(&e, "dec").progress, 0.5);
    close(get(&e, "least").progress, 1.0);
    close(get(&e, "most").progress, 0.0);
    close(get(&e, "ms").progress, 1.0);
    let empty = get(&e, "empty");
    assert_eq!(
        (empty.value, empty.has_data, empty.progress),
        (None, false, 0.0)
    );
    let inc = get(&e, "inc");
    assert_eq!(
        (inc.value, inc.has_data, inc.last_update),
        (Some(25.0), true, Some(at(1)))
    );

    e.set_value("least", 29.9, at(2)).unwrap();
    e.set_value("most", 5.0, at(2)).unwrap();
    e.set_value("ms", 0.0, at(2)).unwrap();
    close(get(&e, "least").progress, 0.0);
    close(get(&e, "most").progress, 1.0);
    close(get(&e, "ms").progress, 0.0);
    // (0.25 + 0.5 + 0 + 1 + 0 + 0) / 6
    close(e.objectives()[0].progress, 1.75 / 6.0);
}

/// A parent with children valued 10 and 20 and one child without data.
fn rollup_parent(rollup: Option<Rollup>) -> RollupEngine {
    let parent = KeyResult {
        rollup,
        start: Some(0.0),
        target: Some(40.0),
        ..kr("p", "o1")
    };
    let krs = vec![
        parent,
        child("a", "o1", "p"),
        child("b", "o1", "p"),
        child("c", "o1", "p"),
    ];
    let mut e = RollupEngine::new(&base(krs));
    e.set_value("a", 10.0, at(5)).unwrap();
    e.set_value("b", 20.0, at(3)).unwrap();
    e
}

#[test]
fn parent_rollups_aggregate_children_with_data() {
    for (rollup, value) in [
        (Rollup::Sum, 30.0),
        (Rollup::Mean, 15.0),
        (Rollup::Min, 10.0),
        (Rollup::Max, 20.0),
    ] {
        let e = rollup_parent(Some(rollup));
        let p = get(&e, "p");
        assert!(p.derived);
        assert_eq!(p.value, Some(value), "{rollup:?}");
        assert!(p.has_data);
        close(p.progress, value / 40.0);
        assert_eq!(p.last_update, Some(at(5)));
    }
}

#[test]
fn parent_rollup_uses_its_own_kind() {
    let parent = KeyResult {
        rollup: Some(Rollup::Sum),
        kind: KrKind::AtMost,
        start: None,
        target: Some(25.0),
        ..kr("p", "o1")
    };
    let mut e = RollupEngine::new(&base(vec![
        parent,
        child("a", "o1", "p"),
        child("b", "o1", "p"),
    ]));
    e.set_value("a", 10.0, at(1)).unwrap();
    close(get(&e, "p").progress, 1.0);
    e.set_value("b", 20.0, at(1)).unwrap();
    close(get(&e, "p").progress, 0.0);
}

#[test]
fn parent_rollup_without_child_data_has_no_data() {
    for rollup in Rollup::ALL {
        let e = RollupEngine::new(&base(vec![
            KeyResult {
                rollup: Some(rollup),
                ..kr("p", "o1")
            },
            child("a", "o1", "p"),
        ]));
        let p = get(&e, "p");
        assert_eq!(
            (p.value, p.has_data, p.progress, p.last_update),
            (None, false, 0.0, None),
            "{rollup:?}"
        );
    }
}

#[test]
fn parent_without_rollup_is_mean_of_children_progress() {
    let mut e = rollup_parent(None);
    let p = get(&e, "p");
    assert_eq!((p.value, p.has_data), (None, true));
    // Children progress 0.1, 0.2 and 0 (no data).
    close(p.progress, 0.3 / 3.0);
    assert_eq!(p.last_update, Some(at(5)));
    e.set_value("c", 100.0, at(9)).unwrap();
    close(get(&e, "p").progress, 1.3 / 3.0);
    assert_eq!(get(&e, "p").last_update, Some(at(9)));

    let e = RollupEngine::new(&base(vec![kr("p", "o1"), child("a", "o1", "p")]));
    let p = get(&e, "p");
    assert_eq!((p.value, p.has_data, p.progress), (None, false, 0.0));
}

#[test]
fn deep_chain_propagates_to_the_top() {
    // k0 ← k1 ← … ← k11: k7..k10 roll values up (max, min, mean, sum), the others average progress.
    let mut krs = Vec::new();
    for i in 0..12 {
        let mut k = kr(&format!("k{i}"), "o1");
        if i > 0 {
            k.parent = Some(format!("k{}", i - 1));
        }
        k.rollup = match i {
            7 => Some(Rollup::Max),
            8 => Some(Rollup::Min),
            9 => Some(Rollup::Mean),
            10 => Some(Rollup::Sum),
            _ => None,
        };
        krs.push(k);
    }
    let mut e = RollupEngine::new(&base(krs));
    assert!(!get(&e, "k11").derived);
    assert!(get(&e, "k0").derived);
    e.set_value("k11", 50.0, at(1)).unwrap();
    for i in 7..=10 {
        assert_eq!(get(&e, &format!("k{i}")).value, Some(50.0), "k{i}");
    }
    for i in 0..=6 {
        let k = get(&e, &format!("k{i}"));
        assert_eq!((k.value, k.has_data), (None, true), "k{i}");
        close(k.progress, 0.5);
        assert_eq!(k.last_update, Some(at(1)));
    }
    close(e.objectives()[0].progress, 0.5);
    let mut full = e.clone();
    full.recompute_all();
    assert_eq!(e.key_results(), full.key_results());
    assert_eq!(e.objectives(), full.objectives());

    // A pure sum chain carries the leaf value all the way up.
    let mut krs = Vec::new();
    for i in 0..40 {
        let mut k = kr(&format!("s{i}"), "o1");
        if i > 0 {
            k.parent = Some(format!("s{}", i - 1));
        }
        k.rollup = Some(Rollup::Sum);
        krs.push(k);
    }
    let mut e = RollupEngine::new(&base(krs));
    e.set_value("s39", 70.0, at(1)).unwrap();
    assert_eq!(get(&e, "s0").value, Some(70.0));
    close(e.objectives()[0].progress, 0.7);
}

#[test]
fn value_rollup_ignores_a_child_measured_only_by_progress() {
    // `mid` has no rollup, so it has progress but no value for `top` to sum.
    let krs = vec![
        KeyResult {
            rollup: Some(Rollup::Sum),
            ..kr("top", "o1")
        },
        child("mid", "o1", "top"),
        child("leaf", "o1", "mid"),
        child("direct", "o1", "top"),
    ];
    let mut e = RollupEngine::new(&base(krs));
    e.set_value("leaf", 80.0, at(1)).unwrap();
    close(get(&e, "mid").progress, 0.8);
    assert_eq!(get(&e, "top").value, None);
    assert_eq!(get(&e, "top").last_update, Some(at(1)));
    e.set_value("direct", 30.0, at(2)).unwrap();
    assert_eq!(get(&e, "top").value, Some(30.0));
}

#[test]
fn parent_with_own_source_behaves_like_a_leaf() {
    let parent = KeyResult {
        source: source("web"),
        rollup: Some(Rollup::Sum),
        ..kr("p", "o1")
    };
    let mut e = RollupEngine::new(&base(vec![parent, child("a", "o1", "p")]));
    assert!(!get(&e, "p").derived);
    assert_eq!(get(&e, "p").source.as_deref(), Some("web"));
    e.set_value("a", 90.0, at(1)).unwrap();
    let p = get(&e, "p");
    assert_eq!((p.value, p.has_data), (None, false));
    e.set_value("p", 30.0, at(2)).unwrap();
    assert_eq!(get(&e, "p").value, Some(30.0));
    e.set_value("a", 10.0, at(3)).unwrap();
    assert_eq!(get(&e, "p").value, Some(30.0));
    assert_eq!(get(&e, "a").parent.as_deref(), Some("p"));
}

#[test]
fn a_derived_parent_keeps_its_children_rollup() {
    let mut e = rollup_parent(Some(Rollup::Sum));
    e.set_value("p", 1.0, at(10)).unwrap();
    assert_eq!(get(&e, "p").value, Some(30.0));
}

#[test]
fn periods_are_looked_up_by_id() {
    let set = base(vec![kr("a", "o1")]);
    let e = RollupEngine::new(&set);
    assert_eq!(e.periods(), set.periods.as_slice());
    assert_eq!(e.period("q2"), Some(&set.periods[1]));
    assert_eq!(e.period("q9"), None);
}

#[test]
fn older_values_are_ignored() {
    let mut e = RollupEngine::new(&base(vec![kr("a", "o1")]));
    e.set_value("a", 10.0, at(10)).unwrap();
    e.set_value("a", 20.0, at(5)).unwrap();
    assert_eq!(get(&e, "a").value, Some(10.0));
    e.set_value("a", 30.0, at(10)).unwrap();
    assert_eq!(get(&e, "a").value, Some(30.0));
}

#[test]
fn objective_progress_is_weighted_with_child_objectives() {
    let mut set = base(vec![
        KeyResult {
            weight: 3.0,
            ..kr("heavy", "o1")
        },
        kr("light", "o1"),
        kr("c1", "child"),
        kr("g1", "grandchild"),
    ]);
    set.objectives.push(objective("child", "q1", Some("o1")));
    set.objectives
        .push(objective("grandchild", "q1", Some("child")));
    set.objectives.push(objective("lonely", "q1", Some("o1")));
    let mut e = RollupEngine::new(&set);
    e.set_value("heavy", 100.0, at(1)).unwrap();
    e.set_value("g1", 100.0, at(1)).unwrap();
    let obj = |id| e.objective(id).unwrap().progress;
    close(obj("grandchild"), 1.0);
    close(obj("child"), 0.5); // c1 = 0, grandchild = 1
    close(obj("lonely"), 0.0); // no KR, no child
    // (3·1 + 1·0 + child 0.5 + lonely 0) / (3 + 1 + 1 + 1)
    close(obj("o1"), 3.5 / 6.0);
    assert_eq!(e.objective("child").unwrap().parent.as_deref(), Some("o1"));
}

#[test]
fn objective_counts_parent_and_child_krs() {
    let mut set = base(vec![kr("p", "o1"), child("a", "o2", "p")]);
    set.objectives.push(objective("o2", "q1", None));
    let mut e = RollupEngine::new(&set);
    e.set_value("a", 50.0, at(1)).unwrap();
    close(e.objective("o2").unwrap().progress, 0.5);
    close(e.objective("o1").unwrap().progress, 0.5); // p = mean of children = 0.5
}

#[test]
fn team_means_are_per_period() {
    let mut set = base(vec![
        kr("a", "o1"),
        kr("b", "o1"),
        kr("c", "o2"),
        KeyResult {
            team: "t2".into(),
            weight: 5.0,
            ..kr("d", "o1")
        },
        KeyResult {
            team: "t2".into(),
            state: WorkflowState::Draft,
            ..kr("e", "o2")
        },
    ]);
    set.objectives.push(objective("o2", "q2", None));
    let mut e = RollupEngine::new(&set);
    e.set_value("a", 100.0, at(1)).unwrap();
    e.set_value("c", 40.0, at(1)).unwrap();
    e.set_value("d", 30.0, at(1)).unwrap();
    let keys: Vec<(&str, &str)> = e.teams().iter().map(|t| (&*t.team, &*t.period)).collect();
    assert_eq!(keys, [("t1", "q1"), ("t1", "q2"), ("t2", "q1")]);
    close(e.team("t1", "q1").unwrap().progress, 0.5);
    close(e.team("t1", "q2").unwrap().progress, 0.4);
    close(e.team("t2", "q1").unwrap().progress, 0.3); // plain mean: the weight does not count
    assert!(e.team("t2", "q2").is_none());
    assert_eq!(&*get(&e, "c").period, "q2");
}

#[test]
fn drafts_and_archived_are_left_out() {
    let mut set = base(vec![
        kr("p", "o1"),
        KeyResult {
            state: WorkflowState::Draft,
            ..child("draft", "o1", "p")
        },
        KeyResult {
            state: WorkflowState::Proposed,
            ..kr("proposed", "o1")
        },
        KeyResult {
            state: WorkflowState::Archived,
            ..kr("archived", "o1")
        },
        kr("in-archived-objective", "old"),
        kr("a", "o1"),
    ]);
    set.objectives.push(Objective {
        archived: true,
        ..objective("old", "q1", None)
    });
    set.objectives.push(Objective {
        archived: true,
        ..objective("old-child", "q1", Some("o1"))
    });
    let mut e = RollupEngine::new(&set);
    let ids: Vec<&str> = e.key_results().iter().map(|k| &*k.id).collect();
    assert_eq!(ids, ["p", "a"]);
    let objectives: Vec<&str> = e.objectives().iter().map(|o| &*o.id).collect();
    assert_eq!(objectives, ["o1"]);
    for id in [
        "draft",
        "proposed",
        "archived",
        "in-archived-objective",
        "nope",
    ] {
        assert_eq!(
            e.set_value(id, 1.0, at(1)),
            Err(UnknownKeyResult(id.into()))
        );
    }
    // Without approved children p is a plain leaf.
    assert!(!get(&e, "p").derived);
    e.set_value("p", 50.0, at(1)).unwrap();
    e.set_value("a", 100.0, at(1)).unwrap();
    close(e.objectives()[0].progress, 0.75);
    close(e.team("t1", "q1").unwrap().progress, 0.75);
}

#[test]
fn cycles_and_dangling_links_terminate() {
    let mut set = base(vec![
        child("x", "o1", "y"),
        child("y", "o1", "z"),
        child("z", "o1", "x"),
        child("self", "o1", "self"),
        child("below", "o1", "x"),
        child("orphan", "o1", "ghost"),
        kr("lost", "no-such-objective"),
        kr("unplanned", "o3"),
        KeyResult {
            team: "ghost-team".into(),
            ..kr("ghost-team-kr", "o1")
        },
    ]);
    set.objectives.push(objective("oa", "q1", Some("ob")));
    set.objectives.push(objective("ob", "q1", Some("oa")));
    set.objectives
        .push(objective("o3", "no-such-period", Some("missing")));
    let mut e = RollupEngine::new(&set);
    for id in ["x", "y", "z", "self", "orphan"] {
        assert_eq!(get(&e, id).parent, None, "{id}");
    }
    assert_eq!(get(&e, "below").parent.as_deref(), Some("x"));
    assert!(get(&e, "x").derived);
    for id in [
        "x",
        "y",
        "z",
        "self",
        "below",
        "orphan",
        "lost",
        "unplanned",
    ] {
        e.set_value(id, 40.0, at(1)).unwrap();
    }
    close(get(&e, "x").progress, 0.4);
    assert_eq!(&*get(&e, "lost").period, "");
    assert_eq!(&*get(&e, "unplanned").period, "no-such-period");
    assert!(e.objectives().iter().all(|o| o.parent.is_none()));
    // Teams only for declared teams in known periods.
    let keys: Vec<(&str, &str)> = e.teams().iter().map(|t| (&*t.team, &*t.period)).collect();
    assert_eq!(keys, [("t1", "q1")]);
    let mut full = e.clone();
    full.recompute_all();
    assert_eq!(e.key_results(), full.key_results());
}

#[test]
fn status_follows_kind_and_pace() {
    let mut e = rollup_parent(None);
    let mid = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap(); // half of q1
    // p: progress 0.1 against 0.5 expected.
    assert_eq!(e.status(get(&e, "p"), mid), Status::OffTrack);
    assert_eq!(e.status(get(&e, "c"), mid), Status::NoData);
    e.set_value("c", 100.0, at(9)).unwrap();
    e.set_value("b", 100.0, at(9)).unwrap();
    assert_eq!(e.status(get(&e, "p"), mid), Status::OnTrack); // 0.7
    assert_eq!(e.status(get(&e, "b"), mid), Status::Done);
}

#[test]
fn status_of_a_kr_with_a_value_follows_its_kind() {
    // Thresholds are on or off track, never done; that holds for a parent
    // whose rolled-up value is measured by its own kind, too.
    let threshold = |id: &str| KeyResult {
        kind: KrKind::AtLeast,
        start: None,
        target: Some(30.0),
        ..kr(id, "o1")
    };
    let mut e = RollupEngine::new(&base(vec![
        threshold("least"),
        KeyResult {
            rollup: Some(Rollup::Sum),
            ..threshold("p")
        },
        child("a", "o1", "p"),
        child("b", "o1", "p"),
        KeyResult {
            kind: KrKind::Milestone,
            start: None,
            target: None,
            due: Some(day(2026, 11, 15)),
            ..kr("ms", "o1")
        },
    ]));
    let mid = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
    e.set_value("least", 30.0, at(1)).unwrap();
    e.set_value("a", 20.0, at(1)).unwrap();
    e.set_value("b", 10.0, at(1)).unwrap();
    e.set_value("ms", 0.0, at(1)).unwrap();
    assert_eq!(e.status(get(&e, "least"), mid), Status::OnTrack);
    assert_eq!(e.status(get(&e, "p"), mid), Status::OnTrack);
    assert_eq!(e.status(get(&e, "ms"), mid), Status::OffTrack);
    e.set_value("b", 9.0, at(2)).unwrap();
    assert_eq!(e.status(get(&e, "p"), mid), Status::OffTrack);
}

#[test]
fn load_values_equals_one_set_value_at_a_time() {
    let set = random_set(&mut Rng(7));
    let mut one_by_one = RollupEngine::new(&set);
    let mut bulk = RollupEngine::new(&set);
    let mut rng = Rng(8);
    let mut values = Vec::new();
    for k in &set.key_results {
        if rng.below(4) > 0 {
            values.push((
                k.id.as_str(),
                random_value(&mut rng, k.kind),
                at(rng.below(100) as i64),
            ));
        }
    }
    for &(id, v, t) in &values {
        let _ = one_by_one.set_value(id, v, t);
    }
    bulk.load_values(values.iter().copied());
    assert_eq!(one_by_one.key_results(), bulk.key_results());
    assert_eq!(one_by_one.objectives(), bulk.objectives());
    assert_eq!(one_by_one.teams(), bulk.teams());
}

/// splitmix64: a small seeded generator, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_value(rng: &mut Rng, kind: KrKind) -> f64 {
    match kind {
        KrKind::Milestone => rng.below(2) as f64,
        // Now and then exactly a start, a target or a threshold of `random_set`,
        // where `>=` and `>` (or a clamp bound) would disagree.
        _ if rng.chance(15) => [0.0, 20.0, 50.0, 100.0][rng.below(4) as usize],
        _ => rng.unit() * 160.0 - 20.0,
    }
}

/// A random OKR set with nested objectives, parent-KR chains, every rollup,
/// some sources, drafts, archived objectives and a few dangling links.
fn random_set(rng: &mut Rng) -> OkrSet {
    let mut set = base(Vec::new());
    set.teams.push(team("t3"));
    set.objectives.clear();
    let n_obj = 14;
    for i in 0..n_obj {
        let period = match rng.below(13) {
            0 => "q9",
            n if n < 7 => "q1",
            _ => "q2",
        };
        let parent = (i > 0 && rng.chance(70)).then(|| format!("o{}", rng.below(i)));
        set.objectives.push(Objective {
            team: format!("t{}", rng.below(3) + 1),
            archived: rng.chance(8),
            ..objective(&format!("o{i}"), period, parent.as_deref())
        });
    }
    let n_kr = 70;
    for i in 0..n_kr {
        // Every kind but sustain, whose windows `sustained` tests.
        let kind = KrKind::ALL[rng.below(5) as usize];
        let (start, target) = match kind {
            KrKind::Increase => (Some(0.0), Some(100.0)),
            KrKind::Decrease => (Some(100.0), Some(20.0)),
            KrKind::AtLeast | KrKind::AtMost => (None, Some(50.0)),
            KrKind::Milestone => (None, Some(1.0)),
            KrKind::Sustain => unreachable!("the random model holds no sustain KRs"),
        };
        let objective = if rng.chance(3) {
            "nope".to_string()
        } else {
            format!("o{}", rng.below(n_obj))
        };
        let parent = match rng.below(10) {
            _ if i == 0 => None,
            0..=3 => Some(format!("k{}", i - 1)),
            4..=6 => Some(format!("k{}", rng.below(i))),
            7 => Some("ghost".to_string()),
            _ => None,
        };
        let state = if rng.chance(85) {
            WorkflowState::Approved
        } else {
            WorkflowState::ALL[rng.below(6) as usize]
        };
        set.key_results.push(KeyResult {
            team: format!("t{}", rng.below(4) + 1),
            kind,
            start,
            target,
            due: Some(day(2026, 11, 15)),
            weight: [1.0, 1.0, 2.0, 0.5, 3.0][rng.below(5) as usize],
            parent,
            rollup: [
                None,
                Some(Rollup::Sum),
                Some(Rollup::Mean),
                Some(Rollup::Min),
                Some(Rollup::Max),
            ][rng.below(5) as usize],
            source: if rng.chance(15) { source("s") } else { None },
            state,
            ..kr(&format!("k{i}"), &objective)
        });
    }
    set
}

/// A KR as the reference sees it: value, progress, has_data, last_update.
type RefKr = (Option<f64>, f64, bool, Option<DateTime<Utc>>);

/// Progress of one KR per the table in README "Progress and
/// status", written out here so the reference does not share a line with
/// `progress::progress`, the code under test.
fn contract_progress(k: &KeyResult, value: Option<f64>) -> f64 {
    // No check-in yet: progress 0.
    let Some(current) = value else { return 0.0 };
    let one_if = |satisfied: bool| if satisfied { 1.0 } else { 0.0 };
    match (k.kind, k.start, k.target) {
        // clamp((current − start) / (target − start), 0, 1); start = target is not
        // measurable (validation refuses it) and counts as no progress.
        (KrKind::Increase | KrKind::Decrease, Some(start), Some(target)) if start != target => {
            ((current - start) / (target - start)).clamp(0.0, 1.0)
        }
        (KrKind::Increase | KrKind::Decrease, _, _) => 0.0,
        (KrKind::AtLeast, _, Some(target)) => one_if(current >= target),
        (KrKind::AtMost, _, Some(target)) => one_if(current <= target),
        (KrKind::AtLeast | KrKind::AtMost, _, None) => 0.0,
        // Done is value 1; a rolled-up sum of milestones past 1 is done too.
        (KrKind::Milestone, _, _) => one_if(current >= 1.0),
        (KrKind::Sustain, _, _) => unreachable!("the random model holds no sustain KRs"),
    }
}

/// What the README says, computed the slow and obvious way.
struct Reference {
    krs: HashMap<String, RefKr>,
    objectives: HashMap<String, f64>,
    teams: HashMap<(String, String), f64>,
}

fn reference(set: &OkrSet, values: &HashMap<String, (f64, DateTime<Utc>)>) -> Reference {
    let live: Vec<&Objective> = set.objectives.iter().filter(|o| !o.archived).collect();
    let live_obj = |id: &str| live.iter().find(|o| o.id == id).copied();
    let archived = |id: &str| set.objectives.iter().any(|o| o.id == id && o.archived);
    let krs: Vec<&KeyResult> = set
        .key_results
        .iter()
        .filter(|k| k.state == WorkflowState::Approved)
        .filter(|k| live_obj(&k.objective).is_some() || !archived(&k.objective))
        .collect();

    fn eval(
        k: &KeyResult,
        krs: &[&KeyResult],
        values: &HashMap<String, (f64, DateTime<Utc>)>,
    ) -> RefKr {
        let children: Vec<_> = krs
            .iter()
            .filter(|c| c.parent.as_deref() == Some(k.id.as_str()))
            .map(|c| eval(c, krs, values))
            .collect();
        if children.is_empty() || k.source.is_some() {
            let own = values.get(&k.id);
            let value = own.map(|v| v.0);
            let p = contract_progress(k, value);
            return (value, p, value.is_some(), own.map(|v| v.1));
        }
        let last = children.iter().filter_map(|c| c.3).max();
        let with_value: Vec<f64> = children.iter().filter_map(|c| c.0).collect();
        let value = match k.rollup {
            None => {
                let mean = children.iter().map(|c| c.1).sum::<f64>() / children.len() as f64;
                return (None, mean, children.iter().any(|c| c.2), last);
            }
            _ if with_value.is_empty() => None,
            Some(Rollup::Sum) => Some(with_value.iter().sum()),
            Some(Rollup::Mean) => Some(with_value.iter().sum::<f64>() / with_value.len() as f64),
            Some(Rollup::Min) => with_value.iter().copied().reduce(f64::min),
            Some(Rollup::Max) => with_value.iter().copied().reduce(f64::max),
        };
        let p = contract_progress(k, value);
        (value, p, value.is_some(), last)
    }

    let kr_states: HashMap<String, _> = krs
        .iter()
        .map(|k| (k.id.clone(), eval(k, &krs, values)))
        .collect();

    fn objective_progress(
        o: &Objective,
        live: &[&Objective],
        krs: &[&KeyResult],
        states: &HashMap<String, RefKr>,
    ) -> f64 {
        let mut sum = 0.0;
        let mut weight = 0.0;
        for k in krs.iter().filter(|k| k.objective == o.id) {
            sum += k.weight * states[&k.id].1;
            weight += k.weight;
        }
        for c in live
            .iter()
            .filter(|c| c.parent.as_deref() == Some(o.id.as_str()))
        {
            sum += objective_progress(c, live, krs, states);
            weight += 1.0;
        }
        if weight > 0.0 { sum / weight } else { 0.0 }
    }
    let objectives = live
        .iter()
        .map(|o| (o.id.clone(), objective_progress(o, &live, &krs, &kr_states)))
        .collect();

    let mut team_sums: HashMap<(String, String), (f64, usize)> = HashMap::new();
    for k in &krs {
        let Some(o) = live_obj(&k.objective) else {
            continue;
        };
        if set.teams.iter().any(|t| t.id == k.team) && set.periods.iter().any(|p| p.id == o.period)
        {
            let e = team_sums
                .entry((k.team.clone(), o.period.clone()))
                .or_default();
            e.0 += kr_states[&k.id].1;
            e.1 += 1;
        }
    }
    let teams = team_sums
        .into_iter()
        .map(|(key, (sum, n))| (key, sum / n as f64))
        .collect();
    Reference {
        krs: kr_states,
        objectives,
        teams,
    }
}

fn assert_matches_reference(e: &RollupEngine, r: &Reference, ctx: &str) {
    assert_eq!(e.key_results().len(), r.krs.len(), "{ctx}");
    for k in e.key_results() {
        let (value, progress, has_data, last) = r.krs[&*k.id];
        assert_eq!(k.has_data, has_data, "{ctx}: {} has_data", k.id);
        assert_eq!(k.last_update, last, "{ctx}: {} last_update", k.id);
        match (k.value, value) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{ctx}: {} value {a} vs {b}", k.id),
            (a, b) => assert_eq!(a, b, "{ctx}: {} value", k.id),
        }
        assert!(
            (k.progress - progress).abs() < 1e-9,
            "{ctx}: {} progress {} vs {progress}",
            k.id,
            k.progress
        );
    }
    assert_eq!(e.objectives().len(), r.objectives.len(), "{ctx}");
    for o in e.objectives() {
        let expected = r.objectives[&*o.id];
        assert!(
            (o.progress - expected).abs() < 1e-9,
            "{ctx}: objective {} {} vs {expected}",
            o.id,
            o.progress
        );
    }
    assert_eq!(e.teams().len(), r.teams.len(), "{ctx}");
    for t in e.teams() {
        let expected = r.teams[&(t.team.to_string(), t.period.to_string())];
        assert!(
            (t.progress - expected).abs() < 1e-9,
            "{ctx}: team {}/{}",
            t.team,
            t.period
        );
    }
}

#[test]
fn random_updates_match_full_recompute_and_reference() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed);
        let set = random_set(&mut rng);
        let mut engine = RollupEngine::new(&set);
        let mut values: HashMap<String, (f64, DateTime<Utc>)> = HashMap::new();
        assert_matches_reference(
            &engine,
            &reference(&set, &values),
            &format!("seed {seed} start"),
        );
        let mut clock = 0;
        for step in 0..400 {
            let k = &set.key_results[rng.below(set.key_results.len() as u64) as usize];
            let value = random_value(&mut rng, k.kind);
            // Mostly forward in time, sometimes a late (older) value that must be ignored.
            clock += 1;
            let t = if rng.chance(10) {
                at(clock - 5)
            } else {
                at(clock)
            };
            let known = engine.key_result(&k.id).is_some();
            assert_eq!(engine.set_value(&k.id, value, t).is_ok(), known);
            if known && values.get(&k.id).is_none_or(|v| t >= v.1) {
                values.insert(k.id.clone(), (value, t));
            }
            let ctx = format!("seed {seed} step {step}");
            let mut full = engine.clone();
            full.recompute_all();
            assert_eq!(engine.key_results(), full.key_results(), "{ctx}");
            assert_eq!(engine.objectives(), full.objectives(), "{ctx}");
            assert_eq!(engine.teams(), full.teams(), "{ctx}");
            if step % 20 == 0 {
                assert_matches_reference(&engine, &reference(&set, &values), &ctx);
            }
        }
        assert_matches_reference(
            &engine,
            &reference(&set, &values),
            &format!("seed {seed} end"),
        );
        let mut fresh = RollupEngine::new(&set);
        fresh.load_values(values.iter().map(|(id, (v, t))| (id.as_str(), *v, *t)));
        assert_eq!(
            engine.key_results(),
            fresh.key_results(),
            "seed {seed} fresh"
        );
        assert_eq!(engine.objectives(), fresh.objectives(), "seed {seed} fresh");
        assert_eq!(engine.teams(), fresh.teams(), "seed {seed} fresh");
    }
}

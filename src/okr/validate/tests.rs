//! One test per rule of [`super::check`].

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::*;
use crate::okr::model::{KeyResult, KrKind, Objective, Period, Rollup, SourceRef, Team};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn period(id: &str, start: &str, end: &str) -> Period {
    Period {
        id: id.into(),
        start: date(start),
        end: date(end),
    }
}

fn team(id: &str, parent: Option<&str>) -> Team {
    Team {
        id: id.into(),
        name: format!("Team {id}"),
        parent: parent.map(Into::into),
    }
}

fn objective(id: &str, period: &str, team: &str) -> Objective {
    Objective {
        id: id.into(),
        title: "Reduce cost of operations".into(),
        description: None,
        period: period.into(),
        team: team.into(),
        parent: None,
        archived: false,
    }
}

fn kr(id: &str, objective: &str, team: &str) -> KeyResult {
    KeyResult {
        id: id.into(),
        objective: objective.into(),
        team: team.into(),
        owner: "dana@acme.example".into(),
        title: "Fewer password reset calls".into(),
        description: None,
        kind: KrKind::Decrease,
        start: Some(1200.0),
        target: Some(600.0),
        due: None,
        unit: Some("calls/week".into()),
        weight: 1.0,
        parent: None,
        rollup: None,
        source: None,
        state: WorkflowState::Approved,
        sustain: None,
        guard: None,
    }
}

/// The README's example: valid, no findings.
fn base() -> OkrSet {
    OkrSet {
        periods: vec![period("2026-Q4", "2026-10-01", "2026-12-31")],
        teams: vec![team("acme", None), team("auth", Some("acme"))],
        objectives: vec![objective("reduce-opex", "2026-Q4", "acme")],
        key_results: vec![kr("reset-calls", "reduce-opex", "auth")],
    }
}

/// (severity, kind, id, index, field, message) of every finding.
type Row = (
    Severity,
    EntityKind,
    String,
    usize,
    Option<&'static str>,
    String,
);

fn run(set: &OkrSet) -> Vec<Row> {
    run_with(set, &CheckContext::default())
}

fn run_with(set: &OkrSet, ctx: &CheckContext) -> Vec<Row> {
    check(set, ctx)
        .into_iter()
        .map(|f| {
            (
                f.severity, f.entity.0, f.entity.1, f.index, f.field, f.message,
            )
        })
        .collect()
}

fn row(
    severity: Severity,
    kind: EntityKind,
    id: &str,
    index: usize,
    field: Option<&'static str>,
    message: &str,
) -> Row {
    (severity, kind, id.into(), index, field, message.into())
}

use EntityKind::{KeyResult as K, Objective as O, Period as P, Team as T};
use Severity::{Error as E, Warning as W};

#[test]
fn the_design_example_is_valid() {
    assert_eq!(run(&base()), vec![]);
}

#[test]
fn ids_must_be_well_formed() {
    let mut set = base();
    set.periods[0].id = String::new();
    set.objectives[0].period = String::new();
    set.teams.push(team("bad team", Some("acme")));
    set.key_results[0].id = "x".repeat(129);
    let found = run(&set);
    assert!(found.contains(&row(
        E,
        P,
        "",
        0,
        Some("id"),
        "period id `` is not valid: it is empty"
    )));
    assert!(found.contains(&row(
        E,
        T,
        "bad team",
        2,
        Some("id"),
        "team id `bad team` is not valid: ' ' is not allowed; use only letters, digits, `.`, `_` and `-`"
    )));
    let long = "x".repeat(129);
    assert!(found.contains(&row(
        E,
        K,
        &long,
        0,
        Some("id"),
        &format!("key result id `{long}` is not valid: it is longer than 128 characters")
    )));
    assert_eq!(check_id(&"a".repeat(128)), Ok(()));
    assert_eq!(check_id("2026-Q4.v_1"), Ok(()));
}

#[test]
fn texts_must_not_be_empty_and_numbers_must_be_finite_and_weights_positive() {
    let mut set = base();
    set.teams[1].name = " ".into();
    set.objectives[0].title = String::new();
    set.key_results[0].owner = String::new();
    set.key_results[0].start = Some(f64::NAN);
    set.key_results[0].weight = 0.0;
    assert_eq!(
        run(&set),
        vec![
            row(
                E,
                T,
                "auth",
                1,
                Some("name"),
                "team `auth` has an empty `name`; give it one"
            ),
            row(
                E,
                O,
                "reduce-opex",
                0,
                Some("title"),
                "objective `reduce-opex` has an empty `title`; give it one"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("owner"),
                "key result `reset-calls` has an empty `owner`; give it one"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("start"),
                "key result `reset-calls`: `start` must be a finite number"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("weight"),
                "key result `reset-calls` has weight 0; `weight` is its share of the objective's \
                 progress and must be a number greater than 0 (default 1)"
            ),
        ]
    );
}

#[test]
fn dates_must_fall_in_the_supported_years() {
    let mut set = base();
    set.periods
        .push(period("edges", "1970-01-01", "9999-12-31"));
    set.periods
        .push(period("early", "1969-12-31", "1970-01-31"));
    let year_10000 = NaiveDate::from_ymd_opt(10000, 1, 1).expect("chrono knows year 10000");
    set.periods.push(Period {
        end: year_10000,
        ..period("late", "9999-12-01", "9999-12-31")
    });
    set.key_results[0].due = Some(date("1969-12-31"));
    let out_of_range: Vec<Row> = run(&set)
        .into_iter()
        .filter(|r| r.5.contains("out of range"))
        .collect();
    assert_eq!(
        out_of_range,
        vec![
            row(
                E,
                P,
                "early",
                2,
                Some("start"),
                "period `early`: `start` 1969-12-31 is out of range; dates go from 1970 to 9999"
            ),
            row(
                E,
                P,
                "late",
                3,
                Some("end"),
                &format!(
                    "period `late`: `end` {year_10000} is out of range; dates go from 1970 to 9999"
                )
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("due"),
                "key result `reset-calls`: `due` 1969-12-31 is out of range; dates go from 1970 \
                 to 9999"
            ),
        ]
    );
}

#[test]
fn every_duplicate_is_reported_with_the_first_declaration() {
    let mut set = base();
    set.teams.push(team("auth", Some("acme")));
    set.teams.push(team("auth", None));
    let findings = check(&set, &CheckContext::default());
    let dups: Vec<(usize, Option<usize>, &str)> = findings
        .iter()
        .map(|f| (f.index, f.duplicate_of, f.message.as_str()))
        .collect();
    let msg = "duplicate team id `auth`; ids must be unique, rename or remove one";
    assert_eq!(dups, vec![(2, Some(1), msg), (3, Some(1), msg)]);
    assert!(findings.iter().all(|f| f.entity == (T, "auth".into())));
}

#[test]
fn duplicates_count_archived_and_unapproved_entities() {
    let mut set = base();
    let mut archived = objective("reduce-opex", "2026-Q4", "acme");
    archived.archived = true;
    set.objectives.push(archived);
    let mut draft = kr("reset-calls", "reduce-opex", "auth");
    draft.state = WorkflowState::Draft;
    set.key_results.push(draft);
    let found: Vec<(EntityKind, usize, Option<usize>)> = check(&set, &CheckContext::default())
        .iter()
        .map(|f| (f.entity.0, f.index, f.duplicate_of))
        .collect();
    assert_eq!(found, vec![(O, 1, Some(0)), (K, 1, Some(0))]);
}

#[test]
fn unknown_references_are_errors_with_a_hint() {
    let mut set = base();
    set.teams[1].parent = Some("acm".into());
    set.objectives[0].period = "2026-Q3".into();
    set.objectives[0].team = "nobody".into();
    set.objectives[0].parent = Some("grow".into());
    set.key_results[0].objective = "reduce-opx".into();
    set.key_results[0].team = "auht".into();
    set.key_results[0].parent = Some("calls".into());
    assert_eq!(
        run(&set),
        vec![
            row(
                E,
                T,
                "auth",
                1,
                Some("parent"),
                "team `auth`: parent team `acm` does not exist; did you mean `acme`?"
            ),
            row(
                E,
                O,
                "reduce-opex",
                0,
                Some("period"),
                "objective `reduce-opex`: period `2026-Q3` does not exist; did you mean `2026-Q4`?"
            ),
            row(
                E,
                O,
                "reduce-opex",
                0,
                Some("team"),
                "objective `reduce-opex`: team `nobody` does not exist; declare it or fix the id"
            ),
            row(
                E,
                O,
                "reduce-opex",
                0,
                Some("parent"),
                "objective `reduce-opex`: parent objective `grow` does not exist; declare it or fix the id"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("objective"),
                "key result `reset-calls`: objective `reduce-opx` does not exist; did you mean `reduce-opex`?"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("team"),
                "key result `reset-calls`: team `auht` does not exist; did you mean `auth`?"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                Some("parent"),
                "key result `reset-calls`: parent key result `calls` does not exist; declare it or fix the id"
            ),
            // The objective's team does not exist: acme and auth support nothing (auth's KR is on
            // an objective that does not resolve).
            row(
                W,
                T,
                "acme",
                0,
                None,
                "team `acme` supports no objective in any period: it owns no objective and has no \
                 key result; add one or remove the team"
            ),
            row(
                W,
                T,
                "auth",
                1,
                None,
                "team `auth` supports no objective in any period: it owns no objective and has no \
                 key result; add one or remove the team"
            ),
        ]
    );
}

#[test]
fn references_to_archived_and_unapproved_entities_resolve() {
    let mut set = base();
    set.objectives[0].archived = true;
    set.key_results[0].state = WorkflowState::Rejected;
    let mut child = kr("child", "reduce-opex", "auth");
    child.parent = Some("reset-calls".into());
    set.key_results.push(child);
    let found = run(&set);
    assert!(
        found.iter().all(|r| !r.5.contains("does not exist")),
        "{found:#?}"
    );
}

#[test]
fn sources_are_checked_only_when_known() {
    let mut set = base();
    set.key_results[0].source = Some(SourceRef {
        source: "callcentre".into(),
        schedule: None,
        params: Default::default(),
    });
    assert_eq!(run(&set), vec![]);
    let known: BTreeSet<String> = ["callcenter".to_string(), "web".to_string()].into();
    let ctx = CheckContext {
        known_sources: Some(&known),
        ..Default::default()
    };
    assert_eq!(
        run_with(&set, &ctx),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            Some("source.use"),
            "key result `reset-calls` uses source `callcentre`, which is not configured; did you mean `callcenter`?"
        )]
    );
    if let Some(s) = set.key_results[0].source.as_mut() {
        s.source = "zzz".into();
    }
    assert_eq!(
        run_with(&set, &ctx)[0].5,
        "key result `reset-calls` uses source `zzz`, which is not configured; configured sources: callcenter, web"
    );
    let none = BTreeSet::new();
    let ctx = CheckContext {
        known_sources: Some(&none),
        ..Default::default()
    };
    assert_eq!(
        run_with(&set, &ctx)[0].5,
        "key result `reset-calls` uses source `zzz`, which is not configured; no sources are \
         configured; add a [[sources]] entry"
    );
}

#[test]
fn a_period_must_not_end_before_it_starts() {
    let mut set = base();
    set.periods[0].end = date("2026-09-30");
    set.periods.push(period("day", "2026-10-01", "2026-10-01"));
    assert_eq!(
        run(&set),
        vec![row(
            E,
            P,
            "2026-Q4",
            0,
            Some("end"),
            "period `2026-Q4` ends on 2026-09-30 before it starts on 2026-10-01; fix `start` or `end`"
        )]
    );
}

#[test]
fn increase_and_decrease_need_distinct_start_and_target() {
    let mut set = base();
    set.key_results[0].start = None;
    set.key_results[0].target = None;
    let mut same = kr("same", "reduce-opex", "auth");
    same.kind = KrKind::Increase;
    same.start = Some(5.0);
    same.target = Some(5.0);
    set.key_results.push(same);
    assert_eq!(
        run(&set),
        vec![
            row(
                E,
                K,
                "reset-calls",
                0,
                None,
                "key result `reset-calls` of kind `decrease` needs a `start` (the value it moves from)"
            ),
            row(
                E,
                K,
                "reset-calls",
                0,
                None,
                "key result `reset-calls` of kind `decrease` needs a `target` (the value it moves to)"
            ),
            row(
                E,
                K,
                "same",
                1,
                Some("target"),
                "key result `same` has `start` equal to `target` (5); it measures nothing, set the \
                 target it should reach"
            ),
        ]
    );
}

#[test]
fn a_target_on_the_wrong_side_of_start_suggests_the_other_kind() {
    let mut set = base();
    set.key_results[0].kind = KrKind::Increase;
    assert_eq!(
        run(&set),
        vec![row(
            W,
            K,
            "reset-calls",
            0,
            Some("kind"),
            "key result `reset-calls` is `increase` but its target (600) is below its start (1200); \
             did you mean kind `decrease`?"
        )]
    );
    set.key_results[0].kind = KrKind::Decrease;
    set.key_results[0].target = Some(2000.0);
    assert_eq!(
        run(&set)[0].5,
        "key result `reset-calls` is `decrease` but its target (2000) is above its start (1200); did you mean kind `increase`?"
    );
}

#[test]
fn thresholds_need_a_target() {
    let mut set = base();
    set.key_results[0].kind = KrKind::AtLeast;
    set.key_results[0].target = None;
    let mut at_most = kr("at-most", "reduce-opex", "auth");
    at_most.kind = KrKind::AtMost;
    at_most.start = None;
    set.key_results.push(at_most);
    assert_eq!(
        run(&set),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            None,
            "key result `reset-calls` of kind `at_least` needs a `target` (the threshold to hold)"
        )]
    );
}

#[test]
fn milestones_need_a_due_date_and_ignore_start_and_target() {
    let mut set = base();
    set.key_results[0].kind = KrKind::Milestone;
    let mut done = kr("launch", "reduce-opex", "auth");
    done.kind = KrKind::Milestone;
    done.start = None;
    done.target = None;
    done.due = Some(date("2026-11-15"));
    set.key_results.push(done);
    assert_eq!(
        run(&set),
        vec![
            row(
                E,
                K,
                "reset-calls",
                0,
                None,
                "milestone key result `reset-calls` needs a `due` date"
            ),
            row(
                W,
                K,
                "reset-calls",
                0,
                Some("start"),
                "key result `reset-calls`: `start` means nothing for a milestone (1 = done, 0 = not yet); remove it"
            ),
            row(
                W,
                K,
                "reset-calls",
                0,
                Some("target"),
                "key result `reset-calls`: `target` means nothing for a milestone (1 = done, 0 = not yet); remove it"
            ),
        ]
    );
}

#[test]
fn a_due_date_outside_the_objectives_period_is_a_warning() {
    let mut set = base();
    set.key_results[0].due = Some(date("2027-01-15"));
    // The period's first and last days are inside it.
    for (id, due) in [("first-day", "2026-10-01"), ("last-day", "2026-12-31")] {
        let mut inside = kr(id, "reduce-opex", "auth");
        inside.due = Some(date(due));
        set.key_results.push(inside);
    }
    let mut before = kr("day-before", "reduce-opex", "auth");
    before.due = Some(date("2026-09-30"));
    set.key_results.push(before);
    assert_eq!(
        run(&set),
        vec![
            row(
                W,
                K,
                "reset-calls",
                0,
                Some("due"),
                "key result `reset-calls` is due 2027-01-15, outside period `2026-Q4` (2026-10-01 to \
             2026-12-31) of its objective"
            ),
            row(
                W,
                K,
                "day-before",
                3,
                Some("due"),
                "key result `day-before` is due 2026-09-30, outside period `2026-Q4` (2026-10-01 to \
             2026-12-31) of its objective"
            ),
        ]
    );
}

#[test]
fn at_most_five_krs_per_objective_per_team() {
    let mut set = base();
    set.key_results.clear();
    for (i, owner) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .enumerate()
    {
        let mut k = kr(&format!("kr{i}"), "reduce-opex", "auth");
        k.owner = owner.to_string();
        set.key_results.push(k);
    }
    // Archived, rejected and draft KRs do not count; proposed ones do.
    set.key_results[1].state = WorkflowState::Archived;
    set.key_results[2].state = WorkflowState::Draft;
    set.key_results[3].state = WorkflowState::Rejected;
    set.key_results[4].state = WorkflowState::Proposed;
    let msg = "team `auth` has 6 key results on objective `reduce-opex` (kr0, kr4, kr5, kr6, kr7, kr8); \
               the limit is 5 per objective per team, so drop or merge some";
    assert_eq!(run(&set), vec![row(E, K, "kr8", 8, None, msg)]);
    let found = check(&set, &CheckContext::default());
    assert_eq!(found[0].rule, rules::MAX_KRS_PER_OBJECTIVE_PER_TEAM);
    assert_eq!(
        found[0].limit,
        Some(LimitBreach {
            limit: 5,
            key_results: ["kr0", "kr4", "kr5", "kr6", "kr7", "kr8"]
                .map(String::from)
                .to_vec(),
        })
    );

    // Another team's KRs on the same objective have their own budget.
    set.key_results[8].team = "acme".into();
    assert_eq!(run(&set), vec![]);

    let ctx = CheckContext {
        limits: Limits {
            max_krs_per_objective_per_team: 3,
            ..Limits::default()
        },
        ..Default::default()
    };
    let found = run_with(&set, &ctx);
    assert_eq!(
        found.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        vec!["kr6", "kr7"]
    );
    assert!(found[0].5.contains("the limit is 3 per objective per team"));
}

#[test]
fn at_most_five_krs_per_owner_per_period() {
    let mut set = base();
    set.key_results.clear();
    set.periods
        .push(period("2027-Q1", "2027-01-01", "2027-03-31"));
    for i in 0..3 {
        set.objectives
            .push(objective(&format!("o{i}"), "2026-Q4", "acme"));
    }
    set.objectives.push(objective("next", "2027-Q1", "acme"));
    for i in 0..6 {
        set.key_results
            .push(kr(&format!("kr{i}"), &format!("o{}", i % 3), "auth"));
    }
    // Same owner, another period: not counted with the others.
    set.key_results.push(kr("later", "next", "auth"));
    set.key_results[0].state = WorkflowState::Rejected;
    assert_eq!(run(&set), vec![]);
    set.key_results[0].state = WorkflowState::Proposed;
    let msg = "owner `dana@acme.example` has 6 key results in period `2026-Q4` (kr0, kr1, kr2, kr3, \
               kr4, kr5); the limit is 5 per owner per period, so hand some over or drop some";
    assert_eq!(run(&set), vec![row(E, K, "kr5", 5, None, msg)]);
}

#[test]
fn parent_cycles_are_reported_once_per_cycle() {
    let mut set = base();
    set.teams[0].parent = Some("auth".into());
    set.teams.push(team("solo", Some("solo")));
    let mut a = objective("a", "2026-Q4", "acme");
    a.parent = Some("b".into());
    let mut b = objective("b", "2026-Q4", "acme");
    b.parent = Some("c".into());
    let mut c = objective("c", "2026-Q4", "acme");
    c.parent = Some("b".into());
    set.objectives.extend([a, b, c]);
    let mut k1 = kr("k1", "reduce-opex", "auth");
    k1.parent = Some("k2".into());
    let mut k2 = kr("k2", "reduce-opex", "auth");
    k2.parent = Some("k1".into());
    set.key_results.extend([k1, k2]);
    let found: Vec<Row> = run(&set).into_iter().filter(|r| r.0 == E).collect();
    assert_eq!(
        found,
        vec![
            row(
                E,
                T,
                "acme",
                0,
                Some("parent"),
                "team parents form a cycle: acme → auth → acme; remove one of these `parent` links"
            ),
            row(
                E,
                T,
                "solo",
                2,
                Some("parent"),
                "team `solo` is its own parent; remove `parent` or name another team"
            ),
            row(
                E,
                O,
                "b",
                2,
                Some("parent"),
                "objective parents form a cycle: b → c → b; remove one of these `parent` links"
            ),
            row(
                E,
                K,
                "k1",
                1,
                Some("parent"),
                "key result parents form a cycle: k1 → k2 → k1; remove one of these `parent` links"
            ),
        ]
    );
}

#[test]
fn a_parent_kr_must_be_in_the_same_period() {
    let mut set = base();
    set.periods
        .push(period("2027-Q1", "2027-01-01", "2027-03-31"));
    set.objectives.push(objective("next", "2027-Q1", "acme"));
    let mut child = kr("child", "next", "auth");
    child.parent = Some("reset-calls".into());
    set.key_results.push(child);
    assert_eq!(
        run(&set),
        vec![row(
            E,
            K,
            "child",
            1,
            Some("parent"),
            "key result `child` is in period `2027-Q1` but its parent `reset-calls` is in `2026-Q4`; \
             a KR can only contribute to a KR of the same period"
        )]
    );
}

#[test]
fn rollup_needs_children_and_no_source() {
    let mut set = base();
    set.key_results[0].rollup = Some(Rollup::Sum);
    let mut sourced = kr("sourced", "reduce-opex", "auth");
    sourced.rollup = Some(Rollup::Max);
    sourced.source = Some(SourceRef {
        source: "callcenter".into(),
        schedule: None,
        params: Default::default(),
    });
    let mut child = kr("child", "reduce-opex", "auth");
    child.parent = Some("sourced".into());
    set.key_results.extend([sourced, child]);
    assert_eq!(
        run(&set),
        vec![
            row(
                W,
                K,
                "reset-calls",
                0,
                Some("rollup"),
                "key result `reset-calls` has `rollup = \"sum\"` but no key result names it as \
                 `parent`; remove `rollup` or add children"
            ),
            row(
                E,
                K,
                "sourced",
                1,
                Some("rollup"),
                "key result `sourced` has both `rollup` and a `source`; a KR with a source takes its \
                 own value, so remove one of them"
            ),
        ]
    );
    // With a child and no source, rollup is fine.
    set.key_results[2].parent = Some("reset-calls".into());
    set.key_results[1].rollup = None;
    assert_eq!(run(&set), vec![]);
}

#[test]
fn schedules_are_checked_by_the_callback() {
    let mut set = base();
    set.key_results[0].source = Some(SourceRef {
        source: "callcenter".into(),
        schedule: Some("every hour".into()),
        params: Default::default(),
    });
    assert_eq!(run(&set), vec![]);
    let cron = |s: &str| -> Result<(), String> {
        if s.split_whitespace().count() == 5 {
            Ok(())
        } else {
            Err("expected 5 fields".into())
        }
    };
    let ctx = CheckContext {
        check_schedule: Some(&cron),
        ..Default::default()
    };
    assert_eq!(
        run_with(&set, &ctx),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            Some("source.schedule"),
            "key result `reset-calls` has an invalid schedule `every hour`: expected 5 fields"
        )]
    );
    if let Some(s) = set.key_results[0].source.as_mut() {
        s.schedule = Some("0 * * * *".into());
    }
    assert_eq!(run_with(&set, &ctx), vec![]);
    // Debug shows the limits and whether a callback is set, not the closure.
    let shown = format!("{ctx:?}");
    assert!(
        shown.starts_with("CheckContext {")
            && shown.contains("max_krs_per_objective_per_team: 5")
            && shown.contains("check_schedule: Some(\"fn\")"),
        "{shown}"
    );
}

#[test]
fn objective_titles_with_numbers_are_a_warning() {
    let mut set = base();
    set.objectives[0].title = "Cut calls by half".into();
    assert_eq!(run(&set), vec![]);
    for title in ["Reach NPS 40", "Grow 10%"] {
        set.objectives[0].title = title.into();
        assert_eq!(
            run(&set),
            vec![row(
                W,
                O,
                "reduce-opex",
                0,
                Some("title"),
                &format!(
                    "objective `reduce-opex` has a number in its title ({title:?}); objectives are \
                     qualitative; put the number in a KR"
                )
            )]
        );
    }
}

#[test]
fn teams_that_support_no_objective_are_warned_about() {
    let mut set = base();
    // billing takes part nowhere; ops only in Q4 (so not blamed for Q3, before it took part) and
    // not in 2027-Q1; eng has no KR itself but its child team does.
    set.periods
        .insert(0, period("2026-Q3", "2026-07-01", "2026-09-30"));
    set.periods
        .push(period("2027-Q1", "2027-01-01", "2027-03-31"));
    set.periods
        .push(period("2027-Q2", "2027-04-01", "2027-06-30")); // no objective: not checked
    set.teams.push(team("billing", Some("acme")));
    set.teams.push(team("ops", None));
    set.teams.push(team("eng", None));
    set.teams.push(team("sre", Some("eng")));
    set.objectives.push(objective("old", "2026-Q3", "acme"));
    set.objectives.push(objective("next", "2027-Q1", "acme"));
    let mut archived = objective("gone", "2027-Q1", "billing");
    archived.archived = true;
    set.objectives.push(archived);
    set.key_results.push(kr("ops-kr", "reduce-opex", "ops"));
    set.key_results.push(kr("sre-kr", "reduce-opex", "sre"));
    set.key_results.push(kr("auth-next", "next", "auth"));
    set.key_results.push(kr("auth-old", "old", "auth"));
    let mut rejected = kr("eng-rejected", "next", "eng");
    rejected.state = WorkflowState::Rejected;
    set.key_results.push(rejected);
    let warnings: Vec<(String, String)> = run(&set)
        .into_iter()
        .filter(|r| r.0 == W)
        .map(|r| (r.2, r.5))
        .collect();
    assert_eq!(
        warnings,
        vec![
            (
                "billing".into(),
                "team `billing` supports no objective in any period: it owns no objective and has \
                 no key result; add one or remove the team"
                    .into()
            ),
            (
                "ops".into(),
                "team `ops` supports no objective in period `2027-Q1`: it owns no objective there and \
                 has no key result on one; add a key result or an objective for it"
                    .into()
            ),
            (
                "eng".into(),
                "team `eng` supports no objective in period `2027-Q1`: it owns no objective there and \
                 has no key result on one; add a key result or an objective for it"
                    .into()
            ),
            (
                "sre".into(),
                "team `sre` supports no objective in period `2027-Q1`: it owns no objective there and \
                 has no key result on one; add a key result or an objective for it"
                    .into()
            ),
        ]
    );
}

#[test]
fn a_set_without_objectives_does_not_warn_about_teams() {
    let set = OkrSet {
        teams: vec![team("acme", None)],
        ..OkrSet::default()
    };
    assert_eq!(run(&set), vec![]);
}

#[test]
fn closest_and_edit_distance() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("abc", ""), 3);
    // Insertions and deletions cost one each, like substitutions.
    assert_eq!(edit_distance("abc", "ab"), 1);
    assert_eq!(edit_distance("ab", "abc"), 1);
    assert_eq!(edit_distance("abcd", "ad"), 2);
    assert_eq!(edit_distance("ad", "abcd"), 2);
    assert_eq!(edit_distance("flaw", "lawn"), 2);
    assert_eq!(edit_distance("same", "same"), 0);
    assert_eq!(closest("titel", ["title", "team"]), Some("title"));
    assert_eq!(closest("Owner", ["owner"]), Some("owner"));
    assert_eq!(closest("banana", ["title", "team"]), None);
}

#[test]
fn find_cycles_lists_each_cycle_once_from_its_lowest_member() {
    // 0 → 1 → 2 → 1 (cycle 1,2); 3 → 3; 4 → 0 (tail into the cycle); 5 → none
    let parents = [Some(1), Some(2), Some(1), Some(3), Some(0), None];
    assert_eq!(find_cycles(&parents), vec![vec![1, 2], vec![3]]);
}

/// `reset-calls` as a sustain KR: at least 40 in 10 of the quarter's 14 weeks.
fn sustain_set() -> OkrSet {
    use crate::okr::sustain::{Aggregate, Comparison, Sustain, Window};
    let mut set = base();
    let kr = &mut set.key_results[0];
    kr.kind = KrKind::Sustain;
    kr.start = None;
    kr.target = Some(40.0);
    kr.sustain = Some(Sustain {
        comparison: Comparison::AtLeast,
        window: Window::Week,
        required: 10,
        aggregate: Aggregate::Mean,
    });
    set
}

#[test]
fn a_sustain_kr_fits_its_period() {
    assert_eq!(run(&sustain_set()), vec![]);
    let fields = |set: &OkrSet| -> Vec<(Option<&'static str>, String)> {
        run(set).into_iter().map(|r| (r.4, r.5)).collect()
    };
    // The quarter (Thursday to Thursday) holds 14 weeks, 92 days, 3 months.
    let mut set = sustain_set();
    set.key_results[0].sustain.as_mut().unwrap().required = 14;
    assert_eq!(run(&set), vec![]);
    set.key_results[0].sustain.as_mut().unwrap().required = 15;
    assert_eq!(
        fields(&set),
        vec![(
            Some("required"),
            "key result `reset-calls` requires 15 weeks but period `2026-Q4` (2026-10-01 to \
             2026-12-31) holds only 14; lower `required`"
                .to_string()
        )]
    );
    set.key_results[0].sustain.as_mut().unwrap().required = 0;
    assert_eq!(fields(&set)[0].0, Some("required"));
    assert!(
        fields(&set)[0].1.contains("at least 1"),
        "{:?}",
        fields(&set)
    );
    // A period of 8,000 years cut into days is too many windows to judge.
    let mut set = sustain_set();
    set.periods[0] = period("2026-Q4", "1990-01-01", "9990-12-31");
    set.key_results[0].sustain.as_mut().unwrap().window = crate::okr::sustain::Window::Day;
    let found = fields(&set);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, Some("window"));
    assert!(found[0].1.contains("more than the 1000"), "{found:?}");
}

#[test]
fn the_sustain_rule_belongs_to_sustain_krs_only() {
    let mut set = sustain_set();
    set.key_results[0].sustain = None;
    assert_eq!(
        run(&set),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            Some("window"),
            "sustain key result `reset-calls` needs `comparison`, `window` and `required`"
        )]
    );
    let mut set = sustain_set();
    set.key_results[0].kind = KrKind::AtLeast;
    assert_eq!(
        run(&set),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            Some("window"),
            "key result `reset-calls` is `at_least`: `comparison`, `window`, `required` and \
             `aggregate` apply only to sustain key results"
        )]
    );
    // Its target is the level to hold.
    let mut set = sustain_set();
    set.key_results[0].target = None;
    let found = check(&set, &CheckContext::default());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, rules::MEASURABLE_TARGET);
    assert!(found[0].message.contains("needs a `target`"));
    // It judges its own values: no rollup from children.
    let mut set = sustain_set();
    set.key_results[0].rollup = Some(Rollup::Mean);
    set.key_results.push(KeyResult {
        parent: Some("reset-calls".into()),
        ..kr("child", "reduce-opex", "auth")
    });
    let found = run(&set);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].4, Some("rollup"));
}

#[test]
fn a_kr_s_guard_must_make_sense() {
    use crate::okr::guard::Guard;
    let mut set = base();
    set.key_results[0].guard = Some(Guard {
        min: Some(0.0),
        max_change: Some(0.5),
        ..Guard::default()
    });
    assert_eq!(run(&set), vec![]);
    set.key_results[0].guard = Some(Guard {
        min: Some(10.0),
        max: Some(1.0),
        ..Guard::default()
    });
    assert_eq!(
        run(&set),
        vec![row(
            E,
            K,
            "reset-calls",
            0,
            Some("guard"),
            "key result `reset-calls`: guard.min (10) is above guard.max (1)"
        )]
    );
}

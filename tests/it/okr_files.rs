//! OKR files end to end: text on disk → `OkrSet`, or every problem as `file:line: message`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::NaiveDate;
use okrd::okr::file::{FileProblem, Located, Severity, load_files, parse_str};
use okrd::okr::validate::CheckContext;
use okrd::okr::{
    EntityKind, KeyResult, KrKind, Objective, OkrSet, Period, Rollup, SourceRef, Team,
    WorkflowState,
};
use serde_json::json;

const DATA: &str = "tests/data/okr";

fn path(name: &str) -> PathBuf {
    PathBuf::from(format!("{DATA}/{name}"))
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn lines(problems: &[FileProblem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

fn load(names: &[&str]) -> Result<okrd::okr::file::LoadedOkrs, Vec<FileProblem>> {
    let paths: Vec<PathBuf> = names.iter().map(|n| path(n)).collect();
    load_files(&paths, &CheckContext::default())
}

fn load_errors(names: &[&str]) -> Vec<String> {
    match load(names) {
        Ok(loaded) => panic!("expected problems, loaded {:?}", loaded.set),
        Err(problems) => lines(&problems),
    }
}

fn params(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn expected_valid_set() -> OkrSet {
    let kr = |id: &str, objective: &str, team: &str, owner: &str, title: &str, kind| KeyResult {
        id: id.into(),
        objective: objective.into(),
        team: team.into(),
        owner: owner.into(),
        title: title.into(),
        description: None,
        kind,
        start: None,
        target: None,
        due: None,
        unit: None,
        weight: 1.0,
        parent: None,
        rollup: None,
        source: None,
        state: WorkflowState::Approved,
        sustain: None,
        guard: None,
    };
    OkrSet {
        periods: vec![Period {
            id: "2026-Q4".into(),
            start: date("2026-10-01"),
            end: date("2026-12-31"),
        }],
        teams: vec![
            Team {
                id: "acme".into(),
                name: "Acme Inc.".into(),
                parent: None,
            },
            Team {
                id: "auth".into(),
                name: "Authentication".into(),
                parent: Some("acme".into()),
            },
            Team {
                id: "support".into(),
                name: "Customer Support".into(),
                parent: Some("acme".into()),
            },
        ],
        objectives: vec![
            Objective {
                id: "reduce-opex".into(),
                title: "Reduce cost of operations".into(),
                description: None,
                period: "2026-Q4".into(),
                team: "acme".into(),
                parent: None,
                archived: false,
            },
            Objective {
                id: "self-service".into(),
                title: "Customers fix their own login problems".into(),
                description: Some("Aligned under reduce-opex.".into()),
                period: "2026-Q4".into(),
                team: "auth".into(),
                parent: Some("reduce-opex".into()),
                archived: false,
            },
        ],
        key_results: vec![
            KeyResult {
                start: Some(1200.0),
                target: Some(600.0),
                unit: Some("calls/week".into()),
                source: Some(SourceRef {
                    source: "callcenter".into(),
                    schedule: Some("0 * * * *".into()),
                    params: params(json!({"metric": "calls", "group": "password_reset"})),
                }),
                ..kr(
                    "reset-calls",
                    "reduce-opex",
                    "auth",
                    "dana@acme.example",
                    "Fewer calls to the call center asking for password resets",
                    KrKind::Decrease,
                )
            },
            KeyResult {
                start: Some(5000.0),
                target: Some(3500.5),
                unit: Some("tickets/month".into()),
                weight: 2.0,
                rollup: Some(Rollup::Sum),
                ..kr(
                    "support-load",
                    "reduce-opex",
                    "support",
                    "lee@acme.example",
                    "Less support load",
                    KrKind::Decrease,
                )
            },
            KeyResult {
                start: Some(900.0),
                target: Some(400.0),
                parent: Some("support-load".into()),
                source: Some(SourceRef {
                    source: "helpdesk".into(),
                    schedule: None,
                    params: params(json!({
                        "tag": "login",
                        "since": "2026-10-01",
                        "limit": 100,
                        "ratio": 0.5,
                        "open": true,
                        "states": ["new", "open"],
                        "filter": {"team": "l1"},
                    })),
                }),
                ..kr(
                    "login-tickets",
                    "reduce-opex",
                    "support",
                    "lee@acme.example",
                    "Fewer login tickets",
                    KrKind::Decrease,
                )
            },
            KeyResult {
                description: Some("Asked after each login help session.".into()),
                target: Some(30.0),
                ..kr(
                    "nps",
                    "self-service",
                    "auth",
                    "dana@acme.example",
                    "Login NPS stays high",
                    KrKind::AtLeast,
                )
            },
            KeyResult {
                due: Some(date("2026-11-30")),
                ..kr(
                    "magic-links",
                    "self-service",
                    "auth",
                    "sam@acme.example",
                    "Magic-link login ships",
                    KrKind::Milestone,
                )
            },
        ],
    }
}

#[test]
fn a_valid_file_parses_to_the_expected_set() {
    let text = std::fs::read_to_string(path("valid.toml")).expect("read valid.toml");
    let (set, locations, problems) = parse_str("valid.toml", &text);
    assert_eq!(problems, vec![]);
    assert_eq!(set, expected_valid_set());
    let at = |line| {
        Some(Located {
            file: "valid.toml".into(),
            line,
        })
    };
    assert_eq!(locations.of(EntityKind::Period, "2026-Q4").cloned(), at(3));
    assert_eq!(
        locations.of(EntityKind::KeyResult, "reset-calls").cloned(),
        at(36)
    );
    assert_eq!(
        locations
            .field(EntityKind::KeyResult, "reset-calls", "target")
            .cloned(),
        at(44)
    );
    assert_eq!(
        locations
            .field(EntityKind::KeyResult, "reset-calls", "source.schedule")
            .cloned(),
        at(48)
    );
    assert_eq!(locations.of(EntityKind::KeyResult, "nope"), None);
}

#[test]
fn loading_a_valid_file_checks_sources_and_schedules_and_records_ownership() {
    let sources: BTreeSet<String> = ["callcenter".to_string(), "helpdesk".to_string()].into();
    let five_fields = |s: &str| -> Result<(), String> {
        (s.split_whitespace().count() == 5)
            .then_some(())
            .ok_or_else(|| "expected 5 fields".to_string())
    };
    let ctx = CheckContext {
        known_sources: Some(&sources),
        check_schedule: Some(&five_fields),
        ..CheckContext::default()
    };
    let file = path("valid.toml");
    let loaded = load_files(std::slice::from_ref(&file), &ctx).expect("valid");
    assert_eq!(loaded.set, expected_valid_set());
    assert_eq!(loaded.warnings, vec![]);
    let name = std::fs::canonicalize(&file).unwrap().display().to_string();
    assert_eq!(loaded.ownership.len(), 1 + 3 + 2 + 5);
    assert_eq!(loaded.files, vec![name.clone()]);
    assert_eq!(
        loaded
            .ownership
            .get(&(EntityKind::KeyResult, "nps".to_string())),
        Some(&name)
    );

    // The same file against a configuration without `helpdesk`.
    let fewer: BTreeSet<String> = ["callcenter".to_string()].into();
    let ctx = CheckContext {
        known_sources: Some(&fewer),
        ..ctx
    };
    let problems = load_files(&[file], &ctx).expect_err("unknown source");
    assert_eq!(
        lines(&problems),
        vec![
            "tests/data/okr/valid.toml:74: key result `login-tickets` uses source `helpdesk`, which is \
             not configured; configured sources: callcenter"
        ]
    );
}

#[test]
fn every_mistake_is_reported_at_its_line() {
    let f = "tests/data/okr/mistakes.toml";
    let expected: Vec<String> = [
        "1: unknown key `settings` at the top level; known keys: periods, teams, objectives, key_results",
        "7: period `2026-Q4` ends on 2026-09-30 before it starts on 2026-10-01; fix `start` or `end`",
        "11: `start` is not a valid date: `2027-13-01`; write it as YYYY-MM-DD",
        "12: `end` must be a date (YYYY-MM-DD) without a time, found `2027-03-31T00:00:00`",
        "14: team `acme` is missing required key `name`",
        "16: unknown key `nmae` in [[teams]]; did you mean `name`?",
        "18: warning: team `bad id` supports no objective in any period: it owns no objective and \
         has no key result; add one or remove the team",
        "19: team id `bad id` is not valid: ' ' is not allowed; use only letters, digits, `.`, `_` and `-`",
        "23: warning: team `idle` supports no objective in any period: it owns no objective and has \
         no key result; add one or remove the team",
        "29: warning: objective `grow` has a number in its title (\"Grow NPS to 40\"); objectives are \
         qualitative; put the number in a KR",
        "30: objective `grow`: period `2026-Q5` does not exist; did you mean `2026-Q4`?",
        "33: objective `half-done` is missing required key `team`",
        "50: unknown kind `incrase`; did you mean `increase`? expected one of: increase, decrease, \
         at_least, at_most, milestone, sustain",
        "51: `start` must be a number, found a string (\"1200\"); remove the quotes",
        "63: key result `heavy` has weight -1; `weight` is its share of the objective's progress and \
         must be a number greater than 0 (default 1)",
        "64: unknown key `schedule` in [[key_results]]; `schedule` belongs to the KR's source: write \
         it under [key_results.source]",
        "66: milestone key result `heavy` needs a `due` date",
        "67: duplicate key result id `heavy`; ids must be unique, rename or remove one (first declared \
         at tests/data/okr/mistakes.toml:54)",
        "73: warning: key result `heavy`: `target` means nothing for a milestone (1 = done, 0 = not \
         yet); remove it",
        "74: key result `heavy` has both `rollup` and a `source`; a KR with a source takes its own \
         value, so remove one of them",
        "85: `source` is missing required key `use` (the name of a [[sources]] entry)",
        "87: `source.params.threshold` must be a finite number",
        "89: key result `untitled` is missing required keys `owner`, `title`",
        "104: key result parents form a cycle: loop-a → loop-b → loop-a; remove one of these \
         `parent` links",
    ]
    .iter()
    .map(|l| format!("{f}:{l}"))
    .collect();
    // Not reported: references to `acme` and `half-done`, declared but left out for their own
    // mistakes; the due date of `loop-b`, whose period has no valid range.
    assert_eq!(load_errors(&["mistakes.toml"]), expected);
}

#[test]
fn parse_str_reports_only_syntax_keys_and_types() {
    let text = std::fs::read_to_string(path("mistakes.toml")).expect("read");
    let (set, _, problems) = parse_str("m.toml", &text);
    let got: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(got, vec![1, 11, 12, 14, 16, 33, 50, 51, 64, 85, 87, 89]);
    assert!(problems.iter().all(|p| p.severity == Severity::Error));
    let ids = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        set.teams.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        ids(vec!["bad id", "idle"])
    );
    assert_eq!(
        set.key_results
            .iter()
            .map(|k| k.id.clone())
            .collect::<Vec<_>>(),
        ids(vec!["heavy", "heavy", "loop-a", "loop-b"])
    );
    assert!(
        set.key_results
            .iter()
            .all(|k| k.state == WorkflowState::Approved)
    );
}

#[test]
fn references_resolve_across_files() {
    let loaded = load(&[
        "multi/base.toml",
        "multi/leadership.toml",
        "multi/auth.toml",
    ])
    .expect("valid");
    assert_eq!(loaded.warnings, vec![]);
    assert_eq!(loaded.set.periods.len(), 1);
    assert_eq!(loaded.set.teams.len(), 2);
    assert_eq!(loaded.set.objectives.len(), 1);
    assert_eq!(loaded.set.key_results.len(), 1);
    // Owners are canonical paths: the same however a path is spelled.
    let owner = |kind, id: &str| loaded.ownership.get(&(kind, id.to_string())).cloned();
    let canonical = |p: &str| std::fs::canonicalize(p).unwrap().display().to_string();
    assert_eq!(
        owner(EntityKind::Team, "auth"),
        Some(canonical("tests/data/okr/multi/base.toml"))
    );
    assert_eq!(
        owner(EntityKind::KeyResult, "reset-calls"),
        Some(canonical("tests/data/okr/multi/auth.toml"))
    );
    assert_eq!(
        loaded.locations.of(EntityKind::Objective, "reduce-opex"),
        Some(&Located {
            file: "tests/data/okr/multi/leadership.toml".into(),
            line: 1
        })
    );
}

#[test]
fn a_missing_file_breaks_references_only_in_its_absence() {
    // Without leadership.toml the KR's objective is unknown.
    assert_eq!(
        load_errors(&["multi/base.toml", "multi/auth.toml"]),
        vec![
            // No objective at all: the teams are not warned about.
            "tests/data/okr/multi/auth.toml:4: key result `reset-calls`: objective `reduce-opex` does \
             not exist; declare it or fix the id",
        ]
    );
}

#[test]
fn a_duplicate_id_across_files_names_both_files() {
    assert_eq!(
        load_errors(&[
            "multi/base.toml",
            "multi/leadership.toml",
            "multi/auth.toml",
            "multi/dup.toml"
        ]),
        vec![
            "tests/data/okr/multi/dup.toml:4: duplicate team id `auth`; ids must be unique, rename or \
             remove one (first declared at tests/data/okr/multi/base.toml:11)",
            "tests/data/okr/multi/dup.toml:8: duplicate key result id `reset-calls`; ids must be \
             unique, rename or remove one (first declared at tests/data/okr/multi/auth.toml:2)",
        ]
    );
}

#[test]
fn problems_are_sorted_by_file_in_the_order_given_then_line() {
    let got = load_errors(&[
        "multi/dup.toml",
        "multi/base.toml",
        "multi/leadership.toml",
        "multi/auth.toml",
    ]);
    assert_eq!(
        got,
        vec![
            // At the duplicate's `id`, naming the first's table.
            "tests/data/okr/multi/base.toml:12: duplicate team id `auth`; ids must be unique, rename \
             or remove one (first declared at tests/data/okr/multi/dup.toml:3)",
            "tests/data/okr/multi/auth.toml:3: duplicate key result id `reset-calls`; ids must be \
             unique, rename or remove one (first declared at tests/data/okr/multi/dup.toml:7)",
        ]
    );
}

#[test]
fn an_unknown_key_gets_a_hint() {
    assert_eq!(
        load_errors(&["unknown_key.toml"]),
        vec![
            "tests/data/okr/unknown_key.toml:10: objective `reduce-opex` is missing required key `title`",
            "tests/data/okr/unknown_key.toml:12: unknown key `titel` in [[objectives]]; did you mean `title`?",
            "tests/data/okr/unknown_key.toml:16: unknown key `key_result` at the top level; did you mean `key_results`?",
        ]
    );
}

#[test]
fn syntax_errors_are_reported_with_their_lines_and_skip_the_other_checks() {
    assert_eq!(
        load_errors(&["syntax.toml", "multi/auth.toml"]),
        vec![
            "tests/data/okr/syntax.toml:8: TOML syntax error: string values must be quoted, expected literal string",
            "tests/data/okr/syntax.toml:12: TOML syntax error: invalid basic string, expected `\"`",
        ]
    );
}

#[test]
fn a_key_set_twice_is_named() {
    let (_, _, problems) = parse_str(
        "t.toml",
        "[[teams]]\nid = \"a\"\nname = \"A\"\nid = \"b\"\n",
    );
    assert_eq!(
        lines(&problems),
        vec!["t.toml:4: TOML syntax error: `id` is set twice in the same table; keep one"]
    );
}

#[test]
fn an_unreadable_file_is_a_problem_of_the_whole_file() {
    let problems = load(&["does-not-exist.toml"]).expect_err("missing file");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 0);
    assert!(
        problems[0]
            .to_string()
            .starts_with("tests/data/okr/does-not-exist.toml: cannot read the OKR file: "),
        "{}",
        problems[0]
    );
}

#[test]
fn types_and_shapes_are_explained() {
    let text = r#"
periods = { id = "q" }

[[teams]]
id = 7
name = "Seven"
parent = ["acme"]

[[key_results]]
id = "k"
objective = "o"
team = "t"
owner = "me"
title = "T"
kind = "at_least"
target = 99999999999999999999
weight = "2"
due = 2026-10-01T10:00:00Z
rollup = "avg"
source = "callcenter"

[[key_results]]
id = "k2"
objective = "o"
team = "t"
owner = "me"
title = "T"
kind = "at_least"
target = 1
use = "x"
source.use = 3
source.params = [1]

[[objectives]]
"#;
    let (set, _, problems) = parse_str("t.toml", text);
    assert_eq!(set, OkrSet::default());
    assert_eq!(
        lines(&problems),
        vec![
            "t.toml:2: `periods` must be an array of tables, found a table; write each entry under [[periods]]",
            "t.toml:5: `id` must be a string, found an integer",
            "t.toml:7: `parent` must be a string, found an array",
            "t.toml:16: `target` is out of range for a 64-bit integer",
            "t.toml:17: `weight` must be a number, found a string (\"2\"); remove the quotes",
            "t.toml:18: `due` must be a date (YYYY-MM-DD) without a time, found `2026-10-01T10:00:00Z`",
            "t.toml:19: unknown rollup `avg`; expected one of: sum, mean, min, max",
            "t.toml:20: `source` must be a table, found a string (\"callcenter\"); write source = \
             { use = \"<source name>\" } or a [key_results.source] table",
            "t.toml:30: unknown key `use` in [[key_results]]; `use` belongs to the KR's source: write \
             it under [key_results.source]",
            "t.toml:31: `source.use` must be a string, found an integer",
            "t.toml:32: `source.params` must be a table, found an array",
            "t.toml:34: [[objectives]] entry is missing required keys `id`, `title`, `period`, `team`",
        ]
    );
}

/// A file of several MiB is read a piece at a time; what it means and where
/// its problems are stay as when it is read whole.
#[test]
fn large_files_read_in_pieces_mean_what_the_whole_file_means() {
    let mut text = String::from("# many teams\n");
    let mut n = 0;
    while text.len() < 5 << 20 {
        text.push_str(&format!(
            "[[teams]]\nid = \"t{n}\"\nname = \"Team {n}\"\n\n"
        ));
        n += 1;
    }
    let line_of = |text: &str, needle: &str| text[..text.find(needle).unwrap()].lines().count() + 1;

    let (set, locations, problems) = parse_str("big.toml", &text);
    assert_eq!((set.teams.len(), problems.len()), (n, 0));
    // Where each entity is, as in a small file holding just it.
    let last = format!("t{}", n - 1);
    let at = locations.of(EntityKind::Team, &last).cloned().unwrap();
    let header = text.rfind("[[teams]]").unwrap();
    let (_, alone, _) = parse_str("big.toml", &text[header..]);
    let before = text[..header].lines().count();
    let alone = alone.of(EntityKind::Team, &last).cloned().unwrap();
    assert_eq!(at.line, before + alone.line);

    // A problem near the end, at its line.
    let unknown = format!("{text}[[teams]]\nid = \"x\"\nname = \"X\"\ncolour = \"red\"\n");
    let (set, _, problems) = parse_str("big.toml", &unknown);
    assert_eq!(set.teams.len(), n + 1, "an unknown key leaves the team in");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, line_of(&unknown, "colour"));

    // A syntax error near the end: reported as for the whole file, nothing read.
    let twice = format!("{text}[[teams]]\nid = \"x\"\nid = \"y\"\n");
    let (set, _, problems) = parse_str("big.toml", &twice);
    assert!(set.teams.is_empty());
    assert_eq!(
        lines(&problems),
        [format!(
            "big.toml:{}: TOML syntax error: `id` is set twice in the same table; keep one",
            line_of(&twice, "id = \"y\"")
        )]
    );

    // A KR's table written after other entries still belongs to that KR.
    let kr = "[[key_results]]\nid = \"k\"\nobjective = \"o\"\nteam = \"t0\"\nowner = \"a@b.c\"\n\
              title = \"K\"\nkind = \"increase\"\nstart = 0\ntarget = 1\n";
    let late = format!("{kr}{text}[key_results.source]\nuse = \"s\"\n");
    let (set, _, problems) = parse_str("big.toml", &late);
    assert_eq!(problems, []);
    assert_eq!(set.key_results[0].source.as_ref().unwrap().source, "s");
    assert_eq!(set.teams.len(), n);
}

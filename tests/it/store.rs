//! The store's contract, on every backend (`backends::stores`): SQLite always,
//! PostgreSQL when `OKRD_TEST_POSTGRES_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use okrd::okr::{
    CheckIn, EntityKind, KeyResult, KrKind, Objective, OkrSet, Origin, Ownership, Period, Rollup,
    SourceRef, Team, WorkflowState,
};
use okrd::store::{Backend, Change, Lease, Store, StoreError};
use serde_json::json;

use crate::support::backends;

// ---------------------------------------------------------------- fixtures

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn kr(id: &str, objective: &str, team: &str) -> KeyResult {
    KeyResult {
        id: id.into(),
        objective: objective.into(),
        team: team.into(),
        owner: "dana@acme.example".into(),
        title: format!("KR {id}"),
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

fn objective(id: &str, team: &str) -> Objective {
    Objective {
        id: id.into(),
        title: format!("Objective {id}"),
        description: None,
        period: "2026-Q4".into(),
        team: team.into(),
        parent: None,
        archived: false,
    }
}

/// A small tree using every column: parents, sources, milestones, rollups.
fn sample() -> OkrSet {
    let mut params = serde_json::Map::new();
    params.insert("metric".into(), json!("calls"));
    params.insert(
        "group".into(),
        json!({"name": "password_reset", "ids": [1, 2]}),
    );
    OkrSet {
        periods: vec![Period {
            id: "2026-Q4".into(),
            start: date("2026-10-01"),
            end: date("2026-12-31"),
        }],
        // Child before parent: deferred foreign keys make order irrelevant.
        teams: vec![
            Team {
                id: "auth".into(),
                name: "Authentication".into(),
                parent: Some("acme".into()),
            },
            Team {
                id: "acme".into(),
                name: "Acme Inc.".into(),
                parent: None,
            },
        ],
        objectives: vec![
            Objective {
                parent: Some("reduce-opex".into()),
                description: Some("Fewer tickets".into()),
                ..objective("self-service", "auth")
            },
            objective("reduce-opex", "acme"),
        ],
        key_results: vec![
            KeyResult {
                kind: KrKind::Decrease,
                start: Some(1200.0),
                target: Some(600.0),
                unit: Some("calls/week".into()),
                source: Some(SourceRef {
                    source: "callcenter".into(),
                    schedule: Some("0 * * * *".into()),
                    params,
                }),
                parent: Some("opex-total".into()),
                ..kr("reset-calls", "self-service", "auth")
            },
            KeyResult {
                rollup: Some(Rollup::Sum),
                weight: 2.5,
                ..kr("opex-total", "reduce-opex", "acme")
            },
            KeyResult {
                kind: KrKind::Milestone,
                start: None,
                target: Some(1.0),
                due: Some(date("2026-11-15")),
                description: Some("Ship the reset page".into()),
                ..kr("launch", "self-service", "auth")
            },
        ],
    }
}

/// Every entity of `set` managed by `file`.
fn owned_by(set: &OkrSet, file: &str) -> Ownership {
    let mut o = Ownership::new();
    for p in &set.periods {
        o.insert((EntityKind::Period, p.id.clone()), file.into());
    }
    for t in &set.teams {
        o.insert((EntityKind::Team, t.id.clone()), file.into());
    }
    for x in &set.objectives {
        o.insert((EntityKind::Objective, x.id.clone()), file.into());
    }
    for k in &set.key_results {
        o.insert((EntityKind::KeyResult, k.id.clone()), file.into());
    }
    o
}

/// `set` as the store returns it: every list ordered by id.
fn sorted(mut set: OkrSet) -> OkrSet {
    set.periods.sort_by(|a, b| a.id.cmp(&b.id));
    set.teams.sort_by(|a, b| a.id.cmp(&b.id));
    set.objectives.sort_by(|a, b| a.id.cmp(&b.id));
    set.key_results.sort_by(|a, b| a.id.cmp(&b.id));
    set
}

fn entity_count(set: &OkrSet) -> usize {
    set.periods.len() + set.teams.len() + set.objectives.len() + set.key_results.len()
}

fn ids(changes: &[Change]) -> Vec<(EntityKind, &str)> {
    changes.iter().map(|c| (c.kind, c.id.as_str())).collect()
}

fn check_in(kr: &str, value: f64, observed_ms: i64, key: Option<&str>) -> CheckIn {
    CheckIn {
        key_result: kr.into(),
        value,
        observed_at: at_ms(observed_ms),
        origin: Origin::source("callcenter"),
        note: None,
        confidence: None,
        idempotency_key: key.map(str::to_string),
    }
}

/// A store holding `sample()`, applied from `okrs.toml`.
async fn with_sample(store: &Store) -> OkrSet {
    let set = sample();
    store
        .apply(&set, &owned_by(&set, "okrs.toml"))
        .await
        .unwrap();
    set
}

// ------------------------------------------------------ connect, migrate

#[tokio::test]
async fn migrate_is_idempotent_and_ready_reports_it() {
    for db in backends::databases().await {
        let b = db.backend;
        let store = Store::connect(&db.url, 2).await.unwrap();
        let expected = if b == "sqlite" {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        assert_eq!(store.backend(), expected);

        let err = store.ready().await.expect_err("ready before migrate");
        assert!(matches!(err, StoreError::NotReady(_)), "{b}: {err:?}");

        store.migrate().await.unwrap();
        store.ready().await.unwrap_or_else(|e| panic!("{b}: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{b}: second migrate: {e}"));
        store.ready().await.unwrap();
        // Migrating did not touch the data tables.
        assert_eq!(store.load_okrs().await.unwrap(), OkrSet::default(), "{b}");

        store.close().await;
        assert!(store.ready().await.is_err(), "{b}: ready after close");
        drop(db);
    }
}

#[tokio::test]
async fn replicas_migrating_together_all_succeed() {
    for db in backends::databases().await {
        if db.backend != "postgres" {
            continue; // SQLite mode is single-process.
        }
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let url = db.url.clone();
            tasks.push(tokio::spawn(async move {
                Store::connect(&url, 2).await?.migrate().await
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("concurrent migrate");
        }
        Store::connect(&db.url, 1)
            .await
            .unwrap()
            .ready()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()), 2)
        .await
        .unwrap();
    assert!(path.exists(), "database file created");
    store.migrate().await.unwrap();
    with_sample(&store).await;
    // The write-ahead log exists while connections are open (WAL mode).
    assert!(dir.path().join("new.db-wal").exists(), "WAL file");
}

#[tokio::test]
async fn sqlite_memory_works_for_tests() {
    let store = Store::connect("sqlite::memory:", 8).await.unwrap();
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    let set = with_sample(&store).await;
    assert_eq!(store.load_okrs().await.unwrap(), sorted(set));
}

#[tokio::test]
async fn errors_never_show_the_database_password() {
    let secret = "s3cr3t-Pa55";
    let assert_redacted = |err: &StoreError| {
        for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!text.contains(secret), "{text}");
        }
    };

    // Refused before any network I/O (a port that is not a number).
    let err = Store::connect(&format!("postgres://okrd:{secret}@127.0.0.1:port/okrd"), 1)
        .await
        .expect_err("bad port");
    assert_redacted(&err);
    assert!(
        err.to_string()
            .contains("postgres://okrd:***@127.0.0.1:port/okrd"),
        "{err}"
    );

    let err = Store::connect(&format!("mysql://root:{secret}@db/okrd"), 1)
        .await
        .expect_err("unsupported scheme");
    assert_redacted(&err);
    for scheme in ["sqlite://", "postgres://", "postgresql://"] {
        assert!(err.to_string().contains(scheme), "names {scheme}: {err}");
    }

    // A real server refusing the database: the driver's own message.
    if let Some(admin) = backends::postgres_url() {
        let (scheme, rest) = admin.split_once("://").unwrap();
        let authority = rest.split(['/', '?']).next().unwrap();
        let (user, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (userinfo.split(':').next().unwrap(), host),
            None => ("postgres", authority),
        };
        let url = format!("{scheme}://{user}:{secret}@{host}/okrd_no_such_database");
        let err = Store::connect(&url, 1).await.expect_err("no such database");
        assert_redacted(&err);
        assert!(err.to_string().contains(":***@"), "{err}");
    }
}

#[test]
fn migrations_are_the_same_schema_on_both_backends() {
    let sqlite = include_str!("../../migrations/sqlite/0001_schema.sql");
    let postgres = include_str!("../../migrations/postgres/0001_schema.sql");
    let normalise = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("-- okrd schema"))
            .map(|l| {
                l.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "<identity>")
                    .replace(
                        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                        "<identity>",
                    )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(normalise(sqlite), normalise(postgres));
}

// ------------------------------------------------------------------ apply

#[tokio::test]
async fn apply_creates_everything_and_a_second_apply_is_empty() {
    for s in backends::stores().await {
        let b = s.backend;
        let set = sample();
        let ownership = owned_by(&set, "okrs.toml");

        let plan = s.apply(&set, &ownership).await.unwrap();
        assert_eq!(
            ids(&plan.created),
            vec![
                (EntityKind::Period, "2026-Q4"),
                (EntityKind::Team, "acme"),
                (EntityKind::Team, "auth"),
                (EntityKind::Objective, "reduce-opex"),
                (EntityKind::Objective, "self-service"),
                (EntityKind::KeyResult, "launch"),
                (EntityKind::KeyResult, "opex-total"),
                (EntityKind::KeyResult, "reset-calls"),
            ],
            "{b}"
        );
        assert!(
            plan.changed.is_empty() && plan.archived.is_empty(),
            "{b}: {plan:?}"
        );
        assert_eq!(plan.unchanged, 0);

        assert_eq!(s.load_okrs().await.unwrap(), sorted(set.clone()), "{b}");
        assert_eq!(s.ownership().await.unwrap(), ownership, "{b}");

        let again = s.apply(&set, &ownership).await.unwrap();
        assert!(again.is_empty(), "{b}: {again:?}");
        assert_eq!(again.unchanged, entity_count(&set), "{b}");
        assert_eq!(s.plan_apply(&set, &ownership).await.unwrap(), again, "{b}");
    }
}

/// More rows than one statement takes (and than one audit round): the
/// batched writes store every row, a second apply writes nothing, and
/// changes and archivals spread over several batches land on the right rows.
#[tokio::test]
async fn applies_larger_than_a_batch_match_row_by_row_writes() {
    for s in backends::stores().await {
        let b = s.backend;
        let mut set = sample();
        set.key_results.extend((0..12_000).map(|i| KeyResult {
            // Every third KR has a source, every fifth a null target.
            source: (i % 3 == 0).then(|| SourceRef {
                source: "callcenter".into(),
                schedule: None,
                params: serde_json::Map::new(),
            }),
            target: (i % 5 != 0).then_some(f64::from(i)),
            ..kr(&format!("kr-{i:05}"), "reduce-opex", "acme")
        }));
        let ownership = owned_by(&set, "okrs.toml");
        let plan = s.apply(&set, &ownership).await.unwrap();
        assert_eq!(plan.created.len(), entity_count(&set), "{b}");
        assert_eq!(s.load_okrs().await.unwrap(), sorted(set.clone()), "{b}");
        let again = s.apply(&set, &ownership).await.unwrap();
        assert!(again.is_empty(), "{b}: {again:?}");
        assert_eq!(again.unchanged, entity_count(&set), "{b}");

        // Change every 7th KR and drop every 11th (but the sample's).
        for k in set.key_results.iter_mut().skip(3).step_by(7) {
            k.title = format!("{} (renamed)", k.title);
        }
        let dropped: Vec<String> = set.key_results[3..]
            .iter()
            .step_by(11)
            .map(|k| k.id.clone())
            .collect();
        set.key_results.retain(|k| !dropped.contains(&k.id));
        let plan = s
            .apply_files(&set, &owned_by(&set, "okrs.toml"), &["okrs.toml".into()])
            .await
            .unwrap();
        let renamed = set
            .key_results
            .iter()
            .filter(|k| k.title.ends_with("(renamed)"))
            .count();
        assert_eq!(plan.changed.len(), renamed, "{b}");
        assert!(plan.changed.iter().all(|c| c.fields == ["title"]), "{b}");
        let mut archived: Vec<&str> = plan.archived.iter().map(|c| c.id.as_str()).collect();
        archived.sort_unstable();
        assert_eq!(archived, dropped, "{b}");

        let stored = s.load_okrs().await.unwrap();
        for k in &stored.key_results {
            let declared = set.key_results.iter().find(|d| d.id == k.id);
            match declared {
                Some(d) => assert_eq!(k, d, "{b}"),
                None => assert_eq!(k.state, WorkflowState::Archived, "{b}: {}", k.id),
            }
        }
        let log = s
            .audit_log(&okrd::store::AuditQuery {
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let count = |action: &str| log.iter().filter(|e| e.action == action).count();
        assert_eq!(count("key_result.create"), 12_003, "{b}");
        assert_eq!(count("key_result.update"), renamed, "{b}");
        assert_eq!(count("key_result.archive"), dropped.len(), "{b}");
        assert!(
            s.apply_files(&set, &owned_by(&set, "okrs.toml"), &["okrs.toml".into()])
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn applied_key_results_are_approved() {
    for s in backends::stores().await {
        let mut set = sample();
        set.key_results[0].state = WorkflowState::Draft;
        s.apply(&set, &owned_by(&set, "okrs.toml")).await.unwrap();
        let stored = s.load_okrs().await.unwrap();
        assert!(
            stored
                .key_results
                .iter()
                .all(|k| k.state == WorkflowState::Approved),
            "{}: {:?}",
            s.backend,
            stored.key_results
        );
    }
}

#[tokio::test]
async fn changed_fields_are_named() {
    for s in backends::stores().await {
        let b = s.backend;
        let mut set = with_sample(&s).await;
        set.key_results[0].title = "Halve password-reset calls".into();
        set.key_results[0].target = Some(500.0);
        if let Some(source) = &mut set.key_results[0].source {
            source.params.insert("group".into(), json!("resets"));
        }
        set.objectives[1].description = Some("Cheaper".into());
        set.teams[0].name = "Identity".into();
        let mut ownership = owned_by(&set, "okrs.toml");
        ownership.insert(
            (EntityKind::Period, "2026-Q4".into()),
            "periods.toml".into(),
        );

        let plan = s.apply(&set, &ownership).await.unwrap();
        let expected = vec![
            Change {
                kind: EntityKind::Period,
                id: "2026-Q4".into(),
                fields: vec!["managed_by".into()],
            },
            Change {
                kind: EntityKind::Team,
                id: "auth".into(),
                fields: vec!["name".into()],
            },
            Change {
                kind: EntityKind::Objective,
                id: "reduce-opex".into(),
                fields: vec!["description".into()],
            },
            Change {
                kind: EntityKind::KeyResult,
                id: "reset-calls".into(),
                fields: vec!["title".into(), "target".into(), "source".into()],
            },
        ];
        assert_eq!(plan.changed, expected, "{b}");
        assert!(
            plan.created.is_empty() && plan.archived.is_empty(),
            "{b}: {plan:?}"
        );
        assert_eq!(plan.unchanged, entity_count(&set) - 4, "{b}");
        assert_eq!(s.load_okrs().await.unwrap(), sorted(set.clone()), "{b}");
        assert!(s.apply(&set, &ownership).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn removing_entities_from_the_file_archives_krs_and_objectives_only() {
    for s in backends::stores().await {
        let b = s.backend;
        let full = with_sample(&s).await;
        s.insert_check_in(&check_in("launch", 1.0, 1_000, None))
            .await
            .unwrap();

        // Drop the "self-service" objective with its two KRs, and team "auth"
        // and the period's list entry stays.
        let mut set = full.clone();
        set.objectives.retain(|o| o.id != "self-service");
        set.key_results.retain(|k| k.id == "opex-total");
        set.teams.retain(|t| t.id != "auth");
        let ownership = owned_by(&set, "okrs.toml");

        let plan = s.plan_apply(&set, &ownership).await.unwrap();
        assert_eq!(
            ids(&plan.archived),
            vec![
                (EntityKind::Objective, "self-service"),
                (EntityKind::KeyResult, "launch"),
                (EntityKind::KeyResult, "reset-calls"),
            ],
            "{b}"
        );
        assert_eq!(s.apply(&set, &ownership).await.unwrap(), plan, "{b}");

        let stored = s.load_okrs().await.unwrap();
        assert_eq!(stored.teams.len(), 2, "{b}: teams are never deleted");
        let obj = stored
            .objectives
            .iter()
            .find(|o| o.id == "self-service")
            .unwrap();
        assert!(obj.archived, "{b}");
        for k in &stored.key_results {
            let want = if k.id == "opex-total" {
                WorkflowState::Approved
            } else {
                WorkflowState::Archived
            };
            assert_eq!(k.state, want, "{b}: {}", k.id);
        }
        // History survives archiving.
        assert_eq!(s.check_ins("launch", 10).await.unwrap().len(), 1, "{b}");
        // Archiving is idempotent.
        assert!(s.apply(&set, &ownership).await.unwrap().is_empty(), "{b}");

        // Putting them back restores them.
        let plan = s.apply(&full, &owned_by(&full, "okrs.toml")).await.unwrap();
        assert_eq!(
            plan.changed
                .iter()
                .map(|c| (c.id.as_str(), c.fields.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("self-service", vec!["archived".to_string()]),
                ("launch", vec!["state".to_string()]),
                ("reset-calls", vec!["state".to_string()]),
            ],
            "{b}"
        );
        assert_eq!(s.load_okrs().await.unwrap(), sorted(full), "{b}");
    }
}

#[tokio::test]
async fn only_the_applied_files_entities_are_archived() {
    for s in backends::stores().await {
        let b = s.backend;
        let base = with_sample(&s).await;
        // A second file adds its own KR to an objective of the first.
        let other = OkrSet {
            key_results: vec![kr("nps", "reduce-opex", "acme")],
            ..OkrSet::default()
        };
        let plan = s
            .apply(&other, &owned_by(&other, "team-b.toml"))
            .await
            .unwrap();
        assert_eq!(
            ids(&plan.created),
            vec![(EntityKind::KeyResult, "nps")],
            "{b}"
        );
        assert!(
            plan.archived.is_empty(),
            "{b}: other file's entities kept: {plan:?}"
        );

        // Re-applying the first file leaves the second file's KR alone.
        let plan = s.apply(&base, &owned_by(&base, "okrs.toml")).await.unwrap();
        assert!(plan.is_empty(), "{b}: {plan:?}");
        let stored = s.load_okrs().await.unwrap();
        let nps = stored.key_results.iter().find(|k| k.id == "nps").unwrap();
        assert_eq!(nps.state, WorkflowState::Approved, "{b}");
        assert_eq!(
            s.ownership()
                .await
                .unwrap()
                .get(&(EntityKind::KeyResult, "nps".into())),
            Some(&"team-b.toml".to_string()),
            "{b}"
        );
    }
}

#[tokio::test]
async fn plan_apply_writes_nothing() {
    for s in backends::stores().await {
        let b = s.backend;
        let set = sample();
        let ownership = owned_by(&set, "okrs.toml");
        let plan = s.plan_apply(&set, &ownership).await.unwrap();
        assert_eq!(plan.created.len(), entity_count(&set), "{b}");
        assert_eq!(s.load_okrs().await.unwrap(), OkrSet::default(), "{b}");
        assert!(s.ownership().await.unwrap().is_empty(), "{b}");

        // The plan is what apply then does.
        assert_eq!(s.apply(&set, &ownership).await.unwrap(), plan, "{b}");

        let mut changed = set.clone();
        changed.key_results.clear();
        let plan = s.plan_apply(&changed, &ownership).await.unwrap();
        assert_eq!(plan.archived.len(), 3, "{b}");
        assert_eq!(
            s.load_okrs().await.unwrap(),
            sorted(set),
            "{b}: still as applied"
        );
    }
}

#[tokio::test]
async fn apply_is_all_or_nothing() {
    for s in backends::stores().await {
        let b = s.backend;
        // On an empty store: a KR under a missing objective fails the whole set.
        let mut bad = sample();
        bad.key_results
            .push(kr("orphan", "no-such-objective", "acme"));
        let err = s
            .apply(&bad, &owned_by(&bad, "okrs.toml"))
            .await
            .expect_err("dangling FK");
        assert!(err.is_constraint(), "{b}: {err:?}");
        assert_eq!(
            s.load_okrs().await.unwrap(),
            OkrSet::default(),
            "{b}: nothing written"
        );

        // On a populated store: nothing of a failed apply sticks, archivals included.
        let good = with_sample(&s).await;
        let mut bad = good.clone();
        bad.objectives[0].title = "Renamed".into();
        bad.key_results.retain(|k| k.id != "launch");
        bad.key_results
            .push(kr("orphan", "reduce-opex", "no-such-team"));
        assert!(
            s.apply(&bad, &owned_by(&bad, "okrs.toml")).await.is_err(),
            "{b}"
        );
        assert_eq!(
            s.load_okrs().await.unwrap(),
            sorted(good.clone()),
            "{b}: unchanged"
        );

        // The pool's connections are usable afterwards (no transaction left open).
        for _ in 0..6 {
            assert!(
                s.apply(&good, &owned_by(&good, "okrs.toml"))
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}

#[tokio::test]
async fn concurrent_applies_serialise() {
    for s in backends::stores().await {
        let b = s.backend;
        // Replicas starting together all apply the same files.
        let replicas = [s.store.clone(), s.reconnect().await];
        let set = sample();
        let ownership = owned_by(&set, "okrs.toml");
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (store, set, ownership) = (replicas[i % 2].clone(), set.clone(), ownership.clone());
            tasks.push(tokio::spawn(
                async move { store.apply(&set, &ownership).await },
            ));
        }
        let mut plans = Vec::new();
        for t in tasks {
            plans.push(t.await.unwrap().unwrap_or_else(|e| panic!("{b}: {e}")));
        }
        // Each saw what the one before it committed: one created, the rest had nothing to do.
        assert_eq!(
            plans.iter().filter(|p| !p.is_empty()).count(),
            1,
            "{b}: {plans:?}"
        );
        assert_eq!(s.load_okrs().await.unwrap(), sorted(set), "{b}");
    }
}

#[tokio::test]
async fn invalid_sets_are_refused_before_writing() {
    for s in backends::stores().await {
        let b = s.backend;
        let mut dup = sample();
        dup.key_results.push(kr("launch", "reduce-opex", "acme"));
        let err = s
            .apply(&dup, &owned_by(&dup, "f"))
            .await
            .expect_err("duplicate id");
        assert!(matches!(err, StoreError::Invalid(_)), "{b}: {err:?}");

        let mut nan = sample();
        nan.key_results[0].target = Some(f64::NAN);
        let err = s
            .apply(&nan, &owned_by(&nan, "f"))
            .await
            .expect_err("NaN target");
        assert!(matches!(err, StoreError::Invalid(_)), "{b}: {err:?}");
        assert_eq!(s.load_okrs().await.unwrap(), OkrSet::default(), "{b}");
    }
}

#[tokio::test]
async fn load_orders_by_id_bytes_on_every_backend() {
    for s in backends::stores().await {
        let b = s.backend;
        // Collations disagree on these; byte order does not.
        let krs = [
            "b-kr", "B-kr", "a_kr", "A-kr", "a-kr", "Z", "é-kr", "10", "9",
        ];
        let mut set = sample();
        set.key_results = krs.iter().map(|id| kr(id, "reduce-opex", "acme")).collect();
        s.apply(&set, &owned_by(&set, "f")).await.unwrap();
        let got: Vec<String> = s
            .load_okrs()
            .await
            .unwrap()
            .key_results
            .into_iter()
            .map(|k| k.id)
            .collect();
        let mut want: Vec<String> = krs.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{b}");
    }
}

// -------------------------------------------------------------- check-ins

#[tokio::test]
async fn check_ins_are_idempotent_on_their_key() {
    for s in backends::stores().await {
        let b = s.backend;
        with_sample(&s).await;
        let c = check_in("reset-calls", 1100.0, 1_000, Some("reset-calls@1000"));
        assert!(s.insert_check_in(&c).await.unwrap(), "{b}: first write");
        let retry = CheckIn {
            value: 999.0,
            ..c.clone()
        };
        assert!(!s.insert_check_in(&retry).await.unwrap(), "{b}: same key");
        assert_eq!(
            s.check_ins("reset-calls", 10).await.unwrap(),
            vec![c],
            "{b}"
        );

        // Without a key every write is a new row.
        let manual = CheckIn {
            origin: Origin::manual("dana"),
            note: Some("from the dashboard".into()),
            confidence: Some(0.7),
            ..check_in("reset-calls", 1000.0, 2_000, None)
        };
        assert!(s.insert_check_in(&manual).await.unwrap());
        assert!(s.insert_check_in(&manual).await.unwrap());
        assert_eq!(
            s.check_ins("reset-calls", 10).await.unwrap().len(),
            3,
            "{b}"
        );

        let err = s
            .insert_check_in(&check_in("nope", 1.0, 1, Some("nope@1")))
            .await
            .expect_err("unknown KR");
        assert!(
            matches!(err, StoreError::UnknownKeyResult(ref k) if k == "nope"),
            "{b}: {err:?}"
        );
        let err = s
            .insert_check_in(&check_in("launch", f64::INFINITY, 1, None))
            .await;
        assert!(matches!(err, Err(StoreError::Invalid(_))), "{b}: {err:?}");
    }
}

#[tokio::test]
async fn concurrent_writes_of_one_key_store_one_row() {
    for s in backends::stores().await {
        let b = s.backend;
        with_sample(&s).await;
        let store = Arc::new(s.store.clone());
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let c = check_in("launch", f64::from(i), 5_000, Some("launch@5000"));
                store.insert_check_in(&c).await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "{b}");
        assert_eq!(s.check_ins("launch", 100).await.unwrap().len(), 1, "{b}");
    }
}

#[tokio::test]
async fn latest_check_in_per_kr() {
    for s in backends::stores().await {
        let b = s.backend;
        with_sample(&s).await;
        assert!(s.latest_check_ins().await.unwrap().is_empty(), "{b}");
        let writes = [
            ("reset-calls", 1100.0, 3_000),
            ("reset-calls", 1000.0, 5_000),
            // Arrives later but was observed earlier: not the latest.
            ("reset-calls", 1050.0, 4_000),
            ("launch", 0.0, 5_000),
            // Same instant: the one inserted last wins.
            ("launch", 1.0, 5_000),
        ];
        for (kr, v, t) in writes {
            assert!(s.insert_check_in(&check_in(kr, v, t, None)).await.unwrap());
        }
        let latest = s.latest_check_ins().await.unwrap();
        let got: Vec<(&str, f64, i64)> = latest
            .iter()
            .map(|c| {
                (
                    c.key_result.as_str(),
                    c.value,
                    c.observed_at.timestamp_millis(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![("launch", 1.0, 5_000), ("reset-calls", 1000.0, 5_000)],
            "{b}"
        );
    }
}

#[tokio::test]
async fn history_is_newest_first_and_limited() {
    for s in backends::stores().await {
        let b = s.backend;
        with_sample(&s).await;
        for (v, t) in [(1.0, 1_000), (3.0, 3_000), (2.0, 2_000), (4.0, 3_000)] {
            s.insert_check_in(&check_in("opex-total", v, t, None))
                .await
                .unwrap();
        }
        s.insert_check_in(&check_in("launch", 9.0, 9_000, None))
            .await
            .unwrap();

        let values = |h: Vec<CheckIn>| h.into_iter().map(|c| c.value).collect::<Vec<_>>();
        assert_eq!(
            values(s.check_ins("opex-total", 10).await.unwrap()),
            vec![4.0, 3.0, 2.0, 1.0],
            "{b}"
        );
        assert_eq!(
            values(s.check_ins("opex-total", 2).await.unwrap()),
            vec![4.0, 3.0],
            "{b}"
        );
        assert!(
            s.check_ins("opex-total", 0).await.unwrap().is_empty(),
            "{b}"
        );
        assert!(s.check_ins("unknown", 10).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn numbers_and_instants_round_trip_exactly() {
    let values = [
        0.1 + 0.2,
        1.0 / 3.0,
        -1234.5678e-9,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324, // smallest subnormal
        9_007_199_254_740_993.0,
        123_456_789.123_456_79,
        0.0,
    ];
    for s in backends::stores().await {
        let b = s.backend;
        let mut set = sample();
        set.key_results[0].start = Some(values[0]);
        set.key_results[0].target = Some(values[1]);
        set.key_results[0].weight = values[2].abs();
        s.apply(&set, &owned_by(&set, "f")).await.unwrap();
        let stored = s.load_okrs().await.unwrap();
        let k = stored
            .key_results
            .iter()
            .find(|k| k.id == "reset-calls")
            .unwrap();
        assert_eq!(k.start.map(f64::to_bits), Some(values[0].to_bits()), "{b}");
        assert_eq!(k.target.map(f64::to_bits), Some(values[1].to_bits()), "{b}");
        assert_eq!(k.weight.to_bits(), values[2].abs().to_bits(), "{b}");

        let observed = at_ms(1_790_000_000_123);
        for (i, v) in values.iter().enumerate() {
            let c = CheckIn {
                observed_at: observed + chrono::Duration::milliseconds(i as i64),
                confidence: Some(*v),
                ..check_in("launch", *v, 0, None)
            };
            s.insert_check_in(&c).await.unwrap();
        }
        let mut history = s.check_ins("launch", 100).await.unwrap();
        history.reverse();
        for (i, (c, v)) in history.iter().zip(values).enumerate() {
            assert_eq!(c.value.to_bits(), v.to_bits(), "{b}: value {v:e}");
            assert_eq!(c.confidence.map(f64::to_bits), Some(v.to_bits()), "{b}");
            assert_eq!(
                c.observed_at,
                observed + chrono::Duration::milliseconds(i as i64)
            );
        }
        assert_eq!(history.len(), values.len());
    }
}

#[tokio::test]
async fn acknowledged_check_ins_survive_a_restart() {
    for s in backends::stores().await {
        let b = s.backend;
        with_sample(&s).await;
        let c = check_in("launch", 1.0, 7_000, Some("launch@7000"));
        assert!(s.insert_check_in(&c).await.unwrap());
        s.close().await;

        let restarted = s.reconnect().await;
        restarted.migrate().await.unwrap();
        assert_eq!(
            restarted.check_ins("launch", 10).await.unwrap(),
            vec![c.clone()],
            "{b}"
        );
        assert!(
            !restarted.insert_check_in(&c).await.unwrap(),
            "{b}: retried slot"
        );
        assert_eq!(restarted.latest_check_ins().await.unwrap(), vec![c], "{b}");
    }
}

// ----------------------------------------------------------------- leases

#[tokio::test]
async fn a_slot_is_leased_exactly_once_under_concurrency() {
    let minute = Duration::from_secs(60);
    for s in backends::stores().await {
        let b = s.backend;
        // Two pools: like two replicas.
        let replicas = [s.store.clone(), s.reconnect().await];
        for slot in [60_000, 120_000] {
            let mut tasks = Vec::new();
            for i in 0..8 {
                let store = replicas[i % 2].clone();
                tasks.push(tokio::spawn(async move {
                    store
                        .try_lease("web/reset-calls", slot, &format!("replica-{i}"), minute)
                        .await
                }));
            }
            let mut won = 0;
            for t in tasks {
                won += usize::from(t.await.unwrap().unwrap() == Lease::Won);
            }
            assert_eq!(won, 1, "{b}: slot {slot}");
        }
        let lease = |binding: &'static str, slot: i64, holder: &'static str| {
            let store = s.store.clone();
            async move {
                store
                    .try_lease(binding, slot, holder, minute)
                    .await
                    .unwrap()
            }
        };
        assert!(
            matches!(
                lease("web/reset-calls", 120_000, "late").await,
                Lease::HeldUntil(_)
            ),
            "{b}: the slot is held, unfinished"
        );
        assert_eq!(
            lease("web/reset-calls", 60_000, "old").await,
            Lease::Done,
            "{b}"
        );
        assert_eq!(
            lease("web/launch", 60_000, "other binding").await,
            Lease::Won,
            "{b}"
        );
        assert_eq!(
            lease("web/reset-calls", 180_000, "next").await,
            Lease::Won,
            "{b}"
        );
    }
}

/// A replica that died mid-slot leaves an unfinished lease: once it
/// expires, another replica takes the slot over, exactly one of them. A
/// slot its holder finished is never taken over.
#[tokio::test]
async fn an_expired_unfinished_lease_is_taken_over_once() {
    for s in backends::stores().await {
        let b = s.backend;
        let replicas = [s.store.clone(), s.reconnect().await];
        let short = Duration::from_millis(200);
        assert_eq!(
            s.try_lease("kr", 60_000, "dead", short).await.unwrap(),
            Lease::Won,
            "{b}"
        );
        let held = s.try_lease("kr", 60_000, "alive", short).await.unwrap();
        assert!(matches!(held, Lease::HeldUntil(_)), "{b}: {held:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = replicas[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("replica-{i}");
                let got = store
                    .try_lease("kr", 60_000, &holder, Duration::from_secs(60))
                    .await;
                (holder, got.unwrap())
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (holder, got) = t.await.unwrap();
            if got == Lease::Won {
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "{b}: {winners:?}");
        // The new holder finishes: the slot is done for everyone, forever.
        s.lease_done("kr", 60_000, &winners[0]).await.unwrap();
        assert_eq!(
            s.try_lease("kr", 60_000, "late", short).await.unwrap(),
            Lease::Done,
            "{b}"
        );
        // A dead holder marking done late changes nothing for the new one.
        s.lease_done("kr", 60_000, "dead").await.unwrap();
        assert_eq!(
            s.try_lease("kr", 120_000, "next", short).await.unwrap(),
            Lease::Won
        );
    }
}

#[tokio::test]
async fn for_each_backend_gives_fresh_stores() {
    let mut seen = Vec::new();
    backends::for_each_backend(|s| {
        seen.push(s.backend);
        async move {
            assert_eq!(
                s.load_okrs().await.unwrap(),
                OkrSet::default(),
                "{}",
                s.backend
            );
            with_sample(&s).await;
        }
    })
    .await;
    assert_eq!(seen[0], "sqlite");
    assert_eq!(
        seen.len(),
        1 + usize::from(backends::postgres_url().is_some())
    );
}

/// A guarded check-in (one a person made) is written only if its KR is
/// still as the request saw it: approved, on a live objective, and for a
/// member without a source and in their team.
#[tokio::test]
async fn guarded_check_ins_are_refused_when_their_kr_changed() {
    use okrd::store::{CheckInGuard, CheckInWrite};
    for s in backends::stores().await {
        let b = s.backend;
        let mut set = with_sample(&s).await;
        let (writer, _) = s.check_in_writer(
            tokio_util::sync::CancellationToken::new(),
            std::time::Duration::ZERO,
        );
        let write = |kr: &str, guard: CheckInGuard| CheckInWrite {
            check_in: check_in(kr, 1.0, 1_000, None),
            is_override: false,
            hold: None,
            audit: None,
            guard: Some(guard),
        };
        let member = |team: &str| CheckInGuard {
            without_source: true,
            team: Some(team.into()),
        };
        let refused = |r: Result<_, StoreError>, why: &str| match r {
            Err(StoreError::Conflict(m)) => assert!(m.contains(why), "{b}: {m}"),
            other => panic!("{b}: expected a conflict ({why}), got {other:?}"),
        };
        // opex-total has no source and is in acme; reset-calls has a source.
        let (_, new) = writer
            .write(write("opex-total", member("acme")))
            .await
            .unwrap()
            .into_stored();
        assert!(new, "{b}");
        refused(
            writer.write(write("opex-total", member("auth"))).await,
            "belongs to team `acme`",
        );
        refused(
            writer.write(write("reset-calls", member("auth"))).await,
            "bound to a source",
        );
        let (_, new) = writer
            .write(write("reset-calls", CheckInGuard::default()))
            .await
            .unwrap()
            .into_stored();
        assert!(new, "{b}: leaders may override");
        // Sent back, then its objective archived (as the API writes them): no more check-ins.
        let mut tx = s.begin_model_tx().await.unwrap();
        set.key_results[1].state = WorkflowState::ChangesRequested;
        tx.put_key_result(&set.key_results[1]).await.unwrap();
        tx.commit().await.unwrap();
        refused(
            writer
                .write(write("opex-total", CheckInGuard::default()))
                .await,
            "is changes_requested now",
        );
        let mut tx = s.begin_model_tx().await.unwrap();
        set.objectives[0].archived = true;
        tx.put_objective(&set.objectives[0]).await.unwrap();
        tx.commit().await.unwrap();
        refused(
            writer.write(write("launch", CheckInGuard::default())).await,
            "objective archived",
        );
        let latest = s.latest_check_ins().await.unwrap();
        assert_eq!(latest.len(), 2, "{b}: {latest:?}");
    }
}

/// A database that is away fails a batch of check-ins at once. Retrying
/// each on its own (what a batch with one bad check-in needs) would wait
/// for the database again per check-in, everything queued behind waiting
/// too: here, the rest would still be waiting when the lock goes, and be
/// written although the first was already refused.
#[tokio::test]
async fn a_batch_fails_at_once_while_the_database_is_away() {
    use futures_util::StreamExt as _;
    use okrd::store::CheckInWrite;
    use sqlx::Connection as _;
    let s = backends::TestStore::open(backends::sqlite_db()).await;
    with_sample(&s).await;
    let (writer, _) = s.check_in_writer(
        tokio_util::sync::CancellationToken::new(),
        std::time::Duration::ZERO,
    );
    // Another process holds the write lock past the 5 s busy timeout.
    let mut lock = sqlx::SqliteConnection::connect(&s.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    // Queued together, before the writer runs: one batch.
    let mut replies: futures_util::stream::FuturesUnordered<_> = (0..3)
        .map(|i| {
            let key = format!("reset-calls@{i}");
            writer.write(CheckInWrite {
                check_in: check_in("reset-calls", f64::from(i), 1_000, Some(&key)),
                is_override: false,
                hold: None,
                audit: None,
                guard: None,
            })
        })
        .collect();
    let first = replies.next().await.unwrap();
    assert!(
        first.as_ref().is_err_and(StoreError::is_unavailable),
        "{first:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    drop(lock);
    while let Some(reply) = replies.next().await {
        assert!(
            reply.as_ref().is_err_and(StoreError::is_unavailable),
            "answered after the first was refused: {reply:?}"
        );
    }
    assert!(s.latest_check_ins().await.unwrap().is_empty());
}

/// Every model write bumps the revision, so replicas see it even when
/// row counts and timestamps cannot tell (a clock behind, the same millisecond).
#[tokio::test]
async fn every_model_write_changes_the_model_version() {
    for s in backends::stores().await {
        let b = s.backend;
        let set = with_sample(&s).await;
        let before = s.model_version().await.unwrap();
        let tx = s.begin_model_tx().await.unwrap();
        tx.commit().await.unwrap();
        let after = s.model_version().await.unwrap();
        assert_ne!(
            before, after,
            "{b}: a model write left the version as it was"
        );
        // An apply that changes nothing writes nothing.
        s.apply(&set, &owned_by(&set, "okrs.toml")).await.unwrap();
        assert_eq!(s.model_version().await.unwrap(), after, "{b}");
    }
}

/// Applying OKR files is a write like any other: each created, changed
/// and archived entity gets an audit record naming the file.
#[tokio::test]
async fn applied_changes_are_audited() {
    for s in backends::stores().await {
        let b = s.backend;
        let mut set = with_sample(&s).await;
        let all = || okrd::store::AuditQuery {
            limit: 1000,
            ..Default::default()
        };
        let log = s.audit_log(&all()).await.unwrap();
        assert_eq!(log.len(), entity_count(&set), "{b}: {log:?}");
        let created = log.iter().find(|e| e.entity_id == "reset-calls").unwrap();
        assert_eq!(created.action, "key_result.create", "{b}");
        assert_eq!(created.actor, "okrd apply okrs.toml", "{b}");
        assert_eq!(created.before, None, "{b}");
        assert_eq!(created.after.as_ref().unwrap()["target"], 600.0, "{b}");

        // Nothing changed: nothing recorded.
        s.apply(&set, &owned_by(&set, "okrs.toml")).await.unwrap();
        assert_eq!(s.audit_log(&all()).await.unwrap().len(), log.len(), "{b}");

        // A change and an archival, each with before and after.
        set.key_results[0].target = Some(500.0);
        set.key_results.retain(|k| k.id != "launch");
        s.apply_files(&set, &owned_by(&set, "okrs.toml"), &["okrs.toml".into()])
            .await
            .unwrap();
        let log = s.audit_log(&all()).await.unwrap();
        let changed = log
            .iter()
            .find(|e| e.action == "key_result.update")
            .unwrap();
        assert_eq!(changed.before.as_ref().unwrap()["target"], 600.0, "{b}");
        assert_eq!(changed.after.as_ref().unwrap()["target"], 500.0, "{b}");
        let archived = log
            .iter()
            .find(|e| e.action == "key_result.archive")
            .unwrap();
        assert_eq!(archived.entity_id, "launch", "{b}");
        assert_eq!(archived.after.as_ref().unwrap()["state"], "archived", "{b}");
    }
}

//! A PostgreSQL restart mid-load, with three replicas of the real binary
//! sharing the database and one of them SIGKILLed while it holds leases
//! (issue 11's fault suite). Afterwards the database shows: no slot
//! recorded twice, the killed replica's slots taken over by another replica
//! within their window, every KR recording again within one schedule
//! interval of the database's return, and every API check-in that was
//! acknowledged present. The surviving replicas end ready, nothing waiting.
//!
//! The cluster is the test's own (`support::private_postgres`): restarting
//! the shared one would break the other tests. It runs when PostgreSQL
//! tests are on (`OKRD_TEST_POSTGRES_URL`) and the server binaries exist.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use okrd::access::Role;
use okrd::store::Store;
use serde_json::json;
use sqlx::Connection as _;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row as _};
use tokio_util::sync::CancellationToken;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::api::make_token;
use crate::support::backends::{POSTGRES_ENV, postgres_url, skip, skip_backend};
use crate::support::daemon::{Binary, Launch};
use crate::support::private_postgres::PrivatePostgres;
use crate::support::sample;

/// Every KR's schedule: every 12 s, so a slot outlasts its lease
/// (`fetch_deadline` 1 s + 5 s) plus the 2–5 s before another replica looks
/// again: a dead replica's slot can be taken over before the next one.
const SCHEDULE: &str = "*/12 * * * * *";
const INTERVAL_MS: i64 = 12_000;
/// What "within one interval" may add: the fetch itself (the mock answers
/// after `ANSWER_MS`) and the scheduler getting to it on a busy machine.
const SLACK_MS: i64 = 3_000;
const KRS: usize = 20;
/// The mock's answer time: fetches stay in flight that long.
const ANSWER_MS: u64 = 600;
/// When, after a slot, the database goes down: its fetches are under way.
const IN_FLIGHT_MS: i64 = 250;
/// How long the replicas' pools wait for a connection before a database
/// call fails. The outage outlasts it twice: the writes of the slot the
/// database goes down in fail (the values wait in memory, API writes get
/// 503), and so do the leases of the next slot (it is deferred, not
/// backed off).
const POOL_WAIT_MS: i64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_ride_out_a_postgres_restart_and_a_killed_replica() {
    if postgres_url().is_none() {
        skip_backend(POSTGRES_ENV, "PostgreSQL");
        return;
    }
    let Some(pg) = PrivatePostgres::start() else {
        skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin",
            "skipped the PostgreSQL restart test: it needs initdb and pg_ctl in /usr/lib/postgresql/*/bin",
        );
        return;
    };
    let url = pg.url();
    // A slow answer keeps fetches in flight, so the kill finds leases held.
    let web = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "visitors": 1234 }))
                .set_delay(Duration::from_millis(ANSWER_MS)),
        )
        .mount(&web)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &url, &web.uri());
    let admin = admin_token(&url).await;

    // One after the other: each applies the OKR file at its start.
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b", "replica-c"] {
        replicas.push(start_replica(&config, name).await);
    }
    let bases: Vec<String> = replicas.iter().map(Binary::base).collect();
    let poster = Poster::start(bases.clone(), admin);

    // SIGKILL replica b while it holds leases of a slot.
    let held = kill_while_holding(&mut replicas[1], &url).await;
    let killed = replicas.remove(1);
    let last_held = held.iter().map(|(_, slot)| *slot).max().unwrap();
    let taken_over = wait_recorded(&url, &held, last_held + INTERVAL_MS + SLACK_MS).await;
    let missing: Vec<_> = held.iter().filter(|h| !taken_over.contains(h)).collect();
    assert!(
        missing.is_empty(),
        "slots of the killed replica no one took over within their window: {missing:?}\n{}",
        replicas[0].log_tail()
    );
    drop(killed);

    // Stop PostgreSQL while a slot's fetches are in flight, and start it
    // again once the next slot's leases have failed too.
    let slot = (now_ms() / INTERVAL_MS + 1) * INTERVAL_MS;
    sleep_until(slot + IN_FLIGHT_MS).await;
    tokio::task::block_in_place(|| pg.stop());
    let down = now_ms();
    sleep_until(slot + INTERVAL_MS + POOL_WAIT_MS + 1_000).await;
    tokio::task::block_in_place(|| pg.start_again());
    let back = now_ms();

    // Every KR records again within one interval of the database's return.
    let again = wait_each_kr_records_after(&url, back, back + INTERVAL_MS + SLACK_MS).await;
    let late: Vec<String> = (1..=KRS)
        .map(kr_id)
        .filter(|kr| {
            again
                .get(kr)
                .is_none_or(|&at| at > back + INTERVAL_MS + SLACK_MS)
        })
        .map(|kr| format!("{kr}: {:?}", again.get(&kr).map(|at| at - back)))
        .collect();
    assert!(
        late.is_empty(),
        "KRs not recorded within {INTERVAL_MS} ms (+{SLACK_MS}) of the database's return \
         (ms after it): {late:?}\n{}\n{}",
        replicas[0].log_tail(),
        replicas[1].log_tail()
    );
    let posted = poster.stop().await;
    assert!(
        posted.acked.iter().any(|a| a.at < down),
        "no API check-in acknowledged before the outage: {posted:?}"
    );
    assert!(
        posted.acked.iter().any(|a| a.at > back),
        "no API check-in acknowledged after the database came back: {posted:?}"
    );
    assert!(
        posted.unavailable > 0,
        "no API write got 503 with Retry-After while the database was down: {posted:?}\n{}\n{}",
        replicas[0].log_tail(),
        replicas[1].log_tail()
    );

    for replica in &mut replicas {
        settles(replica).await;
    }
    let rows = rows(
        &url,
        "SELECT key_result_id, idempotency_key, observed_at, recorded_at FROM check_ins \
         WHERE origin = 'source:web'",
    )
    .await;
    no_slot_twice(&rows);
    no_slot_missed_outside_the_outage(&rows, down, back);
    some_value_waited_out_the_outage(&rows, back - down);
    every_acknowledged_check_in_stored(&url, &posted.acked).await;
    for replica in replicas {
        let (status, log) = replica.stop().await;
        assert!(status.success(), "a replica exited with {status}:\n{log}");
    }
}

fn kr_id(n: usize) -> String {
    format!("kr{n:02}")
}

/// `okrs.toml` (KRs `kr01`.. bound to `web`, and `manual` for API
/// check-ins) and `okrd.toml` on `db_url`; returns the config's path.
fn write_config(dir: &Path, db_url: &str, web: &str) -> std::path::PathBuf {
    let today = chrono::Utc::now().date_naive();
    let mut okrs = format!(
        r#"
[[periods]]
id = "now"
start = "{}"
end = "{}"

[[teams]]
id = "ops"
name = "Ops"

[[objectives]]
id = "steady"
title = "Ride out outages"
period = "now"
team = "ops"

[[key_results]]
id = "manual"
objective = "steady"
team = "ops"
owner = "dana@acme.example"
title = "Checked in by hand"
kind = "increase"
start = 0
target = 1000000
"#,
        today - chrono::Days::new(30),
        today + chrono::Days::new(60)
    );
    for n in 1..=KRS {
        okrs.push_str(&format!(
            r#"
[[key_results]]
id = "{id}"
objective = "steady"
team = "ops"
owner = "dana@acme.example"
title = "Visitors {id}"
kind = "increase"
start = 0
target = 1000000
[key_results.source]
use = "web"
"#,
            id = kr_id(n)
        ));
    }
    std::fs::write(dir.join("okrs.toml"), okrs).unwrap();
    let config = format!(
        r#"
[database]
url = "{db_url}"
max_connections = 4
refresh_interval = "2s"
[okrs]
files = ["okrs.toml"]
max_krs_per_objective_per_team = {max}
max_krs_per_owner_per_period = {max}
[scheduler]
jitter = "0s"
max_concurrency = 32
# Every fetched slot leaves its row, though the mock's value never changes.
[storage]
heartbeat = "0s"

[[sources]]
name = "web"
connector = "http_json"
schedule = "{SCHEDULE}"
timeout = "1s"
fetch_deadline = "1s"
retries = 0
[sources.params]
url = "{web}/stats"
value = "$.visitors"
"#,
        max = KRS + 1
    );
    let path = dir.join("okrd.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The database migrated, with an admin token for the posts.
async fn admin_token(url: &str) -> String {
    let store = Store::connect(url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let token = make_token(&store, Role::Admin, None, "ada").await;
    store.close().await;
    token
}

/// A replica: `HOSTNAME` names it in the leases it holds (`name:pid`).
async fn start_replica(config: &Path, name: &str) -> Binary {
    Launch::serve(config)
        .envs(&[
            ("OKRD_LOG__LEVEL", "info"),
            ("OKRD_LOG__FORMAT", "text"),
            ("HOSTNAME", name),
        ])
        .context(name)
        .binary()
        .await
}

/// Waits until `replica` holds leases it has not finished, SIGKILLs it, and
/// returns the (KR, slot) leases it left unfinished.
async fn kill_while_holding(replica: &mut Binary, url: &str) -> Vec<(String, i64)> {
    let unfinished = "SELECT binding, slot FROM schedule_leases \
                      WHERE holder LIKE 'replica-b:%' AND done = 0 ORDER BY binding";
    let deadline = now_ms() + 2 * INTERVAL_MS + SLACK_MS;
    while rows(url, unfinished).await.is_empty() {
        assert!(now_ms() < deadline, "replica b never held a lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replica.sigkill().await;
    let held: Vec<(String, i64)> = rows(url, unfinished)
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        !held.is_empty(),
        "replica b finished its leases before the kill"
    );
    held
}

/// Polls until a check-in exists for each (KR, slot) of `slots`, or
/// `deadline` (Unix ms) passes; returns those found.
async fn wait_recorded(url: &str, slots: &[(String, i64)], deadline: i64) -> Vec<(String, i64)> {
    loop {
        let keys: HashSet<String> = rows(
            url,
            "SELECT idempotency_key FROM check_ins \
                                               WHERE idempotency_key IS NOT NULL",
        )
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
        let found: Vec<(String, i64)> = slots
            .iter()
            .filter(|(kr, slot)| keys.contains(&format!("{kr}@{slot}")))
            .cloned()
            .collect();
        if found.len() == slots.len() || now_ms() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each KR's first source check-in observed at or after `since` (Unix ms),
/// polled until every KR has one or `deadline` passes.
async fn wait_each_kr_records_after(url: &str, since: i64, deadline: i64) -> HashMap<String, i64> {
    let sql = format!(
        "SELECT key_result_id, MIN(observed_at) FROM check_ins \
         WHERE origin = 'source:web' AND observed_at >= {since} GROUP BY key_result_id"
    );
    loop {
        // The database may refuse a moment longer than pg_ctl waits.
        let firsts: HashMap<String, i64> = try_rows(url, &sql)
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if firsts.len() == KRS || now_ms() > deadline {
            return firsts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The replica's backlog drains, and it is ready with nothing waiting; no
/// database fault was counted as the source's.
async fn settles(replica: &mut Binary) {
    let base = replica.base();
    let ready = replica
        .wait_for(Duration::from_secs(15), "ready, no backlog", async || {
            let r = reqwest::get(format!("{base}/readyz")).await.ok()?;
            let ok = r.status() == 200;
            let body = r.text().await.ok()?;
            (ok && body == "ready\n").then_some(body)
        })
        .await;
    assert_eq!(ready, "ready\n");
    let m = replica.metrics().await;
    assert_eq!(sample(&m, "okr_check_in_backlog", &[]), Some(0.0), "{m}");
    assert_eq!(
        sample(&m, "okr_check_in_backlog_dropped_total", &[]),
        Some(0.0),
        "{m}"
    );
    let failures: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("okr_source_fetch_failures_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        failures.is_empty(),
        "the outage counted as the source's fault: {failures:?}"
    );
}

/// Each source check-in carries its slot's key (`<kr>@<slot>`, on the
/// schedule's grid), and no (KR, slot) is there twice.
fn no_slot_twice(rows: &[PgRow]) {
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for r in rows {
        let kr: String = r.get(0);
        let key: Option<String> = r.get(1);
        let key = key.unwrap_or_else(|| panic!("a check-in of {kr} without its slot's key"));
        let slot: i64 = key
            .strip_prefix(&format!("{kr}@"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("check-in of {kr} keyed {key:?}"));
        assert_eq!(slot % INTERVAL_MS, 0, "{key}: not a slot of {SCHEDULE}");
        *seen.entry((kr, slot)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "slots recorded twice: {twice:?}");
}

/// Between its first and last recorded slot, no KR misses a slot outside
/// the outage: the kill's slots are taken over (checked apart). A slot
/// that started while the database was down, or before the pool reconnected
/// after it came back, may be lost (its lease could not be taken, and the
/// deferred job is overtaken by the next slot); that every KR records again
/// within one interval of the return is checked apart.
fn no_slot_missed_outside_the_outage(rows: &[PgRow], down: i64, back: i64) {
    let mut slots: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows {
        let (kr, key): (String, String) = (r.get(0), r.get(1));
        let slot = key.rsplit('@').next().and_then(|s| s.parse().ok()).unwrap();
        slots.entry(kr).or_default().push(slot);
    }
    assert_eq!(slots.len(), KRS, "KRs never recorded: {slots:?}");
    let in_outage = |slot: i64| slot > down - INTERVAL_MS && slot < back + INTERVAL_MS + SLACK_MS;
    for (kr, mut recorded) in slots {
        recorded.sort_unstable();
        let missed: Vec<i64> = recorded
            .windows(2)
            .flat_map(|w| (w[0] + INTERVAL_MS..w[1]).step_by(INTERVAL_MS as usize))
            .filter(|&slot| !in_outage(slot))
            .collect();
        assert!(
            missed.is_empty(),
            "{kr} missed slots {missed:?} outside the outage ({down}..{back}): recorded {recorded:?}"
        );
    }
}

/// A value fetched as the database went down was written once it was
/// back, with the time it was observed: the backlog was used, and kept it.
fn some_value_waited_out_the_outage(rows: &[PgRow], outage_ms: i64) {
    let waited = rows
        .iter()
        .map(|r| r.get::<i64, _>(3) - r.get::<i64, _>(2))
        .max()
        .unwrap_or(0);
    assert!(
        waited > outage_ms / 2,
        "no fetched value waited for the database (longest {waited} ms): the test missed its moment"
    );
}

async fn every_acknowledged_check_in_stored(url: &str, acked: &[Ack]) {
    let stored: HashSet<i64> = rows(
        url,
        "SELECT value FROM check_ins WHERE key_result_id = 'manual'",
    )
    .await
    .iter()
    .map(|r| r.get::<f64, _>(0) as i64)
    .collect();
    let missing: Vec<&Ack> = acked
        .iter()
        .filter(|a| !stored.contains(&a.value))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged check-ins missing: {missing:?}"
    );
}

/// An API check-in answered 201: its value (unique) and when (Unix ms).
#[derive(Debug, Clone, Copy)]
struct Ack {
    value: i64,
    at: i64,
}

/// What the posts got: the acknowledged ones, and how many were refused
/// with 503 and `Retry-After` (the database away).
#[derive(Debug, Default)]
struct Posted {
    acked: Vec<Ack>,
    unavailable: usize,
    /// What the other posts got (status or error), for the failure message.
    other: Vec<String>,
}

/// Posts manual check-ins to the replicas in turn throughout.
struct Poster {
    stop: CancellationToken,
    posted: Arc<Mutex<Posted>>,
    task: tokio::task::JoinHandle<()>,
}

impl Poster {
    fn start(bases: Vec<String>, token: String) -> Poster {
        let stop = CancellationToken::new();
        let posted = Arc::new(Mutex::new(Posted::default()));
        let (s, p) = (stop.clone(), posted.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut value = 0i64;
            while !s.is_cancelled() {
                value += 1;
                let base = &bases[value as usize % bases.len()];
                let sent = client
                    .post(format!("{base}/api/v1/key-results/manual/check-ins"))
                    .bearer_auth(&token)
                    .json(&json!({ "value": value, "note": "posted during the fault" }))
                    .send()
                    .await;
                let got = match sent {
                    Ok(r) => Ok((r.status().as_u16(), r.headers().contains_key("retry-after"))),
                    Err(e) => Err((e.is_connect(), e.to_string())),
                };
                {
                    let mut p = p.lock().unwrap();
                    match got {
                        Ok((201, _)) => p.acked.push(Ack {
                            value,
                            at: now_ms(),
                        }),
                        Ok((503, true)) => p.unavailable += 1,
                        Ok((status, _)) => {
                            p.other.push(format!("{value}: {status} at {}", now_ms()))
                        }
                        // The killed replica refuses connections.
                        Err((true, _)) => {}
                        Err((false, e)) => p.other.push(format!("{value}: {e} at {}", now_ms())),
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Poster { stop, posted, task }
    }

    /// Stops posting (the one in flight finishes); what the posts got.
    async fn stop(self) -> Posted {
        self.stop.cancel();
        self.task.await.unwrap();
        std::mem::take(&mut *self.posted.lock().unwrap())
    }
}

async fn sleep_until(unix_ms: i64) {
    let left = unix_ms.saturating_sub(now_ms()).max(0);
    tokio::time::sleep(Duration::from_millis(left as u64)).await;
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `sql`'s rows, through a connection of its own (the replicas' pools are
/// not the test's business).
async fn rows(url: &str, sql: &str) -> Vec<PgRow> {
    try_rows(url, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn try_rows(url: &str, sql: &str) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let out = sqlx::query(AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut conn)
        .await;
    let _ = conn.close().await;
    out
}

//! Backfill: a KR's past days fetched as of each day's end, on both
//! backends, on a manual clock, against mock sources. Through Prometheus
//! (each request carries the day's end as `time=`), `sql` (the query sees
//! the day as `{{ today }}`) and the Plausible manifest (a recorded answer
//! replayed per day); interrupted and resumed; connectors that answer only
//! for now named and skipped; the daemon backfilling at startup and after
//! an approval; and `okrd backfill` through the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use okrd::backfill::{Backfill, DayResult, KrOutcome, Progress, Quiet, Skip, StopSignals, Stopped};
use okrd::binding::{self, Binding};
use okrd::clock::{Clock, ManualClock};
use okrd::connectors::params::SystemSecrets;
use okrd::okr::CheckIn;
use okrd::store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::api::{self, Options, kr_body};
use crate::support::backends::{self, TestDb};
use crate::support::daemon::Launch;
use crate::support::sample;

/// How long a test waits for the daemon's background backfill.
const WAIT: Duration = Duration::from_secs(30);

const PERIOD: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "t"
name = "T"

[[objectives]]
id = "o"
title = "Grow"
period = "2026-Q4"
team = "t"
"#;

/// A KR of objective `o` bound to `source` with `params` (a TOML inline table).
fn kr(id: &str, source: &str, params: &str) -> String {
    format!(
        r#"
[[key_results]]
id = "{id}"
objective = "o"
team = "t"
owner = "o@acme.example"
title = "KR {id}"
kind = "increase"
start = 0
target = 1000000000000
[key_results.source]
use = "{source}"
params = {params}
"#
    )
}

/// A Prometheus that answers each instant query with its own `time` as the
/// value, so every check-in shows which moment it was asked about; a query
/// without `time` is refused.
struct ByTime;

impl Respond for ByTime {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let time = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "time")
            .and_then(|(_, v)| v.parse::<i64>().ok());
        match time {
            Some(t) => ResponseTemplate::new(200).set_body_json(json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [
                    {"metric": {}, "value": [t, t.to_string()]}
                ]}
            })),
            None => ResponseTemplate::new(400).set_body_json(json!({
                "status": "error", "errorType": "bad_data", "error": "no time"
            })),
        }
    }
}

async fn prometheus() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .respond_with(ByTime)
        .mount(&server)
        .await;
    server
}

/// The `time` of each request the mock received, in order.
async fn times_asked(server: &MockServer) -> Vec<i64> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "time")
                .and_then(|(_, v)| v.parse().ok())
        })
        .collect()
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

/// The last second of `day` in `tz`: what a backfilled day is fetched as of.
fn end_of(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
    tz.from_local_datetime(&next)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
        - chrono::TimeDelta::seconds(1)
}

/// A KR's backfilled check-ins, oldest first.
async fn backfilled(store: &Store, kr: &str) -> Vec<CheckIn> {
    let mut out: Vec<CheckIn> = store
        .check_ins(kr, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.origin.0.starts_with("backfill:"))
        .collect();
    out.reverse();
    out
}

/// Polls until `kr` has `n` backfilled check-ins (the daemon backfills in
/// the background).
async fn wait_for_backfill(store: &Store, kr: &str, n: usize, what: &str) -> Vec<CheckIn> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = backfilled(store, kr).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {} of {n} days backfilled within {WAIT:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config, OKRs applied to a store, the sources built, and a backfill
/// engine on a manual clock: backfill without a daemon, as `okrd backfill`
/// runs it.
struct Engine {
    backfill: Backfill,
    bindings: Vec<Arc<Binding>>,
    store: Store,
    dir: tempfile::TempDir,
}

impl Engine {
    async fn new(db: &TestDb, sources: &str, krs: &str, tz: &str, now: DateTime<Utc>) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &db.url, sources, krs, tz);
        let settings = okrd::config::load_with_env(Some(&cfg), &[]).unwrap();
        let (sources, redactor) = binding::build_sources(&settings, &SystemSecrets)
            .unwrap_or_else(|p| panic!("{}", p.join("\n")));
        let store = okrd::app::open_store(&settings).await.unwrap();
        let loaded = okrd::reload::load_okr_files(&settings).unwrap().unwrap();
        store
            .apply_files(&loaded.set, &loaded.ownership, &loaded.files)
            .await
            .unwrap();
        let plan = binding::plan(&loaded.set, &sources, &settings, Some(now));
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        let (writer, _task) = store.check_in_writer(CancellationToken::new(), Duration::ZERO);
        let backfill = Backfill {
            store: store.clone(),
            writer,
            sources,
            redactor,
            clock: Arc::new(ManualClock::new(now)),
            live: None,
            telemetry: None,
        };
        Engine {
            backfill,
            bindings: plan.bound,
            store,
            dir,
        }
    }

    fn binding(&self, kr: &str) -> &Binding {
        self.bindings
            .iter()
            .find(|b| b.key_result == kr)
            .unwrap_or_else(|| panic!("no binding for {kr}"))
    }

    async fn run(&self, kr: &str) -> KrOutcome {
        self.run_with(kr, &StopSignals::default(), &mut Quiet).await
    }

    async fn run_with(
        &self,
        kr: &str,
        stop: &StopSignals,
        progress: &mut dyn Progress,
    ) -> KrOutcome {
        self.backfill
            .key_result(self.binding(kr), None, stop, progress)
            .await
            .unwrap()
    }
}

/// `okrd.toml` (with `sources`) and `okrs.toml` (the period and `krs`) in `dir`.
fn write_config(dir: &Path, db_url: &str, sources: &str, krs: &str, tz: &str) -> PathBuf {
    std::fs::write(dir.join("okrs.toml"), format!("{PERIOD}{krs}")).unwrap();
    let config = format!(
        r#"
[server]
anonymous_read = true
[database]
url = "{db_url}"
refresh_interval = "0s"
[okrs]
files = ["okrs.toml"]
[scheduler]
# Never due while the manual clock stands still: only backfill fetches.
default_schedule = "0 0 1 1 *"
timezone = "{tz}"
jitter = "0s"
{sources}
"#
    );
    let cfg = dir.join("okrd.toml");
    std::fs::write(&cfg, config).unwrap();
    cfg
}

fn prom_source(url: &str) -> String {
    format!(
        "[[sources]]\nname = \"prom\"\nconnector = \"prometheus\"\ntimeout = \"2s\"\nretries = 0\n\
         [sources.params]\nurl = \"{url}\"\n"
    )
}

fn ran(outcome: KrOutcome) -> okrd::backfill::KrReport {
    match outcome {
        KrOutcome::Ran(r) => r,
        KrOutcome::Skipped(s) => panic!("skipped: {s}"),
    }
}

#[tokio::test]
async fn prometheus_asks_for_each_past_day_at_its_end() {
    for db in backends::databases().await {
        let b = db.backend;
        let prom = prometheus().await;
        let dir = tempfile::tempdir().unwrap();
        let krs = kr("signups", "prom", r#"{ query = "sum(signups_total)" }"#);
        let cfg = write_config(
            dir.path(),
            &db.url,
            &prom_source(&prom.uri()),
            &krs,
            "Europe/Berlin",
        );
        // 12:00 in Berlin on Oct 6: Oct 1 to 5 are past.
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 10, 6, 10, 0, 0).unwrap(),
        ));
        let daemon = Launch::serve(&cfg)
            .clock(clock.clone() as Arc<dyn Clock>)
            .context(b)
            .in_process()
            .await;
        let store = Store::connect(&db.url, 2).await.unwrap();
        let got = wait_for_backfill(&store, "signups", 5, b).await;
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let want: Vec<DateTime<Utc>> = (1..=5).map(|d| end_of(berlin, day(10, d))).collect();
        let at: Vec<DateTime<Utc>> = got.iter().map(|c| c.observed_at).collect();
        assert_eq!(
            at, want,
            "{b}: one check-in per past day, at its last second"
        );
        assert_eq!(
            at[0],
            Utc.with_ymd_and_hms(2026, 10, 1, 21, 59, 59).unwrap()
        );
        for c in &got {
            assert_eq!(
                c.value,
                c.observed_at.timestamp() as f64,
                "{b}: asked at time={}",
                c.value
            );
            assert_eq!(c.origin.0, "backfill:prom", "{b}");
        }
        assert_eq!(
            got[0].idempotency_key.as_deref(),
            Some("signups@backfill:prom:2026-10-01"),
            "{b}"
        );
        let mut asked = times_asked(&prom).await;
        asked.sort_unstable();
        let want_ts: Vec<i64> = want.iter().map(|t| t.timestamp()).collect();
        assert_eq!(asked, want_ts, "{b}: one request per day, with time=");
        // The live model took them in: the KR stands at its last past day
        // (/metrics is published at most every 100 ms).
        let last = Some(want[4].timestamp() as f64);
        let deadline = tokio::time::Instant::now() + WAIT;
        let m = loop {
            let m = daemon.metrics().await;
            if sample(&m, "okr_key_result_value", &["key_result=\"signups\""]) == last {
                break m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{b}: the KR never moved:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            sample(&m, "okr_backfill_values_total", &["source=\"prom\""]),
            Some(5.0),
            "{b}"
        );
        daemon.stop().await;
    }
}

#[tokio::test]
async fn sql_sees_the_date_variables_of_each_day() {
    for db in backends::databases().await {
        let b = db.backend;
        let warehouse = tempfile::tempdir().unwrap();
        let file = warehouse.path().join("warehouse.db");
        backends::execute(
            &format!("sqlite://{}?mode=rwc", file.display()),
            "CREATE TABLE signups (day TEXT NOT NULL)",
        )
        .await;
        let url = format!("sqlite://{}", file.display());
        for d in [
            "2026-10-01",
            "2026-10-01",
            "2026-10-02",
            "2026-10-04",
            "2026-10-09",
        ] {
            backends::execute(&url, &format!("INSERT INTO signups VALUES ('{d}')")).await;
        }
        let sources = format!(
            "[[sources]]\nname = \"warehouse\"\nconnector = \"sql\"\ntimeout = \"5s\"\n\
             [sources.params]\nurl = \"{url}\"\n"
        );
        let krs = [
            kr(
                "signups",
                "warehouse",
                r#"{ query = "SELECT count(*) FROM signups WHERE day >= '{{ period.start }}' AND day <= '{{ today }}'" }"#,
            ),
            kr("all-time", "warehouse", r#"{ query = "SELECT count(*) FROM signups" }"#),
        ]
        .concat();
        let now = Utc.with_ymd_and_hms(2026, 10, 5, 8, 0, 0).unwrap();
        let e = Engine::new(&db, &sources, &krs, "UTC", now).await;
        let report = ran(e.run("signups").await);
        assert_eq!(
            (report.days, report.fetched, report.failed),
            (4, 4, 0),
            "{b}: {report}"
        );
        let values: Vec<f64> = backfilled(&e.store, "signups")
            .await
            .iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(
            values,
            vec![2.0, 3.0, 3.0, 4.0],
            "{b}: the rows up to each day"
        );
        // A query without a date would give today's count for every day.
        match e.run("all-time").await {
            KrOutcome::Skipped(Skip::SameEveryDay) => {}
            other => panic!("{b}: {other:?}"),
        }
        assert!(backfilled(&e.store, "all-time").await.is_empty(), "{b}");
    }
}

#[tokio::test]
async fn plausible_replays_a_recorded_answer_for_each_day() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("connectors/plausible/fixtures/query_aggregate.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for db in backends::databases().await {
        let b = db.backend;
        let server = MockServer::start().await;
        for d in 1..=3 {
            // Plausible's answer for the period up to that day, echoing it.
            let mut answer = fixture.clone();
            answer["results"][0]["metrics"][0] = json!(1000 * d);
            answer["query"]["date_range"] = json!([
                "2026-10-01T00:00:00+00:00",
                format!("2026-10-0{d}T23:59:59+00:00")
            ]);
            Mock::given(method("POST"))
                .and(path("/api/v2/query"))
                .and(header("authorization", "Bearer plausible-test-key"))
                .and(body_partial_json(json!({
                    "site_id": "acme.example",
                    "metrics": ["visitors"],
                    "date_range": ["2026-10-01", format!("2026-10-0{d}")],
                })))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1)
                .mount(&server)
                .await;
        }
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("plausible-key");
        std::fs::write(&key, "plausible-test-key\n").unwrap();
        let sources = format!(
            "[[sources]]\nname = \"web\"\nconnector = \"plausible\"\nretries = 0\n\
             [sources.params]\nbase_url = \"{}\"\nsite_id = \"acme.example\"\n\
             api_key = {{ file = \"{}\" }}\n",
            server.uri(),
            key.display()
        );
        let krs = [
            kr("visitors", "web", "{}"),
            kr("last-30-days", "web", r#"{ date_range = "30d" }"#),
        ]
        .concat();
        let now = Utc.with_ymd_and_hms(2026, 10, 4, 9, 0, 0).unwrap();
        let e = Engine::new(&db, &sources, &krs, "UTC", now).await;
        let report = ran(e.run("visitors").await);
        assert_eq!((report.fetched, report.failed), (3, 0), "{b}: {report}");
        let values: Vec<f64> = backfilled(&e.store, "visitors")
            .await
            .iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(values, vec![1000.0, 2000.0, 3000.0], "{b}");
        // "30d" is Plausible's own today: the same request for every day.
        match e.run("last-30-days").await {
            KrOutcome::Skipped(skip @ Skip::SameEveryDay) => {
                assert!(skip.to_string().contains("today's value"), "{skip}");
            }
            other => panic!("{b}: {other:?}"),
        }
        server.verify().await;
    }
}

/// Stops the backfill (as Ctrl-C does) once `after` days are written.
struct StopAfter {
    after: usize,
    written: usize,
    stop: CancellationToken,
}

impl Progress for StopAfter {
    fn day(&mut self, _: &Binding, _: NaiveDate, result: DayResult<'_>) {
        if matches!(result, DayResult::Written(_)) {
            self.written += 1;
            if self.written == self.after {
                self.stop.cancel();
            }
        }
    }
}

/// Each day's check-ins: exactly one per day, none twice.
async fn one_per_day(store: &Store, kr: &str, days: usize, b: &str) {
    let got = backfilled(store, kr).await;
    let mut keys: Vec<&str> = got
        .iter()
        .filter_map(|c| c.idempotency_key.as_deref())
        .collect();
    keys.dedup();
    assert_eq!(got.len(), days, "{b}: {got:?}");
    assert_eq!(keys.len(), days, "{b}: {keys:?}");
}

#[tokio::test]
async fn an_interrupted_backfill_goes_on_where_it_stopped() {
    for db in backends::databases().await {
        let b = db.backend;
        let prom = prometheus().await;
        let krs = kr("signups", "prom", r#"{ query = "sum(signups_total)" }"#);
        let now = Utc.with_ymd_and_hms(2026, 10, 6, 12, 0, 0).unwrap();
        let e = Engine::new(&db, &prom_source(&prom.uri()), &krs, "UTC", now).await;
        let stop = StopSignals::default();
        let mut progress = StopAfter {
            after: 2,
            written: 0,
            stop: stop.after_day.clone(),
        };
        let first = ran(e.run_with("signups", &stop, &mut progress).await);
        assert_eq!(first.stopped, Some(Stopped::Interrupted), "{b}: {first}");
        assert_eq!((first.fetched, first.left()), (2, 3), "{b}: {first}");
        let second = ran(e.run("signups").await);
        assert_eq!(
            (second.already, second.fetched, second.left()),
            (2, 3, 0),
            "{b}: {second}"
        );
        one_per_day(&e.store, "signups", 5, b).await;
        // Each day was asked for once, across both runs.
        let mut asked = times_asked(&prom).await;
        asked.sort_unstable();
        asked.dedup();
        assert_eq!(asked.len(), 5, "{b}");
        assert_eq!(times_asked(&prom).await.len(), 5, "{b}: a day asked twice");
        // A third run has nothing left to do and asks nothing.
        let third = ran(e.run("signups").await);
        assert_eq!((third.already, third.fetched), (5, 0), "{b}: {third}");
        assert_eq!(times_asked(&prom).await.len(), 5, "{b}");
    }
}

#[tokio::test]
async fn a_failing_source_stops_the_backfill_and_a_rerun_fills_the_rest() {
    for db in backends::databases().await {
        let b = db.backend;
        let server = MockServer::start().await;
        let boundary = Utc
            .with_ymd_and_hms(2026, 10, 3, 0, 0, 0)
            .unwrap()
            .timestamp();
        // Oct 1 and 2 answer; from Oct 3 on the server is down.
        Mock::given(path("/api/v1/query"))
            .and(FromTime(boundary))
            .respond_with(ResponseTemplate::new(503).set_body_string("down"))
            .mount(&server)
            .await;
        Mock::given(path("/api/v1/query"))
            .respond_with(ByTime)
            .mount(&server)
            .await;
        let krs = kr("signups", "prom", r#"{ query = "sum(signups_total)" }"#);
        let now = Utc.with_ymd_and_hms(2026, 10, 6, 12, 0, 0).unwrap();
        let e = Engine::new(&db, &prom_source(&server.uri()), &krs, "UTC", now).await;
        let first = ran(e.run("signups").await);
        assert_eq!(
            (first.fetched, first.failed, first.stopped),
            (
                2,
                1,
                Some(Stopped::SourceFailing(okrd::connectors::Reason::Http5xx))
            ),
            "{b}: {first}"
        );
        // Stopped at the first 5xx: Oct 4 and 5 were not asked for.
        assert_eq!(server.received_requests().await.unwrap().len(), 3, "{b}");
        server.reset().await;
        Mock::given(path("/api/v1/query"))
            .respond_with(ByTime)
            .mount(&server)
            .await;
        let second = ran(e.run("signups").await);
        assert_eq!(
            (second.already, second.fetched, second.failed),
            (2, 3, 0),
            "{b}: {second}"
        );
        assert!(second.complete(), "{b}");
        one_per_day(&e.store, "signups", 5, b).await;
    }
}

#[tokio::test]
async fn a_kr_moved_to_another_source_gets_its_days_again_from_it() {
    for db in backends::databases().await {
        let b = db.backend;
        let (old, new) = (prometheus().await, prometheus().await);
        let now = Utc.with_ymd_and_hms(2026, 10, 6, 12, 0, 0).unwrap();
        let query = r#"{ query = "sum(signups_total)" }"#;
        let first = Engine::new(
            &db,
            &prom_source(&old.uri()),
            &kr("signups", "prom", query),
            "UTC",
            now,
        )
        .await;
        assert_eq!(ran(first.run("signups").await).fetched, 5, "{b}");
        // A person's value of Oct 3 stands for that day whatever the source.
        let manual = CheckIn {
            key_result: "signups".into(),
            value: 7.0,
            observed_at: Utc.with_ymd_and_hms(2026, 10, 3, 15, 0, 0).unwrap(),
            origin: okrd::okr::Origin::manual("dana"),
            note: None,
            confidence: None,
            idempotency_key: None,
        };
        assert!(first.store.insert_check_in(&manual).await.unwrap(), "{b}");
        let sources = format!(
            "{}{}",
            prom_source(&old.uri()),
            prom_source(&new.uri()).replace("name = \"prom\"", "name = \"prom2\"")
        );
        let second = Engine::new(&db, &sources, &kr("signups", "prom2", query), "UTC", now).await;
        let report = ran(second.run("signups").await);
        assert_eq!(
            (report.days, report.already, report.fetched),
            (5, 1, 4),
            "{b}: {report}"
        );
        let from_new: Vec<CheckIn> = backfilled(&second.store, "signups")
            .await
            .into_iter()
            .filter(|c| c.origin.0 == "backfill:prom2")
            .collect();
        assert_eq!(from_new.len(), 4, "{b}");
        assert_eq!(
            from_new[0].idempotency_key.as_deref(),
            Some("signups@backfill:prom2:2026-10-01"),
            "{b}"
        );
        assert_eq!(times_asked(&new).await.len(), 4, "{b}");
        assert_eq!(
            times_asked(&old).await.len(),
            5,
            "{b}: the old source is not asked again"
        );
    }
}

/// Matches instant queries at or after `time`.
struct FromTime(i64);

impl wiremock::Match for FromTime {
    fn matches(&self, request: &Request) -> bool {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "time")
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .is_some_and(|t| t >= self.0)
    }
}

#[tokio::test]
async fn connectors_that_answer_only_for_now_are_skipped_and_named() {
    for db in backends::databases().await {
        let b = db.backend;
        let server = MockServer::start().await;
        Mock::given(path("/daily"))
            .respond_with(|r: &Request| {
                let day = r.url.query_pairs().find(|(k, _)| k == "day").unwrap().1;
                let n: f64 = day[8..].parse().unwrap();
                ResponseTemplate::new(200).set_body_json(json!({ "n": n }))
            })
            .mount(&server)
            .await;
        let http = |name: &str, url: &str, extra: &str| {
            format!(
                "[[sources]]\nname = \"{name}\"\nconnector = \"http_json\"\n\
                 [sources.params]\nurl = \"{}{url}\"\nvalue = \"$.n\"\n{extra}",
                server.uri()
            )
        };
        let sources = [
            http("stats", "/stats", ""),
            http("daily", "/daily?day={{ today }}", "history = true\n"),
            http("flat", "/flat", "history = true\n"),
        ]
        .concat();
        let krs = [
            kr("visits", "stats", "{}"),
            kr("daily-visits", "daily", "{}"),
            kr("flat-visits", "flat", "{}"),
        ]
        .concat();
        let now = Utc.with_ymd_and_hms(2026, 10, 4, 12, 0, 0).unwrap();
        let e = Engine::new(&db, &sources, &krs, "UTC", now).await;
        match e.run("visits").await {
            KrOutcome::Skipped(skip @ Skip::PresentOnly { .. }) => assert_eq!(
                skip.to_string(),
                "connector `http_json` answers only for now, not for a past day",
                "{b}"
            ),
            other => panic!("{b}: {other:?}"),
        }
        // `history = true` and a URL that follows the day: backfilled.
        let report = ran(e.run("daily-visits").await);
        assert_eq!(report.fetched, 3, "{b}: {report}");
        let values: Vec<f64> = backfilled(&e.store, "daily-visits")
            .await
            .iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(values, vec![1.0, 2.0, 3.0], "{b}");
        // `history = true` but a URL without a date: the same every day.
        assert!(
            matches!(
                e.run("flat-visits").await,
                KrOutcome::Skipped(Skip::SameEveryDay)
            ),
            "{b}"
        );
        let asked: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_string())
            .collect();
        assert_eq!(
            asked,
            ["/daily", "/daily", "/daily"],
            "{b}: only the daily source was asked"
        );
        assert!(backfilled(&e.store, "visits").await.is_empty(), "{b}");
        drop(e.dir);
    }
}

#[tokio::test]
async fn the_daemon_backfills_a_newly_approved_kr() {
    for db in backends::databases().await {
        let b = db.backend;
        let prom = prometheus().await;
        let extra = prom_source(&prom.uri());
        let api = api::start(
            &db,
            Options {
                source_url: "http://127.0.0.1:9/unused",
                extra_config: &extra,
            },
        )
        .await;
        // Nothing is bound yet: nothing asked.
        assert!(times_asked(&prom).await.is_empty(), "{b}");
        let mut body = kr_body("signups", "reach", "growth", "kim@acme.example");
        body["source"] = json!({"use": "prom", "params": {"query": "sum(signups_total)"}});
        api.approved_kr(&api.tokens.growth, body).await;
        // The clock stands at 2026-11-16 00:00 UTC: Oct 1 to Nov 15 are past.
        let got = wait_for_backfill(&api.store, "signups", 46, b).await;
        assert_eq!(got.len(), 46, "{b}");
        assert_eq!(
            got[0].observed_at,
            end_of(chrono_tz::UTC, day(10, 1)),
            "{b}"
        );
        assert_eq!(
            got[45].observed_at,
            end_of(chrono_tz::UTC, day(11, 15)),
            "{b}"
        );
        assert!(
            got.iter()
                .all(|c| c.value == c.observed_at.timestamp() as f64),
            "{b}"
        );
        let m = api
            .metrics_until("the backfilled values", |m| {
                sample(m, "okr_backfill_values_total", &["source=\"prom\""]) == Some(46.0)
            })
            .await;
        // Approving fetches it now too; older days never move it back.
        let value = sample(&m, "okr_key_result_value", &["key_result=\"signups\""]);
        assert!(value.is_some_and(|v| v >= got[45].value), "{b}: {value:?}");
        api.stop().await;
    }
}

#[tokio::test]
async fn the_daemon_log_names_a_kr_it_cannot_backfill() {
    let db = backends::sqlite_db();
    let source = MockServer::start().await;
    Mock::given(path("/stats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"visitors": 5})))
        .mount(&source)
        .await;
    let url = format!("{}/stats", source.uri());
    let api = api::start_binary(
        &db,
        Options {
            source_url: &url,
            extra_config: "",
        },
        &[],
    )
    .await;
    let mut body = kr_body("visits", "reach", "growth", "kim@acme.example");
    body["source"] = json!({"use": "web"});
    api.approved_kr(&api.tokens.growth, body).await;
    let want = "not backfilled: connector `http_json` answers only for now, not for a past day";
    let deadline = tokio::time::Instant::now() + WAIT;
    while !api.log().contains(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {want:?} in the log:\n{}",
            api.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = api
        .log()
        .lines()
        .find(|l| l.contains(want))
        .unwrap()
        .to_string();
    assert!(line.contains("web") && line.contains("visits"), "{line}");
    api.stop().await;
}

/// `okrd --config <cfg> <args>`: exit code and stdout.
async fn okrd(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_okrd"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn okrd_backfill_prints_plain_lines_and_goes_on_where_it_stopped() {
    for db in backends::databases().await {
        let b = db.backend;
        let prom = prometheus().await;
        let dir = tempfile::tempdir().unwrap();
        // The binary runs on the real clock: a period around today.
        let today = Utc::now().date_naive();
        let start = today.checked_sub_days(Days::new(5)).unwrap();
        let end = today.checked_add_days(Days::new(5)).unwrap();
        let sources = format!(
            "{}[[sources]]\nname = \"stats\"\nconnector = \"http_json\"\n\
             [sources.params]\nurl = \"{}/stats\"\nvalue = \"$.n\"\n",
            prom_source(&prom.uri()),
            prom.uri()
        );
        let krs = [
            kr("signups", "prom", r#"{ query = "sum(signups_total)" }"#),
            kr("visits", "stats", "{}"),
        ]
        .concat();
        let cfg = write_config(dir.path(), &db.url, &sources, &krs, "UTC");
        let okrs = dir.path().join("okrs.toml");
        let text = std::fs::read_to_string(&okrs)
            .unwrap()
            .replace("2026-10-01", &start.to_string())
            .replace("2026-12-31", &end.to_string());
        std::fs::write(&okrs, text).unwrap();
        let (code, out, err) = okrd(&cfg, &["apply", okrs.to_str().unwrap()]).await;
        assert_eq!(code, 0, "{b}: apply\n{out}\n{err}");

        // Two days first, then the rest.
        let from = today.checked_sub_days(Days::new(2)).unwrap().to_string();
        let (code, out, err) = okrd(&cfg, &["backfill", "--kr", "signups", "--from", &from]).await;
        assert_eq!(code, 0, "{b}\n{out}\n{err}");
        assert!(
            out.contains("signups (prom): fetching 2 past days\n"),
            "{b}\n{out}"
        );
        assert!(
            out.contains(
                "signups (prom): 2 past days: 2 fetched, 0 already had a check-in, 0 failed\n"
            ),
            "{b}\n{out}"
        );
        assert!(
            !out.contains('\r') && !err.contains('\r'),
            "{b}: no bar when not a terminal"
        );

        let (code, out, err) = okrd(&cfg, &["backfill"]).await;
        assert_eq!(code, 0, "{b}\n{out}\n{err}");
        for line in [
            "signups (prom): fetching 3 past days",
            "signups (prom): 5 past days: 3 fetched, 2 already had a check-in, 0 failed",
            "visits (stats): not backfilled: connector `http_json` answers only for now, not for a past day",
            "backfill: 2 key results, 3 values written, 0 days failed, 1 not backfilled",
            "a running daemon shows these values after its next reload or restart",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{b}: no line {line:?} in\n{out}"
            );
        }
        assert_eq!(
            times_asked(&prom).await.len(),
            5,
            "{b}: each day asked for once"
        );
        let store = Store::connect(&db.url, 1).await.unwrap();
        assert_eq!(backfilled(&store, "signups").await.len(), 5, "{b}");
        store.close().await;

        let (code, out, err) = okrd(&cfg, &["backfill", "--kr", "nope"]).await;
        assert_eq!(code, 1, "{b}\n{out}");
        assert!(
            err.contains("no key result `nope` in the database"),
            "{b}: {err}"
        );
        let (code, _, err) = okrd(&cfg, &["backfill", "--kr", "visits", "--source", "prom"]).await;
        assert_eq!(code, 1, "{b}");
        assert!(
            err.contains("is bound to source `stats`, not `prom`"),
            "{b}: {err}"
        );
        let (code, out, err) = okrd(&cfg, &["backfill", "--source", "nowhere"]).await;
        assert_eq!(code, 1, "{b}\n{out}");
        assert!(err.contains("no source named `nowhere`"), "{b}: {err}");
    }
}

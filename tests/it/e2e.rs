//! The daemon end to end, in-process on port 0: KRs bound to local
//! `http_json` and `prometheus` mock servers show the README's progress formulas in
//! `/metrics`, on SQLite and PostgreSQL; failing sources keep the last good
//! value and count the failure's reason; secrets never leak.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use okrd::clock::{Clock, ManualClock};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::daemon::{InProcess, Launch};
use crate::support::{backends, sample};

const SECRET: &str = "e2e-very-secret-token";

struct Daemon {
    base: String,
    clock: Arc<ManualClock>,
    daemon: InProcess,
    dir: tempfile::TempDir,
}

impl Daemon {
    async fn metrics(&self) -> String {
        self.daemon.metrics().await
    }

    /// Advance the clock past the next minute slot and wait until `done(metrics)`.
    async fn tick_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.clock.advance(Duration::from_secs(60));
        for _ in 0..200 {
            let m = self.metrics().await;
            if done(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}:\n{}", self.metrics().await);
    }

    /// Waits until this replica's scheduler is done with `slot` for every KR
    /// of `source`: nothing running and the next run after it. Reads
    /// `/api/v1/sources/{source}` (the daemons here allow anonymous reads).
    async fn wait_past(&self, source: &str, slot: DateTime<Utc>) {
        let url = format!("{}/api/v1/sources/{source}", self.base);
        let mut last = serde_json::Value::Null;
        for _ in 0..400 {
            last = reqwest::get(&url).await.unwrap().json().await.unwrap();
            let next_run = last["next_run"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if last["running"] == false && next_run.is_some_and(|t| t > slot) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{}: the slot {slot} never passed: {last}", self.base);
    }

    async fn stop(self) {
        self.daemon.stop().await;
    }
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

const OKRS: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[teams]]
id = "support"
name = "Support"
parent = "acme"

[[teams]]
id = "growth"
name = "Growth"
parent = "acme"

[[objectives]]
id = "opex"
title = "Reduce cost of operations"
period = "2026-Q4"
team = "acme"

[[objectives]]
id = "reach"
title = "Reach more people"
period = "2026-Q4"
team = "growth"
parent = "opex"

[[key_results]]
id = "web"
objective = "reach"
team = "growth"
owner = "kim@acme.example"
title = "Monthly visitors"
kind = "increase"
start = 1000
target = 2000
parent = "load"
[key_results.source]
use = "analytics"
params = { value = "$.data.visitors" }

[[key_results]]
id = "calls"
objective = "opex"
team = "support"
owner = "dana@acme.example"
title = "Password reset calls"
kind = "decrease"
start = 1200
target = 600
parent = "load"
[key_results.source]
use = "prom"
params = { query = "sum(calls)" }

[[key_results]]
id = "nps"
objective = "opex"
team = "support"
owner = "lee@acme.example"
title = "NPS at least 30"
kind = "at_least"
target = 30
weight = 2
[key_results.source]
use = "analytics"
params = { value = "$.nps" }

[[key_results]]
id = "load"
objective = "opex"
team = "acme"
owner = "cto@acme.example"
title = "Combined load"
kind = "increase"
start = 0
target = 4000
rollup = "sum"
"#;

async fn start_daemon(db_url: &str, analytics: &MockServer, prom: &MockServer) -> Daemon {
    start_replica(db_url, analytics, prom, "").await
}

/// A daemon with extra `[database]` settings (e.g. a refresh interval).
async fn start_replica(
    db_url: &str,
    analytics: &MockServer,
    prom: &MockServer,
    database_extra: &str,
) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("okrs.toml"), OKRS).unwrap();
    std::fs::write(dir.path().join("token"), format!("{SECRET}\n")).unwrap();
    let config = format!(
        r#"
[server]
anonymous_read = true
status_page = "public"
[database]
url = "{db_url}"
{database_extra}
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "* * * * *"
jitter = "0s"
backoff_base = "1s"
backoff_max = "1s"

[[sources]]
name = "analytics"
connector = "http_json"
timeout = "500ms"
# Each failure in one try, so the test sees every reason at once.
retries = 0
[sources.params]
url = "{}/stats"
headers = {{ Authorization = {{ file = "{}" }} }}

[[sources]]
name = "prom"
connector = "prometheus"
timeout = "500ms"
[sources.params]
url = "{}"
"#,
        analytics.uri(),
        dir.path().join("token").display(),
        prom.uri()
    );
    let cfg_path = dir.path().join("okrd.toml");
    std::fs::write(&cfg_path, config).unwrap();
    // 2026-11-16 00:00 UTC is exactly half way through 2026-Q4 (46 of 92 days).
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap(),
    ));
    let daemon = Launch::serve(&cfg_path)
        .clock(clock.clone() as Arc<dyn Clock>)
        .in_process()
        .await;
    Daemon {
        base: daemon.base(),
        clock,
        daemon,
        dir,
    }
}

async fn mount_good(analytics: &MockServer, prom: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/stats"))
        .and(header("authorization", SECRET))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"visitors": "1500"}, "nps": 31
        })))
        .mount(analytics)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", "sum(calls)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "success",
            "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [1763251200.0, "1020"]}
            ]}
        })))
        .mount(prom)
        .await;
}

#[tokio::test]
async fn values_progress_status_and_rollups_follow_the_design_formulas() {
    for db in backends::databases().await {
        let (backend, url) = (db.backend, db.url.clone());
        let analytics = MockServer::start().await;
        let prom = MockServer::start().await;
        mount_good(&analytics, &prom).await;
        let d = start_daemon(&url, &analytics, &prom).await;

        let m = d
            .tick_until("every KR value", |m| {
                ["web", "calls", "nps", "load"].iter().all(|k| {
                    sample(m, "okr_key_result_value", &[&format!("key_result=\"{k}\"")]).is_some()
                })
            })
            .await;
        let kr = |name: &str, k: &str| sample(&m, name, &[&format!("key_result=\"{k}\"")]);
        // Values.
        assert!(
            approx(kr("okr_key_result_value", "web"), 1500.0),
            "{backend}"
        );
        assert!(
            approx(kr("okr_key_result_value", "calls"), 1020.0),
            "{backend}"
        );
        assert!(approx(kr("okr_key_result_value", "nps"), 31.0), "{backend}");
        assert!(
            approx(kr("okr_key_result_value", "load"), 2520.0),
            "{backend}: sum rollup"
        );
        // Progress: increase, decrease, at_least, parent with a sum rollup.
        assert!(
            approx(kr("okr_key_result_progress_ratio", "web"), 0.5),
            "{backend}"
        );
        assert!(
            approx(kr("okr_key_result_progress_ratio", "calls"), 0.3),
            "{backend}"
        );
        assert!(
            approx(kr("okr_key_result_progress_ratio", "nps"), 1.0),
            "{backend}"
        );
        assert!(
            approx(kr("okr_key_result_progress_ratio", "load"), 2520.0 / 4000.0),
            "{backend}"
        );
        // Pace: half the period has passed (plus the one-minute tick).
        let pace = kr("okr_key_result_expected_progress_ratio", "web").unwrap();
        assert!(
            (pace - (0.5 + 60.0 / (92.0 * 86400.0))).abs() < 1e-9,
            "{backend}: {pace}"
        );
        // Status: 0.5 vs 0.5 on track; 0.3 is 0.2 behind: at risk; at_least satisfied: on track.
        let status = |k: &str, s: &str| {
            sample(
                &m,
                "okr_key_result_status",
                &[&format!("key_result=\"{k}\""), &format!("status=\"{s}\"")],
            )
        };
        assert_eq!(status("web", "on_track"), Some(1.0), "{backend}");
        assert_eq!(status("web", "at_risk"), Some(0.0), "{backend}");
        assert_eq!(status("calls", "at_risk"), Some(1.0), "{backend}");
        assert_eq!(status("nps", "on_track"), Some(1.0), "{backend}");
        // Objectives: reach = web; opex = (calls·1 + nps·2 + load·1 + reach·1) / 5.
        let obj = |o: &str| {
            sample(
                &m,
                "okr_objective_progress_ratio",
                &[&format!("objective=\"{o}\"")],
            )
        };
        assert!(approx(obj("reach"), 0.5), "{backend}");
        let opex = (0.3 + 2.0 * 1.0 + 0.63 + 0.5) / 5.0;
        assert!(
            approx(obj("opex"), opex),
            "{backend}: {:?} vs {opex}",
            obj("opex")
        );
        // Teams: mean of their approved KRs.
        let team = |t: &str| {
            sample(
                &m,
                "okr_team_progress_ratio",
                &[&format!("team=\"{t}\""), "period=\"2026-Q4\""],
            )
        };
        assert!(approx(team("support"), 0.65), "{backend}");
        assert!(approx(team("growth"), 0.5), "{backend}");
        assert!(approx(team("acme"), 0.63), "{backend}");
        // Info and start/target.
        assert!(m.contains("okr_key_result_info{key_result=\"web\",objective=\"reach\",team=\"growth\",period=\"2026-Q4\",owner=\"kim@acme.example\",title=\"Monthly visitors\",kind=\"increase\",unit=\"\",source=\"analytics\"} 1"), "{backend}");
        assert!(approx(kr("okr_key_result_target", "calls"), 600.0));
        assert!(
            approx(
                sample(&m, "okr_source_fetches_total", &["source=\"prom\""]),
                1.0
            ),
            "{backend}"
        );
        assert!(!m.contains(SECRET));
        d.stop().await;
    }
}

/// Each failing answer, the reason it must be counted under.
fn failures() -> Vec<(&'static str, ResponseTemplate)> {
    vec![
        (
            "http_5xx",
            ResponseTemplate::new(500).set_body_string("internal error"),
        ),
        (
            "http_5xx",
            ResponseTemplate::new(503)
                .set_body_raw("<html><body>Service Unavailable</body></html>", "text/html"),
        ),
        (
            "parse",
            ResponseTemplate::new(200)
                .set_body_raw("{\"data\": {\"visitors\": \"15", "application/json"),
        ),
        (
            "invalid_value",
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"data": {"visitors": "NaN"}})),
        ),
        (
            "no_data",
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {}})),
        ),
        (
            "timeout",
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(serde_json::json!({"data": {"visitors": 1}})),
        ),
        (
            "auth",
            // An echo of the credentials in the body must not reach any output.
            ResponseTemplate::new(401).set_body_string(format!("bad token {SECRET}")),
        ),
    ]
}

#[tokio::test]
async fn failing_sources_keep_the_last_good_value_and_count_each_reason() {
    for db in backends::databases().await {
        let (backend, url) = (db.backend, db.url.clone());
        let analytics = MockServer::start().await;
        let prom = MockServer::start().await;
        mount_good(&analytics, &prom).await;
        let d = start_daemon(&url, &analytics, &prom).await;
        d.tick_until("the first value", |m| {
            sample(m, "okr_key_result_value", &["key_result=\"web\""]).is_some()
        })
        .await;

        for (reason, response) in failures() {
            analytics.reset().await;
            Mock::given(path("/stats"))
                .respond_with(response)
                .mount(&analytics)
                .await;
            let label = format!("reason=\"{reason}\"");
            let before = sample(
                &d.metrics().await,
                "okr_source_fetch_failures_total",
                &["source=\"analytics\"", &label],
            )
            .unwrap();
            let m = d
                .tick_until(reason, |m| {
                    sample(
                        m,
                        "okr_source_fetch_failures_total",
                        &["source=\"analytics\"", &label],
                    )
                    .is_some_and(|n| n > before)
                })
                .await;
            assert!(
                approx(
                    sample(&m, "okr_key_result_value", &["key_result=\"web\""]),
                    1500.0
                ),
                "{backend} {reason}"
            );
            assert!(
                approx(
                    sample(&m, "okr_key_result_progress_ratio", &["key_result=\"web\""]),
                    0.5
                ),
                "{backend} {reason}"
            );
            assert!(
                !m.contains(SECRET),
                "{backend} {reason}: secret in /metrics"
            );
            let page = reqwest::get(&d.base).await.unwrap();
            assert_eq!(page.status(), 200, "{backend} {reason}: the status page");
            let page = page.text().await.unwrap();
            assert!(
                !page.contains(SECRET),
                "{backend} {reason}: secret on the status page"
            );
        }
        // The other source was never disturbed, and the daemon still serves.
        let m = d.metrics().await;
        assert!(approx(
            sample(&m, "okr_key_result_value", &["key_result=\"calls\""]),
            1020.0
        ));
        assert_eq!(
            reqwest::get(format!("{}/readyz", d.base))
                .await
                .unwrap()
                .status(),
            200
        );
        d.stop().await;
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let analytics = MockServer::start().await;
    let prom = MockServer::start().await;
    let db = backends::sqlite_db();
    let url = db.url.clone();
    let d = start_daemon(&url, &analytics, &prom).await;
    let health = reqwest::get(format!("{}/healthz", d.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{}/readyz", d.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = reqwest::get(format!("{}/metrics", d.base)).await.unwrap();
    assert_eq!(
        metrics.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = metrics.text().await.unwrap();
    // Before the first fetch every KR is known, with no value and status no_data.
    assert_eq!(
        sample(
            &body,
            "okr_key_result_status",
            &["key_result=\"web\"", "status=\"no_data\""]
        ),
        Some(1.0)
    );
    assert!(sample(&body, "okr_key_result_value", &["key_result=\"web\""]).is_none());
    assert!(body.contains("okr_build_info{version="));
    // Prometheus asks for gzip and gets it.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let gz = raw
        .get(format!("{}/metrics", d.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.unwrap();
    assert!(
        compressed.len() < body.len(),
        "{} vs {}",
        compressed.len(),
        body.len()
    );
    d.stop().await;
}

/// Scheduled fetches the Prometheus mock answered: queries at or after the
/// clock's start (`time=`), not the past days each replica backfills.
async fn slot_fetches(prom: &MockServer) -> usize {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 16, 0, 0, 0)
        .unwrap()
        .timestamp();
    let requests = prom.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "time")
                .and_then(|(_, t)| t.parse::<i64>().ok())
                .is_some_and(|t| t >= start)
        })
        .count()
}

#[tokio::test]
async fn replicas_share_values_and_fetch_each_slot_once() {
    // Replicas share a PostgreSQL database; SQLite mode is single-process.
    let postgres = backends::databases()
        .await
        .into_iter()
        .filter(|d| d.backend == "postgres");
    for db in postgres {
        let backend = db.backend;
        let analytics = MockServer::start().await;
        let prom = MockServer::start().await;
        mount_good(&analytics, &prom).await;
        let refresh = "refresh_interval = \"100ms\"";
        let a = start_replica(&db.url, &analytics, &prom, refresh).await;
        let b = start_replica(&db.url, &analytics, &prom, refresh).await;

        // Only A reaches the slot: A fetches, B shows A's values from the database.
        a.tick_until("A's values", |m| {
            sample(m, "okr_key_result_value", &["key_result=\"web\""]).is_some()
        })
        .await;
        let mut seen = None;
        for _ in 0..200 {
            let m = b.metrics().await;
            // `web` only A's fetch gives (`calls` B backfills itself too).
            if approx(
                sample(&m, "okr_key_result_value", &["key_result=\"calls\""]),
                1020.0,
            ) && approx(
                sample(&m, "okr_key_result_value", &["key_result=\"web\""]),
                1500.0,
            ) {
                seen = Some(m);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let m = seen.unwrap_or_else(|| panic!("{backend}: replica B never showed A's value"));
        assert!(
            approx(
                sample(&m, "okr_key_result_value", &["key_result=\"load\""]),
                2520.0
            ),
            "{backend}: B rolls up too"
        );
        assert_eq!(
            sample(&m, "okr_source_fetches_total", &["source=\"prom\""]),
            Some(0.0),
            "{backend}"
        );

        // B reaches the same slot: the lease is taken, so B does not fetch it
        // again. Counted once both replicas are done with the slot.
        let first = Utc.with_ymd_and_hms(2026, 11, 16, 0, 1, 0).unwrap();
        b.clock.advance(Duration::from_secs(60));
        a.wait_past("prom", first).await;
        b.wait_past("prom", first).await;
        let fetched = slot_fetches(&prom).await;
        assert_eq!(
            fetched, 1,
            "{backend}: the first slot was fetched {fetched} times"
        );

        // Both reach the next slots at once and race for each lease: every
        // slot is fetched by exactly one of them.
        for n in 2..=4 {
            let slot = first + chrono::TimeDelta::minutes(n - 1);
            a.clock.advance(Duration::from_secs(60));
            b.clock.advance(Duration::from_secs(60));
            a.wait_past("prom", slot).await;
            b.wait_past("prom", slot).await;
            let fetched = slot_fetches(&prom).await;
            assert_eq!(
                fetched, n as usize,
                "{backend}: after slot {n}, {fetched} fetches (one per slot expected)"
            );
        }
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test]
async fn a_running_daemon_picks_up_what_okrd_apply_wrote() {
    for db in backends::databases().await {
        let backend = db.backend;
        let analytics = MockServer::start().await;
        let prom = MockServer::start().await;
        mount_good(&analytics, &prom).await;
        let d = start_replica(&db.url, &analytics, &prom, "refresh_interval = \"100ms\"").await;
        // Both KRs this test looks at again after the reload.
        d.tick_until("the first values", |m| {
            sample(m, "okr_key_result_value", &["key_result=\"nps\""]).is_some()
                && sample(m, "okr_key_result_value", &["key_result=\"web\""]).is_some()
        })
        .await;

        // What `okrd apply` does: the file loses `nps` and gains `visits`.
        let changed = OKRS
            .replace("id = \"nps\"", "id = \"visits\"")
            .replace("title = \"NPS at least 30\"", "title = \"Visitors\"");
        let path = d.dir.path().join("okrs.toml");
        std::fs::write(&path, changed).unwrap();
        let loaded = okrd::okr::file::load_files(&[path], &Default::default()).unwrap();
        let store = okrd::store::Store::connect(&db.url, 1).await.unwrap();
        store
            .apply_files(&loaded.set, &loaded.ownership, &loaded.files)
            .await
            .unwrap();

        let mut reloaded = None;
        for _ in 0..200 {
            let m = d.metrics().await;
            if m.contains("key_result=\"visits\"") && !m.contains("key_result=\"nps\"") {
                reloaded = Some(m);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let m = reloaded.unwrap_or_else(|| panic!("{backend}: the daemon did not reload"));
        assert_eq!(
            sample(
                &m,
                "okr_key_result_status",
                &["key_result=\"visits\"", "status=\"no_data\""]
            ),
            Some(1.0),
            "{backend}"
        );
        // Values of unchanged KRs survive the reload, and the new KR is fetched.
        assert!(
            approx(
                sample(&m, "okr_key_result_value", &["key_result=\"web\""]),
                1500.0
            ),
            "{backend}"
        );
        d.tick_until("the new KR's value", |m| {
            approx(
                sample(m, "okr_key_result_value", &["key_result=\"visits\""]),
                31.0,
            )
        })
        .await;
        d.stop().await;
    }
}

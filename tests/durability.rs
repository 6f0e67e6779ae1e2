//! `kill -9` at arbitrary moments: a restart loses no check-in that was
//! written and writes none twice; the schedule resumes.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use okrd::store::Store;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const OKRS: &str = r#"
[[periods]]
id = "now"
start = "2000-01-01"
end = "2999-12-31"

[[teams]]
id = "t"
name = "T"

[[objectives]]
id = "o"
title = "Keep things moving"
period = "now"
team = "t"

[[key_results]]
id = "a"
objective = "o"
team = "t"
owner = "a@example.com"
title = "A"
kind = "increase"
start = 0
target = 100
[key_results.source]
use = "mock"

[[key_results]]
id = "b"
objective = "o"
team = "t"
owner = "b@example.com"
title = "B"
kind = "increase"
start = 0
target = 100
[key_results.source]
use = "mock"
"#;

fn spawn(dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_okrd"))
        .current_dir(dir)
        .args(["serve", "--config", "okrd.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("okrd starts")
}

async fn keys(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for kr in ["a", "b"] {
        for c in store.check_ins(kr, 100_000).await.unwrap() {
            out.push(c.idempotency_key.expect("scheduled check-ins have a key"));
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `okr_key_result_last_update_timestamp_seconds` of a KR as served now, if any.
async fn last_update_shown(port: u16, kr: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("okr_key_result_last_update_timestamp_seconds{{key_result=\"{kr}\"");
    body.lines()
        .find(|l| l.starts_with(&prefix))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

async fn wait_for_more(store: &Store, than: usize) -> Vec<String> {
    for _ in 0..150 {
        let k = keys(store).await;
        if k.len() > than {
            return k;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new check-ins after restart");
}

#[tokio::test]
async fn sigkill_and_restart_lose_nothing_and_duplicate_nothing() {
    let mock = MockServer::start().await;
    Mock::given(path("/v"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"v": 42})))
        .mount(&mock)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("okrd.db").display());
    let port = free_port();
    std::fs::write(dir.path().join("okrs.toml"), OKRS).unwrap();
    std::fs::write(
        dir.path().join("okrd.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db}\"\n[okrs]\nfiles = [\"okrs.toml\"]\n\
             [scheduler]\ndefault_schedule = \"* * * * * *\"\njitter = \"0s\"\n\
             [[sources]]\nname = \"mock\"\nconnector = \"http_json\"\n[sources.params]\nurl = \"{}/v\"\nvalue = \"$.v\"\n",
            mock.uri()
        ),
    )
    .unwrap();

    let mut seen: Vec<String> = Vec::new();
    let mut store: Option<Store> = None;
    let mut shown_before_kill = 0;
    // Kill at different moments after start: during startup, between fetches, mid-run.
    for wait_ms in [150u64, 1300, 2700, 900] {
        let mut child = spawn(dir.path());
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        // What the daemon has shown is acknowledged: it must survive the kill.
        let shown = last_update_shown(port, "a").await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if store.is_none() && dir.path().join("okrd.db").exists() {
            store = Some(Store::connect(&db, 2).await.unwrap());
        }
        if let Some(store) = &store {
            let now = keys(store).await;
            let set: HashSet<&String> = now.iter().collect();
            assert_eq!(set.len(), now.len(), "duplicate check-in keys: {now:?}");
            for k in &seen {
                assert!(set.contains(k), "check-in {k} was lost");
            }
            if let Some(shown) = shown {
                shown_before_kill += 1;
                let latest = store.check_ins("a", 1).await.unwrap();
                let stored = latest.first().map(|c| c.observed_at.timestamp_millis());
                assert!(
                    stored.is_some_and(|t| t as f64 / 1000.0 >= shown),
                    "/metrics showed a value from {shown} that the database lost (latest: {stored:?})"
                );
            }
            seen = now;
        }
    }
    assert!(
        shown_before_kill >= 1,
        "no kill happened after a value was served"
    );
    // A last run resumes the schedule and keeps writing.
    let store = store.expect("the database was created");
    let mut child = spawn(dir.path());
    let after = wait_for_more(&store, seen.len()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let set: HashSet<&String> = after.iter().collect();
    assert_eq!(set.len(), after.len(), "duplicate check-in keys");
    assert!(seen.iter().all(|k| set.contains(k)), "a check-in was lost");
    assert!(
        seen.len() >= 2,
        "too few check-ins to mean anything: {seen:?}"
    );
}

/// SIGTERM while a fetch is in flight: the daemon lets it finish, records its
/// check-in, and exits cleanly.
#[tokio::test]
async fn sigterm_finishes_the_fetch_in_flight_and_exits_cleanly() {
    let mock = MockServer::start().await;
    Mock::given(path("/v"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(1500))
                .set_body_json(serde_json::json!({"v": 7})),
        )
        .mount(&mock)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("okrd.db").display());
    std::fs::write(
        dir.path().join("okrs.toml"),
        OKRS.replace(
            "[[key_results]]\nid = \"b\"",
            "[[key_results]]\nid = \"b\"\nweight = 1",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("okrd.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"10s\"\n[database]\nurl = \"{db}\"\n[okrs]\nfiles = [\"okrs.toml\"]\n\
             [scheduler]\ndefault_schedule = \"* * * * * *\"\njitter = \"0s\"\n\
             [[sources]]\nname = \"mock\"\nconnector = \"http_json\"\ntimeout = \"5s\"\n[sources.params]\nurl = \"{}/v\"\nvalue = \"$.v\"\n",
            mock.uri()
        ),
    )
    .unwrap();
    let mut child = spawn(dir.path());
    // Wait until a fetch is in flight.
    for _ in 0..100 {
        if !mock.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !mock.received_requests().await.unwrap().is_empty(),
        "no fetch started"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "okrd did not exit cleanly: {status}");
    let store = Store::connect(&db, 1).await.unwrap();
    let written = keys(&store).await;
    assert!(
        !written.is_empty(),
        "the fetch in flight at SIGTERM was not recorded"
    );
}

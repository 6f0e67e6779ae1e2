//! The database away is not the source's fault, and loses no fetched value:
//! a locked SQLite keeps values waiting in memory (counted, shown by
//! `/readyz`) and writes them with their observation time once it is free;
//! success counts only then, and API writes meanwhile get 503 with
//! `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection as _;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::backends::sqlite_db;
use crate::support::sample;

/// 1500 visitors, then 1600 on every later request.
struct Growing(Arc<AtomicUsize>);

impl Respond for Growing {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let visitors = if n == 0 { 1500 } else { 1600 };
        ResponseTemplate::new(200).set_body_json(json!({ "visitors": visitors }))
    }
}

/// Polls `/metrics` until `done` holds, for up to `secs` seconds.
async fn until(api: &Api, what: &str, secs: u64, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if done(&api.metrics().await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}:\n{}", api.metrics().await);
}

async fn metric(api: &Api, name: &str, labels: &[&str]) -> Option<f64> {
    sample(&api.metrics().await, name, labels)
}

async fn stored_values(api: &Api) -> Vec<f64> {
    let page = api
        .get("/key-results/visits/check-ins", &api.tokens.admin)
        .await
        .expect(200);
    let mut values: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_f64().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

#[tokio::test]
async fn a_value_fetched_while_sqlite_is_locked_is_written_when_it_is_free() {
    let web = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Growing(Arc::default()))
        .mount(&web)
        .await;
    let db = sqlite_db();
    let url = format!("{}/stats", web.uri());
    let api = start(
        &db,
        Options {
            source_url: &url,
            extra_config: "",
        },
    )
    .await;
    let (auth, leader, admin) = (&api.tokens.auth, &api.tokens.leader, &api.tokens.admin);
    api.post(
        "/key-results",
        auth,
        kr_body("visits", "opex", "auth", "dana@acme.example"),
    )
    .await
    .expect(201);
    api.act("/key-results/visits/propose", auth)
        .await
        .expect(200);
    api.patch(
        "/key-results/visits",
        leader,
        json!({"source": {"use": "web"}, "start": 1000, "target": 2000}),
    )
    .await
    .expect(200);
    // Approval fetches at once: 1500, written.
    api.act("/key-results/visits/approve", leader)
        .await
        .expect(200);
    let fetches = ["source=\"web\""];
    api.metrics_until("the first fetch", |m| {
        sample(m, "okr_source_fetches_total", &fetches) == Some(1.0)
    })
    .await;
    assert_eq!(stored_values(&api).await, [1500.0]);

    // Another process takes SQLite's write lock and keeps it past the
    // daemon's 5 s busy timeout.
    let mut lock = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();

    // A minute later, a run fetches 1600; its audit record cannot be
    // written: 503.
    api.clock.as_ref().unwrap().advance(Duration::from_secs(60));
    let run = api
        .client
        .post(format!("{}/api/v1/sources/web/run", api.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 503);
    assert_eq!(run.headers()["retry-after"], "5");
    let problem: serde_json::Value = run.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{problem}"
    );
    // The fetched value waits: not counted as a success, not lost.
    until(&api, "the value waiting", 10, |m| {
        sample(m, "okr_check_in_backlog", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(
        metric(&api, "okr_source_fetches_total", &fetches).await,
        Some(1.0),
        "a success counted before its value was written"
    );
    assert_eq!(
        metric(&api, "okr_source_fetch_failures_total", &fetches)
            .await
            .unwrap_or(0.0),
        0.0,
        "the database's fault counted as the source's"
    );
    let ready = reqwest::get(format!("{}/readyz", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ready.contains("backlog: 1 fetched values waiting"),
        "{ready}"
    );

    // Hold it 10 s in all, then let go: the value is written, with the time
    // it was fetched, and the success counts.
    tokio::time::sleep(Duration::from_secs(4)).await;
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    drop(lock);
    until(&api, "the waiting value written", 15, |m| {
        sample(m, "okr_check_in_backlog", &[]) == Some(0.0)
            && sample(m, "okr_source_fetches_total", &fetches) == Some(2.0)
    })
    .await;
    assert_eq!(stored_values(&api).await, [1500.0, 1600.0]);
    let m = api.metrics().await;
    assert_eq!(
        sample(&m, "okr_key_result_value", &["key_result=\"visits\""]),
        Some(1600.0)
    );
    assert_eq!(
        sample(&m, "okr_check_in_backlog_dropped_total", &[]),
        Some(0.0)
    );
    api.stop().await;
}

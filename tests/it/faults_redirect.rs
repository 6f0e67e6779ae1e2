//! An upstream that starts redirecting to another origin, through the real
//! binary (issue 11's fault suite): the redirect is not followed (the other
//! host sees no connection), the fetch fails with a reason and a message
//! naming the origin, the KR keeps its last value instead of dropping, the
//! daemon keeps serving and acknowledging API check-ins, and once the
//! upstream answers again its value is recorded. Nothing acknowledged is
//! missing afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start_binary};
use crate::support::backends::sqlite_db;
use crate::support::elsewhere::Elsewhere;

/// The upstream: answers 1500, then redirects to `to`, then answers 1700.
struct Upstream {
    phase: Arc<AtomicU8>,
    to: String,
}

impl Respond for Upstream {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        match self.phase.load(Ordering::SeqCst) {
            0 => ResponseTemplate::new(200).set_body_json(json!({ "visitors": 1500 })),
            1 => ResponseTemplate::new(307).insert_header("location", self.to.as_str()),
            _ => ResponseTemplate::new(200).set_body_json(json!({ "visitors": 1700 })),
        }
    }
}

async fn source_view(api: &Api) -> Value {
    api.get("/sources/web", &api.tokens.admin).await.expect(200)
}

async fn kr_value(api: &Api) -> Option<f64> {
    let kr = api
        .get("/key-results/visits", &api.tokens.admin)
        .await
        .expect(200);
    kr["value"].as_f64()
}

/// Runs the source until `done` holds for its view, for up to 10 s.
async fn run_until(api: &Api, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let _ = api
            .call("POST", "/sources/web/run", Some(&api.tokens.admin), None)
            .await;
        let view = source_view(api).await;
        if done(&view) {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {:#}", source_view(api).await);
}

/// A manual check-in on the file-managed KR `calls`; its value if acknowledged.
async fn check_in(api: &Api, value: f64) -> Option<f64> {
    let r = api
        .post(
            "/key-results/calls/check-ins",
            &api.tokens.admin,
            json!({ "value": value, "note": "weekly call count" }),
        )
        .await;
    (r.status == 201).then_some(value)
}

#[tokio::test]
async fn an_upstream_redirecting_elsewhere_fails_its_fetches_and_loses_nothing() {
    let elsewhere = Elsewhere::start();
    let web = MockServer::start().await;
    let phase = Arc::new(AtomicU8::new(0));
    Mock::given(wiremock::matchers::any())
        .respond_with(Upstream {
            phase: phase.clone(),
            to: format!("{}/collect", elsewhere.origin()),
        })
        .mount(&web)
        .await;
    let url = format!("{}/stats?api_key=s3cret-query-key", web.uri());
    let db = sqlite_db();
    let api = start_binary(
        &db,
        Options {
            source_url: &url,
            extra_config: "",
        },
        &[],
    )
    .await;
    let mut body = kr_body("visits", "reach", "growth", "kim@acme.example");
    body["source"] = json!({ "use": "web" });
    api.approved_kr(&api.tokens.growth, body).await;
    run_until(&api, "the first value", |v| v["last_success"].is_string()).await;
    assert_eq!(kr_value(&api).await, Some(1500.0));

    let mut acknowledged = Vec::new();
    acknowledged.extend(check_in(&api, 900.0).await);

    // The upstream now redirects every request to another origin.
    phase.store(1, Ordering::SeqCst);
    let view = run_until(&api, "the redirect to fail a fetch", |v| {
        v["last_failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not followed"))
    })
    .await;
    let failure = &view["last_failure"];
    assert_eq!(failure["reason"], "http_4xx", "{view:#}");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains(&elsewhere.origin()), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    for value in [880.0, 860.0] {
        acknowledged.extend(check_in(&api, value).await);
    }
    assert_eq!(kr_value(&api).await, Some(1500.0), "the KR kept its value");
    let health = api.client.get(format!("{}/healthz", api.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);

    // The upstream answers again: its value is recorded.
    phase.store(2, Ordering::SeqCst);
    let mut recovered = false;
    for _ in 0..400 {
        let _ = api
            .call("POST", "/sources/web/run", Some(&api.tokens.admin), None)
            .await;
        if kr_value(&api).await == Some(1700.0) {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        recovered,
        "no value after the redirects: {:#}",
        source_view(&api).await
    );
    assert_eq!(elsewhere.connections(), 0, "a redirect was followed");

    let log = api.log();
    assert!(log.contains("not followed"), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
    let page = api
        .get("/key-results/calls/check-ins", &api.tokens.admin)
        .await
        .expect(200);
    let stored: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["value"].as_f64())
        .collect();
    for value in &acknowledged {
        assert!(stored.contains(value), "{value} missing from {stored:?}");
    }
    assert_eq!(acknowledged.len(), 3, "every check-in was acknowledged");
    api.stop().await;
}

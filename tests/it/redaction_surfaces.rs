//! Everything okrd derives from a secret is redacted wherever text surfaces
//! (issue 11, item 3): the log, `okrd source test`, the status page, the API
//! and `/metrics`, not only in the log (`secrets_in_logs.rs` sweeps that one
//! for every way a secret is configured).
//!
//! The real binary runs three sources against a mock that refuses every
//! credential and quotes it back: Delighted (basic auth built from the API
//! key: `base64("key:")`), http_json with an `Authorization: Bearer …`
//! header (the token quoted without its scheme, and URL-encoded), and a
//! self-hosted Umami that logs in and is refused the token it was minted,
//! which no config holds. Each surface must show the failure, with the
//! mock's words, so the test cannot pass by showing nothing.

use std::process::{Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start_binary};
use crate::support::backends;

/// Every secret holds characters that URL encoding changes.
const DELIGHTED_KEY: &str = "dl/Ky+1aa=";
const BEARER_TOKEN: &str = "br/Tk+2bb=";
const UMAMI_PASSWORD: &str = "um/Pw+3cc=";
/// What the mock's login answers: okrd learns it at run time.
const MINTED: &str = "mt/Tk+4dd.eyJhbGciOi";
/// The mock's words in every refusal.
const REFUSED: &str = "credential refused";

/// 401 quoting the request's `Authorization`, the credential without its
/// scheme, URL-encoded, and the query string.
struct Echo;

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let credential = auth.split_once(' ').map(|(_, c)| c).unwrap_or_default();
        let encoded: String = form_urlencoded::byte_serialize(credential.as_bytes()).collect();
        let message = format!(
            "{REFUSED}: {credential} ({encoded}) from `Authorization: {auth}` at {}",
            req.url
        );
        ResponseTemplate::new(401).set_body_json(json!({ "error": message }))
    }
}

fn config(mock: &str) -> String {
    format!(
        r#"
[[sources]]
name = "nps"
connector = "delighted"
timeout = "2s"
retries = 0
[sources.params]
base_url = "{mock}"
api_key = {{ env = "RS_DELIGHTED_KEY" }}

[[sources]]
name = "surveys"
connector = "http_json"
timeout = "2s"
retries = 0
[sources.params]
url = "{mock}/surveys"
value = "$.score"
headers = {{ Authorization = {{ env = "RS_BEARER" }} }}

[[sources]]
name = "visits"
connector = "umami"
timeout = "2s"
retries = 0
[sources.params]
base_url = "{mock}"
website_id = "site-1"
username = "okrd"
password = {{ env = "RS_UMAMI_PASSWORD" }}
"#
    )
}

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("RS_DELIGHTED_KEY", DELIGHTED_KEY.to_string()),
        ("RS_BEARER", format!("Bearer {BEARER_TOKEN}")),
        ("RS_UMAMI_PASSWORD", UMAMI_PASSWORD.to_string()),
    ]
}

/// Each secret, okrd-derived form by form, as it must never be shown.
fn forbidden() -> Vec<(String, &'static str)> {
    let mut forms = Vec::new();
    for (secret, what) in [
        (DELIGHTED_KEY, "the Delighted key"),
        (BEARER_TOKEN, "the bearer token"),
        (UMAMI_PASSWORD, "the Umami password"),
        (MINTED, "the minted token"),
    ] {
        forms.push((secret.to_string(), what));
        let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        forms.push((encoded, what));
    }
    let basic = format!("{DELIGHTED_KEY}:");
    forms.push((STANDARD.encode(&basic), "base64 of `key:`"));
    forms.push((STANDARD_NO_PAD.encode(&basic), "base64 of `key:`"));
    forms
}

#[track_caller]
fn assert_redacted(surface: &str, text: &str) {
    for (form, what) in forbidden() {
        assert!(
            !text.contains(&form),
            "{surface} shows {what} as `{form}`:\n{text}"
        );
    }
}

async fn mock() -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/auth/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "token": MINTED })))
        .mount(&mock)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo)
        .mount(&mock)
        .await;
    mock
}

/// Runs every source until each has recorded a failure quoting the mock.
async fn fail_every_source(api: &Api) {
    let t = &api.tokens;
    for source in ["nps", "surveys", "visits"] {
        let mut body = kr_body(source, "reach", "growth", "kim@acme.example");
        body["source"] = json!({ "use": source });
        api.approved_kr(&t.growth, body).await;
    }
    for source in ["nps", "surveys", "visits"] {
        let mut seen = serde_json::Value::Null;
        for _ in 0..200 {
            let _ = api
                .call(
                    "POST",
                    &format!("/sources/{source}/run"),
                    Some(&t.admin),
                    None,
                )
                .await;
            seen = api
                .get(&format!("/sources/{source}"), &t.admin)
                .await
                .expect(200);
            if seen["last_failure"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(REFUSED))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let message = seen["last_failure"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(REFUSED),
            "{source} never failed quoting the mock: {seen:#}"
        );
    }
}

/// `okrd source test NAME --kr NAME` with the daemon's config and secrets.
async fn source_test(api: &Api, source: &str) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okrd"));
    cmd.args(["source", "test", source, "--kr", source, "--config"])
        .arg(&api.config)
        .envs(env())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    let Output { stdout, stderr, .. } = cmd.output().await.expect("okrd runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    )
}

#[tokio::test]
async fn derived_secrets_are_redacted_on_every_surface() {
    let db = backends::sqlite_db();
    let mock = mock().await;
    let extra = format!(
        "[server]\nstatus_page = \"private\"\n{}",
        config(&mock.uri())
    );
    let url = format!("{}/web", mock.uri());
    let env = env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let api = start_binary(
        &db,
        Options {
            source_url: &url,
            extra_config: &extra,
        },
        &env,
    )
    .await;
    fail_every_source(&api).await;
    let admin = api.tokens.admin.clone();

    // The API, as an admin (who sees failure messages).
    let sources = api.get("/sources", &admin).await.expect(200).to_string();
    assert!(sources.contains(REFUSED), "{sources}");
    assert_redacted("GET /api/v1/sources", &sources);

    // The web app's sources page, as an admin (who sees failure messages).
    let page = api
        .client
        .get(format!("{}/sources", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(REFUSED), "{page}");
    assert_redacted("the web app's /sources", &page);

    // `/metrics`.
    let metrics = api.metrics().await;
    assert!(metrics.contains("reason=\"auth\""), "{metrics}");
    assert_redacted("/metrics", &metrics);

    // `okrd source test`, for each source.
    for source in ["nps", "surveys", "visits"] {
        let out = source_test(&api, source).await;
        assert!(out.contains(REFUSED), "{source}: {out}");
        assert_redacted(&format!("okrd source test {source}"), &out);
    }

    // The daemon's log.
    let log = api.log();
    assert!(log.contains(REFUSED), "{log}");
    assert_redacted("the log", &log);
    api.stop().await;
}

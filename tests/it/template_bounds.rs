//! A template bomb in a KR param (issue 11): refused over the API with 422,
//! and, written straight into the store, it fails its fetch with
//! `invalid_value` while the daemon keeps running small, on SQLite and
//! PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use okrd::okr::{KeyResult, KrKind, SourceRef, WorkflowState};

use crate::support::api::{Api, Options, kr_body, start, start_binary};
use crate::support::backends;

/// Each builds a value far past the 1 MiB budget, or one the bound cannot
/// see the end of. The last is the issue's, with an output of a few bytes:
/// only the memory it takes on the way shows it.
const BOMBS: &[&str] = &[
    "{{ 'x' * 100000000 }}",
    "{% set a = 'xx' %}{% for i in range(40) %}{% set a = a ~ a %}{% endfor %}{{ a }}",
    "{{ range(100000) | join('xxxxxxxxxx') }}",
    "{{ 'x' | indent(100000000) }}",
    "{{ 'x' | center(100000000) }}",
    "{{ ('x' * 1000) | replace('x', 'y' * 1000) }}",
    "{% set a = 'x' * 100000000 %}{% set a = a ~ a %}{{ a | length }}",
];

/// What a refusal says: the param's path and why, never the output.
fn assert_refusal(detail: &str, at: &str) {
    assert!(detail.contains(&format!("param `{at}`")), "{detail}");
    assert!(
        ["cannot be bounded", "larger than", "longer than"]
            .iter()
            .any(|w| detail.contains(w)),
        "{detail}"
    );
    assert!(!detail.contains("xxxxxxxxxxxx"), "{detail}");
}

fn with_params(mut body: Value, params: Value) -> Value {
    body["source"] = json!({"use": "web", "params": params});
    body
}

#[tokio::test]
async fn a_members_kr_with_a_template_bomb_is_refused_with_422() {
    for db in backends::databases().await {
        let api = start(
            &db,
            Options {
                source_url: "http://127.0.0.1:9/stats",
                extra_config: "",
            },
        )
        .await;
        let b = api.backend;
        let member = api.tokens.auth.clone();
        for (i, bomb) in BOMBS.iter().enumerate() {
            let id = format!("bomb-{i}");
            let body = with_params(
                kr_body(&id, "opex", "auth", "dana@acme.example"),
                json!({"method": "POST", "body": {"q": [bomb]}}),
            );
            let problem = api
                .post("/key-results", &member, body)
                .await
                .problem(422, "param");
            assert_refusal(problem["detail"].as_str().unwrap(), "body.q[0]");
            api.get(&format!("/key-results/{id}"), &member)
                .await
                .expect(404);
        }
        // The same KR with a template that is bounded is taken, and a bomb
        // cannot be patched into it.
        let fine = with_params(
            kr_body("fine", "opex", "auth", "dana@acme.example"),
            json!({
                "method": "POST",
                "body": {"since": "{{ period.start | unix }}", "q": "{{ key_result.id | urlencode }}"},
            }),
        );
        api.post("/key-results", &member, fine).await.expect(201);
        for bomb in BOMBS {
            let problem = api
                .patch(
                    "/key-results/fine",
                    &member,
                    json!({"source": {"use": "web", "params": {"headers": {"X-Q": bomb}}}}),
                )
                .await
                .problem(422, "param");
            assert_refusal(problem["detail"].as_str().unwrap(), "headers.X-Q");
        }
        let kr = api.get("/key-results/fine", &member).await.expect(200);
        assert_eq!(
            kr["source"]["params"]["body"]["q"], "{{ key_result.id | urlencode }}",
            "{b}: {kr:#}"
        );
        api.stop().await;
    }
}

/// Kilobytes the process's resident set peaked at (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
}

/// An approved KR on source `web`, fetched every second.
fn every_second(id: &str, params: Value) -> KeyResult {
    KeyResult {
        id: id.into(),
        objective: "opex".into(),
        team: "acme".into(),
        owner: "ceo@acme.example".into(),
        title: format!("Key result {id}"),
        description: None,
        kind: KrKind::Increase,
        start: Some(0.0),
        target: Some(100.0),
        due: None,
        unit: None,
        weight: 1.0,
        parent: None,
        rollup: None,
        source: Some(SourceRef {
            source: "web".into(),
            schedule: Some("* * * * * *".into()),
            params: params.as_object().unwrap().clone(),
        }),
        state: WorkflowState::Approved,
        sustain: None,
        guard: None,
    }
}

async fn write_past_the_api(api: &Api, krs: &[KeyResult]) {
    let mut tx = api.store.begin_model_tx().await.unwrap();
    for kr in krs {
        tx.put_key_result(kr).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_bomb_written_into_the_store_fails_its_fetch_and_the_daemon_stays_small() {
    for db in backends::databases().await {
        let mock = MockServer::start().await;
        Mock::given(path("/stats"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"visitors": 42})))
            .mount(&mock)
            .await;
        let api = start_binary(
            &db,
            Options {
                source_url: &format!("{}/stats", mock.uri()),
                extra_config: "",
            },
            &[("OKRD_DATABASE__REFRESH_INTERVAL", "1s")],
        )
        .await;
        let b = api.backend;
        let bomb = BOMBS.last().unwrap();
        write_past_the_api(
            &api,
            &[
                every_second("bomb", json!({"method": "POST", "body": {"q": bomb}})),
                every_second("steady", json!({})),
            ],
        )
        .await;
        // Several slots of both KRs: the steady one keeps being recorded.
        api.metrics_until("five fetches of the steady KR", |m| {
            crate::support::sample(m, "okr_source_fetches_total", &["source=\"web\""])
                .is_some_and(|n| n >= 5.0)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let health = reqwest::get(format!("{}/healthz", api.base)).await.unwrap();
        assert_eq!(health.status(), 200, "{b}");
        let peak = peak_rss_kib(api.pid());
        assert!(peak < 200 * 1024, "{b}: the daemon peaked at {peak} KiB");
        let log = api.log();
        assert!(
            log.contains("key result `bomb`") && log.contains("param `body.q`"),
            "{b}: the bomb's refusal is not logged:\n{log}"
        );
        assert!(!log.contains("xxxxxxxxxxxx"), "{b}");

        // Fetched anyway (`okrd source test` takes the stored binding as it
        // is): the render-time check fails it as invalid_value.
        let out = api.cli(&["source", "test", "web", "--kr", "bomb"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{b}: {stdout}");
        assert!(
            stdout.contains("param `body.q`") && stdout.contains("(invalid_value)"),
            "{b}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.contains("xxxxxxxxxxxx"), "{b}");
        assert_eq!(
            reqwest::get(format!("{}/healthz", api.base))
                .await
                .unwrap()
                .status(),
            200,
            "{b}"
        );
        api.stop().await;
    }
}

/// `okrd check` refuses an OKR file whose KR carries a template bomb, naming
/// the KR and the param, before anything runs.
#[test]
fn okrd_check_fails_on_a_file_with_a_template_bomb() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("okrd.toml"),
        r#"
[okrs]
files = ["okrs.toml"]

[[sources]]
name = "web"
connector = "http_json"
[sources.params]
url = "http://127.0.0.1:9/stats"
"#,
    )
    .unwrap();
    for bomb in BOMBS {
        let okrs = format!(
            r#"
[[periods]]
id = "q"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[objectives]]
id = "opex"
title = "Reduce cost of operations"
period = "q"
team = "acme"

[[key_results]]
id = "bomb"
objective = "opex"
team = "acme"
owner = "dana@acme.example"
title = "Visitors"
kind = "increase"
start = 0
target = 100
source = {{ use = "web", params = {{ value = "$.visitors", reduce = {bomb:?} }} }}
"#
        );
        std::fs::write(dir.path().join("okrs.toml"), okrs).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_okrd"))
            .current_dir(dir.path())
            .env_remove("OKRD_CONFIG")
            .env(
                "OKRD_DATABASE__URL",
                format!("sqlite://{}", dir.path().join("okrd.db").display()),
            )
            .args(["check", "--config", "okrd.toml"])
            .output()
            .expect("okrd runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{bomb}: okrd check passed:\n{text}");
        assert!(
            text.contains("bomb"),
            "{bomb}: the KR is not named:\n{text}"
        );
        assert_refusal(&text, "reduce");
    }
}

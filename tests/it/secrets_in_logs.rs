//! Secrets never appear in the daemon's log, in any form, at debug level,
//! as text and as JSON, on SQLite and PostgreSQL.
//!
//! The real `okrd serve` runs sources whose secrets come from `{ env }` and
//! `{ file }`, sent as headers, a query parameter, HTTP basic auth and
//! bearer tokens, against local mock servers that answer 200, answer 401
//! echoing the request's `Authorization` and the secret, answer 500 quoting
//! the secret, or are not there at all (the secret in the URL's query). Its
//! whole stdout and stderr must hold no secret: not raw, not URL-encoded,
//! not base64 (alone or as basic auth's `user:secret`), not a bearer token
//! without its scheme. The log must show every failure, with the servers'
//! own words, so the test cannot pass by logging nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::backends;
use crate::support::daemon::Launch;
use crate::support::sample;

/// Every secret holds characters that URL encoding changes.
const BEARER_OK: &str = "tok/Ok+1aa=";
const KEY_OK: &str = "key/Ok+2bb=";
const BEARER_REFUSED: &str = "tok/Rf+3cc=";
const ZENDESK_TOKEN: &str = "zd/Tk+4dd=";
const ZENDESK_USER: &str = "agent@acme.example/token";
const GITHUB_TOKEN: &str = "gh/Tk+5ee=";
const PROM_KEY: &str = "pm/Ky+6ff=";
const SHEETS_KEY: &str = "gs/Ky+7gg=";
const URL_TOKEN: &str = "url/Tk+8hh=";
const DB_PASSWORD: &str = "db/Pw+9ii=";

const OKRS: &str = r#"
[[periods]]
id = "all"
start = "2000-01-01"
end = "2999-12-31"

[[teams]]
id = "t"
name = "T"

[[objectives]]
id = "o1"
title = "Keep the lights on"
period = "all"
team = "t"

[[objectives]]
id = "o2"
title = "Keep the doors open"
period = "all"
team = "t"
"#;

/// Source name, and the objective its one KR (`<source>-kr`) is on.
const SOURCES: [(&str, &str); 7] = [
    ("ok", "o1"),
    ("refused", "o1"),
    ("zendesk", "o1"),
    ("github", "o1"),
    ("broken", "o2"),
    ("sheets", "o2"),
    ("nowhere", "o2"),
];

/// A 401 whose error message repeats the request's `Authorization` header
/// and more (`extra`), as careless servers do.
struct EchoAuthorization {
    marker: &'static str,
    extra: String,
}

impl Respond for EchoAuthorization {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        ResponseTemplate::new(401).set_body_json(json!({
            "error": format!("{} you sent Authorization: {auth}; {}", self.marker, self.extra)
        }))
    }
}

/// The secret as configured, and as URL-encoding and JSON escaping print it.
fn literal_forms(secret: &str) -> Vec<String> {
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap();
    let mut out = vec![
        secret.to_string(),
        percent.to_lowercase(),
        percent,
        form,
        json.trim_matches('"').to_string(),
    ];
    out.dedup();
    out
}

/// Those forms, and the secret in base64 (standard and URL-safe).
fn derived_forms(secret: &str) -> Vec<String> {
    let mut out = literal_forms(secret);
    out.push(STANDARD.encode(secret));
    out.push(URL_SAFE_NO_PAD.encode(secret));
    out
}

/// A secret as it was configured (a whole `{ env }`, `{ file }` or the
/// database password), or something made from one: a bearer token without
/// its scheme, basic auth's `base64(user:secret)`.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Configured,
    Derived,
}

/// (what, kind, forms) for every secret of the run.
fn secrets(db_password: Option<&str>) -> Vec<(&'static str, Kind, Vec<String>)> {
    let bearer_ok = format!("Bearer {BEARER_OK}");
    let bearer_refused = format!("Bearer {BEARER_REFUSED}");
    let nowhere_url_query = format!("token={URL_TOKEN}");
    let basic_pair = format!("{ZENDESK_USER}:{ZENDESK_TOKEN}");
    let mut out = vec![
        (
            "the ok source's Authorization header (env)",
            Kind::Configured,
            literal_forms(&bearer_ok),
        ),
        (
            "the ok source's api key (file)",
            Kind::Configured,
            literal_forms(KEY_OK),
        ),
        (
            "the refused source's Authorization header (env)",
            Kind::Configured,
            literal_forms(&bearer_refused),
        ),
        (
            "the zendesk api token (file)",
            Kind::Configured,
            literal_forms(ZENDESK_TOKEN),
        ),
        (
            "the github token (env)",
            Kind::Configured,
            literal_forms(GITHUB_TOKEN),
        ),
        (
            "the prometheus key (file)",
            Kind::Configured,
            literal_forms(PROM_KEY),
        ),
        (
            "the sheets api key (env, sent in the query)",
            Kind::Configured,
            literal_forms(SHEETS_KEY),
        ),
        (
            "the nowhere source's URL query (env)",
            Kind::Configured,
            literal_forms(&nowhere_url_query),
        ),
        (
            "the ok source's bearer token without `Bearer `",
            Kind::Derived,
            derived_forms(BEARER_OK),
        ),
        (
            "the refused source's bearer token without `Bearer `",
            Kind::Derived,
            derived_forms(BEARER_REFUSED),
        ),
        (
            "the zendesk basic-auth credential base64(user:token)",
            Kind::Derived,
            derived_forms(&basic_pair),
        ),
        (
            "the token in the nowhere source's URL",
            Kind::Derived,
            derived_forms(URL_TOKEN),
        ),
    ];
    for (what, secret) in [
        ("the ok source's api key in base64", KEY_OK),
        ("the zendesk api token in base64", ZENDESK_TOKEN),
        ("the github token in base64", GITHUB_TOKEN),
        ("the prometheus key in base64", PROM_KEY),
        ("the sheets api key in base64", SHEETS_KEY),
    ] {
        out.push((what, Kind::Derived, derived_forms(secret)));
    }
    if let Some(pw) = db_password {
        out.push(("the database password", Kind::Configured, literal_forms(pw)));
    }
    out
}

/// One line per secret of `kind` found in `log`: what, the form, how many
/// lines hold it and the first of them.
fn leaks(log: &str, run: &str, kind: Kind, db_password: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for (what, _, forms) in secrets(db_password).into_iter().filter(|s| s.1 == kind) {
        let Some(form) = forms.iter().find(|f| log.contains(f.as_str())) else {
            continue;
        };
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(form.as_str())).collect();
        out.push(format!(
            "{run}: {what} as {form:?} on {} lines, first: {}",
            lines.len(),
            lines.first().unwrap_or(&"")
        ));
    }
    out
}

fn config(dir: &Path, db_url: &str, format: &str, mocks: &Mocks) -> String {
    let key_ok = dir.join("key-ok");
    let zendesk = dir.join("zendesk-token");
    let prom = dir.join("prom-key");
    format!(
        r#"
[database]
url = "{db_url}"
refresh_interval = "0s"
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "* * * * * *"
jitter = "0s"
backoff_base = "1s"
backoff_max = "1s"
[log]
level = "debug"
format = "{format}"

[[sources]]
name = "ok"
connector = "http_json"
retries = 0
[sources.params]
url = "{ok}/ok"
value = "$.v"
headers = {{ Authorization = {{ env = "OKRD_TEST_BEARER_OK" }}, "X-Api-Key" = {{ file = "{key_ok}" }} }}

[[sources]]
name = "refused"
connector = "http_json"
[sources.params]
url = "{refused}/refused"
value = "$.v"
headers = {{ Authorization = {{ env = "OKRD_TEST_BEARER_REFUSED" }} }}

[[sources]]
name = "zendesk"
connector = "zendesk"
[sources.params]
base_url = "{refused}"
email = "agent@acme.example"
api_token = {{ file = "{zendesk}" }}
search = "type:ticket"

[[sources]]
name = "github"
connector = "github"
[sources.params]
base_url = "{refused}"
token = {{ env = "OKRD_TEST_GITHUB_TOKEN" }}
q = "is:issue"

[[sources]]
name = "broken"
connector = "prometheus"
retries = 1
[sources.params]
url = "{broken}"
query = "up"
headers = {{ "X-Token" = {{ file = "{prom}" }} }}

[[sources]]
name = "sheets"
connector = "google_sheets"
retries = 1
timeout = "2s"
[sources.params]
base_url = "http://127.0.0.1:{closed}"
api_key = {{ env = "OKRD_TEST_SHEETS_KEY" }}
spreadsheet_id = "sheet"
range = "A1"

[[sources]]
name = "nowhere"
connector = "http_json"
retries = 1
timeout = "2s"
[sources.params]
url = {{ env = "OKRD_TEST_NOWHERE_URL" }}
value = "$.v"
"#,
        ok = mocks.ok.uri(),
        refused = mocks.refused.uri(),
        broken = mocks.broken.uri(),
        key_ok = key_ok.display(),
        zendesk = zendesk.display(),
        prom = prom.display(),
        closed = mocks.closed_port,
    )
}

fn okrs() -> String {
    let mut out = OKRS.to_string();
    for (i, (source, objective)) in SOURCES.iter().enumerate() {
        out.push_str(&format!(
            r#"
[[key_results]]
id = "{source}-kr"
objective = "{objective}"
team = "t"
owner = "owner{i}@acme.example"
title = "Value of {source}"
kind = "increase"
start = 0
target = 100
[key_results.source]
use = "{source}"
"#
        ));
    }
    out
}

struct Mocks {
    ok: MockServer,
    refused: MockServer,
    broken: MockServer,
    /// A port nothing listens on.
    closed_port: u16,
}

async fn mocks() -> Mocks {
    let ok = MockServer::start().await;
    // Only with both secrets does the source get its value: they were resolved and sent.
    Mock::given(method("GET"))
        .and(path("/ok"))
        .and(header("authorization", format!("Bearer {BEARER_OK}")))
        .and(header("x-api-key", KEY_OK))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"v": 7})))
        .mount(&ok)
        .await;

    let refused = MockServer::start().await;
    Mock::given(path("/refused"))
        .respond_with(EchoAuthorization {
            marker: "MOCK-REFUSED",
            extra: format!("token {BEARER_REFUSED} is not valid"),
        })
        .mount(&refused)
        .await;
    Mock::given(path("/api/v2/search/count"))
        .respond_with(EchoAuthorization {
            marker: "MOCK-ZENDESK",
            extra: format!("api token {ZENDESK_TOKEN} is not valid"),
        })
        .mount(&refused)
        .await;
    Mock::given(path("/search/issues"))
        .respond_with(EchoAuthorization {
            marker: "MOCK-GITHUB",
            extra: format!("bad credentials {GITHUB_TOKEN}"),
        })
        .mount(&refused)
        .await;

    let broken = MockServer::start().await;
    let encoded: String = form_urlencoded::byte_serialize(PROM_KEY.as_bytes()).collect();
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "status": "error",
            "errorType": "internal",
            "error": format!("MOCK-BROKEN cannot check key {PROM_KEY} (as sent: {encoded})"),
        })))
        .mount(&broken)
        .await;

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Mocks {
        ok,
        refused,
        broken,
        closed_port,
    }
}

/// `url` with `password` in it, if the server takes it (a server that
/// trusts local connections ignores it); else `url` unchanged.
async fn with_password(url: &str, password: &str) -> Option<String> {
    use sqlx::Connection;
    let mut u = reqwest::Url::parse(url).ok()?;
    if u.password().is_some() {
        return None;
    }
    u.set_password(Some(password)).ok()?;
    sqlx::any::install_default_drivers();
    let conn = sqlx::AnyConnection::connect(u.as_str()).await.ok()?;
    let _ = conn.close().await;
    Some(u.to_string())
}

/// Runs the daemon until every source has been fetched twice (so first
/// failures and their repeats are logged), stops it and returns its log.
async fn run_daemon(db: &backends::TestDb, format: &str, db_password: Option<&str>) -> String {
    let b = db.backend;
    let dir = tempfile::tempdir().unwrap();
    let mocks = mocks().await;
    let db_url = match db_password {
        Some(pw) => with_password(&db.url, pw).await.unwrap(),
        None => db.url.clone(),
    };
    std::fs::write(dir.path().join("key-ok"), format!("{KEY_OK}\n")).unwrap();
    std::fs::write(dir.path().join("zendesk-token"), ZENDESK_TOKEN).unwrap();
    std::fs::write(dir.path().join("prom-key"), format!("{PROM_KEY}\n")).unwrap();
    std::fs::write(dir.path().join("okrs.toml"), okrs()).unwrap();
    let cfg = dir.path().join("okrd.toml");
    std::fs::write(&cfg, config(dir.path(), &db_url, format, &mocks)).unwrap();
    let nowhere = format!("http://127.0.0.1:{}/v?token={URL_TOKEN}", mocks.closed_port);
    let daemon = Launch::serve(&cfg)
        .envs(&[
            ("OKRD_TEST_BEARER_OK", &format!("Bearer {BEARER_OK}")),
            (
                "OKRD_TEST_BEARER_REFUSED",
                &format!("Bearer {BEARER_REFUSED}"),
            ),
            ("OKRD_TEST_GITHUB_TOKEN", GITHUB_TOKEN),
            ("OKRD_TEST_SHEETS_KEY", SHEETS_KEY),
            ("OKRD_TEST_NOWHERE_URL", &nowhere),
        ])
        .context(format!("{b} {format}"))
        .binary()
        .await;

    let expected = [
        ("refused", "auth"),
        ("zendesk", "auth"),
        ("github", "auth"),
        ("broken", "http_5xx"),
        ("sheets", "connect"),
        ("nowhere", "connect"),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = daemon.metrics().await;
        let value = sample(&m, "okr_key_result_value", &["key_result=\"ok-kr\""]);
        let twice = |source: &str, reason: &str| {
            sample(
                &m,
                "okr_source_fetch_failures_total",
                &[
                    &format!("source=\"{source}\""),
                    &format!("reason=\"{reason}\""),
                ],
            )
            .is_some_and(|n| n >= 2.0)
        };
        if value == Some(7.0) && expected.iter().all(|(s, r)| twice(s, r)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{b} {format}: the sources did not all fetch twice:\n{m}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The failing servers saw the credentials whose forms are searched for.
    let sent: Vec<String> = mocks
        .refused
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("authorization")?
                .to_str()
                .ok()
                .map(String::from)
        })
        .collect();
    for credential in [
        format!("Bearer {BEARER_REFUSED}"),
        format!(
            "Basic {}",
            STANDARD.encode(format!("{ZENDESK_USER}:{ZENDESK_TOKEN}"))
        ),
        format!("Bearer {GITHUB_TOKEN}"),
    ] {
        assert!(
            sent.contains(&credential),
            "{b}: {credential} never sent: {sent:?}"
        );
    }
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{b} {format}: exit {status}:\n{log}");
    log
}

/// The log shows each failure and the servers' own words.
fn assert_failures_logged(log: &str, what: &str) {
    for needle in [
        "check the credentials of source `refused`",
        "check the credentials of source `zendesk`",
        "check the credentials of source `github`",
        "MOCK-REFUSED",
        "MOCK-ZENDESK",
        "MOCK-GITHUB",
        "MOCK-BROKEN",
        "fetch failed again",
    ] {
        assert!(
            log.contains(needle),
            "{what}: the log lacks {needle:?}:\n{log}"
        );
    }
    for (source, reason) in [
        ("broken", "http_5xx"),
        ("sheets", "connect"),
        ("nowhere", "connect"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("fetch failed") && l.contains(source) && l.contains(reason)),
            "{what}: no `fetch failed` line for {source} ({reason}):\n{log}"
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log_of_failing_or_succeeding_sources() {
    let (mut configured, mut derived) = (Vec::new(), Vec::new());
    for db in backends::databases().await {
        let db_password = (db.backend == "postgres"
            && with_password(&db.url, DB_PASSWORD).await.is_some())
        .then_some(DB_PASSWORD);
        // A second database of the same backend: the JSON run goes alongside.
        let other = match db.backend {
            "postgres" => backends::postgres_db(&backends::postgres_url().unwrap()).await,
            _ => backends::sqlite_db(),
        };
        let (text, json) = tokio::join!(
            run_daemon(&db, "text", db_password),
            run_daemon(&other, "json", db_password)
        );
        for (format, log) in [("text", text), ("json", json)] {
            let run = format!("{} {format}", db.backend);
            assert_failures_logged(&log, &run);
            if db_password.is_some() {
                assert!(
                    log.contains(":***@"),
                    "{run}: no masked database URL:\n{log}"
                );
            }
            configured.extend(leaks(&log, &run, Kind::Configured, db_password));
            derived.extend(leaks(&log, &run, Kind::Derived, db_password));
        }
    }
    assert!(
        configured.is_empty(),
        "configured secrets in the log:\n{}",
        configured.join("\n")
    );
    // What is made from a secret: the basic-auth header a catalog connector
    // built (`Basic base64(user:token)`), and a bearer token configured as a
    // whole `Authorization` value, quoted back without its scheme.
    assert!(
        derived.is_empty(),
        "secrets in the log in a derived form:\n{}",
        derived.join("\n")
    );
}

//! The HTTP policy of a source, as the pipeline runs it: sources built from
//! config text, fetched with `fetch_value` against local wiremock servers.
//! Retries, `Retry-After` (seconds and HTTP-date) shared by every KR of a
//! source, the rate limit, the fetch deadline, and the config keys.
//!
//! Assertions are on what the server saw (how many requests, in which order,
//! how far apart), never on how fast something was.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use okrd::binding::build_sources;
use okrd::binding::{Binding, ConfiguredSource, fetch_value};
use okrd::connectors::params::SystemSecrets;
use okrd::connectors::{FetchError, Reason, Redactor};
use okrd::okr::{KrKind, Period};

use crate::support::read_request_head;

const S: Duration = Duration::from_secs(1);

/// Answers with `script[n]` to the n-th request (the last one repeats) and
/// records when each request arrived.
#[derive(Clone)]
struct Script {
    script: Arc<Vec<ResponseTemplate>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    fn new(script: Vec<ResponseTemplate>) -> Script {
        Script {
            script: Arc::new(script),
            arrivals: Arc::default(),
        }
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(Instant::now());
        let n = (arrivals.len() - 1).min(self.script.len() - 1);
        self.script[n].clone()
    }
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"x": 1}))
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": format!("status {code}")}))
}

/// A server answering every request with the script.
async fn serve(script: &Script) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(script.clone())
        .mount(&server)
        .await;
    server
}

/// The `http_json` source `api` reading `$.x` from `server`, with extra
/// `[[sources]]` keys.
fn source(server: &MockServer, keys: &str) -> Arc<ConfiguredSource> {
    source_with(server, keys, "")
}

fn source_with(server: &MockServer, keys: &str, top: &str) -> Arc<ConfiguredSource> {
    let text = format!(
        "{top}\n[[sources]]\nname = \"api\"\nconnector = \"http_json\"\n{keys}\n\
         [sources.params]\nurl = \"{}/stats\"\nvalue = \"$.x\"\n",
        server.uri()
    );
    let settings = okrd::config::parse_with_env(&text, "okrd.toml", &[]).unwrap();
    let (mut sources, _) = build_sources(&settings, &SystemSecrets).unwrap();
    sources.remove("api").unwrap()
}

fn binding(kr: &str) -> Binding {
    Binding {
        key_result: kr.to_string(),
        kind: KrKind::Increase,
        source: "api".into(),
        params: Default::default(),
        period: Period::quarter_of(Utc::now().date_naive()),
        schedule: String::new(),
        timezone: chrono_tz::UTC,
        guard: Default::default(),
    }
}

async fn fetch(source: &ConfiguredSource, kr: &str) -> Result<f64, FetchError> {
    fetch_value(source, &binding(kr), &Redactor::default(), Utc::now()).await
}

async fn fetch_err(source: &ConfiguredSource, kr: &str, reason: Reason) -> FetchError {
    match fetch(source, kr).await {
        Ok(v) => panic!("expected {reason}, got value {v}"),
        Err(e) => {
            assert_eq!(e.reason, reason, "{e}");
            e
        }
    }
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

// ------------------------------------------------------------- Retry-After

#[tokio::test]
async fn retry_after_holds_back_every_kr_of_the_source() {
    let script = Script::new(vec![status(429).insert_header("retry-after", "3"), ok()]);
    let server = serve(&script).await;
    let src = source(
        &server,
        "timeout = \"1s\"\nretries = 0\nfetch_deadline = \"2s\"",
    );

    let e = fetch_err(&src, "a", Reason::RateLimited).await;
    assert_eq!(e.retry_after, Some(3 * S), "{e}");
    assert_eq!(requests(&server).await, 1);

    // Another KR of the same source, right after: nothing is sent.
    let e = fetch_err(&src, "b", Reason::RateLimited).await;
    assert!(e.message.contains("held back locally"), "{e}");
    assert!(e.message.contains("Retry-After"), "{e}");
    assert!(e.message.contains("source `api`"), "{e}");
    let wait = e
        .retry_after
        .expect("a held-back fetch says how long to wait");
    assert!(wait > 2 * S && wait <= 3 * S, "{wait:?}");
    assert_eq!(requests(&server).await, 1);

    // Once the pause is over, the request goes out.
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(fetch(&src, "b").await, Ok(1.0));
    assert_eq!(requests(&server).await, 2);
    let t = script.arrivals();
    assert!(t[1] - t[0] >= 3 * S, "{:?}", t[1] - t[0]);
}

#[tokio::test]
async fn a_retry_waits_for_retry_after_then_succeeds() {
    let script = Script::new(vec![status(429).insert_header("retry-after", "1"), ok()]);
    let server = serve(&script).await;
    let src = source(&server, "retries = 1");
    assert_eq!(fetch(&src, "a").await, Ok(1.0));
    let t = script.arrivals();
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= S, "{:?}", t[1] - t[0]);
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let at = (Utc::now() + chrono::Duration::seconds(3))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let script = Script::new(vec![
        status(429).insert_header("retry-after", at.as_str()),
        ok(),
    ]);
    let server = serve(&script).await;
    let src = source(
        &server,
        "timeout = \"1s\"\nretries = 0\nfetch_deadline = \"1s\"",
    );
    let e = fetch_err(&src, "a", Reason::RateLimited).await;
    let wait = e.retry_after.unwrap();
    // The date has whole seconds: 2 to 3 s from now.
    assert!(wait > S && wait <= 3 * S, "{wait:?}");
    let e = fetch_err(&src, "b", Reason::RateLimited).await;
    assert!(e.message.contains("held back locally"), "{e}");
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn retries_stop_at_the_fetch_deadline_and_pass_the_wait_on() {
    let script = Script::new(vec![status(503).insert_header("retry-after", "5")]);
    let server = serve(&script).await;
    let src = source(&server, "retries = 5\nfetch_deadline = \"1s\"");
    let e = fetch_err(&src, "a", Reason::Http5xx).await;
    assert_eq!(e.retry_after, Some(5 * S));
    assert_eq!(requests(&server).await, 1);
}

// ------------------------------------------------------------------ retries

#[tokio::test]
async fn a_429_without_retry_after_is_retried_with_backoff() {
    let script = Script::new(vec![status(429), ok()]);
    let server = serve(&script).await;
    let src = source(&server, "");
    assert_eq!(fetch(&src, "a").await, Ok(1.0));
    assert_eq!(script.arrivals().len(), 2);
}

#[tokio::test]
async fn a_500_then_a_200_is_a_value_after_two_requests() {
    let script = Script::new(vec![status(500), ok()]);
    let server = serve(&script).await;
    let src = source(&server, "");
    assert_eq!(fetch(&src, "a").await, Ok(1.0));
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn retries_end_after_the_configured_count() {
    let script = Script::new(vec![status(502)]);
    let server = serve(&script).await;
    let src = source(&server, "retries = 2");
    let e = fetch_err(&src, "a", Reason::Http5xx).await;
    assert!(e.message.contains("502"), "{e}");
    assert_eq!(requests(&server).await, 3);

    let script = Script::new(vec![status(502), ok()]);
    let server = serve(&script).await;
    let src = source(&server, "retries = 0");
    fetch_err(&src, "a", Reason::Http5xx).await;
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let script = Script::new(vec![ok().set_delay(5 * S), ok()]);
    let server = serve(&script).await;
    let src = source(&server, "timeout = \"200ms\"\nretries = 1");
    assert_eq!(fetch(&src, "a").await, Ok(1.0));
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_connection_dropped_before_the_answer_is_retried() {
    use std::io::Write;
    // Connection 1 is closed without an answer, connection 2 answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            read_request_head(&mut s);
            let n = {
                let mut c = count.lock().unwrap();
                *c += 1;
                *c
            };
            if n > 1 {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      Content-Length: 7\r\nConnection: close\r\n\r\n{\"x\":1}",
                );
            }
        }
    });
    let text = format!(
        "[[sources]]\nname = \"api\"\nconnector = \"http_json\"\nretries = 1\n\
         [sources.params]\nurl = \"http://{addr}/stats\"\nvalue = \"$.x\"\n"
    );
    let settings = okrd::config::parse_with_env(&text, "okrd.toml", &[]).unwrap();
    let (sources, _) = build_sources(&settings, &SystemSecrets).unwrap();
    assert_eq!(fetch(&sources["api"], "a").await, Ok(1.0));
    assert_eq!(*accepted.lock().unwrap(), 2);
}

#[tokio::test]
async fn auth_failures_are_not_retried() {
    for code in [401, 403] {
        let script = Script::new(vec![status(code), ok()]);
        let server = serve(&script).await;
        let src = source(&server, "retries = 3");
        let e = fetch_err(&src, "a", Reason::Auth).await;
        assert!(e.message.contains("check the credentials"), "{e}");
        assert_eq!(requests(&server).await, 1, "{code}");
    }
}

#[tokio::test]
async fn other_4xx_parse_and_too_large_are_not_retried() {
    let script = Script::new(vec![status(404), ok()]);
    let server = serve(&script).await;
    fetch_err(&source(&server, "retries = 3"), "a", Reason::Http4xx).await;
    assert_eq!(requests(&server).await, 1);

    let script = Script::new(vec![
        ResponseTemplate::new(200).set_body_raw("{\"x\": ", "application/json"),
        ok(),
    ]);
    let server = serve(&script).await;
    fetch_err(&source(&server, "retries = 3"), "a", Reason::Parse).await;
    assert_eq!(requests(&server).await, 1);

    // A gzip body that inflates past the cap (4 KiB on the wire, 4 MiB decoded).
    let bomb = std::fs::read(format!(
        "{}/tests/fixtures/http_json_gzip_bomb.json.gz",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let script = Script::new(vec![
        ResponseTemplate::new(200)
            .set_body_raw(bomb, "application/json")
            .insert_header("content-encoding", "gzip"),
        ok(),
    ]);
    let server = serve(&script).await;
    let src = source_with(&server, "retries = 3", "[http]\nmax_body_bytes = 1048576");
    let e = fetch_err(&src, "a", Reason::TooLarge).await;
    assert!(e.message.contains("1048576-byte cap"), "{e}");
    assert_eq!(requests(&server).await, 1);
}

// --------------------------------------------------------------- rate limit

#[tokio::test]
async fn the_rate_limit_spaces_requests_of_every_kr() {
    let script = Script::new(vec![ok()]);
    let server = serve(&script).await;
    let src = source(&server, "rate_limit = \"10/second\"");
    let fetches = (0..20).map(|i| {
        let src = src.clone();
        async move { fetch(&src, &format!("kr{i}")).await }
    });
    let results = futures_util::future::join_all(fetches).await;
    assert!(results.iter().all(|r| *r == Ok(1.0)), "{results:?}");
    let mut t = script.arrivals();
    t.sort();
    assert_eq!(t.len(), 20);
    // 10 per second, spaced evenly: no 1-second window holds more than 11.
    for i in 0..t.len() {
        let in_window = t[i..].iter().take_while(|x| **x - t[i] <= S).count();
        assert!(in_window <= 11, "{in_window} requests within 1 s of #{i}");
    }
}

#[tokio::test]
async fn a_rate_limit_wait_past_the_deadline_fails_at_once_without_sending() {
    let script = Script::new(vec![ok()]);
    let server = serve(&script).await;
    let src = source(
        &server,
        "rate_limit = \"1/minute\"\ntimeout = \"1s\"\nfetch_deadline = \"2s\"",
    );
    assert_eq!(fetch(&src, "a").await, Ok(1.0));
    let e = fetch_err(&src, "b", Reason::RateLimited).await;
    assert!(e.message.contains("held back locally"), "{e}");
    assert!(e.message.contains("rate_limit 1/minute"), "{e}");
    let wait = e.retry_after.unwrap();
    assert!(wait > 50 * S && wait <= 60 * S, "{wait:?}");
    assert_eq!(requests(&server).await, 1);
}

// ------------------------------------------------------------------- config

/// The problems `build_sources` reports for one `[[sources]]` entry written
/// in a real file (so they carry `file:line:`).
fn problems(keys: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okrd.toml");
    let text = format!(
        "[[sources]]\nname = \"api\"\nconnector = \"http_json\"\n{keys}\n\
         [sources.params]\nurl = \"http://127.0.0.1:9/\"\nvalue = \"$.x\"\n"
    );
    std::fs::write(&path, text).unwrap();
    let settings = okrd::config::load_with_env(Some(&path), &[]).unwrap();
    match build_sources(&settings, &SystemSecrets) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

#[test]
fn policy_keys_are_validated_with_their_line() {
    let p = problems("timeout = \"2s\"\nrate_limit = \"lots\"");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("okrd.toml:5: source `api`: rate_limit:"),
        "{p:?}"
    );
    assert!(p[0].contains("e.g. `600/hour`"), "{p:?}");

    let p = problems("retries = 99");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("okrd.toml:4: source `api`: retries must be between 0 and 10, not 99"),
        "{p:?}"
    );

    let p = problems("fetch_deadline = \"0s\"");
    assert!(
        p[0].contains("okrd.toml:4: source `api`: fetch_deadline must be more than 0"),
        "{p:?}"
    );

    assert_eq!(problems("rate_limit = \"0/hour\"").len(), 1);
    assert!(
        problems("rate_limit = \"600/hour\"\nretries = 10\nfetch_deadline = \"1m\"").is_empty()
    );
}

#[test]
fn unparsable_policy_values_are_toml_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okrd.toml");
    for (keys, line) in [
        ("retries = -1", 4),
        ("retries = \"two\"", 4),
        ("fetch_deadline = \"soon\"", 4),
        ("rate_limit = 600", 4),
    ] {
        let text = format!("[[sources]]\nname = \"api\"\nconnector = \"http_json\"\n{keys}\n");
        std::fs::write(&path, text).unwrap();
        let e = okrd::config::load_with_env(Some(&path), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("okrd.toml:{line}:")), "{keys}: {e}");
    }
}

#[tokio::test]
async fn policy_keys_reach_the_source_client() {
    let server = MockServer::start().await;
    let src = source(
        &server,
        "timeout = \"4s\"\nretries = 7\nrate_limit = \"600/h\"",
    );
    let policy = src.http.source_policy().unwrap();
    assert_eq!(policy.source, "api");
    assert_eq!(policy.retries, 7);
    assert_eq!(policy.rate_limit.unwrap().to_string(), "600/hour");
    // Default fetch deadline: 3 × timeout + 30 s.
    assert_eq!(src.fetch_deadline, 42 * S);
    assert_eq!(policy.fetch_deadline, 42 * S);

    let src = source(&server, "");
    let policy = src.http.source_policy().unwrap();
    assert_eq!(policy.retries, 2);
    assert_eq!(policy.rate_limit, None);
    assert_eq!(src.fetch_deadline, 60 * S);
}

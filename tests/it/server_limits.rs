//! The HTTP server survives idle and slow clients (issue 11, item 6): the
//! real binary, started as systemd starts a service (a soft open-file limit
//! of 1,024), meets 2,000 connections that send half a request line and
//! 1,000 that send nothing, in two waves. While they are open, `/healthz`
//! and `/metrics` answer each request on a fresh connection, and a source
//! bound to a local mock keeps being fetched: the value it serves changes
//! in each wave, and each change lands as a check-in shown by `/metrics`.
//!
//! Without the server's timeouts, connection cap and raised open-file
//! limit, the first wave holds every descriptor the daemon has: `/healthz`
//! is never answered and the source cannot open a socket.
//!
//! Then each timeout on its own, in-process with short settings: a head
//! that never ends, a keep-alive connection left idle (which the head's
//! timeout must not cut short), and a body that never ends (503).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::api::{Api, Options, start};
use crate::support::backends::{self, TestDb};
use crate::support::daemon::{Binary, Launch};
use crate::support::sample;

/// Connections per wave that send part of a request line and stop.
const SLOW_HEADERS: usize = 2_000;
/// Connections per wave that send nothing at all.
const SILENT: usize = 1_000;
/// How long each wave is held open while the daemon is asked things; longer
/// than the default `header_read_timeout` (5 s), so the daemon's own
/// closing of connections happens within it.
const WAVE: Duration = Duration::from_secs(8);
/// Deadline of one request to the daemon: generous, the machine is busy;
/// without the fix the answer never comes.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);
/// Deadline for a fetched value to show.
const PATIENCE: Duration = Duration::from_secs(30);

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
title = "Stay reachable"
period = "now"
team = "t"

[[key_results]]
id = "visitors"
objective = "o"
team = "t"
owner = "a@example.com"
title = "Visitors"
kind = "increase"
start = 0
target = 100
[key_results.source]
use = "web"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_clients_leave_health_metrics_and_fetches_working() {
    // This process holds a wave's sockets and the mock's: more than a
    // default soft limit of 1,024.
    raise_own_open_file_limit(2 * (SLOW_HEADERS + SILENT) as u64);
    let mock = MockServer::start().await;
    serve_value(&mock, 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("okrs.toml"), OKRS).unwrap();
    let config = dir.path().join("okrd.toml");
    std::fs::write(
        &config,
        format!(
            r#"[database]
url = "sqlite://{}"
refresh_interval = "1s"
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "* * * * * *"
jitter = "0s"
backoff_base = "1s"
backoff_max = "1s"
[log]
level = "info"
format = "text"
[[sources]]
name = "web"
connector = "http_json"
timeout = "2s"
retries = 0
[sources.params]
url = "{}/visitors"
value = "$.visitors"
"#,
            dir.path().join("okrd.db").display(),
            mock.uri()
        ),
    )
    .unwrap();
    // systemd's default: a soft limit of 1,024 under a higher hard one.
    let mut daemon = Launch::serve(&config).fd_limit(1024, 2048).binary().await;
    daemon.logged("open-file limit 2048").await;
    // A new connection per request: each must get through the flood.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(ANSWER_DEADLINE)
        .build()
        .unwrap();
    value_shows(&mut daemon, &client, 1.0).await;

    for (wave, value) in [(1, 2), (2, 3)] {
        let attack = open_wave(daemon.addr()).await;
        serve_value(&mock, value).await;
        let until = Instant::now() + WAVE;
        let mut answered = 0;
        while Instant::now() < until {
            answers(&daemon, &client, "/healthz", "ok").await;
            answers(&daemon, &client, "/metrics", "okr_build_info").await;
            answered += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(answered > 1, "wave {wave}: too few answers to judge");
        value_shows(&mut daemon, &client, f64::from(value)).await;
        drop(attack);
    }

    let (status, log) = daemon.stop().await;
    assert!(status.success(), "okrd exited with {status}:\n{log}");
    assert!(
        !log.contains("cannot accept connections"),
        "the daemon ran out of descriptors:\n{log}"
    );
}

/// The soft open-file limit of this test process, raised to at least `needed`.
fn raise_own_open_file_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on structs we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= needed,
            "this test needs {needed} open files; the hard limit is {} (ulimit -Hn)",
            limit.rlim_max
        );
        if limit.rlim_cur < needed {
            limit.rlim_cur = needed;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// Opens a wave of connections to `addr`: `SLOW_HEADERS` that send part of
/// a request line, `SILENT` that send nothing. They stay open (unless the
/// daemon closes them) until the returned set is dropped.
async fn open_wave(addr: std::net::SocketAddr) -> JoinSet<()> {
    let mut attack = JoinSet::new();
    let (opened, rx) = tokio::sync::mpsc::channel::<()>(SLOW_HEADERS + SILENT);
    for n in 0..SLOW_HEADERS + SILENT {
        let opened = opened.clone();
        attack.spawn(async move {
            let Ok(mut socket) = TcpStream::connect(addr).await else {
                return;
            };
            if n < SLOW_HEADERS {
                let _ = socket.write_all(b"GET /metrics HT").await;
            }
            let _ = opened.send(()).await;
            // Held until the wave is dropped.
            std::future::pending::<()>().await;
            drop(socket);
        });
    }
    drop(opened);
    // Every connection is made (the kernel completes them even while the
    // daemon cannot accept), but never wait forever for one.
    let mut rx = rx;
    let deadline = tokio::time::Instant::now() + ANSWER_DEADLINE;
    let mut count = 0;
    while count < SLOW_HEADERS + SILENT {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(())) => count += 1,
            _ => break,
        }
    }
    attack
}

/// `GET path` answers 200 with `expected` in its body, within the deadline.
async fn answers(daemon: &Binary, client: &reqwest::Client, path: &str, expected: &str) {
    let url = format!("{}{path}", daemon.base());
    let response = client.get(&url).send().await.unwrap_or_else(|e| {
        panic!(
            "{path} did not answer within {ANSWER_DEADLINE:?}: {e}\n{}",
            daemon.log_tail()
        )
    });
    assert_eq!(response.status(), 200, "{path}");
    let body = response.text().await.unwrap();
    assert!(body.contains(expected), "{path}: {body}");
}

/// Waits until `/metrics` shows `value` as the KR's value: a fetch of the
/// mock's new value was recorded as a check-in.
async fn value_shows(daemon: &mut Binary, client: &reqwest::Client, value: f64) {
    let url = format!("{}/metrics", daemon.base());
    let client = client.clone();
    daemon
        .wait_for(
            PATIENCE,
            &format!("the value {value} in /metrics"),
            async || {
                let text = client.get(&url).send().await.ok()?.text().await.ok()?;
                (sample(&text, "okr_key_result_value", &["key_result=\"visitors\""]) == Some(value))
                    .then_some(())
            },
        )
        .await;
}

async fn serve_value(mock: &MockServer, value: u32) {
    mock.reset().await;
    Mock::given(path("/visitors"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "visitors": value
        })))
        .mount(mock)
        .await;
}

/// A daemon in-process on `db` with `[server]` `settings`.
async fn daemon_with(db: &TestDb, settings: &str) -> Api {
    let extra = format!("[server]\n{settings}\n");
    start(
        db,
        Options {
            source_url: "http://127.0.0.1:9/stats",
            extra_config: &extra,
        },
    )
    .await
}

async fn connect(api: &Api) -> TcpStream {
    TcpStream::connect(api.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads one response (head and `Content-Length` body); `None` when the
/// connection closes first.
async fn read_response(socket: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
        }
        match tokio::time::timeout(ANSWER_DEADLINE, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "no answer and no close within {ANSWER_DEADLINE:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

#[tokio::test]
async fn a_head_that_never_ends_is_closed_and_an_idle_connection_waits_longer() {
    let db = backends::sqlite_db();
    let api = daemon_with(
        &db,
        "header_read_timeout = \"500ms\"\nidle_timeout = \"3s\"",
    )
    .await;

    // Half a request line, then nothing: closed, without an answer.
    let mut slow = connect(&api).await;
    slow.write_all(b"GET /healthz HT").await.unwrap();
    assert_eq!(read_response(&mut slow).await, None);
    // Nothing at all: closed too.
    let mut silent = connect(&api).await;
    assert_eq!(read_response(&mut silent).await, None);

    // A keep-alive connection idle for longer than the head's timeout is
    // still open for its next request...
    let mut kept = connect(&api).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: okrd\r\n\r\n";
    kept.write_all(request).await.unwrap();
    let first = read_response(&mut kept).await.expect("an answer");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kept.write_all(request).await.unwrap();
    let second = read_response(&mut kept).await.expect("a second answer");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    // ...and closed once idle past idle_timeout.
    assert_eq!(read_response(&mut kept).await, None);
    api.stop().await;
}

#[tokio::test]
async fn a_body_that_never_ends_gets_503_after_the_request_timeout() {
    let db = backends::sqlite_db();
    let api = daemon_with(&db, "request_timeout = \"500ms\"").await;
    let mut socket = connect(&api).await;
    let head = format!(
        "POST /api/v1/periods HTTP/1.1\r\nHost: okrd\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\":",
        api.tokens.admin
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let answer = read_response(&mut socket).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // Nothing was stored.
    let periods = api.get("/periods", &api.tokens.admin).await.expect(200);
    assert_eq!(periods["items"].as_array().unwrap().len(), 1, "{periods}");
    api.stop().await;
}

//! Crashes and shutdowns of the real binary, on every backend
//! (`backends::databases()`: SQLite, and PostgreSQL when configured):
//!
//! - `kill -9` during startup, between fetches and with a fetch in flight:
//!   a restart loses no check-in `/metrics` had shown (shown means
//!   committed), records no slot twice and no value that was not fetched,
//!   and the schedule resumes;
//! - SIGTERM with a fetch in flight: that fetch finishes, its own value is
//!   recorded, and the daemon exits cleanly;
//! - a fetch that outlasts `shutdown_grace` does not keep the daemon alive
//!   much past it, and nothing is recorded for it.
//!
//! The mock source answers request n with the value n, so every check-in
//! names the request it came from. Every wait on the daemon has a deadline:
//! a hang fails with the daemon's log instead of hanging the suite.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use okrd::store::Store;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::backends;
use crate::support::daemon::{Binary, Launch};

/// The KRs of `OKRS`, both fetched every second from the mock source.
const KRS: [&str; 2] = ["a", "b"];

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

/// Longest wait for anything a healthy daemon does by itself (start,
/// fetch, show): generous, the machine may be busy.
const PATIENCE: Duration = Duration::from_secs(60);

/// Writes `okrs.toml` and `okrd.toml` into `dir`: KRs `a` and `b` fetched
/// every second (no jitter, no retries: one request is one fetch) from
/// `<mock>/v/<kr>`.
fn configure(dir: &Path, database: &str, mock: &str, shutdown_grace: &str, timeout: &str) {
    std::fs::write(dir.join("okrs.toml"), OKRS).unwrap();
    std::fs::write(
        dir.join("okrd.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:0"
shutdown_grace = "{shutdown_grace}"
[database]
url = "{database}"
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "* * * * * *"
jitter = "0s"
[log]
level = "info"
format = "text"
[[sources]]
name = "mock"
connector = "http_json"
timeout = "{timeout}"
retries = 0
[sources.params]
url = "{mock}/v/{{{{ key_result.id }}}}"
value = "$.v"
"#
        ),
    )
    .unwrap();
}

// --- The mock source -------------------------------------------------------

/// One request the mock source received.
#[derive(Debug, Clone)]
struct Served {
    /// The value it answers; unique per request.
    value: u64,
    key_result: String,
    /// How long the answer is held back.
    delay: Duration,
    /// When the request arrived.
    at: Instant,
}

/// Answers request n (from 1) with `{"v": n}`, held back by the delay in
/// force when it arrived, and remembers every request.
#[derive(Clone, Default)]
struct Source(Arc<Mutex<SourceState>>);

#[derive(Default)]
struct SourceState {
    served: Vec<Served>,
    /// From the request with this value on, answers are held back this long.
    slow: Option<(u64, Duration)>,
}

impl Respond for Source {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.lock();
        let value = s.served.len() as u64 + 1;
        let delay = match s.slow {
            Some((from, delay)) if value >= from => delay,
            _ => Duration::ZERO,
        };
        let key_result = request.url.path().rsplit('/').next().unwrap_or_default();
        s.served.push(Served {
            value,
            key_result: key_result.to_string(),
            delay,
            at: Instant::now(),
        });
        ResponseTemplate::new(200)
            .set_delay(delay)
            .set_body_json(serde_json::json!({ "v": value }))
    }
}

impl Source {
    async fn start() -> (MockServer, Source) {
        let server = MockServer::start().await;
        let source = Source::default();
        Mock::given(path_regex("^/v/[a-z]+$"))
            .respond_with(source.clone())
            .mount(&server)
            .await;
        (server, source)
    }

    fn lock(&self) -> MutexGuard<'_, SourceState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }

    /// The value the next request will get.
    fn next_value(&self) -> u64 {
        self.lock().served.len() as u64 + 1
    }

    /// Holds back the answer to every request from value `from` on.
    fn slow_from(&self, from: u64, delay: Duration) {
        self.lock().slow = Some((from, delay));
    }

    fn speed_up(&self) {
        self.lock().slow = None;
    }

    /// The first request from value `from` on whose answer is held back.
    fn held_back_since(&self, from: u64) -> Option<Served> {
        self.lock()
            .served
            .iter()
            .find(|s| s.value >= from && !s.delay.is_zero())
            .cloned()
    }
}

// --- The daemon ------------------------------------------------------------

/// `okrd serve` of the config in `dir`, not waited for: each test decides
/// what to wait for. Killed if dropped while running, so a failed test
/// leaves no daemon behind.
fn spawn(dir: &Path, context: String) -> Binary {
    Launch::serve(&dir.join("okrd.toml"))
        .context(context)
        .spawn()
}

// --- What the daemon shows and what the database holds ----------------------

/// A KR's value and observation time (Unix seconds) as `/metrics` shows it.
#[derive(Debug, Clone, Copy)]
struct Shown {
    value: f64,
    at: f64,
}

/// Every KR of `KRS` that `/metrics` shows with a value, if it answers.
async fn scrape(addr: SocketAddr) -> Option<HashMap<String, Shown>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let body = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let sample = |name: &str, kr: &str| -> Option<f64> {
        let prefix = format!("{name}{{key_result=\"{kr}\",");
        body.lines()
            .find(|l| l.starts_with(&prefix))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()
    };
    let mut out = HashMap::new();
    for kr in KRS {
        if let (Some(value), Some(at)) = (
            sample("okr_key_result_value", kr),
            sample("okr_key_result_last_update_timestamp_seconds", kr),
        ) {
            out.insert(kr.to_string(), Shown { value, at });
        }
    }
    Some(out)
}

/// A scheduled check-in as stored.
#[derive(Debug, Clone)]
struct Recorded {
    key_result: String,
    key: String,
    /// The schedule slot in its idempotency key, Unix ms.
    slot_ms: i64,
    value: f64,
    observed_ms: i64,
}

/// Every check-in of `KRS`. Fails unless each has a key `<kr>@<slot>` naming
/// a slot of the every-second schedule at or before its observation.
async fn recorded(store: &Store, context: &str) -> Vec<Recorded> {
    let mut out = Vec::new();
    for kr in KRS {
        let check_ins = store
            .check_ins(kr, 100_000)
            .await
            .unwrap_or_else(|e| panic!("{context}: read check-ins: {e}"));
        for c in check_ins {
            let key = c
                .idempotency_key
                .unwrap_or_else(|| panic!("{context}: a scheduled check-in of {kr} has no key"));
            let slot_ms = key
                .strip_prefix(&format!("{kr}@"))
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("{context}: key {key:?} of {kr} is not {kr}@<slot>"));
            let observed_ms = c.observed_at.timestamp_millis();
            assert!(
                slot_ms % 1000 == 0 && slot_ms <= observed_ms,
                "{context}: key {key:?} names no slot of the schedule at or before \
                 the observation ({observed_ms})"
            );
            out.push(Recorded {
                key_result: kr.to_string(),
                key,
                slot_ms,
                value: c.value,
                observed_ms,
            });
        }
    }
    out
}

/// What must hold after any crash: every key once, every value fetched for
/// its KR and recorded once, nothing recorded `before` lost, and whatever
/// `/metrics` showed is in the database. Returns the keys now recorded.
fn check_database(
    rows: &[Recorded],
    source: &Source,
    before: &HashSet<String>,
    shown: &HashMap<String, Shown>,
    context: &str,
) -> HashSet<String> {
    let mut keys = HashSet::new();
    for r in rows {
        assert!(
            keys.insert(r.key.clone()),
            "{context}: idempotency key {} recorded twice",
            r.key
        );
    }
    let served: HashMap<u64, String> = source
        .served()
        .into_iter()
        .map(|s| (s.value, s.key_result))
        .collect();
    let mut values = HashSet::new();
    for r in rows {
        assert_eq!(
            served
                .get(&(r.value as u64))
                .filter(|_| r.value.fract() == 0.0),
            Some(&r.key_result),
            "{context}: {} recorded {} ({}), which the source never answered for it",
            r.key_result,
            r.value,
            r.key
        );
        assert!(
            values.insert(r.value as u64),
            "{context}: the value of request {} recorded twice",
            r.value
        );
    }
    for k in before {
        assert!(keys.contains(k), "{context}: check-in {k} was lost");
    }
    for (kr, s) in shown {
        assert!(
            rows.iter().any(|r| r.key_result == *kr
                && r.value == s.value
                && (r.observed_ms as f64 - s.at * 1000.0).abs() < 1.0),
            "{context}: /metrics showed {kr} = {} (observed at {}) but the database does not \
             have it; it has {:?}",
            s.value,
            s.at,
            rows.iter()
                .filter(|r| r.key_result == *kr)
                .map(|r| (r.value, r.observed_ms))
                .collect::<Vec<_>>()
        );
    }
    keys
}

async fn connect(db: &backends::TestDb) -> Store {
    Store::connect(&db.url, 2)
        .await
        .unwrap_or_else(|e| panic!("{}: connect: {e}", db.backend))
}

// --- kill -9 ---------------------------------------------------------------

/// When a run is killed.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// Shortly after exec: the binary is starting, maybe migrating.
    Startup,
    /// Migrated, while it applies the OKR files and loads the model.
    DatabaseReady,
    /// Right after `/metrics` showed a value this run fetched.
    BetweenFetches,
    /// While the mock source holds back the answer to a request.
    MidFetch,
}

#[tokio::test]
async fn sigkill_at_any_moment_loses_no_acknowledged_check_in_and_duplicates_none() {
    for db in backends::databases().await {
        sigkill_and_restart(&db).await;
    }
}

async fn sigkill_and_restart(db: &backends::TestDb) {
    let (mock, source) = Source::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The timeout outlasts the answer held back for `MidFetch`.
    configure(dir.path(), &db.url, &mock.uri(), "10s", "120s");

    let mut store: Option<Store> = None;
    let mut keys = HashSet::new();
    let moments = [
        Moment::Startup,
        Moment::BetweenFetches,
        Moment::DatabaseReady,
        Moment::MidFetch,
        Moment::Startup,
        Moment::BetweenFetches,
    ];
    for (run, moment) in moments.into_iter().enumerate() {
        let context = format!("{}, run {run}: kill -9 {moment:?}", db.backend);
        let mut daemon = spawn(dir.path(), context.clone());
        let first_value = source.next_value();
        // What /metrics showed right before the kill, and the fetch in flight.
        let (shown, in_flight) = match moment {
            Moment::Startup => {
                tokio::time::sleep(Duration::from_millis(150)).await;
                (HashMap::new(), None)
            }
            Moment::DatabaseReady => {
                daemon.logged("database ready").await;
                (HashMap::new(), None)
            }
            Moment::BetweenFetches | Moment::MidFetch => {
                let addr = daemon.serving().await;
                // Values fetched by this run, not just loaded at startup.
                let what = "value fetched by this run on /metrics for every KR";
                let shown = daemon
                    .wait_for(PATIENCE, what, async || {
                        let shown = scrape(addr).await?;
                        KRS.iter()
                            .all(|kr| {
                                shown
                                    .get(*kr)
                                    .is_some_and(|s| s.value >= first_value as f64)
                            })
                            .then_some(shown)
                    })
                    .await;
                if let Moment::MidFetch = moment {
                    let from = source.next_value();
                    let held = Duration::from_secs(60);
                    source.slow_from(from, held);
                    let in_flight = daemon
                        .wait_for(PATIENCE, "request held back by the source", async || {
                            source.held_back_since(from)
                        })
                        .await;
                    let shown = scrape(addr).await.unwrap_or(shown);
                    assert!(in_flight.at.elapsed() < held, "{context}: not in flight");
                    (shown, Some(in_flight))
                } else {
                    (shown, None)
                }
            }
        };
        daemon.sigkill().await;
        source.speed_up();

        if store.is_none() && !shown.is_empty() {
            store = Some(connect(db).await);
        }
        if let Some(store) = &store {
            let rows = recorded(store, &context).await;
            keys = check_database(&rows, &source, &keys, &shown, &context);
            if let Some(f) = in_flight {
                assert!(
                    !rows.iter().any(|r| r.value == f.value as f64),
                    "{context}: request {} was never answered, yet its value is recorded",
                    f.value
                );
            }
        }
    }

    // The schedule resumes: both KRs get slots after the restart, two each
    // (so a value carried over from one fetch to the next would show).
    let store = store.expect("a run showed values");
    let context = format!("{}: restart after the kills", db.backend);
    let restarted_ms = chrono::Utc::now().timestamp_millis();
    let mut daemon = spawn(dir.path(), context.clone());
    daemon
        .wait_for(
            PATIENCE,
            "two check-ins of every KR after the restart",
            async || {
                let rows = recorded(&store, &context).await;
                KRS.iter()
                    .all(|kr| {
                        let resumed = rows
                            .iter()
                            .filter(|r| r.key_result == *kr && r.slot_ms > restarted_ms);
                        resumed.count() >= 2
                    })
                    .then_some(())
            },
        )
        .await;
    daemon.sigterm();
    daemon.wait_exit(PATIENCE, "SIGTERM").await;
    let rows = recorded(&store, &context).await;
    check_database(&rows, &source, &keys, &HashMap::new(), &context);
}

// --- SIGTERM ---------------------------------------------------------------

#[tokio::test]
async fn sigterm_lets_the_fetch_in_flight_finish_and_records_its_own_value() {
    for db in backends::databases().await {
        sigterm_during_a_fetch(&db).await;
    }
}

async fn sigterm_during_a_fetch(db: &backends::TestDb) {
    // Two answers at once, then each held back for well under the grace.
    const HELD: Duration = Duration::from_secs(3);
    let (mock, source) = Source::start().await;
    source.slow_from(3, HELD);
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), &db.url, &mock.uri(), "10s", "30s");
    let context = format!("{}: SIGTERM during a fetch", db.backend);
    let mut daemon = spawn(dir.path(), context.clone());
    let in_flight = daemon
        .wait_for(PATIENCE, "request held back by the source", async || {
            source.held_back_since(1)
        })
        .await;
    daemon.sigterm();
    let signalled = in_flight.at.elapsed();
    assert!(
        signalled < HELD,
        "{context}: SIGTERM went out {signalled:?} after the request, its answer was \
         already sent: the machine is too slow for this test"
    );
    let status = daemon
        .wait_exit(Duration::from_secs(20), "SIGTERM (shutdown_grace is 10s)")
        .await;
    assert!(
        status.success(),
        "{context}: okrd did not exit cleanly: {status}\n{}",
        daemon.log_tail()
    );

    let store = connect(db).await;
    let rows = recorded(&store, &context).await;
    check_database(&rows, &source, &HashSet::new(), &HashMap::new(), &context);
    // Every fetch it started, the one in flight at SIGTERM included, was
    // recorded with its own value.
    for s in source.served() {
        assert!(
            rows.iter()
                .any(|r| r.key_result == s.key_result && r.value == s.value as f64),
            "{context}: request {} of {} was answered but not recorded; recorded: {:?}",
            s.value,
            s.key_result,
            rows.iter()
                .map(|r| (&r.key_result, r.value))
                .collect::<Vec<_>>()
        );
    }
    let latest = rows
        .iter()
        .filter(|r| r.key_result == in_flight.key_result)
        .max_by_key(|r| (r.observed_ms, r.slot_ms))
        .map(|r| r.value);
    assert_eq!(
        latest,
        Some(in_flight.value as f64),
        "{context}: the latest check-in of {} is not the value of the fetch in flight at SIGTERM",
        in_flight.key_result
    );
}

// --- shutdown_grace ----------------------------------------------------------

#[tokio::test]
async fn a_fetch_outlasting_shutdown_grace_does_not_keep_the_daemon_alive() {
    for db in backends::databases().await {
        sigterm_with_a_fetch_longer_than_the_grace(&db).await;
    }
}

async fn sigterm_with_a_fetch_longer_than_the_grace(db: &backends::TestDb) {
    // Every answer takes far longer than the grace and the margin together.
    const GRACE: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(10);
    const HELD: Duration = Duration::from_secs(120);
    let (mock, source) = Source::start().await;
    source.slow_from(1, HELD);
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), &db.url, &mock.uri(), "1s", "300s");
    let context = format!("{}: SIGTERM with a fetch outlasting the grace", db.backend);
    let mut daemon = spawn(dir.path(), context.clone());
    let in_flight = daemon
        .wait_for(PATIENCE, "request held back by the source", async || {
            source.held_back_since(1)
        })
        .await;
    daemon.sigterm();
    let status = daemon
        .wait_exit(
            GRACE + MARGIN,
            "SIGTERM: shutdown_grace (1s) did not bound the fetch in flight",
        )
        .await;
    assert!(
        in_flight.at.elapsed() < HELD,
        "{context}: the fetch was answered"
    );
    assert!(
        status.success(),
        "{context}: okrd did not exit cleanly: {status}\n{}",
        daemon.log_tail()
    );
    let store = connect(db).await;
    let rows = recorded(&store, &context).await;
    assert!(
        rows.is_empty(),
        "{context}: the abandoned fetch left check-ins behind: {rows:?}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_does_not_keep_the_daemon_alive() {
    for db in backends::databases().await {
        sigterm_with_a_stalled_client(&db).await;
    }
}

/// Serving stops within the grace too: a client that sent half a request
/// (a stalled scraper, a slowloris) is not waited for past it.
async fn sigterm_with_a_stalled_client(db: &backends::TestDb) {
    use tokio::io::AsyncWriteExt;
    const GRACE: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(10);
    let (mock, _source) = Source::start().await;
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), &db.url, &mock.uri(), "1s", "10s");
    let context = format!("{}: SIGTERM with a stalled client", db.backend);
    let mut daemon = spawn(dir.path(), context.clone());
    let addr = daemon.serving().await;
    let mut client = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{context}: connect to {addr}: {e}"));
    client
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: okrd\r\n")
        .await
        .unwrap();
    // The half request reached the server: its answer to /healthz on
    // another connection comes after it was accepted.
    daemon
        .wait_for(PATIENCE, "answer from /healthz", async || {
            reqwest::get(format!("http://{addr}/healthz")).await.ok()
        })
        .await;
    daemon.sigterm();
    let status = daemon
        .wait_exit(
            GRACE + MARGIN,
            "SIGTERM: shutdown_grace (1s) did not bound a stalled client",
        )
        .await;
    assert!(
        status.success(),
        "{context}: okrd did not exit cleanly: {status}\n{}",
        daemon.log_tail()
    );
    drop(client);
}

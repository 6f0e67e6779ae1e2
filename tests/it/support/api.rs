//! A daemon on port 0 with OKRs, tokens for every role and a mock source,
//! and a small client for the REST API: what the API tests share.
//!
//! The OKR file declares period 2026-Q4, teams `acme` ⊃ `auth`, `growth`,
//! objectives `opex` (acme) ⊃ `reach` (growth), and the file-managed KR
//! `calls` on `opex`. Source `web` reads `$.visitors` from the mock. The
//! clock stands at 2026-11-16 00:00 UTC, half way through the quarter.
//!
//! `start` runs the daemon in-process on a manual clock; `start_binary`
//! runs the same config in the shipped binary (real clock, so its period
//! lasts to 2099 and the tests pass whatever the date), for what only
//! the process shows: its log. Both through `support::daemon`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use okrd::access::{Role, token};
use okrd::clock::{Clock, ManualClock};
use okrd::store::{AuditEntry, Store};
use serde_json::{Value, json};

use super::backends::TestDb;
use super::daemon::{Binary, InProcess, Launch};

pub const OKRS: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[teams]]
id = "auth"
name = "Authentication"
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
id = "calls"
objective = "opex"
team = "acme"
owner = "ceo@acme.example"
title = "Fewer calls to the call center"
kind = "decrease"
start = 1000
target = 500
"#;

pub struct Tokens {
    pub admin: String,
    pub leader: String,
    /// A member of team `auth`.
    pub auth: String,
    /// A member of team `growth`.
    pub growth: String,
    pub viewer: String,
}

pub struct Api {
    pub backend: &'static str,
    pub base: String,
    pub client: reqwest::Client,
    pub tokens: Tokens,
    /// The daemon's database, for checking what was (not) stored.
    pub store: Store,
    /// The daemon's config file, for running the CLI against it.
    pub config: PathBuf,
    /// The in-process daemon's clock (`start`); `None` for the binary.
    pub clock: Option<Arc<ManualClock>>,
    daemon: Running,
    _dir: tempfile::TempDir,
}

enum Running {
    InProcess(InProcess),
    Binary(Binary),
}

/// A response: status, JSON body (`Null` when empty or not JSON), content type.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub location: Option<String>,
}

impl Resp {
    /// The body, after asserting the status (the body is shown when it differs).
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {:#}",
            self.body
        );
        self.body
    }

    /// Asserts a problem+json answer with this status and a `detail` holding `text`.
    #[track_caller]
    pub fn problem(self, status: u16, text: &str) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {:#}",
            self.body
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "{:#}",
            self.body
        );
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(text), "detail {detail:?} lacks {text:?}");
        assert_eq!(self.body["status"], status);
        self.body
    }
}

pub struct Options<'a> {
    /// The URL the `web` source reads.
    pub source_url: &'a str,
    /// More config, appended (e.g. a `[server]` table).
    pub extra_config: &'a str,
}

impl Options<'static> {
    /// The `web` source points nowhere: nothing is fetched.
    pub const NOWHERE: Options<'static> = Options {
        source_url: "http://127.0.0.1:9/stats",
        extra_config: "",
    };
}

/// A minimal KR body for team `team` on objective `objective`.
pub fn kr_body(id: &str, objective: &str, team: &str, owner: &str) -> Value {
    json!({
        "id": id, "objective": objective, "team": team, "owner": owner,
        "title": format!("Key result {id}"), "kind": "increase", "start": 0, "target": 100,
    })
}

/// Writes `okrs.toml` and `okrd.toml` into `dir`; returns the config's path.
fn write_config(dir: &Path, db: &TestDb, opts: &Options<'_>, okrs: &str) -> PathBuf {
    std::fs::write(dir.join("okrs.toml"), okrs).unwrap();
    let config = format!(
        r#"
[database]
url = "{}"
refresh_interval = "0s"
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "0 0 1 1 *"
jitter = "0s"

[[sources]]
name = "web"
connector = "http_json"
timeout = "2s"
retries = 0
[sources.params]
url = "{}"
value = "$.visitors"
{}
"#,
        db.url, opts.source_url, opts.extra_config
    );
    let cfg = dir.join("okrd.toml");
    std::fs::write(&cfg, config).unwrap();
    cfg
}

/// A config written for `db`, its store (migrated) with a token for every
/// role: what `start` and `start_binary` run a daemon on.
struct Prepared {
    backend: &'static str,
    dir: tempfile::TempDir,
    config: PathBuf,
    store: Store,
    tokens: Tokens,
}

async fn prepare(db: &TestDb, opts: &Options<'_>, okrs: &str) -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), db, opts, okrs);
    let settings = okrd::config::load_with_env(Some(&config), &[]).unwrap();
    let store = okrd::app::open_store(&settings).await.unwrap();
    let tokens = Tokens {
        admin: make_token(&store, Role::Admin, None, "ada").await,
        leader: make_token(&store, Role::Leader, None, "lee").await,
        auth: make_token(&store, Role::Member, Some("auth"), "dana").await,
        growth: make_token(&store, Role::Member, Some("growth"), "kim").await,
        viewer: make_token(&store, Role::Viewer, None, "vic").await,
    };
    Prepared {
        backend: db.backend,
        dir,
        config,
        store,
        tokens,
    }
}

impl Prepared {
    fn api(self, daemon: Running) -> Api {
        let base = match &daemon {
            Running::InProcess(d) => d.base(),
            Running::Binary(d) => d.base(),
        };
        Api {
            backend: self.backend,
            base,
            client: reqwest::Client::new(),
            tokens: self.tokens,
            store: self.store,
            config: self.config,
            clock: None,
            daemon,
            _dir: self.dir,
        }
    }
}

/// The daemon in-process, on a manual clock at 2026-11-16 00:00 UTC.
pub async fn start(db: &TestDb, opts: Options<'_>) -> Api {
    let at = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
    start_with(db, opts, OKRS, at, &[]).await
}

/// `start` with the OKR file `okrs`, the clock at `at` and `OKRD_*`
/// overrides of the config (`env`, e.g. the scheduler's time zone).
pub async fn start_with(
    db: &TestDb,
    opts: Options<'_>,
    okrs: &str,
    at: chrono::DateTime<Utc>,
    env: &[(&str, &str)],
) -> Api {
    let prepared = prepare(db, &opts, okrs).await;
    let clock = Arc::new(ManualClock::new(at));
    let daemon = Launch::serve(&prepared.config)
        .clock(clock.clone() as Arc<dyn Clock>)
        .envs(env)
        .context(db.backend)
        .in_process()
        .await;
    Api {
        clock: Some(clock),
        ..prepared.api(Running::InProcess(daemon))
    }
}

/// The same daemon as `start`, run by the `okrd serve` binary on the real
/// clock, logging as text at info level (`env` may override, e.g.
/// `OKRD_LOG__FORMAT`). `Api::log` reads what it wrote.
pub async fn start_binary(db: &TestDb, opts: Options<'_>, env: &[(&str, &str)]) -> Api {
    // On the real clock 2026-Q4 must not end: a KR whose period is over is
    // not fetched, and these tests must pass whatever the date.
    let lasting = OKRS.replace("end = \"2026-12-31\"", "end = \"2099-12-31\"");
    let prepared = prepare(db, &opts, &lasting).await;
    let daemon = Launch::serve(&prepared.config)
        .envs(&[("OKRD_LOG__LEVEL", "info"), ("OKRD_LOG__FORMAT", "text")])
        .envs(env)
        .context(db.backend)
        .binary()
        .await;
    prepared.api(Running::Binary(daemon))
}

/// Stores a new token; returns it.
pub async fn make_token(store: &Store, role: Role, team: Option<&str>, name: &str) -> String {
    let t = token::generate(role, team.map(String::from), name.to_string(), 0).unwrap();
    let audit = AuditEntry {
        actor: "test".into(),
        action: "token.create".into(),
        entity_kind: "token",
        entity_id: t.record.id.clone(),
        before: None,
        after: None,
    };
    store.insert_token(&t.record, &audit).await.unwrap();
    t.token
}

impl Api {
    /// Stops the daemon and asserts that it stopped cleanly.
    pub async fn stop(self) {
        match self.daemon {
            Running::InProcess(daemon) => daemon.stop().await,
            Running::Binary(daemon) => {
                let (status, log) = daemon.stop().await;
                assert!(status.success(), "okrd serve exited with {status}:\n{log}");
            }
        }
    }

    /// `okrd <args> --config <the daemon's config>` to completion, `RUST_LOG` removed.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okrd"));
        cmd.args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd.output().await.expect("okrd runs")
    }

    /// What the binary daemon (`start_binary`) logged so far.
    pub fn log(&self) -> String {
        match &self.daemon {
            Running::Binary(daemon) => daemon.log(),
            Running::InProcess(_) => panic!("an in-process daemon's log is not captured"),
        }
    }

    /// The binary daemon's (`start_binary`) process id.
    pub fn pid(&self) -> u32 {
        match &self.daemon {
            Running::Binary(daemon) => daemon.pid(),
            Running::InProcess(_) => panic!("an in-process daemon has no process of its own"),
        }
    }

    /// `method path` under `/api/v1`, with an optional token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let body = body.map(|b| b.to_string());
        self.raw(
            method,
            path,
            token,
            body.as_ref().map(|_| "application/json"),
            body.unwrap_or_default(),
        )
        .await
    }

    /// A request with any content type and body bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let content_type = header("content-type").unwrap_or_default();
        let location = header("location");
        let text = r.text().await.unwrap();
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            content_type,
            location,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call("PATCH", path, Some(token), Some(body)).await
    }

    /// POST without a body (workflow actions).
    pub async fn act(&self, path: &str, token: &str) -> Resp {
        self.call("POST", path, Some(token), None).await
    }

    /// Creates a KR as a member (`member` is their token), proposes it and
    /// has the leader approve it: setup for tests about what comes after.
    pub async fn approved_kr(&self, member: &str, body: Value) -> Value {
        let id = body["id"].as_str().unwrap().to_string();
        self.post("/key-results", member, body).await.expect(201);
        self.act(&format!("/key-results/{id}/propose"), member)
            .await
            .expect(200);
        self.act(&format!("/key-results/{id}/approve"), &self.tokens.leader)
            .await
            .expect(200)
    }

    pub async fn metrics(&self) -> String {
        super::daemon::metrics(&self.base).await
    }

    /// Polls `/metrics` until `done` holds (the exposition is published at most every 100 ms).
    pub async fn metrics_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let m = self.metrics().await;
            if done(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{}: timed out waiting for {what}:\n{}",
            self.backend,
            self.metrics().await
        );
    }
}

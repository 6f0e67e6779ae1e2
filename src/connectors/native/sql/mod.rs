//! The `sql` connector: one SQL query against PostgreSQL, MySQL/MariaDB or
//! SQLite, one numeric cell.
//!
//! ```toml
//! [[sources]]
//! name = "warehouse"
//! connector = "sql"
//! timeout = "10s"                          # also the statement timeout
//! [sources.params]
//! url = { env = "WAREHOUSE_URL" }          # postgres://…, mysql://…, mariadb://… or sqlite://PATH
//! max_connections = 2                      # optional, per source
//!
//! # on a KR:
//! params = { query = "SELECT count(*) FROM signups WHERE created_at >= '{{ period.start }}'" }
//! ```
//!
//! A query must first pass the guard (`guard.rs`): a SQL parser reads it as
//! exactly one query calling no function that reaches past it (server
//! files, programs, session locks), or it is refused before anything is
//! sent, by `check_params` and again at every fetch on the rendered text.
//! Then every fetch runs the query alone in a read-only transaction with a
//! statement timeout (the source's `timeout`, less the time spent getting a
//! connection), rolls back and resets the session (PostgreSQL `DISCARD
//! ALL`, MySQL/MariaDB `RELEASE_ALL_LOCKS()`):
//! - PostgreSQL: `BEGIN READ ONLY`, `set_config('statement_timeout', …, true)`
//!   (a query, so the transaction can no longer be switched to read-write);
//! - MySQL/MariaDB: `SET SESSION max_statement_time` (MariaDB) or
//!   `max_execution_time` (MySQL, `SELECT` only), `SET SESSION TRANSACTION
//!   READ ONLY` (so DDL, which commits implicitly, is refused too), then
//!   `START TRANSACTION READ ONLY`;
//! - SQLite: the file is opened read-only with `PRAGMA query_only`, and a
//!   progress handler interrupts the query at the deadline.
//!
//! A fetch dropped while its query runs (the core's `fetch_deadline`,
//! shutdown) cancels the query on the server: PostgreSQL
//! `pg_cancel_backend`, MySQL/MariaDB `KILL QUERY`, each from a connection
//! of its own; SQLite's progress handler.
//!
//! The answer must be exactly one row with one column holding a number:
//! integers, floats, NUMERIC/DECIMAL, or text holding a number. No row or
//! NULL is `no_data`; several rows or columns are `parse`; a non-numeric
//! value, NaN or infinity is `invalid_value`. Cannot connect is `connect`,
//! a refused login `auth`, the statement timeout `timeout`; anything else
//! the database refuses (syntax, a write, a permission) is `http_4xx` with a
//! message starting "query rejected:".
//!
//! `url` is source-only: a KR binding cannot point the connector at another
//! database. Give the connector a database user that may only read;
//! `okrd check` warns when it can write (`user_rights.rs`).

mod guard;
mod pool;
mod run;
pub mod user_rights;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::connectors::params::UNSET_SECRET_PLACEHOLDER;
use crate::connectors::template::{TemplateContext, render_params};
use crate::connectors::value::parse_number_redacted;
use crate::connectors::{BoxFuture, Connector, FetchContext, FetchError, Params, Reason, Redactor};
use pool::{ConnPool, Options};
use run::{Cell, RunError};

/// Connections per source when `max_connections` is not set.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 2;
/// The largest `max_connections` accepted: a metric source needs few.
const MAX_MAX_CONNECTIONS: u64 = 32;
/// How much of a database message an error quotes.
const MESSAGE_CHARS: usize = 300;

/// The `sql` connector. One instance serves one source and keeps its
/// connections (created on the first fetch).
#[derive(Default)]
pub struct Sql {
    /// The pool for the source's current URL; a changed URL gets a new one.
    pool: Mutex<Option<Arc<ConnPool>>>,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sql")
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    /// The backend for `url`'s scheme.
    pub fn from_url(url: &str) -> Result<Backend, String> {
        let scheme = url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            "sqlite" => Ok(Backend::Sqlite),
            _ => Err(
                "param `url` must start with postgres://, postgresql://, mysql://, mariadb:// \
                 or sqlite://"
                    .into(),
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL",
            Backend::Sqlite => "SQLite",
        }
    }
}

/// Validated params of one fetch.
struct Spec<'p> {
    url: &'p str,
    backend: Backend,
    query: &'p str,
    max_connections: u32,
}

impl<'p> Spec<'p> {
    fn from_params(params: &'p Params) -> Result<Spec<'p>, String> {
        let url = params.require_str("url")?;
        let backend = Backend::from_url(url)?;
        let query = params.require_str("query")?;
        if query.trim().is_empty() {
            return Err("param `query` is empty".into());
        }
        let max_connections = match params.get("max_connections") {
            None => DEFAULT_MAX_CONNECTIONS,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m @ 1..=MAX_MAX_CONNECTIONS) => m as u32,
                _ => {
                    return Err(format!(
                        "param `max_connections` must be an integer from 1 to \
                         {MAX_MAX_CONNECTIONS}, not {n}"
                    ));
                }
            },
            Some(other) => {
                return Err(format!(
                    "param `max_connections` must be an integer, not {}",
                    crate::connectors::params::json_type(other)
                ));
            }
        };
        Ok(Spec {
            url,
            backend,
            query,
            max_connections,
        })
    }
}

impl Connector for Sql {
    fn check_params(&self, params: &Params) -> Result<(), String> {
        // `okrd check` where the URL's secret cannot be read: check the rest.
        if params.str("url") == Some(UNSET_SECRET_PLACEHOLDER) {
            let mut rest = params.as_map().clone();
            rest.insert(
                "url".into(),
                Value::String("postgres://placeholder/db".into()),
            );
            let rest = Params::new(rest);
            let spec = Spec::from_params(&rest)?;
            return guard::check_query_any_backend(&example_query(spec.query)?);
        }
        let spec = Spec::from_params(params)?;
        guard::check_query(spec.backend, &example_query(spec.query)?)?;
        // Parsed, not connected: startup must not wait for the database.
        Options::parse(spec.backend, spec.url)
            .map(|_| ())
            .map_err(|e| url_redactor(&Redactor::default(), spec.url).redact(&e))
    }

    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
        Box::pin(async move {
            let invalid =
                |m: String| FetchError::new(Reason::Parse, format!("invalid params: {m}"));
            let spec = Spec::from_params(ctx.params).map_err(invalid)?;
            // Again on the rendered text: it is what the database would run.
            guard::check_query(spec.backend, spec.query).map_err(invalid)?;
            let redactor = url_redactor(ctx.redactor, spec.url);
            self.fetch_spec(&spec, ctx.timeout)
                .await
                .map_err(|e| e.redacted(&redactor))
        })
    }

    fn source_only_params(&self) -> &'static [&'static str] {
        &["url"]
    }

    fn known_params(&self) -> Vec<String> {
        ["url", "query", "max_connections"]
            .map(String::from)
            .to_vec()
    }

    /// A query that bounds its rows by `{{ today }}` or `{{ now }}` answers
    /// for any past day (backfill skips one that does not: its rendered
    /// query, the default `request_as_of`, is the same every day).
    fn answers_for_past(&self, _params: &Params) -> bool {
        true
    }
}

impl Sql {
    async fn fetch_spec(&self, spec: &Spec<'_>, timeout: Duration) -> Result<f64, FetchError> {
        let deadline = Instant::now() + timeout;
        let pool = self
            .pool_for(spec)
            .map_err(|m| FetchError::new(Reason::Parse, format!("invalid params: {m}")))?;
        let mut lease = match tokio::time::timeout_at(deadline, pool.checkout()).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => return Err(connect_error(&e, spec)),
            Err(_) => {
                return Err(FetchError::new(
                    Reason::Timeout,
                    format!(
                        "no connection to {} within {timeout:?}",
                        crate::store::redact_url(spec.url)
                    ),
                ));
            }
        };
        let budget = deadline.saturating_duration_since(Instant::now());
        if budget.is_zero() {
            return Err(statement_timeout(timeout, "no time left after connecting"));
        }
        let started = Instant::now();
        let (answer, reusable) = lease.run(spec.query, budget, deadline).await;
        if reusable {
            lease.release();
        }
        let cell = match answer {
            Ok(cell) => cell,
            Err(e) => return Err(run_error(e, spec.backend, timeout)),
        };
        // MySQL's SLEEP() answers 1 when max_execution_time interrupts it.
        if started.elapsed() >= budget {
            return Err(statement_timeout(
                timeout,
                "the query ran the whole timeout",
            ));
        }
        cell_value(cell)
    }

    /// The pool for `spec.url`, made (without connecting) on first use or
    /// when the URL changed.
    fn pool_for(&self, spec: &Spec<'_>) -> Result<Arc<ConnPool>, String> {
        let mut slot = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = slot.as_ref().filter(|p| p.url() == spec.url) {
            return Ok(Arc::clone(pool));
        }
        let options = Options::parse(spec.backend, spec.url)?;
        let pool = Arc::new(ConnPool::new(
            spec.url.to_string(),
            options,
            spec.max_connections,
        ));
        *slot = Some(Arc::clone(&pool));
        Ok(pool)
    }
}

/// `query` with its templates rendered for the current quarter, as a fetch
/// would render it: the guard checks SQL, not template syntax.
fn example_query(query: &str) -> Result<String, String> {
    let params = Params::new(serde_json::Map::from_iter([(
        "query".to_string(),
        Value::String(query.to_string()),
    )]));
    let rendered = render_params(&params, &TemplateContext::example(), &Redactor::default())?;
    Ok(rendered.str("query").unwrap_or(query).to_string())
}

/// The number in the answer's one cell.
fn cell_value(cell: Cell) -> Result<f64, FetchError> {
    match cell {
        Cell::Null => Err(FetchError::new(Reason::NoData, "query returned NULL")),
        Cell::Number(f) if f.is_finite() => Ok(f),
        Cell::Number(f) => Err(FetchError::new(
            Reason::InvalidValue,
            format!("query returned {f}, which is not finite"),
        )),
        // The text is the database's answer, not a secret; still redacted by the caller.
        Cell::Text(s) => parse_number_redacted(&Value::String(s), &Redactor::default()),
        Cell::Other(type_name) => Err(FetchError::new(
            Reason::InvalidValue,
            format!("query returned a {type_name} value, not a number"),
        )),
    }
}

/// A Redactor that also hides the password in `url` (a URL written in the
/// config file as plain text is not registered as a secret).
fn url_redactor(base: &Redactor, url: &str) -> Redactor {
    let mut r = base.clone();
    if let Ok(parsed) = reqwest::Url::parse(url) {
        if let Some(p) = parsed.password() {
            r.add(p);
            r.add(&percent_decode(p));
        }
        for (k, v) in parsed.query_pairs() {
            if k == "password" {
                r.add(&v);
            }
        }
    }
    r
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the database said, on one line and cut short.
fn db_message(e: &sqlx::Error) -> String {
    let text = match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = line.chars().take(MESSAGE_CHARS).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

/// A failure to open (or re-check) a connection.
fn connect_error(e: &sqlx::Error, spec: &Spec<'_>) -> FetchError {
    let target = crate::store::redact_url(spec.url);
    let msg = db_message(e);
    let reason = match e {
        sqlx::Error::Database(_) if run::is_auth_error(e, spec.backend) => Reason::Auth,
        sqlx::Error::Configuration(_) => Reason::Parse,
        _ => Reason::Connect,
    };
    let what = match reason {
        Reason::Auth => "login refused by",
        Reason::Parse => "invalid connection settings for",
        _ => "cannot connect to",
    };
    FetchError::new(reason, format!("{what} {target}: {msg}"))
}

fn statement_timeout(timeout: Duration, detail: &str) -> FetchError {
    FetchError::new(
        Reason::Timeout,
        format!("statement timeout ({timeout:?}): {detail}"),
    )
}

/// A failure while running the query.
fn run_error(e: RunError, backend: Backend, timeout: Duration) -> FetchError {
    match e {
        RunError::NoRows => FetchError::new(Reason::NoData, "query returned no rows"),
        RunError::SeveralRows => FetchError::new(
            Reason::Parse,
            "query returned more than one row; return one row, e.g. with an aggregate \
             (count, sum, avg) or LIMIT 1",
        ),
        RunError::Columns(n) => FetchError::new(
            Reason::Parse,
            format!("query returned {n} columns; select exactly one"),
        ),
        RunError::Db(e) => {
            let msg = db_message(&e);
            if run::is_timeout_error(&e, backend) {
                statement_timeout(timeout, &msg)
            } else if run::is_auth_error(&e, backend) {
                FetchError::new(Reason::Auth, format!("login refused: {msg}"))
            } else if run::is_connection_error(&e, backend) {
                FetchError::new(
                    Reason::Connect,
                    format!("{} connection failed: {msg}", backend.name()),
                )
            } else {
                FetchError::new(Reason::Http4xx, format!("query rejected: {msg}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), String> {
        Sql::default().check_params(&Params::new(v.as_object().unwrap().clone()))
    }

    #[test]
    fn check_params_accepts_every_backend() {
        for url in [
            "postgres://okrd:pw@db:5432/metrics",
            "postgresql://db/metrics?sslmode=require",
            "mysql://root@127.0.0.1:3306/test",
            "mariadb://u:p@db/test",
            "sqlite:///var/lib/app/app.db",
            "sqlite://app.db",
        ] {
            check(json!({"url": url, "query": "SELECT 1"}))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        check(json!({"url": "sqlite://a.db", "query": "SELECT 1", "max_connections": 4})).unwrap();
    }

    #[test]
    fn check_params_names_the_problem() {
        let e = |v| check(v).unwrap_err();
        assert!(e(json!({"query": "SELECT 1"})).contains("`url` is required"));
        assert!(e(json!({"url": "sqlite://a.db"})).contains("`query` is required"));
        assert!(e(json!({"url": "sqlite://a.db", "query": ""})).contains("`query` is empty"));
        assert!(e(json!({"url": "sqlite://a.db", "query": "  "})).contains("`query` is empty"));
        assert!(e(json!({"url": "sqlite://a.db", "query": 1})).contains("string"));
        assert!(e(json!({"url": "oracle://db/x", "query": "SELECT 1"})).contains("postgres://"));
        assert!(e(json!({"url": "db.example", "query": "SELECT 1"})).contains("postgres://"));
        for bad in [json!(0), json!(-1), json!(1.5), json!(1000), json!("2")] {
            let m = e(json!({"url": "sqlite://a.db", "query": "SELECT 1", "max_connections": bad}));
            assert!(m.contains("max_connections"), "{bad}: {m}");
        }
    }

    #[test]
    fn url_password_never_appears_in_messages() {
        let url = "postgres://okrd:s3cr%2Ft@db/x?password=other-pw";
        let r = url_redactor(&Redactor::default(), url);
        assert_eq!(
            r.redact("a s3cr%2Ft b s3cr/t c other-pw"),
            "a *** b *** c ***"
        );
    }

    #[test]
    fn only_url_is_source_only() {
        assert_eq!(Sql::default().source_only_params(), &["url"]);
    }
}

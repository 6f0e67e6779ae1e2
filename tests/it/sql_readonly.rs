//! The `sql` connector is read-only, hole by hole: a query that would run a
//! program, write or read a server file, or take a lock that outlives it is
//! refused before it reaches the database (at `okrd check`, at bind time
//! over the REST API, and at every fetch), and whatever a query leaves on
//! its session is gone once the fetch ends, as another connection sees it.
//! `okrd check` warns about a database user that can write.
//!
//! SQLite always runs; PostgreSQL with `OKRD_TEST_POSTGRES_URL`, MariaDB
//! with `OKRD_TEST_MYSQL_URL` (both as a user that may create databases,
//! roles and functions), else they are skipped.

use std::path::Path;
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use okrd::connectors::http::{HttpClient, HttpPolicy};
use okrd::connectors::{Connector, FetchContext, FetchError, Params, Reason, Redactor, registry};

use crate::support::api::{self, Options};
use crate::support::backends::{self, TestDb};

const TIMEOUT: Duration = Duration::from_secs(10);

fn sql() -> Arc<dyn Connector> {
    registry::native("sql").expect("sql connector")
}

fn params(url: &str, query: &str, max_connections: u32) -> Params {
    let v = json!({"url": url, "query": query, "max_connections": max_connections});
    Params::new(v.as_object().unwrap().clone())
}

/// One fetch, params not checked first: what a fetch does with a query that
/// only became what it is once its templates were rendered.
async fn fetch(connector: &Arc<dyn Connector>, params: &Params) -> Result<f64, FetchError> {
    let http = HttpClient::new(HttpPolicy::default()).unwrap();
    let redactor = Redactor::default();
    let template = okrd::connectors::template::TemplateContext::example();
    let ctx = FetchContext {
        source: "test",
        key_result: "kr",
        params,
        http: &http,
        timeout: TIMEOUT,
        redactor: &redactor,
        template: &template,
        trace: None,
    };
    connector.fetch(&ctx).await
}

/// A value from `query` (checked, then fetched on `connector`'s one connection).
async fn value(connector: &Arc<dyn Connector>, url: &str, query: &str) -> f64 {
    let p = params(url, query, 1);
    connector
        .check_params(&p)
        .unwrap_or_else(|e| panic!("{query}: refused: {e}"));
    fetch(connector, &p)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// `query` is refused by `check_params` (`okrd check`, startup, bind time)
/// and by a fetch, both naming `words`; the fetch fails with `parse`.
async fn assert_refused(connector: &Arc<dyn Connector>, url: &str, query: &str, words: &str) {
    let p = params(url, query, 1);
    let e = connector
        .check_params(&p)
        .err()
        .unwrap_or_else(|| panic!("{query}: passed check_params"));
    assert!(
        e.starts_with("param `query` ") && e.contains(words),
        "{query}: {e}"
    );
    let e = match fetch(connector, &p).await {
        Ok(v) => panic!("{query}: fetched {v}"),
        Err(e) => e,
    };
    assert_eq!(e.reason, Reason::Parse, "{query}: {e}");
    assert!(
        e.message.starts_with("invalid params: param `query` ") && e.message.contains(words),
        "{query}: {e}"
    );
}

/// A path under /tmp that the database server (another user) could write.
fn marker(what: &str) -> String {
    format!("/tmp/okrd_sqlro_{what}_{:016x}", rand::random::<u64>())
}

// ------------------------------------------------------------- PostgreSQL

async fn postgres() -> Option<(String, TestDb)> {
    let Some(admin) = backends::postgres_url() else {
        backends::skip_backend(backends::POSTGRES_ENV, "the sql connector on PostgreSQL");
        return None;
    };
    let db = backends::postgres_db(&admin).await;
    backends::execute(&db.url, "CREATE TABLE metrics (x INTEGER)").await;
    backends::execute(&db.url, "INSERT INTO metrics VALUES (1), (2), (4)").await;
    Some((admin, db))
}

/// Whether, within 5 s, no session but the probe's own is on the test
/// database (the test's setup connections take a moment to go).
async fn pg_no_other_sessions(probe: &mut sqlx::PgConnection) -> bool {
    for _ in 0..100 {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *probe)
        .await
        .unwrap();
        if others == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn postgres_copy_to_program_or_file_never_reaches_the_server() {
    let Some((_admin, db)) = postgres().await else {
        return;
    };
    let mut probe = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (program, file) = (marker("program"), marker("file"));
    let connector = sql();
    for query in [
        format!("COPY (SELECT 1) TO PROGRAM 'touch {program}'"),
        format!("COPY (SELECT 1) TO '{file}'"),
        format!("COPY metrics TO '{file}'"),
        format!("copy (select 1) to program 'touch {program}';"),
    ] {
        assert_refused(&connector, &db.url, &query, "is `COPY …`").await;
    }
    assert_refused(
        &connector,
        &db.url,
        "COPY metrics FROM '/etc/hostname'",
        "COPY",
    )
    .await;
    let ran = [&program, &file].map(|p| Path::new(p).exists());
    for p in [&program, &file] {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(ran, [false, false], "COPY ran on the server");
    // Refused before anything was sent: the connector never even connected.
    assert!(
        pg_no_other_sessions(&mut probe).await,
        "the connector opened a session for a refused query"
    );
}

#[tokio::test]
async fn postgres_server_files_and_functions_beyond_the_query_are_refused() {
    let Some((_admin, db)) = postgres().await else {
        return;
    };
    let connector = sql();
    for (query, words) in [
        (
            "SELECT length(pg_read_file('/etc/hostname'))",
            "calls `pg_read_file`",
        ),
        (
            "SELECT length(pg_catalog.PG_READ_BINARY_FILE('/etc/hostname'))",
            "calls `pg_read_binary_file`",
        ),
        ("SELECT count(*) FROM pg_ls_dir('.')", "calls `pg_ls_dir`"),
        (
            "SELECT (pg_stat_file('/etc/hostname')).size",
            "calls `pg_stat_file`",
        ),
        ("SELECT lo_import('/etc/hostname')", "calls `lo_import`"),
        (
            "SELECT count(*) FROM metrics WHERE x < (SELECT set_config('work_mem', '1MB', false))::int",
            "calls `set_config`",
        ),
        ("SELECT count(*) FROM metrics FOR UPDATE", "FOR UPDATE"),
        ("SELECT x INTO evil FROM metrics", "SELECT … INTO"),
        (
            "WITH d AS (DELETE FROM metrics RETURNING 1) SELECT count(*) FROM d",
            "holds `DELETE …`",
        ),
        ("CALL p()", "is `CALL …`"),
        ("SET statement_timeout = 0", "is `SET …`"),
        ("SELECT 1; SELECT 2", "holds 2 statements"),
        (
            r#"SELECT length(U&"\0070g_read_file"('/etc/hostname'))"#,
            "Unicode-escaped identifier",
        ),
    ] {
        assert_refused(&connector, &db.url, query, words).await;
    }
    // Nothing was deleted, and plain queries still run.
    assert_eq!(
        value(&connector, &db.url, "SELECT count(*) FROM metrics").await,
        3.0
    );
}

/// Session advisory locks on the test database with key `key`, seen from
/// another connection.
async fn pg_advisory_locks(probe: &mut sqlx::PgConnection, key: u32) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid::text = $1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(key.to_string())
    .fetch_one(probe)
    .await
    .unwrap()
}

#[tokio::test]
async fn postgres_an_advisory_lock_is_gone_once_the_fetch_ends() {
    let Some((_admin, db)) = postgres().await else {
        return;
    };
    let mut probe = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let connector = sql();
    let (refused_key, taken_key) = (rand::random::<u32>() | 1, rand::random::<u32>() & !1);
    // Asked for directly: refused, never taken.
    for f in [
        "pg_advisory_lock",
        "pg_try_advisory_lock",
        "pg_advisory_lock_shared",
    ] {
        let query = format!("SELECT {f}({refused_key})");
        assert_refused(&connector, &db.url, &query, &format!("calls `{f}`")).await;
    }
    assert_eq!(pg_advisory_locks(&mut probe, refused_key).await, 0);
    // Taken by a function the guard does not know: the session reset
    // releases it before the connection goes back to the pool.
    backends::execute(
        &db.url,
        "CREATE FUNCTION take_lock(k bigint) RETURNS int LANGUAGE plpgsql \
         AS $$ BEGIN PERFORM pg_advisory_lock(k); RETURN 1; END $$",
    )
    .await;
    let pid = value(&connector, &db.url, "SELECT pg_backend_pid()").await;
    let take = format!("SELECT take_lock({taken_key})");
    assert_eq!(value(&connector, &db.url, &take).await, 1.0);
    assert_eq!(
        pg_advisory_locks(&mut probe, taken_key).await,
        0,
        "the lock outlived its fetch"
    );
    // The same connection, kept (reset, not closed), runs the same text again.
    assert_eq!(value(&connector, &db.url, &take).await, 1.0);
    assert_eq!(pg_advisory_locks(&mut probe, taken_key).await, 0);
    assert_eq!(
        value(&connector, &db.url, "SELECT pg_backend_pid()").await,
        pid
    );
}

#[tokio::test]
async fn postgres_strings_are_read_as_the_guard_read_them() {
    let Some((admin, db)) = postgres().await else {
        return;
    };
    // A database whose sessions read backslashes in strings as escapes:
    // the guard's parser does not, so the fetch must not either.
    let name = reqwest::Url::parse(&db.url).unwrap().path()[1..].to_string();
    let alter = format!("ALTER DATABASE {name} SET standard_conforming_strings = off");
    backends::execute(&admin, &alter).await;
    let connector = sql();
    assert_eq!(
        value(&connector, &db.url, r"SELECT length('a\')").await,
        2.0
    );
    assert_eq!(
        value(&connector, &db.url, r"SELECT length('a\')").await,
        2.0
    );
}

#[tokio::test]
async fn postgres_the_read_only_transaction_still_stands_behind_the_guard() {
    let Some((_admin, db)) = postgres().await else {
        return;
    };
    backends::execute(&db.url, "CREATE SEQUENCE s").await;
    backends::execute(
        &db.url,
        "CREATE FUNCTION wipe() RETURNS int LANGUAGE plpgsql \
         AS $$ BEGIN DELETE FROM metrics; RETURN 1; END $$",
    )
    .await;
    backends::execute(
        &db.url,
        "CREATE FUNCTION read_write() RETURNS int LANGUAGE sql \
         AS $$ SET TRANSACTION READ WRITE; SELECT 1 $$",
    )
    .await;
    let connector = sql();
    for (query, words) in [
        ("SELECT nextval('s')", "in a read-only transaction"),
        ("SELECT wipe()", "in a read-only transaction"),
        (
            "SELECT read_write()",
            "read-write mode must be set before any query",
        ),
    ] {
        let p = params(&db.url, query, 1);
        connector.check_params(&p).unwrap();
        let e = fetch(&connector, &p).await.unwrap_err();
        assert_eq!(e.reason, Reason::Http4xx, "{query}: {e}");
        assert!(e.message.contains(words), "{query}: {e}");
    }
    assert_eq!(
        value(&connector, &db.url, "SELECT count(*) FROM metrics").await,
        3.0
    );
}

// ---------------------------------------------------------------- MariaDB

async fn mysql() -> Option<(String, TestDb)> {
    let Some(admin) = backends::mysql_url() else {
        backends::skip_backend(backends::MYSQL_ENV, "the sql connector on MySQL/MariaDB");
        return None;
    };
    let db = backends::mysql_db(&admin).await;
    let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    for s in [
        "CREATE TABLE metrics (x INTEGER)",
        "INSERT INTO metrics VALUES (1), (2), (4)",
    ] {
        sqlx::raw_sql(s).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();
    Some((admin, db))
}

async fn mysql_scalar(c: &mut sqlx::MySqlConnection, query: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(query.to_string()))
        .fetch_one(c)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

#[tokio::test]
async fn mysql_server_files_and_user_locks_are_refused() {
    let Some((_admin, db)) = mysql().await else {
        return;
    };
    let mut probe = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    let connector = sql();
    let outfile = marker("outfile");
    let lock = format!("okrd_sqlro_{:016x}", rand::random::<u64>());
    for (query, words) in [
        (
            "SELECT LENGTH(LOAD_FILE('/etc/hostname'))".to_string(),
            "calls `load_file`",
        ),
        (
            format!("SELECT 1 INTO OUTFILE '{outfile}'"),
            "param `query`",
        ),
        (
            format!("SELECT x FROM metrics LIMIT 1 INTO DUMPFILE '{outfile}'"),
            "param `query`",
        ),
        (format!("SELECT GET_LOCK('{lock}', 0)"), "calls `get_lock`"),
        (
            format!("SELECT 1 /*! + GET_LOCK('{lock}', 0) */"),
            "calls `get_lock`",
        ),
        (
            format!("SELECT 1 /*M! + GET_LOCK('{lock}', 0) */"),
            "MariaDB executable comment",
        ),
        (
            "SELECT count(*) FROM metrics FOR UPDATE".to_string(),
            "FOR UPDATE",
        ),
        ("DO SLEEP(0)".to_string(), "param `query`"),
        (
            "SET SESSION TRANSACTION READ WRITE".to_string(),
            "param `query`",
        ),
        ("DROP TABLE metrics".to_string(), "is `DROP …`"),
    ] {
        assert_refused(&connector, &db.url, &query, words).await;
    }
    let wrote = Path::new(&outfile).exists();
    let _ = std::fs::remove_file(&outfile);
    assert!(!wrote, "INTO OUTFILE wrote {outfile}");
    let free = mysql_scalar(&mut probe, &format!("SELECT IS_FREE_LOCK('{lock}')")).await;
    assert_eq!(free, 1, "the lock is held");
    // Refused before anything was sent: the connector never connected.
    let others = "SELECT count(*) FROM information_schema.PROCESSLIST \
                  WHERE DB = DATABASE() AND ID <> CONNECTION_ID()";
    let mut gone = false;
    for _ in 0..100 {
        if mysql_scalar(&mut probe, others).await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the connector opened a session for a refused query");
    assert_eq!(
        value(&connector, &db.url, "SELECT count(*) FROM metrics").await,
        3.0
    );
}

#[tokio::test]
async fn mysql_a_user_lock_is_released_once_the_fetch_ends() {
    let Some((_admin, db)) = mysql().await else {
        return;
    };
    let mut probe = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION take_lock(n VARCHAR(64)) RETURNS INT NOT DETERMINISTIC NO SQL \
         RETURN GET_LOCK(n, 0)",
    )
    .execute(&mut probe)
    .await
    .unwrap();
    let connector = sql();
    let lock = format!("okrd_sqlro_{:016x}", rand::random::<u64>());
    let id = value(&connector, &db.url, "SELECT CONNECTION_ID()").await;
    let take = format!("SELECT take_lock('{lock}')");
    assert_eq!(value(&connector, &db.url, &take).await, 1.0);
    let free = format!("SELECT IS_FREE_LOCK('{lock}')");
    assert_eq!(
        mysql_scalar(&mut probe, &free).await,
        1,
        "the lock outlived its fetch"
    );
    // The connection was kept, not closed.
    assert_eq!(value(&connector, &db.url, &take).await, 1.0);
    assert_eq!(mysql_scalar(&mut probe, &free).await, 1);
    assert_eq!(
        value(&connector, &db.url, "SELECT CONNECTION_ID()").await,
        id
    );
}

#[tokio::test]
async fn mysql_the_read_only_transaction_still_stands_behind_the_guard() {
    let Some((_admin, db)) = mysql().await else {
        return;
    };
    let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION wipe() RETURNS INT NOT DETERMINISTIC MODIFIES SQL DATA \
         BEGIN DELETE FROM metrics; RETURN 1; END",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let connector = sql();
    let p = params(&db.url, "SELECT wipe()", 1);
    connector.check_params(&p).unwrap();
    let e = fetch(&connector, &p).await.unwrap_err();
    assert_eq!(e.reason, Reason::Http4xx, "{e}");
    assert!(e.message.contains("READ ONLY transaction"), "{e}");
    assert_eq!(
        value(&connector, &db.url, "SELECT count(*) FROM metrics").await,
        3.0
    );
}

// ----------------------------------------------------------------- SQLite

async fn sqlite_file(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("metrics.db").display());
    let mut c = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    for s in [
        "CREATE TABLE metrics (x INTEGER)",
        "INSERT INTO metrics VALUES (1), (2), (4)",
    ] {
        sqlx::raw_sql(s).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();
    url
}

#[tokio::test]
async fn sqlite_extensions_attach_and_pragma_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_file(dir.path()).await;
    let attached = dir.path().join("evil.db");
    let connector = sql();
    for (query, words) in [
        (
            "SELECT load_extension('/tmp/okrd_evil.so')".to_string(),
            "calls `load_extension`",
        ),
        (
            format!("ATTACH DATABASE '{}' AS evil", attached.display()),
            "is `ATTACH …`",
        ),
        (
            format!("SELECT 1; ATTACH DATABASE '{}' AS evil", attached.display()),
            "holds 2 statements",
        ),
        ("PRAGMA user_version = 5".to_string(), "is `PRAGMA …`"),
        ("PRAGMA query_only = OFF".to_string(), "param `query`"),
        (
            "PRAGMA query_only = OFF; INSERT INTO metrics VALUES (9)".to_string(),
            "param `query`",
        ),
        (
            "SELECT readfile('/etc/hostname')".to_string(),
            "calls `readfile`",
        ),
        ("DELETE FROM metrics".to_string(), "is `DELETE …`"),
    ] {
        assert_refused(&connector, &url, &query, words).await;
    }
    assert!(!attached.exists(), "ATTACH created {}", attached.display());
    let version = value(
        &connector,
        &url,
        "SELECT user_version FROM pragma_user_version",
    )
    .await;
    assert_eq!(version, 0.0);
    assert_eq!(
        value(&connector, &url, "SELECT count(*) FROM metrics").await,
        3.0
    );
}

// ------------------------------------------------------ bind time, over the API

#[tokio::test]
async fn a_refused_query_cannot_be_bound_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_file(dir.path()).await;
    let extra = format!(
        "[[sources]]\nname = \"warehouse\"\nconnector = \"sql\"\n[sources.params]\nurl = \"{url}\"\n"
    );
    let db = backends::sqlite_db();
    let api = api::start(
        &db,
        Options {
            source_url: "http://127.0.0.1:9/stats",
            extra_config: &extra,
        },
    )
    .await;
    let auth = api.tokens.auth.clone();
    for (id, query, words) in [
        (
            "ext",
            "SELECT load_extension('/tmp/okrd_evil.so')",
            "load_extension",
        ),
        (
            "att",
            "ATTACH DATABASE '/tmp/okrd_evil.db' AS evil",
            "ATTACH",
        ),
        ("two", "SELECT 1; SELECT 2", "2 statements"),
    ] {
        let mut kr = api::kr_body(id, "opex", "auth", "dana@acme.example");
        kr["source"] = json!({"use": "warehouse", "params": {"query": query}});
        let body = api
            .post("/key-results", &auth, kr)
            .await
            .problem(422, words);
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("param `query`"), "{query}: {detail}");
    }
    let mut kr = api::kr_body("ok", "opex", "auth", "dana@acme.example");
    kr["source"] = json!({"use": "warehouse", "params": {"query": "SELECT count(*) FROM metrics"}});
    api.post("/key-results", &auth, kr).await.expect(201);
    api.stop().await;
}

// ----------------------------------------------------------- okrd check

fn okrd_check(dir: &Path, config: &str, okrs: Option<&str>) -> (Output, String) {
    std::fs::write(dir.join("okrd.toml"), config).unwrap();
    if let Some(okrs) = okrs {
        std::fs::write(dir.join("okrs.toml"), okrs).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_okrd"))
        .current_dir(dir)
        .env_remove("OKRD_CONFIG")
        .args(["check", "--config"])
        .arg(dir.join("okrd.toml"))
        .output()
        .expect("okrd runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

fn sql_source(name: &str, url: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nconnector = \"sql\"\ntimeout = \"5s\"\n\
         [sources.params]\nurl = \"{url}\"\n"
    )
}

const OKRS_WITH_QUERY: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[objectives]]
id = "opex"
title = "Reduce cost of operations"
period = "2026-Q4"
team = "acme"

[[key_results]]
id = "calls"
objective = "opex"
team = "acme"
owner = "dana@acme.example"
title = "Fewer calls"
kind = "decrease"
start = 1200
target = 600
[key_results.source]
use = "warehouse"
params = { query = "SELECT load_extension('/tmp/okrd_evil.so')" }
"#;

#[tokio::test]
async fn check_refuses_a_query_in_an_okr_file_and_warns_about_a_writable_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_file(dir.path()).await;
    let config = format!(
        "[okrs]\nfiles = [\"okrs.toml\"]\n{}",
        sql_source("warehouse", &url)
    );
    let (out, err) = okrd_check(dir.path(), &config, Some(OKRS_WITH_QUERY));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("okrs.toml:17: key result `calls`")
                && l.contains("param `query` calls `load_extension`")),
        "{err}"
    );
    // The same file with a plain query passes, with a warning: this user
    // (whoever runs the check) may write the SQLite file.
    let plain = OKRS_WITH_QUERY.replace(
        "SELECT load_extension('/tmp/okrd_evil.so')",
        "SELECT count(*) FROM metrics WHERE '{{ period.start }}' <> ''",
    );
    let (out, err) = okrd_check(dir.path(), &config, Some(&plain));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: source `warehouse`: its SQLite file") && err.contains("is writable"),
        "{err}"
    );
}

#[tokio::test]
async fn check_warns_when_the_database_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1: nothing listens there.
    let config = sql_source("pg", "postgres://okrd:hunter2-pw@127.0.0.1:1/metrics")
        + &sql_source("my", "mysql://okrd:hunter2-pw@127.0.0.1:1/metrics");
    let (out, err) = okrd_check(dir.path(), &config, None);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for name in ["pg", "my"] {
        assert!(
            err.lines().any(
                |l| l.starts_with(&format!("warning: source `{name}`: cannot check"))
                    && l.contains("127.0.0.1:1")
            ),
            "{err}"
        );
    }
    assert!(!err.contains("hunter2"), "{err}");
}

/// The test's own superuser is warned about; a role that may only read
/// `metrics` is not, until it may also insert. The role is dropped before
/// the assertions.
#[tokio::test]
async fn check_warns_about_a_postgres_user_that_can_write() {
    let Some((admin, db)) = postgres().await else {
        return;
    };
    let role = format!("okrd_ro_{:016x}", rand::random::<u64>());
    backends::execute(
        &admin,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'ro-pw'"),
    )
    .await;
    backends::execute(&db.url, &format!("GRANT SELECT ON metrics TO {role}")).await;
    backends::execute(&db.url, "REVOKE CREATE ON SCHEMA public FROM PUBLIC").await;
    let mut reader = reqwest::Url::parse(&db.url).unwrap();
    reader.set_username(&role).unwrap();
    reader.set_password(Some("ro-pw")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = sql_source("admin", &db.url) + &sql_source("reader", reader.as_str());
    let (out, err) = okrd_check(dir.path(), &config, None);
    backends::execute(&db.url, &format!("DROP OWNED BY {role}")).await;
    backends::execute(&admin, &format!("DROP ROLE {role}")).await;
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: source `admin`: its database user")
            && err.contains("is a superuser"),
        "{err}"
    );
    assert!(!err.contains("source `reader`"), "{err}");
    // Now the reader may write one table: warned, naming it.
    let dir = tempfile::tempdir().unwrap();
    backends::execute(
        &admin,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'ro-pw'"),
    )
    .await;
    backends::execute(
        &db.url,
        &format!("GRANT SELECT, INSERT ON metrics TO {role}"),
    )
    .await;
    let (out, err) = okrd_check(dir.path(), &sql_source("reader", reader.as_str()), None);
    backends::execute(&db.url, &format!("DROP OWNED BY {role}")).await;
    backends::execute(&admin, &format!("DROP ROLE {role}")).await;
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: source `reader`: its database user")
            && err.contains("may INSERT, UPDATE, DELETE or TRUNCATE 1 table(s): public.metrics"),
        "{err}"
    );
    assert!(!err.contains("ro-pw"), "{err}");
}

/// The same on MariaDB: its root has SUPER; a user that may only SELECT is
/// not warned about until it may INSERT and DELETE on a table.
#[tokio::test]
async fn check_warns_about_a_mysql_user_that_can_write() {
    let Some((admin, db)) = mysql().await else {
        return;
    };
    let name = reqwest::Url::parse(&db.url).unwrap().path()[1..].to_string();
    let host = reqwest::Url::parse(&admin)
        .unwrap()
        .host_str()
        .unwrap_or("127.0.0.1")
        .to_string();
    let user = format!("okrd_ro_{:08x}", rand::random::<u32>());
    let mut c = sqlx::MySqlConnection::connect(&admin).await.unwrap();
    let run = |sql: String| sqlx::raw_sql(AssertSqlSafe(sql));
    run(format!(
        "CREATE USER '{user}'@'{host}' IDENTIFIED BY 'ro-pw'"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    run(format!("GRANT SELECT ON {name}.* TO '{user}'@'{host}'"))
        .execute(&mut c)
        .await
        .unwrap();
    let mut reader = reqwest::Url::parse(&db.url).unwrap();
    reader.set_username(&user).unwrap();
    reader.set_password(Some("ro-pw")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = sql_source("admin", &db.url) + &sql_source("reader", reader.as_str());
    let (out, err) = okrd_check(dir.path(), &config, None);
    run(format!(
        "GRANT INSERT, DELETE ON {name}.metrics TO '{user}'@'{host}'"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let (out2, err2) = okrd_check(dir.path(), &sql_source("reader", reader.as_str()), None);
    run(format!("DROP USER '{user}'@'{host}'"))
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: source `admin`: its database user") && err.contains("SUPER"),
        "{err}"
    );
    assert!(!err.contains("source `reader`"), "{err}");
    assert_eq!(out2.status.code(), Some(0), "{err2}");
    assert!(
        err2.contains("warning: source `reader`: its database user")
            && err2.contains("INSERT")
            && err2.contains("DELETE")
            && err2.contains(&format!("{name}.metrics")),
        "{err2}"
    );
    assert!(!err2.contains("ro-pw"), "{err2}");
}

//! The `sql` and `exec` connectors against real databases and real processes.
//!
//! SQLite always runs (a temporary file). PostgreSQL runs when
//! `OKRD_TEST_POSTGRES_URL` is set (a fresh database per test), MySQL/MariaDB
//! when `OKRD_TEST_MYSQL_URL` is set (e.g. `mysql://root@127.0.0.1:3306/test`;
//! the user must be allowed to create databases); with
//! `OKRD_TEST_REQUIRE_BACKENDS=1` a missing one fails instead. Whether a
//! timed-out or dropped query stopped is checked on the server itself
//! (`pg_stat_activity`, the process list, SQLite's file lock). `exec` runs
//! small `/bin/sh` scripts written to a temporary directory.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use okrd::connectors::http::{HttpClient, HttpPolicy};
use okrd::connectors::{Connector, FetchContext, FetchError, Params, Reason, Redactor, registry};

use crate::support::backends;

const TIMEOUT: Duration = Duration::from_secs(10);

/// One fetch through `connector`, as the pipeline runs it.
async fn fetch_with(
    connector: &Arc<dyn Connector>,
    params: &Value,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<f64, FetchError> {
    let checked = Params::new(params.as_object().expect("params table").clone());
    connector
        .check_params(&checked)
        .unwrap_or_else(|e| panic!("check_params: {e}"));
    fetch_unchecked(connector, params, timeout, redactor).await
}

/// One fetch without `check_params` first: what a fetch does with a query
/// that became what it is only once rendered.
async fn fetch_unchecked(
    connector: &Arc<dyn Connector>,
    params: &Value,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<f64, FetchError> {
    let params = Params::new(params.as_object().expect("params table").clone());
    let http = HttpClient::new(HttpPolicy::default()).unwrap();
    let ctx = FetchContext {
        source: "test",
        key_result: "kr",
        params: &params,
        http: &http,
        timeout,
        redactor,
        template: &okrd::connectors::template::TemplateContext::example(),
        trace: None,
    };
    connector.fetch(&ctx).await
}

fn expect_err(what: &str, r: Result<f64, FetchError>, reason: Reason) -> FetchError {
    match r {
        Ok(v) => panic!("{what}: expected {reason}, got value {v}"),
        Err(e) => {
            assert_eq!(e.reason, reason, "{what}: {e}");
            e
        }
    }
}

// ------------------------------------------------------------------- sql

/// A seeded database with one table:
/// `metrics(x INTEGER, amount DECIMAL(10,2), label VARCHAR(20))` holding
/// (1, 10.50, '12.5'), (2, 20.25, 'abc'), (4, NULL, NULL).
struct Db {
    backend: &'static str,
    url: String,
    connector: Arc<dyn Connector>,
    _cleanup: Cleanup,
}

#[allow(dead_code)] // held for their Drop
enum Cleanup {
    Dir(tempfile::TempDir),
    Server(backends::TestDb),
}

const SEED: &[&str] = &[
    "CREATE TABLE metrics (x INTEGER, amount DECIMAL(10,2), label VARCHAR(20))",
    "INSERT INTO metrics VALUES (1, 10.50, '12.5'), (2, 20.25, 'abc'), (4, NULL, NULL)",
];

impl Db {
    fn fetch(&self, query: &str) -> Fetch<'_> {
        Fetch {
            db: self,
            params: json!({"url": self.url, "query": query}),
            timeout: TIMEOUT,
        }
    }

    fn what(&self, query: &str) -> String {
        format!("{}: {query}", self.backend)
    }
}

struct Fetch<'d> {
    db: &'d Db,
    params: Value,
    timeout: Duration,
}

impl Fetch<'_> {
    fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    fn max_connections(mut self, n: u32) -> Self {
        self.params["max_connections"] = json!(n);
        self
    }

    async fn run(&self) -> Result<f64, FetchError> {
        fetch_with(
            &self.db.connector,
            &self.params,
            self.timeout,
            &Redactor::default(),
        )
        .await
    }

    async fn ok(&self) -> f64 {
        let what = self.db.what(self.params["query"].as_str().unwrap());
        self.run()
            .await
            .unwrap_or_else(|e| panic!("{what}: expected a value: {e}"))
    }

    async fn err(&self, reason: Reason) -> FetchError {
        let what = self.db.what(self.params["query"].as_str().unwrap());
        expect_err(&what, self.run().await, reason)
    }

    /// Refused by the connector's query guard, before the database sees
    /// it: by `check_params` and by the fetch (reason `parse`).
    async fn refused(&self) -> FetchError {
        let what = self.db.what(self.params["query"].as_str().unwrap());
        let params = Params::new(self.params.as_object().unwrap().clone());
        let Err(e) = self.db.connector.check_params(&params) else {
            panic!("{what}: passed check_params");
        };
        assert!(e.starts_with("param `query` "), "{what}: {e}");
        let r = fetch_unchecked(
            &self.db.connector,
            &self.params,
            self.timeout,
            &Redactor::default(),
        )
        .await;
        let e = expect_err(&what, r, Reason::Parse);
        assert!(
            e.message.starts_with("invalid params: param `query` "),
            "{what}: {e}"
        );
        e
    }
}

fn sql_connector() -> Arc<dyn Connector> {
    registry::native("sql").expect("sql connector")
}

async fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    for sql in SEED {
        sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    Db {
        backend: "sqlite",
        url,
        connector: sql_connector(),
        _cleanup: Cleanup::Dir(dir),
    }
}

async fn postgres_db(admin_url: &str) -> Db {
    let db = backends::postgres_db(admin_url).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for sql in SEED.iter().chain(&["CREATE SEQUENCE s"]) {
        sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    Db {
        backend: "postgres",
        url: db.url.clone(),
        connector: sql_connector(),
        _cleanup: Cleanup::Server(db),
    }
}

async fn mysql_db(admin_url: &str) -> Db {
    let db = backends::mysql_db(admin_url).await;
    let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    for sql in SEED {
        sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    Db {
        backend: "mysql",
        url: db.url.clone(),
        connector: sql_connector(),
        _cleanup: Cleanup::Server(db),
    }
}

/// One seeded database per available backend.
async fn databases() -> Vec<Db> {
    let mut out = vec![sqlite_db().await];
    match backends::postgres_url() {
        Some(url) => out.push(postgres_db(&url).await),
        None => backends::skip_backend(backends::POSTGRES_ENV, "the sql connector on PostgreSQL"),
    }
    match backends::mysql_url() {
        Some(url) => out.push(mysql_db(&url).await),
        None => backends::skip_backend(backends::MYSQL_ENV, "the sql connector on MySQL/MariaDB"),
    }
    out
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() < 1e-3, "{what}: got {got}, want {want}");
}

#[tokio::test]
async fn sql_numbers_of_every_type() {
    for db in databases().await {
        let b = db.backend;
        assert_eq!(
            db.fetch("SELECT count(*) FROM metrics").ok().await,
            3.0,
            "{b}"
        );
        // PostgreSQL NUMERIC, MySQL DECIMAL, SQLite REAL.
        let avg = db.fetch("SELECT avg(x) FROM metrics").ok().await;
        assert_close(b, avg, 7.0 / 3.0);
        assert_eq!(
            db.fetch("SELECT sum(amount) FROM metrics").ok().await,
            30.75,
            "{b}"
        );
        assert_eq!(
            db.fetch("SELECT amount FROM metrics WHERE x = 1")
                .ok()
                .await,
            10.5,
            "{b}"
        );
        assert_eq!(
            db.fetch("SELECT -x FROM metrics WHERE x = 4").ok().await,
            -4.0,
            "{b}"
        );
        assert_eq!(db.fetch("SELECT 0.25 * 4").ok().await, 1.0, "{b}");
        // A number stored as text.
        assert_eq!(
            db.fetch("SELECT label FROM metrics WHERE x = 1").ok().await,
            12.5,
            "{b}"
        );
    }
}

#[tokio::test]
async fn sql_postgres_number_types() {
    let Some(url) = backends::postgres_url() else {
        backends::skip_backend(backends::POSTGRES_ENV, "the sql connector on PostgreSQL");
        return;
    };
    let db = postgres_db(&url).await;
    for (query, want) in [
        ("SELECT 7::int2", 7.0),
        ("SELECT 7::int4", 7.0),
        ("SELECT 9007199254740993::int8", 9007199254740992.0),
        ("SELECT 1.5::float4", 1.5),
        ("SELECT 0.1::float8", 0.1),
        ("SELECT sum(x::int8) FROM metrics", 7.0), // NUMERIC
        ("SELECT 123456789.000000001::numeric", 123456789.000000001),
        ("SELECT -0.0001::numeric", -0.0001),
        ("SELECT 0::numeric", 0.0),
        ("SELECT 1e30::numeric", 1e30),
        ("SELECT ' 42 '::text", 42.0),
    ] {
        assert_eq!(db.fetch(query).ok().await, want, "{query}");
    }
    for query in [
        "SELECT 'NaN'::float8",
        "SELECT 'NaN'::numeric",
        "SELECT 'Infinity'::float8",
        "SELECT true",
        "SELECT now()",
    ] {
        db.fetch(query).err(Reason::InvalidValue).await;
    }
}

#[tokio::test]
async fn sql_answers_that_are_not_one_number() {
    for db in databases().await {
        let e = db
            .fetch("SELECT x FROM metrics WHERE x > 100")
            .err(Reason::NoData)
            .await;
        assert_eq!(e.message, "query returned no rows");
        let e = db
            .fetch("SELECT amount FROM metrics WHERE x = 4")
            .err(Reason::NoData)
            .await;
        assert_eq!(e.message, "query returned NULL");
        db.fetch("SELECT max(x) FROM metrics WHERE x > 100")
            .err(Reason::NoData)
            .await;
        let e = db
            .fetch("SELECT x, label FROM metrics WHERE x = 1")
            .err(Reason::Parse)
            .await;
        assert!(e.message.contains("2 columns; select exactly one"), "{e}");
        let e = db.fetch("SELECT x FROM metrics").err(Reason::Parse).await;
        assert!(e.message.contains("more than one row"), "{e}");
        let e = db
            .fetch("SELECT label FROM metrics WHERE x = 2")
            .err(Reason::InvalidValue)
            .await;
        assert!(e.message.contains("\"abc\" is not a number"), "{e}");
        db.fetch("SELECT 'NaN'").err(Reason::InvalidValue).await;
    }
}

/// How many tables (views, indexes, sequences) the database holds, and how
/// many columns `metrics` has, read through the connector itself.
async fn schema_size(db: &Db) -> (f64, f64) {
    let (objects, columns) = match db.backend {
        "postgres" => (
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'metrics'",
        ),
        "mysql" => (
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
            "SELECT count(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'metrics'",
        ),
        _ => (
            "SELECT count(*) FROM sqlite_master",
            "SELECT count(*) FROM pragma_table_info('metrics')",
        ),
    };
    (db.fetch(objects).ok().await, db.fetch(columns).ok().await)
}

/// Every write is refused by the query guard before it reaches the
/// database; the read-only transaction behind it (for writes hidden in
/// functions) is tested in `sql_readonly`.
#[tokio::test]
async fn sql_writes_are_refused() {
    for db in databases().await {
        let b = db.backend;
        let before = schema_size(&db).await;
        let mut writes = vec![
            "INSERT INTO metrics (x) VALUES (9)",
            "DELETE FROM metrics",
            "UPDATE metrics SET x = 0",
            "CREATE TABLE evil (a INTEGER)",
            "DROP TABLE metrics",
            "CREATE INDEX evil_x ON metrics (x)",
            "CREATE VIEW evil_v AS SELECT x FROM metrics",
            "SELECT count(*) FROM metrics; DELETE FROM metrics",
        ];
        match b {
            "postgres" => writes.extend([
                "WITH d AS (DELETE FROM metrics RETURNING 1) SELECT count(*) FROM d",
                "ALTER TABLE metrics ADD COLUMN y INTEGER",
                "TRUNCATE metrics",
            ]),
            "mysql" => writes.extend([
                "ALTER TABLE metrics ADD COLUMN y INTEGER",
                "TRUNCATE TABLE metrics",
                "RENAME TABLE metrics TO evil",
                "CREATE SEQUENCE evil_s",
                "CREATE PROCEDURE evil_p() SELECT 1",
            ]),
            _ => writes.extend([
                "PRAGMA query_only = OFF; INSERT INTO metrics (x) VALUES (9)",
                "ALTER TABLE metrics ADD COLUMN y INTEGER",
            ]),
        }
        for sql in writes {
            db.fetch(sql).refused().await;
        }
        // A syntax error is refused the same way: the guard cannot read it.
        let e = db.fetch("SELEC 1").refused().await;
        assert!(e.message.contains("cannot be read as"), "{e}");
        // Nothing changed, and the connector still works after the refusals.
        assert_eq!(schema_size(&db).await, before, "{b}");
        assert_eq!(
            db.fetch("SELECT count(*) FROM metrics").ok().await,
            3.0,
            "{b}"
        );
    }
}

#[tokio::test]
async fn sql_mysql_a_query_cannot_leave_the_next_one_read_write() {
    let Some(url) = backends::mysql_url() else {
        backends::skip_backend(backends::MYSQL_ENV, "the sql connector on MySQL/MariaDB");
        return;
    };
    let db = mysql_db(&url).await;
    // One connection: each query would run on the session the one before changed.
    let one = |sql: &str| db.fetch(sql).max_connections(1);
    for change in [
        "SET SESSION TRANSACTION READ WRITE",
        "START TRANSACTION READ WRITE",
        "COMMIT",
        "SET autocommit = 1",
        "SET SESSION max_statement_time = 0",
    ] {
        one(change).refused().await;
    }
    // DDL outside the source's database too, checked on the server.
    let name = reqwest::Url::parse(&db.url).unwrap().path()[1..].to_string();
    let evil_db = format!("{name}_evil");
    let create = format!("CREATE DATABASE {evil_db}");
    one(&create).refused().await;
    let mut admin = sqlx::MySqlConnection::connect(&url).await.unwrap();
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(&evil_db)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    if created > 0 {
        let drop = format!("DROP DATABASE {evil_db}");
        sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    assert_eq!(created, 0, "{create} ran");
    // The statement timeout still stops a slow query on that connection.
    let slow = one(&slow_query("mysql", &unique_tag())).timeout(Duration::from_secs(1));
    tokio::time::timeout(Duration::from_secs(10), slow.err(Reason::Timeout))
        .await
        .unwrap_or_else(|_| panic!("the statement timeout did not stop the query"));
    assert_eq!(one("SELECT count(*) FROM metrics").ok().await, 3.0);
}

#[tokio::test]
async fn sql_postgres_cannot_switch_the_transaction_to_read_write() {
    let Some(url) = backends::postgres_url() else {
        backends::skip_backend(backends::POSTGRES_ENV, "the sql connector on PostgreSQL");
        return;
    };
    let db = postgres_db(&url).await;
    for sql in [
        "SET TRANSACTION READ WRITE",
        "COMMIT",
        "DELETE FROM metrics",
    ] {
        db.fetch(sql).refused().await;
    }
    assert_eq!(db.fetch("SELECT count(*) FROM metrics").ok().await, 3.0);
}

/// A statement that runs far longer than any timeout below (a minute on a
/// server, forever on SQLite), named by `tag`: the column alias shows in the
/// server's list of running statements. On SQLite it reads the table, so it
/// holds a shared lock on the file while it runs.
fn slow_query(backend: &str, tag: &str) -> String {
    match backend {
        "postgres" => format!("SELECT pg_sleep(60) AS {tag}"),
        "mysql" => format!("SELECT SLEEP(60) AS {tag}"),
        _ => format!(
            "WITH RECURSIVE c(n) AS (SELECT x FROM metrics UNION ALL SELECT n + 1 FROM c) \
             SELECT count(*) AS {tag} FROM c"
        ),
    }
}

fn unique_tag() -> String {
    format!("okrd_slow_{:016x}", rand::random::<u64>())
}

/// A fetch on the source's one connection, run as a task of its own so the
/// test can watch the server meanwhile (and drop the fetch, as the core's
/// deadline does).
fn spawn_fetch(
    db: &Db,
    query: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<Result<f64, FetchError>> {
    let connector = Arc::clone(&db.connector);
    let params = json!({"url": db.url, "query": query, "max_connections": 1});
    tokio::spawn(
        async move { fetch_with(&connector, &params, timeout, &Redactor::default()).await },
    )
}

/// The server's own view of what runs, from a connection of its own.
enum Probe {
    /// `pg_stat_activity`: an active backend whose statement carries the tag.
    Postgres(sqlx::PgConnection),
    /// `information_schema.PROCESSLIST`: a thread whose statement carries the tag.
    MySql(sqlx::MySqlConnection),
    /// No server: a statement still reading holds a shared lock on the file,
    /// so an exclusive lock cannot be taken (rollback journal).
    Sqlite(sqlx::SqliteConnection),
}

impl Probe {
    async fn open(db: &Db) -> Probe {
        match db.backend {
            "postgres" => Probe::Postgres(sqlx::PgConnection::connect(&db.url).await.unwrap()),
            "mysql" => Probe::MySql(sqlx::MySqlConnection::connect(&db.url).await.unwrap()),
            _ => Probe::Sqlite(
                sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                    .unwrap()
                    .busy_timeout(Duration::ZERO)
                    .connect()
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Does the database still run the statement tagged `tag`?
    async fn running(&mut self, tag: &str) -> bool {
        let pattern = format!("%{tag}%");
        match self {
            Probe::Postgres(c) => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE $1",
                )
                .bind(pattern)
                .fetch_one(c)
                .await
                .unwrap();
                n > 0
            }
            Probe::MySql(c) => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.PROCESSLIST \
                     WHERE ID <> CONNECTION_ID() AND INFO LIKE ?",
                )
                .bind(pattern)
                .fetch_one(c)
                .await
                .unwrap();
                n > 0
            }
            Probe::Sqlite(c) => match sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut *c).await {
                Ok(_) => {
                    sqlx::raw_sql("ROLLBACK").execute(&mut *c).await.unwrap();
                    false
                }
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") => true,
                Err(e) => panic!("sqlite: BEGIN EXCLUSIVE: {e}"),
            },
        }
    }

    /// Polls until the statement tagged `tag` runs (`want`) or does not;
    /// false if that did not happen `within`.
    async fn wait_until(&mut self, tag: &str, want: bool, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if self.running(tag).await == want {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Far below the slow query's minute and the sources' 10 s timeout: a
/// statement still running this long after it should have stopped was
/// left running.
const STOP_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn sql_statement_timeout_stops_the_query_on_the_server() {
    for db in databases().await {
        let b = db.backend;
        let tag = unique_tag();
        let mut probe = Probe::open(&db).await;
        let started = Instant::now();
        let fetch = spawn_fetch(&db, &slow_query(b, &tag), Duration::from_secs(2));
        // Seen running first: a probe that cannot see the query proves nothing.
        assert!(
            probe.wait_until(&tag, true, Duration::from_secs(2)).await,
            "{b}: the probe never saw the query run"
        );
        let r = tokio::time::timeout(Duration::from_secs(10), fetch)
            .await
            .unwrap_or_else(|_| panic!("{b}: the fetch did not end at its timeout"))
            .unwrap();
        let e = expect_err(b, r, Reason::Timeout);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "{b}: took {took:?}");
        assert!(e.message.contains("statement timeout"), "{b}: {e}");
        // The server stopped it, not only the client.
        assert!(
            probe.wait_until(&tag, false, STOP_WITHIN).await,
            "{b}: the query still runs on the server after the fetch timed out"
        );
        // The source's one connection (or its replacement) serves the next fetch.
        let count = spawn_fetch(&db, "SELECT count(*) FROM metrics", TIMEOUT);
        assert_eq!(count.await.unwrap().unwrap(), 3.0, "{b}");
    }
}

#[tokio::test]
async fn sql_cancelled_fetch_stops_the_query_on_the_server() {
    for db in databases().await {
        let b = db.backend;
        let tag = unique_tag();
        let mut probe = Probe::open(&db).await;
        let fetch = spawn_fetch(&db, &slow_query(b, &tag), TIMEOUT);
        assert!(
            probe.wait_until(&tag, true, STOP_WITHIN).await,
            "{b}: the probe never saw the query run"
        );
        // The core's own deadline drops the fetch long before the statement timeout.
        fetch.abort();
        assert!(fetch.await.unwrap_err().is_cancelled(), "{b}");
        assert!(
            probe.wait_until(&tag, false, STOP_WITHIN).await,
            "{b}: the query still runs on the server after its fetch was dropped"
        );
        let count = spawn_fetch(&db, "SELECT count(*) FROM metrics", TIMEOUT);
        assert_eq!(count.await.unwrap().unwrap(), 3.0, "{b}");
    }
}

#[tokio::test]
async fn sql_concurrent_fetches_share_few_connections() {
    for db in databases().await {
        let params =
            json!({"url": db.url, "query": "SELECT count(*) FROM metrics", "max_connections": 1});
        let redactor = Redactor::default();
        let runs = (0..6).map(|_| fetch_with(&db.connector, &params, TIMEOUT, &redactor));
        for r in futures_util::future::join_all(runs).await {
            assert_eq!(r.unwrap(), 3.0, "{}", db.backend);
        }
    }
}

#[tokio::test]
async fn sql_a_changed_url_gets_its_own_connections() {
    let (a, b) = (sqlite_db().await, sqlite_db().await);
    let mut conn = sqlx::SqliteConnection::connect(&b.url).await.unwrap();
    sqlx::raw_sql("INSERT INTO metrics (x) VALUES (5)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let connector = sql_connector();
    let count = |url: &str| json!({"url": url, "query": "SELECT count(*) FROM metrics"});
    let r = Redactor::default();
    assert_eq!(
        fetch_with(&connector, &count(&a.url), TIMEOUT, &r)
            .await
            .unwrap(),
        3.0
    );
    assert_eq!(
        fetch_with(&connector, &count(&b.url), TIMEOUT, &r)
            .await
            .unwrap(),
        4.0
    );
    assert_eq!(
        fetch_with(&connector, &count(&a.url), TIMEOUT, &r)
            .await
            .unwrap(),
        3.0
    );
}

#[tokio::test]
async fn sql_unreachable_server_is_connect_without_the_password() {
    // Port 1: nothing listens there, so the connection is refused at once.
    for url in [
        "postgres://okrd:hunter2-pw@127.0.0.1:1/metrics",
        "mysql://okrd:hunter2-pw@127.0.0.1:1/metrics",
    ] {
        let params = json!({"url": url, "query": "SELECT 1"});
        let started = Instant::now();
        let r = fetch_with(&sql_connector(), &params, TIMEOUT, &Redactor::default()).await;
        let e = expect_err(url, r, Reason::Connect);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: retried until the timeout"
        );
        assert!(e.message.contains("cannot connect to"), "{e}");
        assert!(e.message.contains("127.0.0.1:1"), "{e}");
        assert!(!e.message.contains("hunter2"), "{e}");
    }
}

#[tokio::test]
async fn sql_missing_sqlite_file_is_connect_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let params = json!({"url": format!("sqlite://{}", path.display()), "query": "SELECT 1"});
    let r = fetch_with(&sql_connector(), &params, TIMEOUT, &Redactor::default()).await;
    expect_err("missing file", r, Reason::Connect);
    assert!(!path.exists());
}

#[tokio::test]
async fn sql_mysql_wrong_password_is_auth() {
    let Some(url) = backends::mysql_url() else {
        backends::skip_backend(backends::MYSQL_ENV, "the sql connector on MySQL/MariaDB");
        return;
    };
    let mut bad = reqwest::Url::parse(&url).unwrap();
    bad.set_username("okrd_no_such_user").unwrap();
    bad.set_password(Some("wrong-secret-pw")).unwrap();
    let params = json!({"url": bad.as_str(), "query": "SELECT 1"});
    let r = fetch_with(&sql_connector(), &params, TIMEOUT, &Redactor::default()).await;
    let e = expect_err("wrong password", r, Reason::Auth);
    assert!(e.message.contains("Access denied"), "{e}");
    assert!(!e.message.contains("wrong-secret-pw"), "{e}");
}

// ------------------------------------------------------------------ exec

/// A temporary directory holding executable `/bin/sh` scripts.
struct Scripts {
    dir: tempfile::TempDir,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `body` as an executable script `name`; returns its path.
    fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

async fn exec(params: Value, timeout: Duration) -> Result<f64, FetchError> {
    let connector = registry::native("exec").expect("exec connector");
    fetch_with(&connector, &params, timeout, &Redactor::default()).await
}

async fn exec_script(body: &str) -> Result<f64, FetchError> {
    let s = Scripts::new();
    exec(json!({"command": s.script("run", body)}), TIMEOUT).await
}

#[tokio::test]
async fn exec_prints_a_number() {
    assert_eq!(exec_script("echo 42").await.unwrap(), 42.0);
    assert_eq!(exec_script("printf '  -3.5\\n\\n'").await.unwrap(), -3.5);
    assert_eq!(exec_script("echo '47%'").await.unwrap(), 47.0);
    assert_eq!(exec_script("echo oops >&2; echo 7").await.unwrap(), 7.0);
}

#[tokio::test]
async fn exec_args_env_and_working_dir() {
    let s = Scripts::new();
    // Each arg arrives whole: no shell splits or expands it.
    let cmd = s.script(
        "args",
        r#"[ "$#" = 2 ] && [ "$1" = 'a b $HOME' ] && echo "$2""#,
    );
    let v = exec(
        json!({"command": cmd, "args": ["a b $HOME", "2.5"]}),
        TIMEOUT,
    )
    .await;
    assert_eq!(v.unwrap(), 2.5);
    let cmd = s.script("env", r#"echo "$VALUE""#);
    let v = exec(json!({"command": cmd, "env": {"VALUE": "11"}}), TIMEOUT).await;
    assert_eq!(v.unwrap(), 11.0);
    // The daemon's own environment is not passed on (cargo sets this one), PATH is.
    let cmd = s.script(
        "clean",
        r#"[ -z "$CARGO_MANIFEST_DIR" ] && command -v sh >/dev/null && echo 1"#,
    );
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    assert_eq!(exec(json!({"command": cmd}), TIMEOUT).await.unwrap(), 1.0);
    std::fs::write(s.path("value.txt"), "99\n").unwrap();
    let cmd = s.script("cwd", "cat value.txt");
    let v = exec(
        json!({"command": cmd, "working_dir": s.dir.path()}),
        TIMEOUT,
    )
    .await;
    assert_eq!(v.unwrap(), 99.0);
    // A bare name is looked up in PATH.
    let v = exec(json!({"command": "sh", "args": ["-c", "echo 3"]}), TIMEOUT).await;
    assert_eq!(v.unwrap(), 3.0);
}

#[tokio::test]
async fn exec_output_that_is_not_one_number() {
    expect_err("empty", exec_script("true").await, Reason::NoData);
    expect_err("word", exec_script("echo many").await, Reason::InvalidValue);
    expect_err("nan", exec_script("echo NaN").await, Reason::InvalidValue);
    let e = expect_err("lines", exec_script("echo 1; echo 2").await, Reason::Parse);
    assert!(e.message.contains("2 lines"), "{e}");
    let e = expect_err("words", exec_script("echo total 3").await, Reason::Parse);
    assert!(e.message.contains("2 words"), "{e}");
    let e = expect_err(
        "large",
        exec_script("yes 1 | head -c 70000").await,
        Reason::TooLarge,
    );
    assert!(e.message.contains("64 KiB"), "{e}");
}

#[tokio::test]
async fn exec_failures() {
    let s = Scripts::new();
    let cmd = s.script(
        "fail",
        "echo 5; echo 'token=tok-secret-123 rejected' >&2; exit 3",
    );
    let mut redactor = Redactor::default();
    redactor.add("tok-secret-123");
    let connector = registry::native("exec").unwrap();
    let r = fetch_with(&connector, &json!({"command": cmd}), TIMEOUT, &redactor).await;
    let e = expect_err("exit 3", r, Reason::Http5xx);
    assert_eq!(
        e.message,
        "command exited with status 3: token=*** rejected"
    );

    let e = expect_err("signal", exec_script("kill -9 $$").await, Reason::Http5xx);
    assert!(e.message.contains("killed by signal 9"), "{e}");

    let r = exec(json!({"command": s.path("missing")}), TIMEOUT).await;
    let e = expect_err("missing", r, Reason::Connect);
    assert!(e.message.starts_with("command not found"), "{e}");
    let r = exec(json!({"command": "okrd-no-such-command"}), TIMEOUT).await;
    expect_err("not in PATH", r, Reason::Connect);

    std::fs::write(s.path("plain"), "echo 1\n").unwrap();
    let r = exec(json!({"command": s.path("plain")}), TIMEOUT).await;
    let e = expect_err("not executable", r, Reason::Connect);
    assert!(e.message.starts_with("command is not executable"), "{e}");

    let r = exec(
        json!({"command": "sh", "working_dir": s.path("no-such-dir")}),
        TIMEOUT,
    )
    .await;
    let e = expect_err("working_dir", r, Reason::Connect);
    assert!(e.message.contains("working_dir"), "{e}");
}

/// Is `pid` gone (or a zombie, dead and waiting for a reaper)?
fn is_gone(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

async fn wait_gone(pid: libc::pid_t) -> bool {
    for _ in 0..100 {
        if is_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn read_pid(path: &str) -> libc::pid_t {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}"))
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let s = Scripts::new();
    let pid_file = s.path("grandchild.pid");
    let cmd = s.script("slow", r#"sleep 30 & echo $! > "$1"; sleep 30; echo 1"#);
    let started = Instant::now();
    let r = exec(
        json!({"command": cmd, "args": [pid_file]}),
        Duration::from_millis(500),
    )
    .await;
    let e = expect_err("slow", r, Reason::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.message.contains("process group was killed"), "{e}");
    let grandchild = read_pid(&pid_file);
    assert!(
        wait_gone(grandchild).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn exec_cancelled_fetch_kills_the_process_group() {
    let s = Scripts::new();
    let pid_file = s.path("grandchild.pid");
    let cmd = s.script("slow", r#"sleep 30 & echo $! > "$1"; sleep 30"#);
    // The core's own timeout drops the fetch.
    let dropped = tokio::time::timeout(
        Duration::from_millis(500),
        exec(json!({"command": cmd, "args": [pid_file]}), TIMEOUT),
    )
    .await;
    assert!(dropped.is_err());
    let grandchild = read_pid(&pid_file);
    assert!(
        wait_gone(grandchild).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn exec_leftover_children_do_not_hold_the_answer() {
    let s = Scripts::new();
    let pid_file = s.path("bg.pid");
    // The background sleep inherits stdout: without killing the group the
    // read would wait 30 s for it.
    let cmd = s.script("bg", r#"sleep 30 & echo $! > "$1"; echo 8"#);
    let started = Instant::now();
    let v = exec(json!({"command": cmd, "args": [pid_file]}), TIMEOUT).await;
    assert_eq!(v.unwrap(), 8.0);
    assert!(started.elapsed() < Duration::from_secs(5));
    let bg = read_pid(&pid_file);
    assert!(wait_gone(bg).await, "background child {bg} still runs");
}

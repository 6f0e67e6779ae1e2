//! Shared helpers for integration tests: a fresh database per test on every
//! backend the machine offers.
//!
//! SQLite always runs (a temporary file). PostgreSQL runs too when
//! `OKRD_TEST_POSTGRES_URL` names a server where the user may create
//! databases: each call creates its own `okrd_test_<random>` database there
//! and drops it when the returned value is dropped, so tests never see each
//! other's rows. The same for MySQL/MariaDB with `OKRD_TEST_MYSQL_URL`
//! (`mysql_db`), for the `sql` connector's tests: the store itself does not
//! run on it.
//!
//! A backend that is not configured is skipped with a printed line, unless
//! `OKRD_TEST_REQUIRE_BACKENDS=1` (as `.ci/run` sets): then the skip is a
//! test failure, so CI cannot go green with a backend's tests left out.
//!
//! ```ignore
//! use crate::support::backends;
//! #[tokio::test]
//! async fn something() {
//!     for db in backends::stores().await {
//!         let store = &db.store; // migrated, empty
//!         assert!(..., "{}", db.backend);
//!     }
//! }
//! ```

use std::ops::Deref;

use okrd::store::Store;
use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "OKRD_TEST_POSTGRES_URL";

/// The environment variable naming the MySQL/MariaDB server for tests.
pub const MYSQL_ENV: &str = "OKRD_TEST_MYSQL_URL";

/// Set to `1` to turn every skipped backend into a failure (CI does).
pub const REQUIRE_ENV: &str = "OKRD_TEST_REQUIRE_BACKENDS";

/// A fresh, empty (not migrated) database, removed when dropped.
pub struct TestDb {
    /// `"sqlite"`, `"postgres"` or `"mysql"`: put it in assertion messages.
    pub backend: &'static str,
    /// A URL `Store::connect` (or the daemon's `[database] url`) accepts.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
    MySql { admin_url: String, name: String },
}

/// One fresh database per available backend: SQLite always, PostgreSQL when
/// `OKRD_TEST_POSTGRES_URL` is set (else prints that it was skipped).
pub async fn databases() -> Vec<TestDb> {
    let mut out = vec![sqlite_db()];
    match postgres_url() {
        Some(admin_url) => out.push(postgres_db(&admin_url).await),
        None => skip_backend(POSTGRES_ENV, "PostgreSQL"),
    }
    out
}

/// Whether a missing backend must fail the test instead of being skipped.
pub fn backends_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// A backend named by `env` is not configured: fail when backends are
/// required, else tell the person running the tests, once per message.
pub fn skip_backend(env: &str, what: &str) {
    skip(
        &format!("{env} is not set, so the tests on {what} would not run"),
        &format!("skipped {what}: set {env} to run these tests on it too"),
    );
}

/// A test cannot run here because `missing`: fail when backends are
/// required, else print `line` once. Written to the stderr handle itself:
/// libtest hides `eprintln!` output of passing tests.
pub fn skip(missing: &str, line: &str) {
    use std::collections::HashSet;
    use std::io::Write;
    use std::sync::Mutex;
    assert!(
        !backends_required(),
        "{REQUIRE_ENV} is set but a test would be skipped: {missing}"
    );
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said
        .get_or_insert_with(HashSet::new)
        .insert(line.to_string())
    {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// A fresh SQLite database file in its own temporary directory.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("okrd.db").display());
    TestDb {
        backend: "sqlite",
        url,
        cleanup: Cleanup::Sqlite { _dir: dir },
    }
}

/// The PostgreSQL server to test against, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Creates `okrd_test_<random>` on the server `admin_url` points at.
pub async fn postgres_db(admin_url: &str) -> TestDb {
    let name = format!("okrd_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: cannot connect: {e}"));
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = conn.close().await;
    TestDb {
        backend: "postgres",
        url: with_database(admin_url, &name),
        cleanup: Cleanup::Postgres {
            admin_url: admin_url.to_string(),
            name,
        },
    }
}

/// The MySQL/MariaDB server to test against, if configured.
pub fn mysql_url() -> Option<String> {
    std::env::var(MYSQL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Creates `okrd_test_<random>` on the server `admin_url` points at (the
/// user must be allowed to create databases).
pub async fn mysql_db(admin_url: &str) -> TestDb {
    let name = format!("okrd_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::MySqlConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("{MYSQL_ENV}: cannot connect: {e}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = conn.close().await;
    TestDb {
        backend: "mysql",
        url: with_database(admin_url, &name),
        cleanup: Cleanup::MySql {
            admin_url: admin_url.to_string(),
            name,
        },
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop cannot await, and may run on the test's runtime: drop the
        // database from a thread with a runtime of its own. Best effort.
        let (admin_url, name, sql) = match &self.cleanup {
            Cleanup::Sqlite { .. } => return, // the TempDir removes the file
            // FORCE ends the connections the test's pool still holds.
            Cleanup::Postgres { admin_url, name } => (
                admin_url.clone(),
                name,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ),
            Cleanup::MySql { admin_url, name } => (
                admin_url.clone(),
                name,
                format!("DROP DATABASE IF EXISTS {name}"),
            ),
        };
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&admin_url).await.ok()?;
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop test database {name}");
        }
    }
}

/// Runs `sql` on the database at `url` (any backend), through a connection
/// of its own.
pub async fn execute(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.unwrap();
}

/// A migrated, empty store on a fresh database. Derefs to `Store`.
pub struct TestStore {
    pub backend: &'static str,
    pub url: String,
    pub store: Store,
    // Declared last: dropped after the store.
    _db: TestDb,
}

impl Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    /// Connects and migrates a store on `db`; it owns `db` from then on.
    pub async fn open(db: TestDb) -> TestStore {
        let store = Store::connect(&db.url, 4)
            .await
            .unwrap_or_else(|e| panic!("{}: connect: {e}", db.backend));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{}: migrate: {e}", db.backend));
        TestStore {
            backend: db.backend,
            url: db.url.clone(),
            store,
            _db: db,
        }
    }

    /// Another pool on the same database, like a second replica or a restart.
    pub async fn reconnect(&self) -> Store {
        Store::connect(&self.url, 4)
            .await
            .unwrap_or_else(|e| panic!("{}: reconnect: {e}", self.backend))
    }
}

/// One migrated, empty store per available backend (see `databases`).
pub async fn stores() -> Vec<TestStore> {
    let mut out = Vec::new();
    for db in databases().await {
        out.push(TestStore::open(db).await);
    }
    out
}

/// Runs `test` once per available backend, each with a fresh migrated store
/// that is dropped (database removed) before the next one starts.
pub async fn for_each_backend<F, Fut>(mut test: F)
where
    F: FnMut(TestStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in databases().await {
        test(TestStore::open(db).await).await;
    }
}

/// `url` pointing at database `name` instead (keeps user, host, query).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

//! Opening the database: the backend by URL scheme, SQLite file setup and
//! per-connection settings, the pool.

use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection};

use super::Backend;
use super::error::{StoreError, redact_password, redact_url};

/// Per-connection SQLite settings (journal mode is per file, set once in
/// `prepare_sqlite_file`).
///
/// synchronous=FULL: in WAL mode every commit fsyncs the WAL before it
/// returns, so an acknowledged check-in survives a SIGKILL *and* a power
/// loss or kernel crash. NORMAL would survive SIGKILL only (the commit sits
/// in the OS page cache) and could roll back the last commits on power loss.
/// okrd writes a few check-ins per minute, so the extra fsync costs nothing
/// noticeable. busy_timeout: writers wait up to 5 s for the write lock
/// instead of failing with SQLITE_BUSY. foreign_keys: SQLite leaves them off
/// per connection unless asked.
const SQLITE_CONNECTION_PRAGMAS: [&str; 3] = [
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
];

pub(super) async fn open(
    url: &str,
    max_connections: u32,
) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(url)?;
    let connect_error = |e: sqlx::Error| StoreError::Connect {
        url: redact_url(url),
        message: redact_password(&e.to_string(), url),
    };
    let max_connections = max_connections.max(1);

    let pool = match backend {
        Backend::Postgres => AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(connect_error)?,
        Backend::Sqlite if is_sqlite_memory(url) => {
            // Every connection to `sqlite::memory:` would be its own empty
            // database, and it vanishes when its connection closes: keep
            // exactly one connection for the pool's whole life.
            AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(sqlite_after_connect)
                .connect(url)
                .await
                .map_err(connect_error)?
        }
        Backend::Sqlite => {
            let url = sqlite_create_if_missing(url);
            prepare_sqlite_file(&url).await.map_err(connect_error)?;
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(sqlite_after_connect)
                .connect(&url)
                .await
                .map_err(connect_error)?
        }
    };
    Ok((pool, backend))
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl {
            url: redact_url(url),
        })
    }
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Adds `mode=rwc` (create the file if missing) unless the URL picks a mode.
fn sqlite_create_if_missing(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Creates the file if needed and switches it to WAL once, before the pool
/// opens: journal_mode is stored in the file, and changing it needs an
/// exclusive lock that pool connections racing each other would fight over.
async fn prepare_sqlite_file(url: &str) -> Result<(), sqlx::Error> {
    let conn = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    conn.close().await
}

fn sqlite_after_connect(
    conn: &mut AnyConnection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        for pragma in SQLITE_CONNECTION_PRAGMAS {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_backend_by_scheme() {
        assert_eq!(backend_of("sqlite://okrd.db").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("sqlite::memory:").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/d").ok(), Some(Backend::Postgres));
        assert_eq!(
            backend_of("postgresql://u@h/d").ok(),
            Some(Backend::Postgres)
        );
        let err = backend_of("mysql://u:hunter22@h/d")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sqlite://") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("hunter22"), "{err}");
    }

    #[test]
    fn adds_create_mode_unless_given() {
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }
}

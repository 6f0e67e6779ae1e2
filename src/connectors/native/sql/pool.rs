//! A few connections kept per source, opened on demand.
//!
//! Not sqlx's `Pool`: it retries a refused connection until its acquire
//! timeout and then reports only `PoolTimedOut`, which would turn "nothing
//! listens on that port" into a timeout. Here a connection is opened by the
//! fetch that needs it, so its error (refused, bad password, unknown
//! database) is the fetch's error.
//!
//! A fetch dropped while its statement runs (the core's deadline, shutdown)
//! has that statement cancelled from a connection of its own: PostgreSQL and
//! MariaDB do not notice a closed socket while a statement runs, so closing
//! the connection alone would leave it running until the statement timeout.

use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::Backend;
use super::run::{self, Cell, MySqlTimeoutVar, RunError};

/// An idle connection older than this is closed rather than reused: most
/// schedules fetch every few minutes, and a database has few slots to spare.
const MAX_IDLE: Duration = Duration::from_secs(10 * 60);
/// How long cancelling a dropped fetch's statement may take (connecting included).
const CANCEL_WITHIN: Duration = Duration::from_secs(10);

/// How to open a connection, parsed from the source's `url`.
#[derive(Clone)]
pub enum Options {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

impl Options {
    /// Parse `url` (no I/O). The error never quotes the URL.
    pub fn parse(backend: Backend, url: &str) -> Result<Options, String> {
        let bad =
            |e: sqlx::Error| format!("param `url` is not a valid {} URL: {e}", backend.name());
        Ok(match backend {
            Backend::Postgres => Options::Postgres(PgConnectOptions::from_str(url).map_err(bad)?),
            Backend::MySql => Options::MySql(MySqlConnectOptions::from_str(url).map_err(bad)?),
            Backend::Sqlite => {
                if url.contains(":memory:") || url.contains("mode=memory") {
                    return Err(
                        "param `url` names an in-memory SQLite database, which is always empty \
                         here; name a file"
                            .into(),
                    );
                }
                // Read-only at the file level: no statement can undo it
                // (`PRAGMA query_only` alone could be switched off by a query).
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(bad)?
                    .read_only(true)
                    .create_if_missing(false)
                    .pragma("query_only", "ON");
                Options::Sqlite(opts)
            }
        })
    }

    /// A new connection, with the server's id for its session.
    async fn connect(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Options::Postgres(o) => {
                let mut c = o.connect().await?;
                let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut c)
                    .await?;
                Conn::Postgres(c, pid)
            }
            Options::MySql(o) => {
                let mut c = o.connect().await?;
                let id = sqlx::query_scalar("SELECT CONNECTION_ID()")
                    .fetch_one(&mut c)
                    .await?;
                Conn::MySql(c, id)
            }
            Options::Sqlite(o) => Conn::Sqlite(o.connect().await?),
        })
    }
}

/// One open connection; a server's with the id another connection names
/// it by (PostgreSQL's backend pid, MySQL's connection id).
pub enum Conn {
    Postgres(PgConnection, i32),
    MySql(MySqlConnection, u64),
    Sqlite(SqliteConnection),
}

impl Conn {
    async fn ping(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Postgres(c, _) => c.ping().await,
            Conn::MySql(c, _) => c.ping().await,
            Conn::Sqlite(c) => c.ping().await,
        }
    }

    async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Postgres(c, _) => c.close().await,
            Conn::MySql(c, _) => c.close().await,
            Conn::Sqlite(c) => c.close().await,
        }
    }

    /// Say goodbye to the server, in the background.
    fn close_later(self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = self.close().await;
            });
        }
    }

    /// Cancel the statement this connection runs, then close it, in the
    /// background. It stays open until the cancel is sent, so its id cannot
    /// name another session by then.
    fn cancel_and_close_later(self, options: Options) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(CANCEL_WITHIN, self.cancel_statement(&options)).await;
                let _ = self.close().await;
            });
        }
    }

    /// Cancel the running statement from a new connection (the same user may).
    /// SQLite needs none: the progress handler stops a dropped fetch's query.
    async fn cancel_statement(&self, options: &Options) -> Result<(), sqlx::Error> {
        match (self, options) {
            (Conn::Postgres(_, pid), Options::Postgres(o)) => {
                let mut c = o.connect().await?;
                sqlx::query("SELECT pg_cancel_backend($1)")
                    .bind(*pid)
                    .execute(&mut c)
                    .await?;
                c.close().await
            }
            (Conn::MySql(_, id), Options::MySql(o)) => {
                let mut c = o.connect().await?;
                c.execute(AssertSqlSafe(format!("KILL QUERY {id}"))).await?;
                c.close().await
            }
            _ => Ok(()),
        }
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The connections of one source (one URL).
pub struct ConnPool {
    url: String,
    options: Options,
    /// At most `max_connections` fetches hold a connection at once.
    slots: Semaphore,
    idle: Mutex<Vec<Idle>>,
    /// Which statement-timeout variable this MySQL-protocol server knows.
    mysql_timeout_var: OnceLock<MySqlTimeoutVar>,
}

impl ConnPool {
    pub fn new(url: String, options: Options, max_connections: u32) -> ConnPool {
        ConnPool {
            url,
            options,
            slots: Semaphore::new(max_connections as usize),
            idle: Mutex::new(Vec::new()),
            mysql_timeout_var: OnceLock::new(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A live connection: a recent idle one that answers a ping, or a new one.
    pub async fn checkout(&self) -> Result<Lease<'_>, sqlx::Error> {
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some(mut idle) = self.pop_idle() {
            if idle.since.elapsed() > MAX_IDLE {
                idle.conn.close_later();
                continue;
            }
            if idle.conn.ping().await.is_ok() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(idle.conn),
                    running: false,
                    _permit: permit,
                });
            }
        }
        let conn = self.options.connect().await?;
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            running: false,
            _permit: permit,
        })
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

/// A connection taken from the pool. Dropped without `release` (an error
/// left it in an unknown state, or the fetch was cancelled), the connection
/// is closed, never reused; dropped while its query runs, the query is
/// cancelled first.
pub struct Lease<'p> {
    pool: &'p ConnPool,
    conn: Option<Conn>,
    /// A query was sent and its `run` has not returned.
    running: bool,
    _permit: SemaphorePermit<'p>,
}

impl Lease<'_> {
    /// Run `query` read-only within `budget`. Also says whether the
    /// connection is clean (the transaction rolled back, the session reset)
    /// and may be reused.
    pub async fn run(
        &mut self,
        query: &str,
        budget: Duration,
        deadline: Instant,
    ) -> (Result<Cell, RunError>, bool) {
        let Some(conn) = self.conn.as_mut() else {
            return (Err(RunError::Db(sqlx::Error::PoolClosed)), false);
        };
        self.running = true;
        let outcome = match conn {
            Conn::Postgres(c, _) => run::postgres(c, query, budget).await,
            Conn::MySql(c, _) => run::mysql(c, query, budget, &self.pool.mysql_timeout_var).await,
            Conn::Sqlite(c) => run::sqlite(c, query, budget, deadline.into_std()).await,
        };
        self.running = false;
        outcome
    }

    /// Put the connection back for the next fetch.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Idle {
                    conn,
                    since: Instant::now(),
                });
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        match self.conn.take() {
            Some(conn) if self.running => conn.cancel_and_close_later(self.pool.options.clone()),
            Some(conn) => conn.close_later(),
            None => {}
        }
    }
}

//! Running one query read-only on each database, reading its one cell, and
//! telling the databases' error codes apart.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{BoxStream, TryStreamExt};
use sqlx::mysql::{MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::postgres::{PgConnection, PgRow, PgValueFormat};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Column, Connection, Executor, Row, TypeInfo, ValueRef};

use super::Backend;

/// The one cell of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Number(f64),
    /// Text (or MySQL DECIMAL, which travels as text), parsed by the caller.
    Text(String),
    /// A value of a type that holds no number (named for the message).
    Other(String),
}

/// Why a run produced no cell.
#[derive(Debug)]
pub enum RunError {
    NoRows,
    SeveralRows,
    Columns(usize),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for RunError {
    fn from(e: sqlx::Error) -> RunError {
        RunError::Db(e)
    }
}

/// The statement-timeout variable of a MySQL-protocol server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySqlTimeoutVar {
    /// MariaDB: `max_statement_time`, in seconds, every statement.
    MariaDb,
    /// MySQL: `max_execution_time`, in milliseconds, `SELECT` only.
    MySql,
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// `BEGIN READ ONLY`, the statement timeout, the query, `ROLLBACK`, then
/// the session reset. Also says whether the connection is clean (rolled
/// back and reset) and may be reused.
pub async fn postgres(
    c: &mut PgConnection,
    query: &str,
    budget: Duration,
) -> (Result<Cell, RunError>, bool) {
    if let Err(e) = c.execute("BEGIN READ ONLY").await {
        return (Err(e.into()), false);
    }
    let answer = async {
        // A SELECT rather than SET LOCAL: it takes the transaction's first
        // snapshot, after which `SET TRANSACTION READ WRITE` is refused.
        // Standard strings (no backslash escapes) are how the guard's
        // parser read the query.
        sqlx::query(
            "SELECT set_config('statement_timeout', $1, true), \
             set_config('standard_conforming_strings', 'on', true)",
        )
        .bind(millis(budget).to_string())
        .execute(&mut *c)
        .await?;
        let rows = sqlx::query(AssertSqlSafe(query.to_string())).fetch(&mut *c);
        one_cell(rows, postgres_cell).await
    }
    .await;
    let clean = c.execute("ROLLBACK").await.is_ok() && postgres_reset(c).await.is_ok();
    (answer, clean)
}

/// What a query may leave on the session past its rollback (session
/// advisory locks, settings, prepared statements, temporary tables,
/// `LISTEN`, a role) is dropped, as a new connection would be. Outside a
/// transaction: `DISCARD ALL` cannot run in one.
async fn postgres_reset(c: &mut PgConnection) -> Result<(), sqlx::Error> {
    c.execute("DISCARD ALL").await?;
    // It deallocated sqlx's prepared statements too: forget them here.
    c.clear_cached_statements().await
}

/// The statement timeout, a read-only session and transaction, the query,
/// `ROLLBACK`, then the user locks released. Also says whether the
/// connection is clean and may be reused.
pub async fn mysql(
    c: &mut MySqlConnection,
    query: &str,
    budget: Duration,
    timeout_var: &OnceLock<MySqlTimeoutVar>,
) -> (Result<Cell, RunError>, bool) {
    if let Err(e) = mysql_session(c, budget, timeout_var).await {
        return (Err(e.into()), false);
    }
    let answer = one_cell(
        sqlx::query(AssertSqlSafe(query.to_string())).fetch(&mut *c),
        mysql_cell,
    )
    .await;
    // A user lock (`GET_LOCK`, e.g. from a stored function) is held by the
    // session, not the transaction: release every one. Neither server has
    // an SQL statement for a whole session reset; the next fetch sets the
    // session up again anyway.
    let clean =
        c.execute("ROLLBACK").await.is_ok() && c.execute("DO RELEASE_ALL_LOCKS()").await.is_ok();
    (answer, clean)
}

async fn mysql_session(
    c: &mut MySqlConnection,
    budget: Duration,
    timeout_var: &OnceLock<MySqlTimeoutVar>,
) -> Result<(), sqlx::Error> {
    let mariadb = format!(
        "SET SESSION max_statement_time = {:.3}",
        millis(budget) as f64 / 1000.0
    );
    let mysql = format!("SET SESSION max_execution_time = {}", millis(budget));
    match timeout_var.get() {
        Some(MySqlTimeoutVar::MariaDb) => c.execute(AssertSqlSafe(mariadb)).await.map(drop)?,
        Some(MySqlTimeoutVar::MySql) => c.execute(AssertSqlSafe(mysql)).await.map(drop)?,
        None => match c.execute(AssertSqlSafe(mariadb)).await {
            Ok(_) => {
                let _ = timeout_var.set(MySqlTimeoutVar::MariaDb);
            }
            Err(e) if mysql_number(&e) == Some(ER_UNKNOWN_SYSTEM_VARIABLE) => {
                c.execute(AssertSqlSafe(mysql)).await?;
                let _ = timeout_var.set(MySqlTimeoutVar::MySql);
            }
            Err(e) => return Err(e),
        },
    }
    // Quotes and escapes as the guard's parser read them.
    c.execute(AssertSqlSafe(mysql_sql_mode())).await?;
    // The session too: DDL commits implicitly, which ends a read-only
    // transaction and would run the statement read-write.
    c.execute("SET SESSION TRANSACTION READ ONLY").await?;
    c.execute("START TRANSACTION READ ONLY").await?;
    Ok(())
}

/// `sql_mode` flags under which the server would read the query's quotes,
/// escapes or grammar otherwise than the guard's parser did, so that a call
/// the parser saw inside a string could run: NO_BACKSLASH_ESCAPES,
/// ANSI_QUOTES, and the combination modes that include it.
const MYSQL_MODES_DROPPED: &[&str] = &[
    "NO_BACKSLASH_ESCAPES",
    "ANSI_QUOTES",
    "ANSI",
    "DB2",
    "MAXDB",
    "MSSQL",
    "ORACLE",
    "POSTGRESQL",
];

/// The session's `sql_mode` less `MYSQL_MODES_DROPPED`, the rest kept:
/// `SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(…(',' mode ','), ',FLAG,', ','))`.
fn mysql_sql_mode() -> String {
    let mut mode = "CONCAT(',', @@SESSION.sql_mode, ',')".to_string();
    for flag in MYSQL_MODES_DROPPED {
        mode = format!("REPLACE({mode}, ',{flag},', ',')");
    }
    format!("SET SESSION sql_mode = TRIM(BOTH ',' FROM {mode})")
}

/// A transaction on a read-only connection, interrupted at `deadline`.
/// Nothing to reset after it: the guard refuses `ATTACH`, `PRAGMA` and
/// `load_extension`, and `query_only` is switched on before every query.
pub async fn sqlite(
    c: &mut SqliteConnection,
    query: &str,
    budget: Duration,
    deadline: Instant,
) -> (Result<Cell, RunError>, bool) {
    // The handler runs on SQLite's worker thread every few thousand VM
    // steps; it also stops a query whose fetch was cancelled.
    let cancelled = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&cancelled);
    match c.lock_handle().await {
        Ok(mut h) => h.set_progress_handler(SQLITE_PROGRESS_STEPS, move || {
            !stop.load(Ordering::Relaxed) && Instant::now() < deadline
        }),
        Err(e) => return (Err(e.into()), false),
    }
    let _cancel_on_drop = SetOnDrop(cancelled);
    // `query_only` again: a query may have switched it off (the file stays
    // read-only regardless); a lock held by a writer waits at most `budget`.
    let setup = format!(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = {}",
        millis(budget)
    );
    if let Err(e) = c.execute(AssertSqlSafe(setup)).await {
        return (Err(e.into()), false);
    }
    if let Err(e) = c.execute("BEGIN").await {
        return (Err(e.into()), false);
    }
    let answer = one_cell(
        sqlx::query(AssertSqlSafe(query.to_string())).fetch(&mut *c),
        sqlite_cell,
    )
    .await;
    let clean = c.execute("ROLLBACK").await.is_ok();
    (answer, clean)
}

/// VM steps between progress-handler calls (microseconds of work).
const SQLITE_PROGRESS_STEPS: i32 = 1000;

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The single cell of a single-row, single-column answer. Stops reading
/// after the second row.
async fn one_cell<R: Row>(
    mut rows: BoxStream<'_, Result<R, sqlx::Error>>,
    cell: fn(&R) -> Result<Cell, sqlx::Error>,
) -> Result<Cell, RunError> {
    let Some(first) = rows.try_next().await? else {
        return Err(RunError::NoRows);
    };
    if rows.try_next().await?.is_some() {
        return Err(RunError::SeveralRows);
    }
    drop(rows);
    match first.columns().len() {
        1 => Ok(cell(&first)?),
        n => Err(RunError::Columns(n)),
    }
}

fn postgres_cell(row: &PgRow) -> Result<Cell, sqlx::Error> {
    let raw = row.try_get_raw(0)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let type_name = raw.type_info().name().to_string();
    Ok(match type_name.as_str() {
        "INT2" => Cell::Number(row.try_get::<i16, _>(0)?.into()),
        "INT4" => Cell::Number(row.try_get::<i32, _>(0)?.into()),
        "INT8" => Cell::Number(row.try_get::<i64, _>(0)? as f64),
        "FLOAT4" => Cell::Number(row.try_get::<f32, _>(0)?.into()),
        "FLOAT8" => Cell::Number(row.try_get::<f64, _>(0)?),
        "NUMERIC" => match raw.format() {
            PgValueFormat::Text => Cell::Text(raw.as_str().map_err(decode_error)?.to_string()),
            PgValueFormat::Binary => {
                let bytes = raw.as_bytes().map_err(decode_error)?;
                pg_numeric(bytes).map_err(|m| decode_error(m.into()))?
            }
        },
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" => Cell::Text(row.try_get(0)?),
        _ => Cell::Other(type_name),
    })
}

fn decode_error(e: sqlx::error::BoxDynError) -> sqlx::Error {
    sqlx::Error::Decode(e)
}

/// PostgreSQL's binary NUMERIC: ndigits, weight, sign, dscale (i16 each),
/// then base-10000 digits; value = Σ digit[i] × 10000^(weight − i).
/// Written out as decimal text and parsed, so the f64 is correctly rounded.
pub fn pg_numeric(buf: &[u8]) -> Result<Cell, String> {
    let word = |i: usize| -> Result<u16, String> {
        buf.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC value".to_string())
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16 as i64;
    let sign = word(4)?;
    let value = match sign {
        0xC000 => return Ok(Cell::Number(f64::NAN)),
        0xD000 => return Ok(Cell::Number(f64::INFINITY)),
        0xF000 => return Ok(Cell::Number(f64::NEG_INFINITY)),
        0x0000 | 0x4000 if ndigits == 0 => 0.0,
        0x0000 | 0x4000 => {
            let mut text = String::with_capacity(ndigits * 4 + 8);
            if sign == 0x4000 {
                text.push('-');
            }
            for i in 0..ndigits {
                text.push_str(&format!("{:04}", word(8 + 2 * i)?));
            }
            let exponent = 4 * (weight - (ndigits as i64 - 1));
            text.push_str(&format!("e{exponent}"));
            text.parse::<f64>().map_err(|e| e.to_string())?
        }
        other => return Err(format!("unknown NUMERIC sign {other:#06x}")),
    };
    Ok(Cell::Number(value))
}

fn mysql_cell(row: &MySqlRow) -> Result<Cell, sqlx::Error> {
    if row.try_get_raw(0)?.is_null() {
        return Ok(Cell::Null);
    }
    let type_name = row.column(0).type_info().name().to_string();
    Ok(match type_name.as_str() {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            Cell::Number(row.try_get::<i64, _>(0)? as f64)
        }
        t if t.ends_with(" UNSIGNED") => Cell::Number(row.try_get::<u64, _>(0)? as f64),
        "FLOAT" => Cell::Number(row.try_get::<f32, _>(0)?.into()),
        "DOUBLE" => Cell::Number(row.try_get::<f64, _>(0)?),
        // DECIMAL travels as text in both protocols; sqlx's String refuses
        // the type, so read its text unchecked.
        "DECIMAL" => Cell::Text(row.try_get_unchecked::<String, _>(0)?),
        _ => match row.try_get::<String, _>(0) {
            Ok(s) => Cell::Text(s),
            Err(_) => match row.try_get::<Vec<u8>, _>(0).map(String::from_utf8) {
                Ok(Ok(s)) => Cell::Text(s),
                _ => Cell::Other(type_name),
            },
        },
    })
}

fn sqlite_cell(row: &SqliteRow) -> Result<Cell, sqlx::Error> {
    let raw = row.try_get_raw(0)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    // The value's own storage class, whatever the column was declared as.
    let type_name = raw.type_info().name().to_string();
    drop(raw);
    Ok(match type_name.as_str() {
        "INTEGER" | "BOOLEAN" => Cell::Number(row.try_get::<i64, _>(0)? as f64),
        "REAL" => Cell::Number(row.try_get::<f64, _>(0)?),
        "TEXT" => Cell::Text(row.try_get(0)?),
        _ => Cell::Other(type_name),
    })
}

// ------------------------------------------------------------ error codes

const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

fn mysql_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

fn code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// SQLite's primary result code (the low byte of the extended one).
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    code(e)?.parse::<i64>().ok().map(|c| c & 0xff)
}

/// Wrong user or password, or no right to the database.
pub fn is_auth_error(e: &sqlx::Error, backend: Backend) -> bool {
    match backend {
        // invalid_password, invalid_authorization_specification
        Backend::Postgres => matches!(code(e).as_deref(), Some("28P01" | "28000")),
        // access denied (user/password, to the database, for a plugin user)
        Backend::MySql => matches!(mysql_number(e), Some(1044 | 1045 | 1698)),
        Backend::Sqlite => sqlite_code(e) == Some(23), // SQLITE_AUTH
    }
}

/// The statement timeout (or our interrupt) stopped the query.
pub fn is_timeout_error(e: &sqlx::Error, backend: Backend) -> bool {
    match backend {
        Backend::Postgres => code(e).as_deref() == Some("57014"), // query_canceled
        // MariaDB max_statement_time, MySQL max_execution_time, interrupted
        Backend::MySql => matches!(mysql_number(e), Some(1969 | 3024 | 1317)),
        // SQLITE_INTERRUPT; SQLITE_BUSY after busy_timeout
        Backend::Sqlite => matches!(sqlite_code(e), Some(9 | 5)),
    }
}

/// The connection broke, or the server refused a session.
pub fn is_connection_error(e: &sqlx::Error, backend: Backend) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(_) => match backend {
            // connection_exception, admin/crash shutdown, cannot_connect_now
            Backend::Postgres => code(e).is_some_and(|c| {
                c.starts_with("08") || matches!(c.as_str(), "57P01" | "57P02" | "57P03")
            }),
            // too many connections, server shutdown
            Backend::MySql => matches!(mysql_number(e), Some(1040 | 1053)),
            // SQLITE_CANTOPEN, SQLITE_NOTADB
            Backend::Sqlite => matches!(sqlite_code(e), Some(14 | 26)),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight as u16, sign, 0] {
            b.extend(w.to_be_bytes());
        }
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary_format() {
        let n = |nd, w, s, d: &[u16]| pg_numeric(&numeric(nd, w, s, d)).unwrap();
        assert_eq!(n(0, 0, 0, &[]), Cell::Number(0.0));
        assert_eq!(n(1, 0, 0, &[7]), Cell::Number(7.0));
        // 12345.678 = [1, 2345, 6780] weight 1
        assert_eq!(n(3, 1, 0, &[1, 2345, 6780]), Cell::Number(12345.678));
        // -0.001 = [10] weight -1
        assert_eq!(n(1, -1, 0x4000, &[10]), Cell::Number(-0.001));
        // 2.3333333333333333 = [2, 3333, 3333, 3333, 3333] weight 0
        assert_eq!(
            n(5, 0, 0, &[2, 3333, 3333, 3333, 3333]),
            Cell::Number(2.3333333333333333)
        );
        // 1e20 = [1] weight 5
        assert_eq!(n(1, 5, 0, &[1]), Cell::Number(1e20));
        assert!(matches!(n(0, 0, 0xC000, &[]), Cell::Number(f) if f.is_nan()));
        assert_eq!(n(0, 0, 0xD000, &[]), Cell::Number(f64::INFINITY));
        assert!(pg_numeric(&[0, 1]).is_err());
        assert!(pg_numeric(&numeric(2, 0, 0, &[1])).is_err());
    }
}

//! Check-ins: the append-only history of observed KR values.
//!
//! A write is idempotent on its key (UNIQUE column, `ON CONFLICT DO
//! NOTHING`), so a fetch retried after a crash cannot write a second row, and
//! two replicas racing on one slot cannot either. An acknowledged insert is
//! committed (autocommit; SQLite synchronous=FULL, PostgreSQL
//! synchronous_commit=on by default), so a restart loses none.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;

use std::time::Duration;

use super::audit::{AuditEntry, insert_audit};
use super::codec::{finite, from_ms, now_ms, to_ms};
use super::heartbeat::standing_for;
use super::history::COUNTED;
use super::{Backend, Store, StoreError};
use crate::okr::guard::Hold;
use crate::okr::{CheckIn, Origin, WorkflowState};

/// A check-in as stored, with its row id and bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheckIn {
    /// Insertion order; breaks ties between check-ins observed at the same instant.
    pub id: i64,
    pub check_in: CheckIn,
    pub recorded_at: DateTime<Utc>,
    /// A manual value on a KR bound to a source (it stands until the next fetch).
    pub is_override: bool,
    /// Where a fetched value stands with the guard; `None`: counted as fetched.
    pub hold: Option<Hold>,
}

/// What writing a check-in did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Stored by this write.
    New(StoredCheckIn),
    /// Its idempotency key was used before: the check-in stored then.
    Existing(StoredCheckIn),
    /// A fetched value equal to the check-in before it, within the
    /// heartbeat: nothing stored; that earlier check-in stands for it.
    Unchanged(StoredCheckIn),
}

impl Written {
    /// The check-in that stands for the write, and whether it is new.
    pub fn into_stored(self) -> (StoredCheckIn, bool) {
        match self {
            Written::New(s) => (s, true),
            Written::Existing(s) | Written::Unchanged(s) => (s, false),
        }
    }
}

/// A check-in to write, and what must still hold when it is written.
#[derive(Debug, Clone)]
pub struct CheckInWrite {
    pub check_in: CheckIn,
    /// A manual value on a KR bound to a source.
    pub is_override: bool,
    /// `Some(Hold::Held)` for a fetched value outside the KR's guard.
    pub hold: Option<Hold>,
    /// Written with the check-in when it is new.
    pub audit: Option<AuditEntry>,
    /// For check-ins from people: checked again in the writing transaction,
    /// since the KR may have changed since the request looked at it.
    pub guard: Option<CheckInGuard>,
}

/// Besides an approved KR on a live objective, which every guarded
/// check-in needs:
#[derive(Debug, Clone, Default)]
pub struct CheckInGuard {
    /// The KR has no source (a member may not override one).
    pub without_source: bool,
    /// The KR belongs to this team (a member acts for theirs).
    pub team: Option<String>,
}

/// A page of a KR's history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub key_result: String,
    /// Observed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Observed before.
    pub to: Option<DateTime<Utc>>,
    /// Only check-ins older than this (observed_at, id): the cursor of the previous page.
    pub older_than: Option<(DateTime<Utc>, i64)>,
    pub limit: u32,
}

pub(super) const STORED_COLUMNS: &str = "id, key_result_id, value, observed_at, recorded_at, origin, note, \
                              confidence, idempotency_key, is_override, hold";

impl Store {
    /// Appends `c` on its own (the daemon writes through its
    /// [`CheckInWriter`](super::CheckInWriter), which shares commits). Returns
    /// `Ok(false)`, writing nothing, when a check-in with the same
    /// idempotency key already exists. `observed_at` is kept to the millisecond.
    pub async fn insert_check_in(&self, c: &CheckIn) -> Result<bool, StoreError> {
        let write = CheckInWrite {
            check_in: c.clone(),
            is_override: false,
            hold: None,
            audit: None,
            guard: None,
        };
        let mut tx = self.pool.begin().await?;
        let written = insert_one(&mut tx, &write, now_ms(), Duration::ZERO, self.backend).await?;
        tx.commit().await?;
        Ok(matches!(written, Written::New(_)))
    }

    /// The latest check-in of every KR that has one (greatest `observed_at`,
    /// then the last inserted), ordered by KR id.
    pub async fn latest_check_ins(&self) -> Result<Vec<CheckIn>, StoreError> {
        // One index probe per KR on (key_result_id, observed_at DESC, id DESC)
        // instead of scanning the whole history.
        let sql = format!(
            "SELECT c.key_result_id, c.value, c.observed_at, c.origin, c.note, c.confidence, \
             c.idempotency_key FROM key_results k JOIN check_ins c ON c.id = \
             (SELECT d.id FROM check_ins d WHERE d.key_result_id = k.id AND {COUNTED} \
             ORDER BY d.observed_at DESC, d.id DESC LIMIT 1)"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows.iter().map(check_in).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.key_result.cmp(&b.key_result));
        Ok(out)
    }

    /// A KR's history, newest first (by `observed_at`, then insertion), at most `limit`.
    pub async fn check_ins(&self, kr: &str, limit: u32) -> Result<Vec<CheckIn>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_result_id, value, observed_at, origin, note, confidence, idempotency_key \
             FROM check_ins WHERE key_result_id = $1 ORDER BY observed_at DESC, id DESC LIMIT $2",
        )
        .bind(kr)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(check_in).collect()
    }
}

impl Store {
    /// A page of a KR's history, newest first (by `observed_at`, then insertion).
    pub async fn check_in_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<Vec<StoredCheckIn>, StoreError> {
        let (older_at, older_id) = q
            .older_than
            .map_or((None, None), |(at, id)| (Some(to_ms(at)), Some(id)));
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM check_ins WHERE key_result_id = $1 \
             AND ($2 IS NULL OR observed_at >= $2) AND ($3 IS NULL OR observed_at < $3) \
             AND ($4 IS NULL OR observed_at < $4 OR (observed_at = $4 AND id < $5)) \
             ORDER BY observed_at DESC, id DESC LIMIT $6"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&q.key_result)
            .bind(q.from.map(to_ms))
            .bind(q.to.map(to_ms))
            .bind(older_at)
            .bind(older_id)
            .bind(i64::from(q.limit))
            .persistent(false)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_check_in).collect()
    }
}

/// Appends `c` (and its audit record, when it is new) on `conn`, inside the
/// caller's transaction. With an idempotency key used before, writes nothing
/// and returns the check-in stored then; a fetched value the `heartbeat`
/// makes redundant is not written either (see `heartbeat`).
/// `prepared`: keep the statement prepared. Only on SQLite: see
/// `NULLABLE_DOUBLES` in mod.rs for PostgreSQL.
pub(super) async fn insert_one(
    conn: &mut sqlx::AnyConnection,
    w: &CheckInWrite,
    now: i64,
    heartbeat: Duration,
    backend: Backend,
) -> Result<Written, StoreError> {
    let c = &w.check_in;
    // Reparsing the statement for every row costs more than its fsync share.
    let prepared = backend == Backend::Sqlite;
    if let Some(guard) = &w.guard {
        check_guard(conn, &c.key_result, guard, backend).await?;
    }
    finite("value", &c.key_result, c.value)?;
    if let Some(confidence) = c.confidence {
        finite("confidence", &c.key_result, confidence)?;
    }
    // A held value is always stored: it is what a person reviews, and its
    // repetitions are what confirm a new level.
    if w.hold.is_none()
        && let Some(standing) = standing_for(conn, c, heartbeat, backend).await?
    {
        return Ok(Written::Unchanged(standing));
    }
    let sql = format!(
        "INSERT INTO check_ins (key_result_id, value, observed_at, recorded_at, origin, note, \
         confidence, idempotency_key, is_override, hold) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {STORED_COLUMNS}"
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.key_result)
        .bind(c.value)
        .bind(to_ms(c.observed_at))
        .bind(now)
        .bind(&c.origin.0)
        .bind(&c.note)
        .bind(c.confidence)
        .bind(&c.idempotency_key)
        .bind(i64::from(w.is_override))
        .bind(w.hold.map(Hold::as_str))
        .persistent(prepared)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => {
                StoreError::UnknownKeyResult(c.key_result.clone())
            }
            e => e.into(),
        })?;
    let Some(row) = inserted else {
        let sql = format!("SELECT {STORED_COLUMNS} FROM check_ins WHERE idempotency_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.idempotency_key)
            .fetch_one(&mut *conn)
            .await?;
        return Ok(Written::Existing(stored_check_in(&row)?));
    };
    if let Some(audit) = &w.audit {
        insert_audit(conn, audit, now).await?;
    }
    Ok(Written::New(stored_check_in(&row)?))
}

/// `Conflict` unless the KR is still as a guarded check-in needs it. On
/// PostgreSQL the row stays share-locked until the check-in commits, so a
/// concurrent model write waits for it.
async fn check_guard(
    conn: &mut sqlx::AnyConnection,
    kr: &str,
    guard: &CheckInGuard,
    backend: Backend,
) -> Result<(), StoreError> {
    let lock = if backend == Backend::Postgres {
        " FOR SHARE OF k"
    } else {
        ""
    };
    let sql = format!(
        "SELECT k.state, k.source_name, k.team_id, o.archived_at FROM key_results k \
         JOIN objectives o ON o.id = k.objective_id WHERE k.id = $1{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kr)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::UnknownKeyResult(kr.to_string()))?;
    let state: String = row.try_get("state")?;
    let source: Option<String> = row.try_get("source_name")?;
    let team: String = row.try_get("team_id")?;
    let archived_at: Option<i64> = row.try_get("archived_at")?;
    let refuse = |why: String| {
        Err(StoreError::Conflict(format!(
            "key result `{kr}` {why}; read it again"
        )))
    };
    if state != WorkflowState::Approved.as_str() {
        return refuse(format!(
            "is {state} now; check-ins are recorded on approved key results only"
        ));
    }
    if archived_at.is_some() {
        return refuse("has had its objective archived".into());
    }
    if guard.without_source && source.is_some() {
        return refuse("is bound to a source now; only leaders and admins may override it".into());
    }
    if guard.team.as_ref().is_some_and(|t| *t != team) {
        return refuse(format!("belongs to team `{team}` now"));
    }
    Ok(())
}

pub(super) fn stored_check_in(row: &AnyRow) -> Result<StoredCheckIn, StoreError> {
    let check_in = check_in(row)?;
    let recorded_at: i64 = row.try_get("recorded_at")?;
    let is_override: i64 = row.try_get("is_override")?;
    let hold: Option<String> = row.try_get("hold")?;
    Ok(StoredCheckIn {
        hold: hold.as_deref().and_then(Hold::parse),
        id: row.try_get("id")?,
        recorded_at: from_ms(recorded_at, "check_ins.recorded_at", &check_in.key_result)?,
        is_override: is_override != 0,
        check_in,
    })
}

fn check_in(row: &AnyRow) -> Result<CheckIn, StoreError> {
    let key_result: String = row.try_get("key_result_id")?;
    let observed_at: i64 = row.try_get("observed_at")?;
    Ok(CheckIn {
        value: row.try_get("value")?,
        observed_at: from_ms(observed_at, "check_ins.observed_at", &key_result)?,
        origin: Origin(row.try_get("origin")?),
        note: row.try_get("note")?,
        confidence: row.try_get("confidence")?,
        idempotency_key: row.try_get("idempotency_key")?,
        key_result,
    })
}

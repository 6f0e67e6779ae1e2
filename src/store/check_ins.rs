//! Check-ins: the append-only history of observed KR values.
//!
//! A write is idempotent on its key (UNIQUE column, `ON CONFLICT DO
//! NOTHING`), so a fetch retried after a crash cannot write a second row, and
//! two replicas racing on one slot cannot either. An acknowledged insert is
//! committed (autocommit; SQLite synchronous=FULL, PostgreSQL
//! synchronous_commit=on by default), so a restart loses none.

use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;

use super::codec::{finite, from_ms, now_ms, to_ms};
use super::{Store, StoreError};
use crate::okr::{CheckIn, Origin};

impl Store {
    /// Appends `c`. Returns `Ok(false)`, writing nothing, when a check-in
    /// with the same idempotency key already exists. `observed_at` is kept
    /// to the millisecond.
    pub async fn insert_check_in(&self, c: &CheckIn) -> Result<bool, StoreError> {
        finite("value", &c.key_result, c.value)?;
        if let Some(confidence) = c.confidence {
            finite("confidence", &c.key_result, confidence)?;
        }
        let result = sqlx::query(
            "INSERT INTO check_ins (key_result_id, value, observed_at, recorded_at, origin, note, \
             confidence, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&c.key_result)
        .bind(c.value)
        .bind(to_ms(c.observed_at))
        .bind(now_ms())
        .bind(&c.origin.0)
        .bind(&c.note)
        .bind(c.confidence)
        .bind(&c.idempotency_key)
        // Binds a nullable double: see `NULLABLE_DOUBLES` in mod.rs.
        .persistent(false)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::ForeignKeyViolation => {
                Err(StoreError::UnknownKeyResult(c.key_result.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The latest check-in of every KR that has one (greatest `observed_at`,
    /// then the last inserted), ordered by KR id.
    pub async fn latest_check_ins(&self) -> Result<Vec<CheckIn>, StoreError> {
        // One index probe per KR on (key_result_id, observed_at DESC, id DESC)
        // instead of scanning the whole history.
        let rows = sqlx::query(
            "SELECT c.key_result_id, c.value, c.observed_at, c.origin, c.note, c.confidence, \
             c.idempotency_key FROM key_results k JOIN check_ins c ON c.id = \
             (SELECT d.id FROM check_ins d WHERE d.key_result_id = k.id \
             ORDER BY d.observed_at DESC, d.id DESC LIMIT 1)",
        )
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

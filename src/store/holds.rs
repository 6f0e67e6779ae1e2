//! Held check-ins: fetched values outside their KR's guard, stored with
//! `hold = 'held'` until the same level is confirmed, a value inside the
//! guard supersedes them, or a leader accepts or dismisses one.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::audit::{AuditEntry, insert_audit};
use super::check_ins::{STORED_COLUMNS, StoredCheckIn, stored_check_in};
use super::codec::{from_ms, now_ms, to_ms};
use super::{Store, StoreError};
use crate::okr::guard::Hold;

/// The newest held value of a KR: what `okr_key_result_held` and the API show.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldValue {
    pub check_in: i64,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
}

/// How a person resolves a held check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Accept,
    Dismiss,
}

impl Resolution {
    fn hold(self) -> Hold {
        match self {
            Resolution::Accept => Hold::Accepted,
            Resolution::Dismiss => Hold::Dismissed,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Resolution::Accept => "accept",
            Resolution::Dismiss => "dismiss",
        }
    }
}

impl Store {
    /// The newest held value of every KR that has one.
    pub async fn held_values(&self) -> Result<Vec<(String, HeldValue)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, key_result_id, value, observed_at FROM check_ins c WHERE hold = 'held' \
             AND NOT EXISTS (SELECT 1 FROM check_ins d WHERE d.key_result_id = c.key_result_id \
             AND d.hold = 'held' AND (d.observed_at > c.observed_at \
             OR (d.observed_at = c.observed_at AND d.id > c.id)))",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kr: String = row.try_get("key_result_id")?;
                let at: i64 = row.try_get("observed_at")?;
                let held = HeldValue {
                    check_in: row.try_get("id")?,
                    value: row.try_get("value")?,
                    observed_at: from_ms(at, "check_ins.observed_at", &kr)?,
                };
                Ok((kr, held))
            })
            .collect()
    }

    /// A KR's newest `n` check-ins observed up to `at` (any state), newest
    /// first: a run of held ones among them may confirm a level.
    pub async fn recent_check_ins(
        &self,
        kr: &str,
        at: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<StoredCheckIn>, StoreError> {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM check_ins WHERE key_result_id = $1 AND observed_at <= $2 \
             ORDER BY observed_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kr)
            .bind(to_ms(at))
            .bind(i64::from(n))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_check_in).collect()
    }

    /// Marks held check-ins `confirmed`: the level they share is real.
    pub async fn confirm_held(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("UPDATE check_ins SET hold = 'confirmed' WHERE id = $1 AND hold = 'held'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a KR's held check-ins observed up to `at` `superseded` (a
    /// value inside the guard came after them). Returns how many.
    pub async fn supersede_held(&self, kr: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE check_ins SET hold = 'superseded' WHERE key_result_id = $1 \
             AND hold = 'held' AND observed_at <= $2",
        )
        .bind(kr)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// A person accepts or dismisses a held check-in of `kr`, audited in
    /// the same transaction. `None` when `kr` has no such check-in;
    /// `Conflict` when it is not held (any more).
    pub async fn resolve_held(
        &self,
        kr: &str,
        check_in: i64,
        how: Resolution,
        actor: &str,
    ) -> Result<Option<StoredCheckIn>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql =
            format!("SELECT {STORED_COLUMNS} FROM check_ins WHERE id = $1 AND key_result_id = $2");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(check_in)
            .bind(kr)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let before = stored_check_in(&row)?;
        let hold = how.hold();
        let updated = sqlx::query("UPDATE check_ins SET hold = $1 WHERE id = $2 AND hold = 'held'")
            .bind(hold.as_str())
            .bind(check_in)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            let state = before.hold.map_or("counted", Hold::as_str);
            return Err(StoreError::Conflict(format!(
                "check-in {check_in} of key result `{kr}` is {state}, not held; only a held value can be accepted or dismissed"
            )));
        }
        let after = StoredCheckIn {
            hold: Some(hold),
            ..before.clone()
        };
        let audit = AuditEntry {
            actor: actor.to_string(),
            action: format!("check_in.{}", how.verb()),
            entity_kind: "check_in",
            entity_id: check_in.to_string(),
            before: Some(audit_json(&before)),
            after: Some(audit_json(&after)),
        };
        insert_audit(&mut tx, &audit, now_ms()).await?;
        tx.commit().await?;
        Ok(Some(after))
    }
}

fn audit_json(c: &StoredCheckIn) -> serde_json::Value {
    serde_json::json!({
        "key_result": c.check_in.key_result,
        "value": c.check_in.value,
        "observed_at": c.check_in.observed_at,
        "origin": c.check_in.origin.0,
        "hold": c.hold.map(Hold::as_str),
    })
}

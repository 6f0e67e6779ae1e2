//! The counted values a live model's per-day history is built from.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::codec::{from_ms, to_ms};
use super::{Store, StoreError};

/// SQL: a check-in counts (not held, superseded or dismissed).
pub(super) const COUNTED: &str = "(hold IS NULL OR hold IN ('confirmed', 'accepted'))";

/// One counted value of a KR.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedValue {
    pub key_result: String,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
}

impl Store {
    /// Every counted check-in observed at or after `since`, oldest first.
    pub async fn counted_values_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<CountedValue>, StoreError> {
        let sql = format!(
            "SELECT key_result_id, value, observed_at FROM check_ins \
             WHERE observed_at >= $1 AND {COUNTED} ORDER BY observed_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_ms(since))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let key_result: String = row.try_get("key_result_id")?;
                let at: i64 = row.try_get("observed_at")?;
                Ok(CountedValue {
                    value: row.try_get("value")?,
                    observed_at: from_ms(at, "check_ins.observed_at", &key_result)?,
                    key_result,
                })
            })
            .collect()
    }
}

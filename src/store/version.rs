//! A cheap fingerprint of the OKR model, so a running daemon notices when
//! another process (`okrd apply`, another replica) changed it.

use sqlx::Row;

use super::{Store, StoreError};

/// Row count and latest `updated_at` of each OKR table. Every write through
/// the store bumps `updated_at`; deletions change a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelVersion([(i64, i64); 4]);

const TABLES: [&str; 4] = ["periods", "teams", "objectives", "key_results"];

impl Store {
    pub async fn model_version(&self) -> Result<ModelVersion, StoreError> {
        let mut v = ModelVersion::default();
        for (slot, table) in v.0.iter_mut().zip(TABLES) {
            // `table` is one of the constants above, never input.
            let sql =
                format!("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t FROM {table}");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.pool)
                .await?;
            *slot = (row.try_get("n")?, row.try_get("t")?);
        }
        Ok(v)
    }
}

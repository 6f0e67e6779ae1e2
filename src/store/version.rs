//! A cheap fingerprint of the OKR model, so a running daemon notices when
//! another process (`okrd apply`, another replica) changed it.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};

/// The model revision (bumped by every write through the store), and the
/// row count and latest `updated_at` of each OKR table (which also catch
/// rows changed by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelVersion {
    revision: i64,
    tables: [(i64, i64); 4],
}

const TABLES: [&str; 4] = ["periods", "teams", "objectives", "key_results"];

impl Store {
    pub async fn model_version(&self) -> Result<ModelVersion, StoreError> {
        let mut v = ModelVersion::default();
        let row = sqlx::query("SELECT revision FROM model_revision WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            v.revision = row.try_get("revision")?;
        }
        for (slot, table) in v.tables.iter_mut().zip(TABLES) {
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

/// Marks the model changed, inside the transaction that changes it.
pub(super) async fn bump_revision(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE model_revision SET revision = revision + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

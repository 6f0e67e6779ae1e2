//! API tokens as stored: their public id, the SHA-256 of the token, the
//! role and team they grant, and whether they were revoked. Making and
//! checking tokens is `crate::auth`'s job.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditEntry, insert_audit};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    pub role: String,
    pub team: Option<String>,
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, hash, role, team_id, name, created_at, revoked_at";

impl Store {
    /// Stores a new token and its audit record together.
    pub async fn insert_token(
        &self,
        t: &TokenRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, hash, role, team_id, name, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.hash)
        .bind(&t.role)
        .bind(&t.team)
        .bind(&t.name)
        .bind(t.created_at)
        .bind(t.revoked_at)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, t.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token).transpose()
    }

    /// Every token, revoked ones too, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows.iter().map(token).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Marks a token revoked at `now_ms`, with its audit record. False, writing
    /// nothing, when there is no such token or it was already revoked.
    pub async fn revoke_token(
        &self,
        id: &str,
        now_ms: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }
}

fn token(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        hash: row.try_get("hash")?,
        role: row.try_get("role")?,
        team: row.try_get("team_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

//! The audit log: one row per write through the API or the token commands,
//! with who did it and the entity before and after (JSON). Rows are written
//! in the transaction of the write they describe, so a write is never
//! without its record.

use sqlx::{AnyConnection, Row};

use super::Backend;
use super::batch::{Sql, rows_per_statement};
use super::codec::from_ms;
use super::{Store, StoreError};

/// A write to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    /// `<entity>.<verb>`, such as `key_result.create` or `check_in.create`.
    pub action: String,
    pub entity_kind: &'static str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A recorded write.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub entity_kind: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Which records to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    /// Only records with an id below this one (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub(super) async fn insert_audit(
    conn: &mut AnyConnection,
    e: &AuditEntry,
    now: i64,
) -> Result<(), StoreError> {
    let row = AuditRow {
        actor: e.actor.clone(),
        action: e.action.clone(),
        entity_kind: e.entity_kind,
        entity_id: e.entity_id.clone(),
        before: e.before.as_ref().map(ToString::to_string),
        after: e.after.as_ref().map(ToString::to_string),
    };
    // One row: the same statement on both backends.
    insert_audit_rows(conn, Backend::Postgres, std::slice::from_ref(&row), now).await
}

/// An audit record ready to insert: the entity before and after as JSON text.
pub(super) struct AuditRow {
    pub actor: String,
    pub action: String,
    pub entity_kind: &'static str,
    pub entity_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Inserts the rows in order (their ids follow it), many per statement.
pub(super) async fn insert_audit_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[AuditRow],
    now: i64,
) -> Result<(), StoreError> {
    const COLUMNS: usize = 7;
    for chunk in rows.chunks(rows_per_statement(COLUMNS, 0)) {
        let q = Sql::new(backend)
            .push(
                "INSERT INTO audit_log (at, actor, action, entity_kind, entity_id, before_json, \
                 after_json) VALUES",
            )
            .rows(COLUMNS, chunk.len())
            .statement();
        let q = chunk.iter().fold(q, |q, e| {
            q.bind(now)
                .bind(e.actor.as_str())
                .bind(e.action.as_str())
                .bind(e.entity_kind)
                .bind(e.entity_id.as_str())
                .bind(e.before.as_deref())
                .bind(e.after.as_deref())
        });
        // One shape per chunk size: not worth a cached prepared statement.
        q.persistent(chunk.len() == 1).execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// Records a write that is not a model write (running a source).
    pub async fn record_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, e, super::codec::now_ms()).await
    }

    /// Records newest first, at most `limit`, filtered by every field that is set.
    pub async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // Unset filters compare a column with itself, so one statement serves every combination.
        let rows = sqlx::query(
            "SELECT id, at, actor, action, entity_kind, entity_id, before_json, after_json \
             FROM audit_log WHERE ($1 IS NULL OR entity_kind = $1) \
             AND ($2 IS NULL OR entity_id = $2) AND ($3 IS NULL OR actor = $3) \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(&q.entity_kind)
        .bind(&q.entity_id)
        .bind(&q.actor)
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .persistent(false)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let at: i64 = row.try_get("at")?;
                let json = |column: &'static str| -> Result<Option<serde_json::Value>, StoreError> {
                    let text: Option<String> = row.try_get(column)?;
                    text.map(|t| {
                        serde_json::from_str(&t)
                            .map_err(|_| super::codec::corrupt(column, &id.to_string(), t))
                    })
                    .transpose()
                };
                Ok(AuditRecord {
                    id,
                    at: from_ms(at, "audit_log.at", &id.to_string())?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    entity_kind: row.try_get("entity_kind")?,
                    entity_id: row.try_get("entity_id")?,
                    before: json("before_json")?,
                    after: json("after_json")?,
                })
            })
            .collect()
    }
}

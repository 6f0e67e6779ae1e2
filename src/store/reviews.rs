//! The review history of KRs: every workflow transition with its comment
//! and who made it, written with the transition.

use sqlx::{AnyConnection, Row};

use super::codec::{from_ms, parse_enum};
use super::{Store, StoreError};
use crate::okr::WorkflowState;

/// A transition to record.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub key_result: String,
    /// `propose`, `approve`, `request_changes`, `reject` or `archive`.
    pub action: &'static str,
    pub from: WorkflowState,
    pub to: WorkflowState,
    pub comment: Option<String>,
    pub actor: String,
}

/// A recorded transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: i64,
    pub key_result: String,
    pub action: String,
    pub from: WorkflowState,
    pub to: WorkflowState,
    pub comment: Option<String>,
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub(super) async fn insert_review(
    conn: &mut AnyConnection,
    r: &NewReview,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reviews (key_result_id, action, from_state, to_state, comment, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.key_result)
    .bind(r.action)
    .bind(r.from.as_str())
    .bind(r.to.as_str())
    .bind(&r.comment)
    .bind(&r.actor)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// A KR's transitions, oldest first.
    pub async fn reviews(&self, kr: &str) -> Result<Vec<Review>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, key_result_id, action, from_state, to_state, comment, actor, at \
             FROM reviews WHERE key_result_id = $1 ORDER BY id",
        )
        .bind(kr)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let key_result: String = row.try_get("key_result_id")?;
                let from: String = row.try_get("from_state")?;
                let to: String = row.try_get("to_state")?;
                let at: i64 = row.try_get("at")?;
                Ok(Review {
                    id: row.try_get("id")?,
                    action: row.try_get("action")?,
                    from: parse_enum(
                        &from,
                        WorkflowState::parse,
                        "reviews.from_state",
                        &key_result,
                    )?,
                    to: parse_enum(&to, WorkflowState::parse, "reviews.to_state", &key_result)?,
                    comment: row.try_get("comment")?,
                    actor: row.try_get("actor")?,
                    at: from_ms(at, "reviews.at", &key_result)?,
                    key_result,
                })
            })
            .collect()
    }
}

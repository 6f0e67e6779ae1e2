//! `/audit`: every write through the API and the token commands, newest
//! first: who, what, when, before and after. Admins only.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::access::require_role;
use super::error::ApiResult;
use super::extract::ApiQuery;
use super::pagination::{self, Page, limit};
use crate::access::{Principal, Role};
use crate::store::{AuditQuery, AuditRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    #[serde(serialize_with = "super::time::ms")]
    pub at: DateTime<Utc>,
    /// The token's name and id, or the command that wrote.
    pub actor: String,
    /// `<entity>.<verb>`, such as `key_result.approve` or `check_in.create`.
    pub action: String,
    /// period, team, objective, key_result, source or token.
    pub entity_kind: String,
    pub entity_id: String,
    /// The entity before the write; `null` for a create.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        AuditView {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            entity_kind: r.entity_kind,
            entity_id: r.entity_id,
            before: r.before,
            after: r.after,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// period, team, objective, key_result, source or token.
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_audit_log", get, path = "/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "Writes, newest first", body = Page<AuditView>),
        (status = 400, description = "Bad query", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Page<AuditView>>> {
    require_role(&who, Role::Admin, "read the audit log")?;
    let limit = limit(q.limit)?;
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| pagination::decode_with(c, |t| t.parse::<i64>().ok()))
        .transpose()?;
    let mut rows = api
        .store()
        .audit_log(&AuditQuery {
            entity_kind: q.entity_kind,
            entity_id: q.entity_id,
            actor: q.actor,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| pagination::encode(&r.id.to_string()))
    } else {
        None
    };
    Ok(Json(Page {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

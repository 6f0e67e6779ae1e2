//! What every write handler does the same way: enforce the rule check,
//! write the audit record, and answer with the entity as stored now.

use axum::response::Response;
use serde::Serialize;

use super::error::{ApiError, ApiResult, Warning};
use super::rules::RuleCheck;
use super::views::Views;
use super::{ApiInner, views};
use crate::access::Principal;
use crate::okr::EntityKind;
use crate::store::AuditEntry;

/// 422 with every violation, else the warnings to return.
pub fn enforce(check: RuleCheck) -> ApiResult<Vec<Warning>> {
    if check.violations.is_empty() {
        Ok(check.warnings)
    } else {
        Err(ApiError::rule_violations(check.violations, check.warnings))
    }
}

/// The audit record of a write of `kind` `id`: `verb` is `create`, `update`,
/// `approve`, ...; the entity as JSON before and after (its model fields,
/// named as in OKR files).
pub fn audit<T: Serialize>(
    who: &Principal,
    kind: EntityKind,
    id: &str,
    verb: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> AuditEntry {
    let json = |t: &T| serde_json::to_value(t).unwrap_or_default();
    AuditEntry {
        actor: who.actor(),
        action: format!("{}.{verb}", kind.as_str()),
        entity_kind: kind.as_str(),
        entity_id: id.to_string(),
        before: before.map(json),
        after: after.map(json),
    }
}

/// After a write: rebuild the model (unless nothing `changed`) and answer
/// with `id` as `render` shows it from the snapshot.
pub async fn written(
    api: &ApiInner,
    changed: bool,
    kind: EntityKind,
    id: &str,
    render: impl FnOnce(&Views<'_>) -> Option<Response>,
) -> ApiResult<Response> {
    let snapshot = if changed {
        api.after_write().await?
    } else {
        api.snapshot()
    };
    render(&views(api, &snapshot)).ok_or_else(|| {
        ApiError::internal(format!(
            "{} `{id}` is not in the model after its write",
            kind.as_str()
        ))
    })
}

/// 201 with `Location: /api/v1/<collection>/<id>` on the answer of a create.
pub fn created(answer: Response, collection: &str, id: &str) -> Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let location = format!("/api/v1/{collection}/{id}");
    (StatusCode::CREATED, [(header::LOCATION, location)], answer).into_response()
}

/// 409 for a create whose id is taken.
pub fn taken(kind: EntityKind, id: &str, collection: &str) -> ApiError {
    ApiError::conflict(format!(
        "{} `{id}` already exists; pick another id, or PATCH /api/v1/{collection}/{id} to change it",
        crate::okr::validate::kind_label(kind)
    ))
}

//! `/key-results/{id}/check-ins/{check_in}/accept | dismiss`: a leader or
//! admin resolves a held value (README "Held values"). Accepted, it becomes
//! the KR's value; dismissed, it stays in the history and never counts.
//! Both are audited.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::ApiState;
use super::access::{require_role, require_team};
use super::check_ins::CheckInView;
use super::error::{ApiError, ApiResult};
use crate::access::{Principal, Role};
use crate::store::Resolution;

macro_rules! resolve_handler {
    ($name:ident, $how:expr, $op:literal, $path:literal, $summary:literal, $ok:literal) => {
        #[utoipa::path(
            post, operation_id = $op, path = $path, tag = "check-ins", summary = $summary,
            params(
                ("id" = String, Path, description = "KR id"),
                ("check_in" = i64, Path, description = "The held check-in's id"),
            ),
            responses(
                (status = 200, description = $ok, body = CheckInView),
                (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such KR, or no such check-in of it", body = super::Problem, content_type = "application/problem+json"),
                (status = 409, description = "The check-in is not held (counted, superseded, or resolved before)", body = super::Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        pub async fn $name(
            State(api): State<ApiState>,
            Extension(who): Extension<Principal>,
            Path((id, check_in)): Path<(String, String)>,
        ) -> ApiResult<Response> {
            resolve(&api, &who, &id, &check_in, $how).await
        }
    };
}

resolve_handler!(
    accept,
    Resolution::Accept,
    "accept_held_check_in",
    "/key-results/{id}/check-ins/{check_in}/accept",
    "Accept a held value: it becomes the KR's value (leaders, admins)",
    "Accepted: the check-in counts and the KR moved"
);
resolve_handler!(
    dismiss,
    Resolution::Dismiss,
    "dismiss_held_check_in",
    "/key-results/{id}/check-ins/{check_in}/dismiss",
    "Dismiss a held value: it never counts (leaders, admins)",
    "Dismissed: the check-in stays in the history and never counts"
);

async fn resolve(
    api: &ApiState,
    who: &Principal,
    id: &str,
    check_in: &str,
    how: Resolution,
) -> ApiResult<Response> {
    require_role(who, Role::Leader, &format!("{} held values", how.verb()))?;
    let team = api.live.read(|_, index| {
        index
            .current
            .key_results
            .get(id)
            .map(|s| s.item.team.clone())
    });
    let team = team.ok_or_else(|| ApiError::not_found("key result", id))?;
    require_team(who, &team, &format!("key result `{id}`"))?;
    // Not a number names no check-in (and is never echoed back).
    let number = check_in
        .parse::<i64>()
        .map_err(|_| ApiError::not_found("check-in of key result", id))?;
    let resolved = api
        .pipeline
        .resolve_held(id, number, how, &who.name)
        .await?
        .ok_or_else(|| ApiError::not_found("check-in of key result", id))?;
    Ok(Json(CheckInView::from(resolved)).into_response())
}

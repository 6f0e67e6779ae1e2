//! `/key-results/{id}/propose | approve | request-changes | reject | archive`
//! and the review history. The OKR rules (README "OKR files") are checked on propose
//! and approve; illegal transitions get 409; every transition is kept.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::access::{require_role, require_team};
use super::error::{ApiError, ApiResult};
use super::extract::{OptionalJson, PathId};
use super::input::{self, MAX_NOTE};
use super::key_results::{KeyResultWritten, audit, check_key_result, editable, written};
use super::rules::Gate;
use crate::access::{Principal, Role};
use crate::okr::WorkflowState;
use crate::okr::workflow::{Action, allowed_actions, transition};
use crate::store::{NewReview, Review};

/// The review comment: required to request changes and to reject.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 2000
    )]
    pub comment: Option<String>,
}

macro_rules! action_handler {
    ($name:ident, $action:expr, $op:literal, $path:literal, $summary:literal) => {
        #[utoipa::path(
            post, operation_id = $op, path = $path, tag = "workflow", summary = $summary,
            params(("id" = String, Path, description = "KR id")),
            request_body(content = Option<TransitionBody>, description = "A comment (required to request changes and to reject)"),
            responses(
                (status = 200, description = "The KR in its new state", body = KeyResultWritten),
                (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
                (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for this role or team", body = super::Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
                (status = 409, description = "Illegal transition, or managed by an OKR file", body = super::Problem, content_type = "application/problem+json"),
                (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
                (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
                (status = 422, description = "A rule of the OKR practice is broken, or the comment is missing", body = super::Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        pub async fn $name(
            State(api): State<ApiState>,
            Extension(who): Extension<Principal>,
            PathId(id): PathId,
            OptionalJson(body): OptionalJson<TransitionBody>,
        ) -> ApiResult<Response> {
            act(&api, &who, &id, $action, body).await
        }
    };
}

action_handler!(
    propose,
    Action::Propose,
    "propose_key_result",
    "/key-results/{id}/propose",
    "Propose a draft for review"
);
action_handler!(
    approve,
    Action::Approve,
    "approve_key_result",
    "/key-results/{id}/approve",
    "Approve a proposed KR (leaders)"
);
action_handler!(
    request_changes,
    Action::RequestChanges,
    "request_changes_key_result",
    "/key-results/{id}/request-changes",
    "Send a KR back for changes (leaders; comment required)"
);
action_handler!(
    reject,
    Action::Reject,
    "reject_key_result",
    "/key-results/{id}/reject",
    "Reject a proposed KR (leaders; comment required)"
);
action_handler!(
    archive,
    Action::Archive,
    "archive_key_result",
    "/key-results/{id}/archive",
    "Archive a KR"
);

async fn act(
    api: &ApiState,
    who: &Principal,
    id: &str,
    action: Action,
    body: TransitionBody,
) -> ApiResult<Response> {
    if matches!(
        action,
        Action::Approve | Action::RequestChanges | Action::Reject
    ) {
        let to = format!("{} key results", action.path().replace('-', " "));
        require_role(who, Role::Leader, &to)?;
    }
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    input::opt_text("comment", comment.as_deref(), MAX_NOTE, true)?;
    if action.needs_comment() && comment.is_none() {
        return Err(ApiError::unprocessable(format!(
            "`comment` is required to {}: say what to change or why not",
            action.path().replace('-', " ")
        )));
    }
    let mut tx = api.store().begin_model_tx().await?;
    let before = editable(tx.current(), id)?.clone();
    let what = format!("key result `{id}`");
    require_team(who, &before.team, &what)?;
    if action == Action::Archive
        && who.role == Role::Member
        && !matches!(
            before.state,
            WorkflowState::Draft | WorkflowState::ChangesRequested | WorkflowState::Rejected
        )
    {
        return Err(ApiError::forbidden(format!(
            "members archive only drafts and key results sent back or rejected; {what} is {}, so ask a leader",
            before.state.as_str()
        )));
    }
    let Some(to) = transition(action, before.state) else {
        let allowed: Vec<String> = allowed_actions(before.state)
            .into_iter()
            .map(|a| a.path().to_string())
            .collect();
        return Err(ApiError::illegal_transition(
            format!(
                "{what} is {}; it cannot be {}. Allowed from here: {}",
                before.state.as_str(),
                past_tense(action),
                if allowed.is_empty() {
                    "nothing".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
            before.state.as_str(),
            allowed,
        ));
    };
    let mut kr = before.clone();
    kr.state = to;
    let gate = match action {
        Action::Propose | Action::Approve => Gate::Full,
        _ => Gate::Basic,
    };
    let warnings = if matches!(
        action,
        Action::Archive | Action::Reject | Action::RequestChanges
    ) {
        // Taking a KR out of play, or sending it back to fix it, breaks no rule.
        Vec::new()
    } else {
        check_key_result(api, tx.current(), &kr, gate)?
    };
    tx.put_key_result(&kr).await?;
    tx.record_review(&NewReview {
        key_result: id.to_string(),
        action: action.as_str(),
        from: before.state,
        to,
        comment: comment.clone(),
        actor: who.actor(),
    })
    .await?;
    let mut entry = audit(who, action.as_str(), Some(&before), Some(&kr));
    if let (Some(after), Some(c)) = (entry.after.as_mut(), &comment) {
        after["comment"] = serde_json::Value::String(c.clone());
    }
    tx.audit(&entry).await?;
    tx.commit().await?;
    let out = written(api, id, warnings, true).await?;
    // An approved KR with a source is fetched right away, then on its schedule.
    if to == WorkflowState::Approved && kr.source.is_some() {
        api.scheduler.run_now(id);
    }
    Ok(out)
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Propose => "proposed",
        Action::Approve => "approved",
        Action::RequestChanges => "sent back for changes",
        Action::Reject => "rejected",
        Action::Archive => "archived",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: i64,
    /// propose, approve, request_changes, reject or archive.
    pub action: String,
    pub from: WorkflowState,
    pub to: WorkflowState,
    pub comment: Option<String>,
    /// Who did it: the token's name and id.
    pub actor: String,
    #[serde(serialize_with = "super::time::ms")]
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewList {
    /// Oldest first.
    pub items: Vec<ReviewView>,
}

#[utoipa::path(
    operation_id = "list_reviews", get, path = "/key-results/{id}/reviews", tag = "workflow",
    params(("id" = String, Path, description = "KR id")),
    responses(
        (status = 200, description = "Every transition of the KR, oldest first", body = ReviewList),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reviews(
    State(api): State<ApiState>,
    PathId(id): PathId,
) -> ApiResult<Json<ReviewList>> {
    if !api.snapshot().index.current.key_results.contains_key(&id) {
        return Err(ApiError::not_found("key result", &id));
    }
    let items = api
        .store()
        .reviews(&id)
        .await?
        .into_iter()
        .map(|r: Review| ReviewView {
            id: r.id,
            action: r.action,
            from: r.from,
            to: r.to,
            comment: r.comment,
            actor: r.actor,
            at: r.at,
        })
        .collect();
    Ok(Json(ReviewList { items }))
}

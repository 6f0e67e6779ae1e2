//! `/key-results`: list, read, create (a draft) and edit KRs. Workflow
//! transitions are in `workflow`, check-ins in `check_ins`.

use axum::Extension;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::access::{require_role, require_team};
use super::error::{ApiError, ApiResult, Warning};
use super::extract::{ApiJson, ApiQuery, PathId};
use super::pagination::{Page, limit, page_by_id};
use super::rules::{self, Gate, Subject};
use super::views::{KeyResultView, json};
use super::writes::{self, enforce};
use super::{ApiState, views};
use crate::access::{Principal, Role};
use crate::okr::{EntityKind, KeyResult, SourceRef, Status, WorkflowState};
use crate::store::AuditEntry;

mod body;

pub use body::{KeyResultPatch, KeyResultWritten, NewKeyResult};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only KRs of objectives in this period.
    pub period: Option<String>,
    pub team: Option<String>,
    pub objective: Option<String>,
    /// Workflow state.
    pub state: Option<WorkflowState>,
    pub status: Option<Status>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_key_results", get, path = "/key-results", tag = "key results",
    params(ListQuery),
    responses(
        (status = 200, description = "KRs in every workflow state, by id", body = Page<KeyResultView>),
        (status = 400, description = "Bad query", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(api): State<ApiState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let v = views(&api, &snapshot);
    let model = &snapshot.index;
    let limit = limit(q.limit)?;
    let page = page_by_id(
        &model.current.key_results,
        q.cursor.as_deref(),
        limit,
        |k| {
            let kr = &k.item;
            q.team.as_deref().is_none_or(|t| kr.team == t)
                && q.objective.as_deref().is_none_or(|o| kr.objective == o)
                && q.state.is_none_or(|s| kr.state == s)
                && q.period
                    .as_deref()
                    .is_none_or(|p| v.key_result_period(&kr.id) == p)
                && q.status
                    .is_none_or(|s| v.key_result_numbers(&k.item).status == s)
        },
        |k| v.key_result(k),
    )?;
    Ok(json(&page))
}

#[utoipa::path(
    operation_id = "get_key_result", get, path = "/key-results/{id}", tag = "key results",
    params(("id" = String, Path, description = "KR id")),
    responses(
        (status = 200, description = "The KR", body = KeyResultView),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(State(api): State<ApiState>, PathId(id): PathId) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let kr = snapshot
        .index
        .current
        .key_results
        .get(&id)
        .ok_or_else(|| ApiError::not_found("key result", &id))?;
    Ok(json(&views(&api, &snapshot).key_result(kr)))
}

#[utoipa::path(
    operation_id = "create_key_result", post, path = "/key-results", tag = "key results",
    request_body = NewKeyResult,
    responses(
        (status = 201, description = "The new draft", body = KeyResultWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the KR's team, a leader or an admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or references", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<NewKeyResult>,
) -> ApiResult<Response> {
    require_role(&who, Role::Member, "create key results")?;
    let kr = body.into_model(&who)?;
    require_team(&who, &kr.team, &format!("key result `{}`", kr.id))?;
    let mut tx = api.store().begin_model_tx().await?;
    if tx.current().key_results.contains_key(&kr.id) {
        return Err(writes::taken(EntityKind::KeyResult, &kr.id, "key-results"));
    }
    let warnings = check_key_result(&api, tx.current(), &kr, Gate::Basic)?;
    tx.put_key_result(&kr).await?;
    tx.audit(&audit(&who, "create", None, Some(&kr))).await?;
    tx.commit().await?;
    let written = written(&api, &kr.id, warnings, true).await?;
    Ok(writes::created(written, "key-results", &kr.id))
}

#[utoipa::path(
    operation_id = "update_key_result", patch, path = "/key-results/{id}", tag = "key results",
    params(("id" = String, Path, description = "KR id")),
    request_body = KeyResultPatch,
    responses(
        (status = 200, description = "The KR as changed", body = KeyResultWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to edit it (in this state)", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Managed by an OKR file, or archived", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, references or rules", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<KeyResultPatch>,
) -> ApiResult<Response> {
    require_role(&who, Role::Member, "edit key results")?;
    let mut tx = api.store().begin_model_tx().await?;
    let before = editable(tx.current(), &id)?.clone();
    let what = format!("key result `{id}`");
    require_team(&who, &before.team, &what)?;
    if who.role == Role::Member
        && !matches!(
            before.state,
            WorkflowState::Draft | WorkflowState::ChangesRequested
        )
    {
        return Err(ApiError::forbidden(format!(
            "members edit key results only while draft or changes_requested; {what} is {}, so ask a leader",
            before.state.as_str()
        )));
    }
    let mut kr = before.clone();
    patch.apply(&mut kr)?;
    // A member moves a KR only within their own team.
    require_team(&who, &kr.team, &what)?;
    // Past review, an edit must keep every rule.
    let gate = match kr.state {
        WorkflowState::Proposed | WorkflowState::Approved => Gate::Full,
        _ => Gate::Basic,
    };
    let warnings = check_key_result(&api, tx.current(), &kr, gate)?;
    let changed = kr != before;
    if changed {
        tx.put_key_result(&kr).await?;
        tx.audit(&audit(&who, "update", Some(&before), Some(&kr)))
            .await?;
        tx.commit().await?;
    }
    written(&api, &id, warnings, changed).await
}

/// A stored KR the API may change: it exists, no OKR file owns it, it is not archived.
pub(super) fn editable<'c>(
    current: &'c crate::store::Current,
    id: &str,
) -> ApiResult<&'c KeyResult> {
    let stored = current
        .key_results
        .get(id)
        .ok_or_else(|| ApiError::not_found("key result", id))?;
    if let Some(file) = &stored.meta.managed_by {
        return Err(ApiError::managed_by_file("key result", id, file));
    }
    if stored.item.state == WorkflowState::Archived {
        return Err(ApiError::conflict(format!(
            "key result `{id}` is archived; archived key results cannot change"
        )));
    }
    Ok(&stored.item)
}

/// The rules for `kr` as it would be stored, and its source binding: 422
/// with every violation, else the warnings.
pub(super) fn check_key_result(
    api: &ApiState,
    current: &crate::store::Current,
    kr: &KeyResult,
    gate: Gate,
) -> ApiResult<Vec<Warning>> {
    let mut check = rules::check(current, Subject::KeyResult(kr), &api.rules, gate);
    // An unknown source is the `references` rule's to report.
    if let Some(binding) = &kr.source
        && api.pipeline.sources().contains_key(&binding.source)
        && let Err(message) = binding_problem(api, binding)
    {
        check.violations.push(super::error::Violation {
            rule: "source_binding".into(),
            field: Some("source".into()),
            message: format!("key result `{}`: {message}", kr.id),
            limit: None,
            key_results: None,
        });
    }
    enforce(check)
}

/// What OKR files may bind, minus overriding the source's own params: over
/// the API a KR may add params, not change what the operator configured.
/// (Where requests go is checked by `check_binding` for every binding.)
fn binding_problem(api: &ApiState, binding: &SourceRef) -> Result<(), String> {
    if let Some(source) = api.pipeline.sources().get(&binding.source)
        && let Some(k) = binding
            .params
            .keys()
            .find(|k| source.params.get(k).is_some())
    {
        return Err(format!(
            "param `{k}` is set by source `{}`'s config; a key result made over the API may \
             add params but not override the source's",
            source.name
        ));
    }
    crate::binding::check_binding(binding, api.pipeline.sources()).map(|_| ())
}

/// The audit record of a KR write.
pub(super) fn audit(
    who: &Principal,
    verb: &str,
    before: Option<&KeyResult>,
    after: Option<&KeyResult>,
) -> AuditEntry {
    let id = after.or(before).map_or("", |k| k.id.as_str());
    writes::audit(who, EntityKind::KeyResult, id, verb, before, after)
}

/// The KR as stored now, with `warnings`.
pub(super) async fn written(
    api: &ApiState,
    id: &str,
    warnings: Vec<Warning>,
    changed: bool,
) -> ApiResult<Response> {
    writes::written(api, changed, EntityKind::KeyResult, id, |v| {
        let kr = v.snapshot.index.current.key_results.get(id)?;
        Some(json(&KeyResultWritten {
            key_result: v.key_result(kr),
            warnings,
        }))
    })
    .await
}

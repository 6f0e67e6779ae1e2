//! `/key-results`: list, read, create (a draft) and edit KRs. Workflow
//! transitions are in `workflow`, check-ins in `check_ins`.

use axum::Extension;

use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{require_role, require_team};
use super::error::{ApiError, ApiResult, Warning};
use super::extract::{ApiJson, ApiQuery, PathId, nullable, present};
use super::input::{
    self, MAX_DESCRIPTION, MAX_OWNER, MAX_PARAMS_BYTES, MAX_SCHEDULE, MAX_TITLE, MAX_UNIT,
};
use super::pagination::{Page, limit, page_by_id};
use super::rules::{self, Gate, Subject};
use super::views::{KeyResultView, json};
use super::writes::{self, enforce};
use super::{ApiState, views};
use crate::access::{Principal, Role};
use crate::okr::{EntityKind, KeyResult, KrKind, Rollup, SourceRef, Status, WorkflowState};
use crate::store::AuditEntry;

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

/// A KR's source binding, as in OKR files.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBindingBody {
    /// A `[[sources]]` name from the daemon's config.
    #[serde(rename = "use")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub source: String,
    /// Overrides the source's schedule (crontab, 5 or 6 fields).
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 100
    )]
    pub schedule: Option<String>,
    /// Connector params merged over the source's (never secrets).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SourceBindingBody {
    fn into_model(self) -> ApiResult<SourceRef> {
        input::text("source.use", &self.source, MAX_TITLE, false)?;
        input::opt_text(
            "source.schedule",
            self.schedule.as_deref(),
            MAX_SCHEDULE,
            false,
        )?;
        let params = self.params.unwrap_or_default();
        let size = serde_json::Value::Object(params.clone()).to_string().len();
        if size > MAX_PARAMS_BYTES {
            return Err(ApiError::unprocessable(format!(
                "`source.params` is {size} bytes of JSON; the most is {MAX_PARAMS_BYTES}"
            )));
        }
        Ok(SourceRef {
            source: self.source,
            schedule: self.schedule,
            params,
        })
    }
}

/// A new KR: the fields of an OKR file's `[[key_results]]`. It starts as a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyResult {
    /// Letters, digits, `.`, `_` and `-`; at most 128.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub objective: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: String,
    /// Who answers for it [default: the token's name].
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 254
    )]
    pub owner: Option<String>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub title: String,
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 4000
    )]
    pub description: Option<String>,
    pub kind: KrKind,
    /// Baseline (increase / decrease).
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub start: Option<f64>,
    /// Goal (increase / decrease) or threshold (at_least / at_most).
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub target: Option<f64>,
    /// Deadline (milestones).
    pub due: Option<NaiveDate>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 32
    )]
    pub unit: Option<String>,
    /// Share of its objective's progress [default: 1].
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub weight: Option<f64>,
    /// The KR it contributes to.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<String>,
    /// How a parent KR without a source derives its value from its children.
    pub rollup: Option<Rollup>,
    pub source: Option<SourceBindingBody>,
}

/// Changes to a KR: members present are set, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyResultPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub objective: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 254
    )]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$", max_length = 4000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub kind: Option<KrKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = -1e15, maximum = 1e15)]
    pub start: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = -1e15, maximum = 1e15)]
    pub target: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$", max_length = 32)]
    pub unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub weight: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Rollup>)]
    pub rollup: Option<Option<Rollup>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<SourceBindingBody>)]
    pub source: Option<Option<SourceBindingBody>>,
}

/// A KR after a write, with the warnings the rules raised.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResultWritten<'a> {
    #[serde(flatten)]
    pub key_result: KeyResultView<'a>,
    pub warnings: Vec<Warning>,
}

impl NewKeyResult {
    fn into_model(self, author: &Principal) -> ApiResult<KeyResult> {
        input::id("id", &self.id)?;
        let kr = KeyResult {
            id: self.id,
            objective: self.objective,
            team: self.team,
            owner: self.owner.unwrap_or_else(|| author.name.clone()),
            title: self.title,
            description: self.description,
            kind: self.kind,
            start: self.start,
            target: self.target,
            due: self.due,
            unit: self.unit,
            weight: self.weight.unwrap_or(1.0),
            parent: self.parent,
            rollup: self.rollup,
            source: self.source.map(SourceBindingBody::into_model).transpose()?,
            state: WorkflowState::Draft,
        };
        check_fields(&kr)?;
        Ok(kr)
    }
}

impl KeyResultPatch {
    fn apply(self, kr: &mut KeyResult) -> ApiResult<()> {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    kr.$field = v;
                }
            )*};
        }
        set!(
            objective,
            team,
            owner,
            title,
            description,
            kind,
            start,
            target,
            due,
            unit,
            weight,
            parent,
            rollup
        );
        if let Some(source) = self.source {
            kr.source = source.map(SourceBindingBody::into_model).transpose()?;
        }
        check_fields(kr)
    }
}

/// Lengths and numbers of a KR's own fields.
fn check_fields(kr: &KeyResult) -> ApiResult<()> {
    input::text("title", &kr.title, MAX_TITLE, false)?;
    input::text("owner", &kr.owner, MAX_OWNER, false)?;
    input::text("objective", &kr.objective, MAX_TITLE, false)?;
    input::text("team", &kr.team, MAX_TITLE, false)?;
    input::opt_text(
        "description",
        kr.description.as_deref(),
        MAX_DESCRIPTION,
        true,
    )?;
    input::opt_text("unit", kr.unit.as_deref(), MAX_UNIT, false)?;
    input::opt_text("parent", kr.parent.as_deref(), MAX_TITLE, false)?;
    input::opt_number("start", kr.start)?;
    input::opt_number("target", kr.target)?;
    input::weight(kr.weight)
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

/// What OKR files may bind, minus what would let an API user send a
/// source's credentials elsewhere: over the API, a KR neither overrides the
/// source's own params nor sets one that says where requests go.
fn binding_problem(api: &ApiState, binding: &SourceRef) -> Result<(), String> {
    let source = crate::binding::check_binding(binding, api.pipeline.sources())?;
    let destination = source.connector.destination_params();
    for k in binding.params.keys() {
        if source.params.get(k).is_some() {
            return Err(format!(
                "param `{k}` is set by source `{}`'s config; a key result made over the API may \
                 add params but not override the source's",
                source.name
            ));
        }
        if destination.contains(k) {
            return Err(format!(
                "param `{k}` says where source `{}` sends its requests (and credentials); only the \
                 source's config sets it",
                source.name
            ));
        }
    }
    Ok(())
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

//! `/periods`: the time boxes objectives belong to. Leaders and admins manage them.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::require_role;
use super::error::{ApiError, ApiResult, Warning};
use super::extract::{ApiJson, ApiQuery, PathId, present};
use super::input;
use super::pagination::{Page, limit, page_by_id};
use super::rules::{self, Gate, Subject};
use super::views::PeriodView;
use super::views::json;
use super::writes::{self, enforce};
use super::{ApiState, views};
use crate::access::{Principal, Role};
use crate::okr::{EntityKind, Period};
use crate::store::AuditEntry;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_periods", get, path = "/periods", tag = "periods", params(ListQuery),
    responses(
        (status = 200, description = "Periods by id", body = Page<PeriodView>),
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
    let page = page_by_id(
        &snapshot.index.current.periods,
        q.cursor.as_deref(),
        limit(q.limit)?,
        |_| true,
        |p| v.period(p),
    )?;
    Ok(json(&page))
}

#[utoipa::path(
    operation_id = "get_period", get, path = "/periods/{id}", tag = "periods",
    params(("id" = String, Path, description = "Period id")),
    responses(
        (status = 200, description = "The period", body = PeriodView),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such period", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(State(api): State<ApiState>, PathId(id): PathId) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let p = snapshot
        .index
        .current
        .periods
        .get(&id)
        .ok_or_else(|| ApiError::not_found("period", &id))?;
    Ok(json(&views(&api, &snapshot).period(p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPeriod {
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: String,
    pub start: NaiveDate,
    /// The last day (inclusive).
    pub end: NaiveDate,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodPatch {
    #[serde(default, deserialize_with = "present")]
    pub start: Option<NaiveDate>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodWritten<'a> {
    #[serde(flatten)]
    pub period: PeriodView<'a>,
    pub warnings: Vec<Warning>,
}

#[utoipa::path(
    operation_id = "create_period", post, path = "/periods", tag = "periods", request_body = NewPeriod,
    responses(
        (status = 201, description = "Created", body = PeriodWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<NewPeriod>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage periods")?;
    input::id("id", &body.id)?;
    let period = Period {
        id: body.id,
        start: body.start,
        end: body.end,
    };
    let mut tx = api.store().begin_model_tx().await?;
    if tx.current().periods.contains_key(&period.id) {
        return Err(writes::taken(EntityKind::Period, &period.id, "periods"));
    }
    let warnings = check(&api, tx.current(), &period)?;
    tx.put_period(&period).await?;
    tx.audit(&audit(&who, "create", None, Some(&period)))
        .await?;
    tx.commit().await?;
    let body = written(&api, &period.id, warnings, true).await?;
    Ok(writes::created(body, "periods", &period.id))
}

#[utoipa::path(
    operation_id = "update_period", patch, path = "/periods/{id}", tag = "periods",
    params(("id" = String, Path, description = "Period id")),
    request_body = PeriodPatch,
    responses(
        (status = 200, description = "Changed", body = PeriodWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such period", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Managed by an OKR file", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<PeriodPatch>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage periods")?;
    let mut tx = api.store().begin_model_tx().await?;
    let stored = tx
        .current()
        .periods
        .get(&id)
        .ok_or_else(|| ApiError::not_found("period", &id))?;
    if let Some(file) = &stored.meta.managed_by {
        return Err(ApiError::managed_by_file("period", &id, file));
    }
    let before = stored.item.clone();
    let mut period = before.clone();
    if let Some(start) = patch.start {
        period.start = start;
    }
    if let Some(end) = patch.end {
        period.end = end;
    }
    let warnings = check(&api, tx.current(), &period)?;
    let changed = period != before;
    if changed {
        tx.put_period(&period).await?;
        tx.audit(&audit(&who, "update", Some(&before), Some(&period)))
            .await?;
        tx.commit().await?;
    }
    written(&api, &id, warnings, changed).await
}

fn check(api: &ApiState, current: &crate::store::Current, p: &Period) -> ApiResult<Vec<Warning>> {
    enforce(rules::check(
        current,
        Subject::Period(p),
        &api.rules,
        Gate::Full,
    ))
}

fn audit(
    who: &Principal,
    verb: &str,
    before: Option<&Period>,
    after: Option<&Period>,
) -> AuditEntry {
    let id = after.or(before).map_or("", |p| p.id.as_str());
    writes::audit(who, EntityKind::Period, id, verb, before, after)
}

async fn written(
    api: &ApiState,
    id: &str,
    warnings: Vec<Warning>,
    changed: bool,
) -> ApiResult<Response> {
    writes::written(api, changed, EntityKind::Period, id, |v| {
        let p = v.snapshot.index.current.periods.get(id)?;
        Some(json(&PeriodWritten {
            period: v.period(p),
            warnings,
        }))
    })
    .await
}

//! `/sources`: each configured source's connector, schedule and health
//! (never its params: they hold secrets), and fetching one now (admins).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::access::require_role;
use super::error::{ApiError, ApiResult};
use super::extract::PathId;
use crate::access::{Principal, Role};
use crate::metrics::SourceHealth;
use crate::scheduler::BindingStatus;
use crate::store::AuditEntry;

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub name: String,
    /// A catalog connector, or http_json | prometheus | sql | exec.
    pub connector: String,
    /// The source's schedule; `null`: the scheduler's default (a KR may set its own).
    pub schedule: Option<String>,
    /// Approved KRs fetched from it, by id.
    pub key_results: Vec<String>,
    #[serde(serialize_with = "super::time::opt_ms")]
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<FailureView>,
    /// The earliest next fetch of any of its KRs.
    #[serde(serialize_with = "super::time::opt_ms")]
    pub next_run: Option<DateTime<Utc>>,
    /// A fetch is in flight.
    pub running: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    #[serde(serialize_with = "super::time::ms")]
    pub at: DateTime<Utc>,
    /// connect, timeout, auth, rate_limited, http_4xx, http_5xx, too_large, parse or invalid_value.
    pub reason: String,
    /// What went wrong, with secrets redacted; for admins only (it may
    /// quote what the source answered).
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    /// By name.
    pub items: Vec<SourceView>,
}

#[utoipa::path(
    operation_id = "list_sources", get, path = "/sources", tag = "sources",
    responses(
        (status = 200, description = "Every configured source", body = SourceList),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<SourceList>> {
    let now = now(&api, &who);
    let mut names: Vec<&String> = api.pipeline.sources().keys().collect();
    names.sort_unstable();
    let items = names
        .into_iter()
        .filter_map(|n| view(&api, n, &now))
        .collect();
    Ok(Json(SourceList { items }))
}

#[utoipa::path(
    operation_id = "get_source", get, path = "/sources/{name}", tag = "sources",
    params(("name" = String, Path, description = "Source name")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(name): PathId,
) -> ApiResult<Json<SourceView>> {
    view(&api, &name, &now(&api, &who))
        .map(Json)
        .ok_or_else(|| ApiError::not_found("source", &name))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    pub source: String,
    /// KRs whose fetch started now.
    pub started: Vec<String>,
    /// KRs with a fetch already in flight (not started twice).
    pub already_running: Vec<String>,
}

#[utoipa::path(
    operation_id = "run_source", post, path = "/sources/{name}/run", tag = "sources",
    params(("name" = String, Path, description = "Source name")),
    responses(
        (status = 202, description = "Fetches started; see GET /sources/{name} for how they went", body = RunStarted),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No approved KR is bound to it", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn run(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(name): PathId,
) -> ApiResult<(StatusCode, Json<RunStarted>)> {
    require_role(&who, Role::Admin, "run sources")?;
    if !api.pipeline.sources().contains_key(&name) {
        return Err(ApiError::not_found("source", &name));
    }
    let krs = api.pipeline.bound_to(&name);
    if krs.is_empty() {
        return Err(ApiError::conflict(format!(
            "source `{name}` has no approved key results to fetch"
        )));
    }
    let (started, already_running): (Vec<String>, Vec<String>) =
        krs.into_iter().partition(|kr| api.scheduler.run_now(kr));
    let entry = AuditEntry {
        actor: who.actor(),
        action: "source.run".into(),
        entity_kind: "source",
        entity_id: name.clone(),
        before: None,
        after: Some(serde_json::json!({ "started": started, "already_running": already_running })),
    };
    api.store().record_audit(&entry).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunStarted {
            source: name,
            started,
            already_running,
        }),
    ))
}

/// What a source view is built from, read once per request.
struct Now {
    schedule: HashMap<String, BindingStatus>,
    health: HashMap<String, SourceHealth>,
    /// Whether the reader sees failure messages.
    admin: bool,
}

fn now(api: &ApiState, who: &Principal) -> Now {
    let schedule = api
        .scheduler
        .status()
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    Now {
        schedule,
        health: api.telemetry.sources.health(),
        admin: who.role == Role::Admin,
    }
}

fn view(api: &ApiState, name: &str, now: &Now) -> Option<SourceView> {
    let source = api.pipeline.sources().get(name)?;
    let health = now.health.get(name).cloned().unwrap_or_default();
    let schedule = &now.schedule;
    let key_results = api.pipeline.bound_to(name);
    let statuses: Vec<&BindingStatus> =
        key_results.iter().filter_map(|k| schedule.get(k)).collect();
    Some(SourceView {
        name: name.to_string(),
        connector: source.connector_name.clone(),
        schedule: source.schedule.clone(),
        last_success: health.last_success,
        last_failure: health.last_failure.map(|f| FailureView {
            at: f.at,
            reason: f.reason.as_str().to_string(),
            message: now.admin.then_some(f.message),
        }),
        next_run: statuses.iter().filter_map(|s| s.next_run).min(),
        running: statuses.iter().any(|s| s.running),
        key_results,
    })
}

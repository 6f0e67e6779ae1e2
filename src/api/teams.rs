//! `/teams` and a team's summary for a period: its KRs, its progress and
//! the objectives it supports. Leaders and admins manage teams.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::require_role;
use super::error::{ApiError, ApiResult, Warning};
use super::extract::{ApiJson, ApiQuery, PathId, nullable, present};
use super::input::{self, MAX_NAME};
use super::pagination::{Page, limit, page_by_id};
use super::rules::{self, Gate, Subject};
use super::views::json;
use super::views::{KeyResultView, ObjectiveView, PeriodView, TeamView};
use super::writes::{self, enforce};
use super::{ApiState, views};
use crate::access::{Principal, Role};
use crate::okr::{EntityKind, Team, WorkflowState};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the direct children of this team.
    pub parent: Option<String>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_teams", get, path = "/teams", tag = "teams", params(ListQuery),
    responses(
        (status = 200, description = "Teams by id", body = Page<TeamView>),
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
        &snapshot.index.current.teams,
        q.cursor.as_deref(),
        limit(q.limit)?,
        |t| {
            q.parent
                .as_deref()
                .is_none_or(|p| t.item.parent.as_deref() == Some(p))
        },
        |t| v.team(t),
    )?;
    Ok(json(&page))
}

#[utoipa::path(
    operation_id = "get_team", get, path = "/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id")),
    responses(
        (status = 200, description = "The team", body = TeamView),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(State(api): State<ApiState>, PathId(id): PathId) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let t = snapshot
        .index
        .current
        .teams
        .get(&id)
        .ok_or_else(|| ApiError::not_found("team", &id))?;
    Ok(json(&views(&api, &snapshot).team(t)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// The period [default: the one holding today].
    pub period: Option<String>,
}

/// A team in one period.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamSummary<'a> {
    pub team: TeamView<'a>,
    pub period: PeriodView<'a>,
    /// Mean progress of the team's approved KRs in the period, 0..1.
    pub progress: f64,
    /// The team's KRs on objectives of the period, in every workflow state.
    pub key_results: Vec<KeyResultView<'a>>,
    /// Objectives of the period the team owns or has KRs on.
    pub objectives: Vec<ObjectiveView<'a>>,
}

#[utoipa::path(
    operation_id = "get_team_summary", get, path = "/teams/{id}/summary", tag = "teams",
    params(("id" = String, Path, description = "Team id"), SummaryQuery),
    responses(
        (status = 200, description = "The team's KRs, progress and supported objectives in the period", body = TeamSummary),
        (status = 400, description = "Bad query, or no period holds today", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team or period", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn summary(
    State(api): State<ApiState>,
    PathId(id): PathId,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let v = views(&api, &snapshot);
    let current = &snapshot.index.current;
    let team = current
        .teams
        .get(&id)
        .ok_or_else(|| ApiError::not_found("team", &id))?;
    let period = match &q.period {
        Some(p) => current
            .periods
            .get(p)
            .ok_or_else(|| ApiError::not_found("period", p))?,
        None => {
            let today = v.now.date_naive();
            current
                .periods
                .values()
                .find(|p| p.item.start <= today && today <= p.item.end)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "no period holds today ({today}); name one with ?period="
                    ))
                })?
        }
    };
    let in_period = |objective: &str| {
        current
            .objectives
            .get(objective)
            .is_some_and(|o| o.item.period == period.item.id)
    };
    let key_results: Vec<KeyResultView> = current
        .key_results
        .values()
        .filter(|k| k.item.team == id && in_period(&k.item.objective))
        .map(|k| v.key_result(k))
        .collect();
    let objectives = current
        .objectives
        .values()
        .filter(|o| o.item.period == period.item.id && !o.item.archived)
        .filter(|o| {
            o.item.team == id
                || key_results.iter().any(|k| {
                    k.objective == o.item.id
                        && !matches!(k.state, WorkflowState::Archived | WorkflowState::Rejected)
                })
        })
        .map(|o| v.objective(o))
        .collect();
    let progress = snapshot
        .teams
        .iter()
        .find(|t| *t.team == *id && *t.period == period.item.id)
        .map_or(0.0, |t| t.progress);
    Ok(json(&TeamSummary {
        team: v.team(team),
        period: v.period(period),
        progress,
        key_results,
        objectives,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: String,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub name: String,
    /// The team it is part of (company → department → team).
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamWritten<'a> {
    #[serde(flatten)]
    pub team: TeamView<'a>,
    pub warnings: Vec<Warning>,
}

#[utoipa::path(
    operation_id = "create_team", post, path = "/teams", tag = "teams", request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = TeamWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
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
    ApiJson(body): ApiJson<NewTeam>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage teams")?;
    input::id("id", &body.id)?;
    let team = Team {
        id: body.id,
        name: body.name,
        parent: body.parent,
    };
    check_fields(&team)?;
    let mut tx = api.store().begin_model_tx().await?;
    if tx.current().teams.contains_key(&team.id) {
        return Err(writes::taken(EntityKind::Team, &team.id, "teams"));
    }
    let warnings = enforce(rules::check(
        tx.current(),
        Subject::Team(&team),
        &api.rules,
        Gate::Full,
    ))?;
    tx.put_team(&team).await?;
    tx.audit(&writes::audit(
        &who,
        EntityKind::Team,
        &team.id,
        "create",
        None,
        Some(&team),
    ))
    .await?;
    tx.commit().await?;
    let body = written(&api, &team.id, warnings, true).await?;
    Ok(writes::created(body, "teams", &team.id))
}

#[utoipa::path(
    operation_id = "update_team", patch, path = "/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id")),
    request_body = TeamPatch,
    responses(
        (status = 200, description = "Changed", body = TeamWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Managed by an OKR file", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, references or a cycle", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<TeamPatch>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage teams")?;
    let mut tx = api.store().begin_model_tx().await?;
    let stored = tx
        .current()
        .teams
        .get(&id)
        .ok_or_else(|| ApiError::not_found("team", &id))?;
    if let Some(file) = &stored.meta.managed_by {
        return Err(ApiError::managed_by_file("team", &id, file));
    }
    let before = stored.item.clone();
    let mut team = before.clone();
    if let Some(name) = patch.name {
        team.name = name;
    }
    if let Some(parent) = patch.parent {
        team.parent = parent;
    }
    check_fields(&team)?;
    let warnings = enforce(rules::check(
        tx.current(),
        Subject::Team(&team),
        &api.rules,
        Gate::Full,
    ))?;
    let changed = team != before;
    if changed {
        tx.put_team(&team).await?;
        tx.audit(&writes::audit(
            &who,
            EntityKind::Team,
            &id,
            "update",
            Some(&before),
            Some(&team),
        ))
        .await?;
        tx.commit().await?;
    }
    written(&api, &id, warnings, changed).await
}

fn check_fields(t: &Team) -> ApiResult<()> {
    input::text("name", &t.name, MAX_NAME, false)?;
    input::opt_text("parent", t.parent.as_deref(), MAX_NAME, false)
}

async fn written(
    api: &ApiState,
    id: &str,
    warnings: Vec<Warning>,
    changed: bool,
) -> ApiResult<Response> {
    writes::written(api, changed, EntityKind::Team, id, |v| {
        let t = v.snapshot.index.current.teams.get(id)?;
        Some(json(&TeamWritten {
            team: v.team(t),
            warnings,
        }))
    })
    .await
}

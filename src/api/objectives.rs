//! `/objectives`: list, read, create and edit objectives (leaders and
//! admins), and `/objectives/{id}/tree`, the whole subtree with its KRs.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::require_role;
use super::error::{ApiError, ApiResult, Warning};
use super::extract::{ApiJson, ApiQuery, PathId, nullable, present};
use super::input::{self, MAX_DESCRIPTION, MAX_TITLE};
use super::pagination::{Page, limit, page_by_id};
use super::rules::{self, Gate, Subject};
use super::views::json;
use super::views::{KeyResultView, ObjectiveView, Views};
use super::writes::{self, enforce};
use super::{ApiState, views};
use crate::access::{Principal, Role};
use crate::okr::{EntityKind, Objective, Status};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub period: Option<String>,
    /// The owning team.
    pub team: Option<String>,
    /// Only the direct children of this objective.
    pub parent: Option<String>,
    pub status: Option<Status>,
    /// Include archived objectives [default: false].
    pub archived: Option<bool>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_objectives", get, path = "/objectives", tag = "objectives", params(ListQuery),
    responses(
        (status = 200, description = "Objectives by id", body = Page<ObjectiveView>),
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
    let archived = q.archived.unwrap_or(false);
    let page = page_by_id(
        &snapshot.index.current.objectives,
        q.cursor.as_deref(),
        limit(q.limit)?,
        |o| {
            let o_ = &o.item;
            (archived || !o_.archived)
                && q.period.as_deref().is_none_or(|p| o_.period == p)
                && q.team.as_deref().is_none_or(|t| o_.team == t)
                && q.parent
                    .as_deref()
                    .is_none_or(|p| o_.parent.as_deref() == Some(p))
                && q.status.is_none_or(|s| v.objective(o).status == s)
        },
        |o| v.objective(o),
    )?;
    Ok(json(&page))
}

#[utoipa::path(
    operation_id = "get_objective", get, path = "/objectives/{id}", tag = "objectives",
    params(("id" = String, Path, description = "Objective id")),
    responses(
        (status = 200, description = "The objective", body = ObjectiveView),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such objective", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(State(api): State<ApiState>, PathId(id): PathId) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let o = snapshot
        .index
        .current
        .objectives
        .get(&id)
        .ok_or_else(|| ApiError::not_found("objective", &id))?;
    Ok(json(&views(&api, &snapshot).objective(o)))
}

/// An objective with its KRs and child objectives, all the way down.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveNode<'a> {
    pub objective: ObjectiveView<'a>,
    pub key_results: Vec<KeyResultView<'a>>,
    #[schema(no_recursion)]
    pub children: Vec<ObjectiveNode<'a>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveTree<'a> {
    pub root: ObjectiveNode<'a>,
    /// KRs outside the subtree that KRs in it contribute to (their `parent`).
    pub parent_key_results: Vec<KeyResultView<'a>>,
}

#[utoipa::path(
    operation_id = "get_objective_tree", get, path = "/objectives/{id}/tree", tag = "objectives",
    params(("id" = String, Path, description = "Objective id")),
    responses(
        (status = 200, description = "The subtree with KRs, parent KRs, progress and status", body = ObjectiveTree),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such objective", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn tree(State(api): State<ApiState>, PathId(id): PathId) -> ApiResult<Response> {
    let snapshot = api.snapshot();
    let v = views(&api, &snapshot);
    if !snapshot.index.current.objectives.contains_key(&id) {
        return Err(ApiError::not_found("objective", &id));
    }
    let mut seen = HashSet::new();
    let root = node(&v, &id, &mut seen).ok_or_else(|| ApiError::not_found("objective", &id))?;
    let mut in_tree = HashSet::new();
    collect_krs(&root, &mut in_tree);
    let current = &snapshot.index.current;
    let mut parents: Vec<&str> = Vec::new();
    collect_parents(&root, &mut parents);
    parents.sort_unstable();
    parents.dedup();
    let parent_key_results = parents
        .into_iter()
        .filter(|p| !in_tree.contains(*p))
        .filter_map(|p| current.key_results.get(p))
        .map(|k| v.key_result(k))
        .collect();
    Ok(json(&ObjectiveTree {
        root,
        parent_key_results,
    }))
}

/// `id` and its descendants; an objective already on the path is not entered twice.
fn node<'a>(v: &Views<'a>, id: &str, seen: &mut HashSet<String>) -> Option<ObjectiveNode<'a>> {
    let model = &v.snapshot.index;
    let o = model.current.objectives.get(id)?;
    if !seen.insert(id.to_string()) {
        return None;
    }
    let key_results = model
        .krs_of_objective
        .get(id)
        .into_iter()
        .flatten()
        .filter_map(|k| model.current.key_results.get(&**k))
        .map(|k| v.key_result(k))
        .collect();
    let children = model
        .child_objectives
        .get(id)
        .into_iter()
        .flatten()
        .filter_map(|c| node(v, c, seen))
        .collect();
    Some(ObjectiveNode {
        objective: v.objective(o),
        key_results,
        children,
    })
}

fn collect_krs<'a>(n: &'a ObjectiveNode, out: &mut HashSet<&'a str>) {
    out.extend(n.key_results.iter().map(|k| k.id));
    n.children.iter().for_each(|c| collect_krs(c, out));
}

fn collect_parents<'a>(n: &'a ObjectiveNode, out: &mut Vec<&'a str>) {
    out.extend(n.key_results.iter().filter_map(|k| k.parent));
    n.children.iter().for_each(|c| collect_parents(c, out));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObjective {
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: String,
    /// Qualitative: the numbers go into its KRs.
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
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub period: String,
    /// The owning team.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: String,
    /// The objective it aligns under.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectivePatch {
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
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub period: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<Option<String>>,
    /// Archive (true) or restore (false); an archived objective and its KRs leave the rollups.
    #[serde(default, deserialize_with = "present")]
    pub archived: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveWritten<'a> {
    #[serde(flatten)]
    pub objective: ObjectiveView<'a>,
    pub warnings: Vec<Warning>,
}

#[utoipa::path(
    operation_id = "create_objective", post, path = "/objectives", tag = "objectives", request_body = NewObjective,
    responses(
        (status = 201, description = "Created", body = ObjectiveWritten),
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
    ApiJson(body): ApiJson<NewObjective>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage objectives")?;
    input::id("id", &body.id)?;
    let objective = Objective {
        id: body.id,
        title: body.title,
        description: body.description,
        period: body.period,
        team: body.team,
        parent: body.parent,
        archived: false,
    };
    check_fields(&objective)?;
    let mut tx = api.store().begin_model_tx().await?;
    if tx.current().objectives.contains_key(&objective.id) {
        return Err(writes::taken(
            EntityKind::Objective,
            &objective.id,
            "objectives",
        ));
    }
    let warnings = enforce(rules::check(
        tx.current(),
        Subject::Objective(&objective),
        &api.rules,
        Gate::Full,
    ))?;
    tx.put_objective(&objective).await?;
    tx.audit(&writes::audit(
        &who,
        EntityKind::Objective,
        &objective.id,
        "create",
        None,
        Some(&objective),
    ))
    .await?;
    tx.commit().await?;
    let body = written(&api, &objective.id, warnings, true).await?;
    Ok(writes::created(body, "objectives", &objective.id))
}

#[utoipa::path(
    operation_id = "update_objective", patch, path = "/objectives/{id}", tag = "objectives",
    params(("id" = String, Path, description = "Objective id")),
    request_body = ObjectivePatch,
    responses(
        (status = 200, description = "Changed", body = ObjectiveWritten),
        (status = 400, description = "Malformed JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a leader or admin", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such objective", body = super::Problem, content_type = "application/problem+json"),
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
    ApiJson(patch): ApiJson<ObjectivePatch>,
) -> ApiResult<Response> {
    require_role(&who, Role::Leader, "manage objectives")?;
    let mut tx = api.store().begin_model_tx().await?;
    let stored = tx
        .current()
        .objectives
        .get(&id)
        .ok_or_else(|| ApiError::not_found("objective", &id))?;
    if let Some(file) = &stored.meta.managed_by {
        return Err(ApiError::managed_by_file("objective", &id, file));
    }
    let before = stored.item.clone();
    let mut objective = before.clone();
    macro_rules! set {
        ($($field:ident),*) => {$(
            if let Some(v) = patch.$field {
                objective.$field = v;
            }
        )*};
    }
    set!(title, description, period, team, parent, archived);
    check_fields(&objective)?;
    let warnings = enforce(rules::check(
        tx.current(),
        Subject::Objective(&objective),
        &api.rules,
        Gate::Full,
    ))?;
    let changed = objective != before;
    if changed {
        tx.put_objective(&objective).await?;
        let verb = match (before.archived, objective.archived) {
            (false, true) => "archive",
            (true, false) => "restore",
            _ => "update",
        };
        tx.audit(&writes::audit(
            &who,
            EntityKind::Objective,
            &id,
            verb,
            Some(&before),
            Some(&objective),
        ))
        .await?;
        tx.commit().await?;
    }
    written(&api, &id, warnings, changed).await
}

fn check_fields(o: &Objective) -> ApiResult<()> {
    input::text("title", &o.title, MAX_TITLE, false)?;
    input::opt_text(
        "description",
        o.description.as_deref(),
        MAX_DESCRIPTION,
        true,
    )?;
    input::text("period", &o.period, MAX_TITLE, false)?;
    input::text("team", &o.team, MAX_TITLE, false)?;
    input::opt_text("parent", o.parent.as_deref(), MAX_TITLE, false)
}

async fn written(
    api: &ApiState,
    id: &str,
    warnings: Vec<Warning>,
    changed: bool,
) -> ApiResult<Response> {
    writes::written(api, changed, EntityKind::Objective, id, |v| {
        let o = v.snapshot.index.current.objectives.get(id)?;
        Some(json(&ObjectiveWritten {
            objective: v.objective(o),
            warnings,
        }))
    })
    .await
}

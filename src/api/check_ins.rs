//! `/key-results/{id}/check-ins`: a KR's history (time range, cursor
//! pagination) and manual check-ins. A manual check-in on a KR bound to a
//! source is an override (leaders and admins only): it stands until the
//! next fetch. An `Idempotency-Key` header makes a retried POST safe.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::access::{require_role, require_team};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, PathId};
use super::input::{self, MAX_NOTE};
use super::pagination::{self, Page, limit};
use crate::access::{Principal, Role};
use crate::okr::guard::Hold;
use crate::okr::{CheckIn, Origin, Status, WorkflowState};
use crate::store::{AuditEntry, CheckInGuard, CheckInWrite, HistoryQuery, StoredCheckIn};

/// How far ahead of the daemon's clock `observed_at` may be (clock skew).
const MAX_FUTURE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
const MAX_IDEMPOTENCY_KEY: usize = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInView {
    pub id: i64,
    pub key_result: String,
    pub value: f64,
    #[serde(serialize_with = "super::time::ms")]
    pub observed_at: DateTime<Utc>,
    #[serde(serialize_with = "super::time::ms")]
    pub recorded_at: DateTime<Utc>,
    /// `source:<name>` or `manual:<who>`.
    pub origin: String,
    /// The person, for a manual check-in.
    pub author: Option<String>,
    pub note: Option<String>,
    /// 0..1: how sure the author is that the KR will be met.
    pub confidence: Option<f64>,
    /// A manual value on a KR bound to a source: it stands until the next fetch.
    #[serde(rename = "override")]
    pub is_override: bool,
    /// Where a fetched value stands with its KR's guard (README "Held
    /// values"): `held` (waiting, not counted), `superseded`, `dismissed`
    /// (never counted), `confirmed`, `accepted` (counted after a hold);
    /// absent when the value counted as it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

impl From<StoredCheckIn> for CheckInView {
    fn from(s: StoredCheckIn) -> Self {
        let c = s.check_in;
        CheckInView {
            id: s.id,
            author: c.origin.0.strip_prefix("manual:").map(str::to_string),
            key_result: c.key_result,
            value: c.value,
            observed_at: c.observed_at,
            recorded_at: s.recorded_at,
            origin: c.origin.0,
            note: c.note,
            confidence: c.confidence,
            is_override: s.is_override,
            hold: s.hold,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Observed at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Observed before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(
    operation_id = "list_check_ins", get, path = "/key-results/{id}/check-ins", tag = "check-ins",
    params(("id" = String, Path, description = "KR id"), HistoryParams),
    responses(
        (status = 200, description = "Check-ins, newest first", body = Page<CheckInView>),
        (status = 400, description = "Bad query", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(api): State<ApiState>,
    PathId(id): PathId,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> ApiResult<Json<Page<CheckInView>>> {
    if !api.snapshot().index.current.key_results.contains_key(&id) {
        return Err(ApiError::not_found("key result", &id));
    }
    let limit = limit(q.limit)?;
    let older_than = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut rows = api
        .store()
        .check_in_history(&HistoryQuery {
            key_result: id,
            from: q.from,
            to: q.to,
            older_than,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            pagination::encode(&format!(
                "{}:{}",
                r.check_in.observed_at.timestamp_millis(),
                r.id
            ))
        })
    } else {
        None
    };
    Ok(Json(Page {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

fn decode_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, i64)> {
    pagination::decode_with(cursor, |text| {
        let (ms, id) = text.split_once(':')?;
        let at = DateTime::from_timestamp_millis(ms.parse().ok()?)?;
        Some((at, id.parse().ok()?))
    })
}

/// A manual check-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCheckIn {
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub value: f64,
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 2000
    )]
    pub note: Option<String>,
    /// 0..1: how sure you are that the KR will be met.
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: Option<f64>,
    /// When the value was true [default: now]; not in the future.
    pub observed_at: Option<DateTime<Utc>>,
}

/// A recorded check-in and where it moved the KR and its objectives.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInWritten {
    pub check_in: CheckInView,
    pub key_result: ProgressView,
    /// The KR's objective, then each parent objective up the tree.
    pub objectives: Vec<ProgressView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub id: String,
    pub progress: f64,
    /// For the KR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

#[utoipa::path(
    operation_id = "create_check_in", post, path = "/key-results/{id}/check-ins", tag = "check-ins",
    params(
        ("id" = String, Path, description = "KR id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key records the check-in once"),
    ),
    request_body = NewCheckIn,
    responses(
        (status = 201, description = "Recorded; progress and rollups moved", body = CheckInWritten),
        (status = 200, description = "Already recorded under this Idempotency-Key", body = CheckInWritten),
        (status = 400, description = "Malformed JSON or header", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not for this role or team (a KR with a source takes overrides from leaders and admins only)", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such KR", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The KR is not approved, or its value comes from its children", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid value, note, confidence or time", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(api): State<ApiState>,
    Extension(who): Extension<Principal>,
    PathId(id): PathId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewCheckIn>,
) -> ApiResult<Response> {
    require_role(&who, Role::Member, "check in")?;
    let now = api.now();
    // From the live engine, not a snapshot: a snapshot is rebuilt after
    // every check-in, and check-ins come by the thousand.
    let (kr, live) = api.live.read(|engine, index| {
        let kr = index.current.key_results.get(&id).map(|s| s.item.clone());
        let live = engine
            .key_result(&id)
            .map(|s| (s.derived, s.value, s.last_update));
        (kr, live)
    });
    let kr = kr.ok_or_else(|| ApiError::not_found("key result", &id))?;
    let what = format!("key result `{id}`");
    require_team(&who, &kr.team, &what)?;
    if kr.state != WorkflowState::Approved {
        return Err(ApiError::conflict(format!(
            "{what} is {}; check-ins are recorded on approved key results only",
            kr.state.as_str()
        )));
    }
    let is_override = match &kr.source {
        Some(binding) => {
            require_role(
                &who,
                Role::Leader,
                &format!(
                    "override {what}, whose values come from source `{}`",
                    binding.source
                ),
            )?;
            true
        }
        None => false,
    };
    match live {
        None => {
            return Err(ApiError::conflict(format!(
                "{what} is on an archived objective; it no longer takes check-ins"
            )));
        }
        Some((true, ..)) => {
            return Err(ApiError::conflict(format!(
                "{what} takes its value from its child key results; check in on those"
            )));
        }
        Some(_) => {}
    }
    input::number("value", body.value)?;
    crate::okr::value::check_value(kr.kind, body.value)
        .map_err(|e| ApiError::unprocessable(format!("`value`: {e}")))?;
    if let Some(c) = body.confidence {
        input::confidence(c)?;
    }
    input::opt_text("note", body.note.as_deref(), MAX_NOTE, true)?;
    // The store keeps milliseconds: answer with what it keeps.
    let observed_at = body.observed_at.unwrap_or(now);
    let observed_at =
        DateTime::from_timestamp_millis(observed_at.timestamp_millis()).unwrap_or(observed_at);
    if observed_at.year() < crate::okr::validate::MIN_YEAR {
        return Err(ApiError::unprocessable(format!(
            "`observed_at` {observed_at} is before {}; check-ins record what was observed",
            crate::okr::validate::MIN_YEAR
        )));
    }
    if observed_at > now + MAX_FUTURE {
        return Err(ApiError::unprocessable(format!(
            "`observed_at` {observed_at} is in the future; a check-in records what was observed"
        )));
    }
    let idempotency_key = idempotency_key(&headers, &who, &id)?;
    let check_in = CheckIn {
        key_result: id.clone(),
        value: body.value,
        observed_at,
        origin: Origin::manual(&who.name),
        note: body.note,
        confidence: body.confidence,
        idempotency_key,
    };
    let audit = AuditEntry {
        actor: who.actor(),
        action: "check_in.create".into(),
        entity_kind: "key_result",
        entity_id: id.clone(),
        before: live.map(|(_, value, at)| serde_json::json!({ "value": value, "last_update": at })),
        after: Some(serde_json::json!({
            "value": check_in.value,
            "observed_at": check_in.observed_at,
            "note": check_in.note,
            "confidence": check_in.confidence,
            "override": is_override,
        })),
    };
    let requested = (check_in.value, check_in.note.clone(), check_in.confidence);
    let given_time = body.observed_at.map(|_| check_in.observed_at);
    // What was checked above, checked again where it is written.
    let guard = CheckInGuard {
        without_source: who.role == Role::Member,
        team: (who.role == Role::Member).then(|| kr.team.clone()),
    };
    let write = CheckInWrite {
        check_in,
        is_override,
        // A person's value is never held.
        hold: None,
        audit: Some(audit),
        guard: Some(guard),
    };
    let (stored, created) = api.pipeline.record_check_in(write).await?;
    if !created {
        let c = &stored.check_in;
        let same = (c.value, c.note.clone(), c.confidence) == requested
            && given_time.is_none_or(|t| t == c.observed_at);
        if !same {
            return Err(ApiError::unprocessable(
                "this Idempotency-Key was used for a different check-in; use a new key for a new one",
            ));
        }
    }
    let (key_result, objectives) = progress(&api, &id, now);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = CheckInWritten {
        check_in: stored.into(),
        key_result,
        objectives,
    };
    let location = format!("/api/v1/key-results/{id}/check-ins");
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// `api:<token id>:<kr>:<key>`: keys of one client never collide with
/// another's, nor a key reused on another KR with that KR's check-ins.
fn idempotency_key(headers: &HeaderMap, who: &Principal, kr: &str) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
        })?;
    let token = who.token_id.as_deref().unwrap_or("anonymous");
    Ok(Some(format!("api:{token}:{kr}:{key}")))
}

/// The KR and its objective chain as the engine has them now.
fn progress(api: &ApiState, id: &str, now: DateTime<Utc>) -> (ProgressView, Vec<ProgressView>) {
    api.live.read(|engine, _| {
        let Some(kr) = engine.key_result(id) else {
            let none = ProgressView {
                id: id.to_string(),
                progress: 0.0,
                value: None,
                status: None,
            };
            return (none, Vec::new());
        };
        let kr_view = ProgressView {
            id: kr.id.to_string(),
            progress: kr.progress,
            value: kr.value,
            status: Some(engine.status(kr, now)),
        };
        let mut objectives = Vec::new();
        let mut next = Some(&*kr.objective);
        // Cycles are cut by the engine; the bound is a second guard.
        while let Some(o) = next.and_then(|o| engine.objective(o)) {
            if objectives.len() > engine.objectives().len() {
                break;
            }
            objectives.push(ProgressView {
                id: o.id.to_string(),
                progress: o.progress,
                value: None,
                status: None,
            });
            next = o.parent.as_deref();
        }
        (kr_view, objectives)
    })
}

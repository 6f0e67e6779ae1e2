//! Authentication of every `/api/v1` request (a bearer token, anonymous
//! reads when `[server] anonymous_read` is on, or the web app's signed-in
//! visitor on its in-process calls: `ActingAs`) and the permission checks
//! handlers make. No token or an unknown one: 401; a known token without
//! the right: 403.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::error::{ApiError, ApiResult};
use crate::access::{ActingAs, Principal, Role};

/// Puts the request's [`Principal`] into its extensions, or answers 401/403.
pub async fn authenticate(State(api): State<ApiState>, mut req: Request, next: Next) -> Response {
    let read = is_read(req.method());
    let principal = match req.extensions_mut().remove::<ActingAs>() {
        Some(ActingAs(principal)) => principal,
        None => match from_bearer(&api, req.headers(), read).await {
            Ok(principal) => principal,
            Err(refused) => return refused,
        },
    };
    if !read && principal.role == Role::Viewer {
        return ApiError::forbidden(
            "viewer tokens can only read; writes need a member token or above",
        )
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The bearer token's principal, anonymous for reads without one where
/// allowed; else the 401 (or 503 while tokens cannot be looked up).
async fn from_bearer(
    api: &ApiState,
    headers: &axum::http::HeaderMap,
    read: bool,
) -> Result<Principal, Response> {
    match bearer(headers) {
        Bearer::Missing if read && api.anonymous_read => Ok(Principal::anonymous()),
        Bearer::Missing => Err(ApiError::unauthorized(
            "this endpoint needs an API token: send `Authorization: Bearer <token>` \
             (make one with `okrd token create --role ...`)",
        )
        .into_response()),
        Bearer::Malformed => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )
        .into_response()),
        Bearer::Token(token) => match api.tokens.authenticate(token).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                Err(ApiError::unauthorized("the token is unknown or revoked").into_response())
            }
            // The database away is 503 with Retry-After, not a server fault.
            Err(e) => Err(ApiError::from(e).into_response()),
        },
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

enum Bearer<'a> {
    Missing,
    Malformed,
    Token(&'a str),
}

fn bearer(headers: &axum::http::HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Bearer::Token(token.trim())
        }
        _ => Bearer::Malformed,
    }
}

/// 403 unless the principal's role is at least `min`. `to` completes
/// "you need ... to <to>".
pub fn require_role(p: &Principal, min: Role, to: &str) -> ApiResult<()> {
    if p.role >= min {
        return Ok(());
    }
    let needed = match min {
        Role::Viewer => "any token",
        Role::Member => "a member, leader or admin token",
        Role::Leader => "a leader or admin token",
        Role::Admin => "an admin token",
    };
    Err(ApiError::forbidden(format!(
        "you need {needed} to {to}; this is a {} token",
        p.role
    )))
}

/// 403 unless the principal works for `team` (a member of it, a leader or an admin).
/// `what` names the thing, such as "key result `x`".
pub fn require_team(p: &Principal, team: &str, what: &str) -> ApiResult<()> {
    if p.acts_for(team) {
        return Ok(());
    }
    Err(match (p.role, &p.team) {
        (Role::Member, Some(mine)) => ApiError::forbidden(format!(
            "your member token acts for team `{mine}`, and {what} belongs to team `{team}`"
        )),
        _ => ApiError::forbidden(format!(
            "a {} token cannot change {what}; it needs a member of team `{team}`, a leader or an admin",
            p.role
        )),
    })
}

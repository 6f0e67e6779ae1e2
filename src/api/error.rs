//! Every API error as `application/problem+json` (RFC 9457) with a `detail`
//! that says what is wrong. Rejections of the extractors, the store's
//! constraint violations and the OKR rules (`okr::validate`) all end up here; only a
//! real server fault is a 500, and its body names an incident id to find
//! the cause in the log, never the cause itself.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem report (RFC 9457). Members beyond the standard ones appear
/// with some problems: `violations` and `warnings` (rule checks),
/// `managed_by` (a KR or objective an OKR file owns), `state` and `allowed`
/// (workflow transitions).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`, or `urn:okrd:problem:<kind>` for okrd's own kinds.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, for people.
    pub detail: String,
    /// Rules a write breaks (422 `urn:okrd:problem:rule-violation`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Rules the write bends without breaking them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The OKR file that owns the entity (409 `urn:okrd:problem:managed-by-file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    /// The KR's workflow state (409 `urn:okrd:problem:illegal-transition`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The actions its state allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Violation {
    /// The rule, such as `max_krs_per_objective_per_team` or `measurable_target`.
    pub rule: String,
    /// The JSON member at fault, when there is one.
    pub field: Option<String>,
    pub message: String,
    /// For the limits: the limit…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// …and the KRs that count against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_results: Option<Vec<String>>,
}

/// A rule bent, not broken: the write went through.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Warning {
    pub rule: String,
    /// `kind/id` of the entity it is about, such as `objective/grow`.
    pub entity: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed: errors travel through every `Result` of a handler.
    problem: Box<Problem>,
    /// Seconds for a `Retry-After` header (503 while the database is away).
    retry_after: Option<u32>,
}

/// What a client waits before trying a write again while the database is away.
const DATABASE_RETRY_AFTER_SECS: u32 = 5;

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            problem: Box::new(Problem {
                kind: "about:blank".into(),
                title: status.canonical_reason().unwrap_or("Error").into(),
                status: status.as_u16(),
                detail: detail.into(),
                violations: Vec::new(),
                warnings: Vec::new(),
                managed_by: None,
                state: None,
                allowed: None,
            }),
            retry_after: None,
        }
    }

    /// The database cannot be reached or is busy: nothing was written, and
    /// the same request may succeed shortly (`Retry-After`).
    pub fn database_unavailable() -> ApiError {
        let mut e = ApiError::typed(
            StatusCode::SERVICE_UNAVAILABLE,
            "database-unavailable",
            "Database unavailable",
            format!(
                "the database is unavailable or busy; nothing was written, try again in \
                 {DATABASE_RETRY_AFTER_SECS} seconds"
            ),
        );
        e.retry_after = Some(DATABASE_RETRY_AFTER_SECS);
        e
    }

    /// One of okrd's own problem kinds: `urn:okrd:problem:<kind>`.
    fn typed(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(status, detail);
        e.problem.kind = format!("urn:okrd:problem:{kind}");
        e.problem.title = title.into();
        e
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// `what` is the kind as people say it ("key result").
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{what} `{id}` does not exist"),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    /// Input that parses but makes no sense (a value out of range, an unknown reference).
    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// An entity an OKR file owns.
    pub fn managed_by_file(what: &str, id: &str, file: &str) -> ApiError {
        let mut e = ApiError::typed(
            StatusCode::CONFLICT,
            "managed-by-file",
            "Managed by an OKR file",
            format!(
                "{what} `{id}` is managed by the OKR file {file}; change it there and run \
                 `okrd apply` (the file stays the source of truth)"
            ),
        );
        e.problem.managed_by = Some(file.to_string());
        e
    }

    /// A workflow action the KR's state does not allow.
    pub fn illegal_transition(detail: String, state: &str, allowed: Vec<String>) -> ApiError {
        let mut e = ApiError::typed(
            StatusCode::CONFLICT,
            "illegal-transition",
            "Illegal workflow transition",
            detail,
        );
        e.problem.state = Some(state.to_string());
        e.problem.allowed = Some(allowed);
        e
    }

    /// OKR rules the write breaks (with the warnings it also raised).
    pub fn rule_violations(violations: Vec<Violation>, warnings: Vec<Warning>) -> ApiError {
        let detail = violations
            .iter()
            .map(|v| v.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = ApiError::typed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rule-violation",
            "OKR rule violated",
            detail,
        );
        e.problem.violations = violations;
        e.problem.warnings = warnings;
        e
    }

    /// A server fault: logged with an incident id; the client gets only the id.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        let incident = format!("{:016x}", rand::random::<u64>());
        tracing::error!(%incident, error = %cause, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the server could not complete the request (incident {incident}; see the daemon's log)"
            ),
        )
    }

    pub fn detail(&self) -> &str {
        &self.problem.detail
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            // Another writer got in between our checks and the write.
            StoreError::Constraint(_) => ApiError::conflict(
                "the write conflicts with a concurrent change; read the entity again and retry",
            ),
            StoreError::UnknownKeyResult(id) => ApiError::not_found("key result", &id),
            StoreError::Invalid(msg) => ApiError::unprocessable(msg),
            StoreError::Conflict(msg) => ApiError::conflict(msg),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "API request failed: the database is unavailable");
                ApiError::database_unavailable()
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"okrd\""),
            );
        }
        response
    }
}

//! The REST API under `/api/v1` (README "REST API"): the bottom-up OKR workflow,
//! check-ins, sources and the audit log, as JSON whose field names match
//! the OKR file format, documented by `/api/v1/openapi.json`.
//!
//! Reads render from the in-memory snapshot (never the database, except
//! histories); writes go through one model transaction each, then rebuild
//! the model so the next read sees them. One file per resource; `error`,
//! `extract`, `auth`, `pagination`, `input` and `rules` are shared.

mod access;
mod audit;
mod cache;
mod check_ins;
mod error;
mod extract;
mod holds;
mod input;
mod key_results;
mod objectives;
pub mod openapi;
mod pagination;
mod periods;
mod rules;
mod sources;
mod sustain;
mod teams;
mod time;
mod views;
mod workflow;
mod writes;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tower_http::catch_panic::CatchPanicLayer;

use crate::access::cache::ApiTokenCache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::live::{LiveModel, Snapshot};
use crate::metrics::Telemetry;
use crate::pipeline::Pipeline;
use crate::reload::{Reloader, RuleContext, rule_context};
use crate::scheduler::SchedulerHandle;
use crate::store::Store;
pub use error::{ApiError, Problem};
use views::Views;

/// What every handler reaches. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<ApiInner>);

pub struct ApiInner {
    store: Store,
    live: Arc<LiveModel>,
    telemetry: Arc<Telemetry>,
    /// Records manual check-ins; knows the sources and the bound KRs.
    pipeline: Arc<Pipeline>,
    /// Runs a source now.
    scheduler: SchedulerHandle,
    /// Rebuilds the live model after a write.
    reloader: Arc<Reloader>,
    clock: Arc<dyn Clock>,
    pub tokens: ApiTokenCache,
    /// The OKR rules under the configured limits and sources.
    pub rules: RuleContext,
    /// `[server] anonymous_read`: GET without a token.
    pub anonymous_read: bool,
    /// Rendered reads of the current snapshot.
    cache: cache::ResponseCache,
}

impl Deref for ApiState {
    type Target = ApiInner;
    fn deref(&self) -> &ApiInner {
        &self.0
    }
}

/// The handles the API is given (it reaches nothing else).
pub struct ApiParts<'a> {
    pub settings: &'a Settings,
    pub store: Store,
    pub live: Arc<LiveModel>,
    pub telemetry: Arc<Telemetry>,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub reloader: Arc<Reloader>,
    pub clock: Arc<dyn Clock>,
}

impl ApiState {
    pub fn new(parts: ApiParts<'_>) -> ApiState {
        ApiState(Arc::new(ApiInner {
            tokens: ApiTokenCache::new(parts.store.clone()),
            rules: rule_context(parts.settings),
            anonymous_read: parts.settings.server.anonymous_read,
            cache: cache::ResponseCache::default(),
            store: parts.store,
            live: parts.live,
            telemetry: parts.telemetry,
            pipeline: parts.pipeline,
            scheduler: parts.scheduler,
            reloader: parts.reloader,
            clock: parts.clock,
        }))
    }
}

impl ApiInner {
    fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The snapshot with every write made so far.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.live.fresh_snapshot()
    }

    /// After a committed write: rebuild the model, so the response and
    /// every later read show it.
    async fn after_write(&self) -> Result<Arc<Snapshot>, ApiError> {
        // The write is committed: failing to show it is the server's fault.
        self.reloader.reload().await.map_err(ApiError::internal)?;
        Ok(self.snapshot())
    }
}

/// Renders views from `snapshot` at the state's clock.
fn views<'a>(api: &ApiInner, snapshot: &'a Snapshot) -> Views<'a> {
    Views {
        snapshot,
        now: api.now(),
    }
}

/// `/api/v1`: every route behind token authentication, but the OpenAPI document.
pub fn router(state: ApiState) -> Router {
    // Reads that render only from the snapshot: their answers are cached.
    let from_snapshot = Router::new()
        .route("/periods", get(periods::list).post(periods::create))
        .route("/periods/{id}", get(periods::one).patch(periods::update))
        .route("/teams", get(teams::list).post(teams::create))
        .route("/teams/{id}", get(teams::one).patch(teams::update))
        .route("/teams/{id}/summary", get(teams::summary))
        .route(
            "/objectives",
            get(objectives::list).post(objectives::create),
        )
        .route(
            "/objectives/{id}",
            get(objectives::one).patch(objectives::update),
        )
        .route("/objectives/{id}/tree", get(objectives::tree))
        .route(
            "/key-results",
            get(key_results::list).post(key_results::create),
        )
        .route(
            "/key-results/{id}",
            get(key_results::one).patch(key_results::update),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cache::serve,
        ));
    let authenticated = Router::new()
        .merge(from_snapshot)
        .route(
            "/key-results/{id}/check-ins",
            get(check_ins::list).post(check_ins::create),
        )
        .route(
            "/key-results/{id}/check-ins/{check_in}/accept",
            post(holds::accept),
        )
        .route(
            "/key-results/{id}/check-ins/{check_in}/dismiss",
            post(holds::dismiss),
        )
        .route("/key-results/{id}/reviews", get(workflow::reviews))
        .route("/key-results/{id}/propose", post(workflow::propose))
        .route("/key-results/{id}/approve", post(workflow::approve))
        .route(
            "/key-results/{id}/request-changes",
            post(workflow::request_changes),
        )
        .route("/key-results/{id}/reject", post(workflow::reject))
        .route("/key-results/{id}/archive", post(workflow::archive))
        .route("/sources", get(sources::list))
        .route("/sources/{name}", get(sources::one))
        .route("/sources/{name}/run", post(sources::run))
        .route("/audit", get(audit::list))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(authenticated)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // A bug must cost one request a 500, not the connection and its client.
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    ApiError::internal(format!("handler panicked: {what}")).into_response()
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}; see /api/v1/openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; see /api/v1/openapi.json",
            uri.path()
        ),
    )
}

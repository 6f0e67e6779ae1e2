//! What the daemon serves besides the REST API: `/metrics` for Prometheus,
//! `/healthz` and `/readyz` for orchestrators, and the status page at `/`
//! with its sign-in form. Everything renders from the live snapshot; only
//! `/readyz` and token checks ask the database.
//!
//! The status page is private by default (`[server] status_page`): it shows
//! the whole OKR tree and which sources fail, which is nobody's business
//! outside the company, so `/` asks for an API token unless the operator
//! chose `public` or `off`.

pub mod chart;
mod html;
mod reader;
mod sign_in;
mod status_page;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use crate::access::Role;
use crate::access::cache::ApiTokenCache;
use crate::clock::Clock;
use crate::config::StatusPageMode;
use crate::live::LiveModel;
use crate::metrics;
use crate::metrics::Telemetry;
use crate::scheduler::SchedulerHandle;
use crate::store::Store;

#[derive(Clone)]
pub struct WebState {
    pub live: Arc<LiveModel>,
    pub telemetry: Arc<Telemetry>,
    pub store: Store,
    pub scheduler: SchedulerHandle,
    pub clock: Arc<dyn Clock>,
    /// Checks the API tokens status page readers sign in with.
    pub tokens: Arc<ApiTokenCache>,
    /// `[server] status_page`: who may read `/`.
    pub status_page: StatusPageMode,
}

pub fn router(state: WebState) -> Router {
    // Prometheus asks for gzip; with thousands of KRs the exposition shrinks
    // ~20x. The fastest level keeps a scrape cheap on the daemon's CPU.
    let gzip = CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Fastest);
    let router = Router::new()
        .route("/metrics", get(metrics_handler).layer(gzip))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = match state.status_page {
        StatusPageMode::Off => router.route("/", get(status_page_off)),
        StatusPageMode::Private | StatusPageMode::Public => router
            .route("/", get(status_page))
            .route(
                "/sign-in",
                get(sign_in::form)
                    .post(sign_in::sign_in)
                    .layer(DefaultBodyLimit::max(sign_in::MAX_FORM_BYTES)),
            )
            .route("/sign-out", post(sign_in::sign_out)),
    };
    router.with_state(state)
}

async fn metrics_handler(State(s): State<WebState>) -> Response {
    let body = metrics::render(&s.live.snapshot(), &s.telemetry, s.clock.now());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers; either way the body says how many
/// fetched values wait to be written (`okr_check_in_backlog`).
async fn readyz(State(s): State<WebState>) -> Response {
    let waiting = s.telemetry.backlog.waiting.get();
    let backlog = match waiting {
        0 => String::new(),
        n => format!("backlog: {n} fetched values waiting to be written\n"),
    };
    match s.store.ready().await {
        Ok(()) => (StatusCode::OK, format!("ready\n{backlog}")).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            let body = format!("not ready: {e}\n{backlog}");
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

async fn status_page(State(s): State<WebState>, headers: HeaderMap) -> Response {
    let reader = match reader::identify(&s.tokens, &headers).await {
        Ok(reader) => reader,
        Err(e) => return sign_in::unavailable(&e),
    };
    if reader.is_none() && s.status_page == StatusPageMode::Private {
        return sign_in::page(StatusCode::UNAUTHORIZED, None);
    }
    let viewer = status_page::Viewer {
        signed_in: reader.as_ref().map(|p| (p.name.as_str(), p.role.as_str())),
        messages: reader.as_ref().is_some_and(|p| p.role == Role::Admin),
    };
    let snapshot = s.live.snapshot();
    let health = s.telemetry.sources.health();
    let schedule = s.scheduler.status();
    let page = status_page::render(&snapshot, &health, &schedule, s.clock.now(), &viewer);
    html::respond(StatusCode::OK, page)
}

async fn status_page_off() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no status page here: it is turned off ([server] status_page = \"off\")\n",
    )
        .into_response()
}

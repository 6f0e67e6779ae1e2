//! What the daemon serves besides the REST API: `/metrics` for Prometheus,
//! `/healthz` and `/readyz` for orchestrators, and the status page at `/`.
//! Everything renders from the live snapshot; only `/readyz` asks the database.

mod status_page;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use crate::clock::Clock;
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
}

pub fn router(state: WebState) -> Router {
    // Prometheus asks for gzip; with thousands of KRs the exposition shrinks
    // ~20x. The fastest level keeps a scrape cheap on the daemon's CPU.
    let gzip = CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Fastest);
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics_handler).layer(gzip))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
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

async fn status_page(State(s): State<WebState>) -> Html<String> {
    let snapshot = s.live.snapshot();
    let health = s.telemetry.sources.health();
    let schedule = s.scheduler.status();
    Html(status_page::render(
        &snapshot,
        &health,
        &schedule,
        s.clock.now(),
    ))
}

//! HTTP routes: `/metrics`, `/healthz`, `/readyz`, the status page and the REST API (`/api/v1`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use crate::clock::Clock;
use crate::metrics;
use crate::pipeline::Pipeline;
use crate::scheduler::SchedulerHandle;
use crate::snapshot::SharedSnapshot;
use crate::store::Store;
use crate::telemetry::SourceTelemetry;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: SharedSnapshot,
    pub telemetry: Arc<SourceTelemetry>,
    pub store: Store,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub clock: Arc<dyn Clock>,
    pub model: Arc<super::model::ModelService>,
}

pub fn router(state: AppState) -> Router {
    // Prometheus asks for gzip; with thousands of KRs the exposition shrinks
    // ~20x. The fastest level keeps a scrape cheap on the daemon's CPU.
    let gzip = CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Fastest);
    let api = crate::api::router(crate::api::ApiState::new(
        state.model.clone(),
        state.telemetry.clone(),
    ));
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics_handler).layer(gzip))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .nest("/api/v1", api)
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    let body = metrics::render(&s.snapshot.load(), &s.telemetry, s.clock.now());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
    }
}

async fn status_page(State(s): State<AppState>) -> Html<String> {
    let snapshot = s.snapshot.load();
    let health = s.telemetry.health();
    let schedule = s.scheduler.status();
    Html(super::status_page::render(
        &snapshot,
        &health,
        &schedule,
        s.clock.now(),
    ))
}

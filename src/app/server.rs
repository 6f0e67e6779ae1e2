//! The HTTP server's routes: the web outputs (`/metrics`, `/healthz`,
//! `/readyz`, the status page) and the REST API under `/api/v1`, each given
//! the handles it needs.

use std::sync::Arc;

use axum::Router;

use crate::api::ApiState;
use crate::clock::Clock;
use crate::config::Settings;
use crate::live::LiveModel;
use crate::metrics::Telemetry;
use crate::pipeline::Pipeline;
use crate::reload::Reloader;
use crate::scheduler::SchedulerHandle;
use crate::store::Store;
use crate::web::WebState;

/// Everything the routes reach.
pub struct Parts<'a> {
    pub settings: &'a Settings,
    pub store: Store,
    pub live: Arc<LiveModel>,
    pub telemetry: Arc<Telemetry>,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub reloader: Arc<Reloader>,
    pub clock: Arc<dyn Clock>,
}

pub fn router(parts: Parts<'_>) -> Router {
    let api = crate::api::router(ApiState::new(crate::api::ApiParts {
        settings: parts.settings,
        store: parts.store.clone(),
        live: parts.live.clone(),
        telemetry: parts.telemetry.clone(),
        pipeline: parts.pipeline,
        scheduler: parts.scheduler.clone(),
        reloader: parts.reloader,
        clock: parts.clock.clone(),
    }));
    let web = crate::web::router(WebState {
        live: parts.live,
        telemetry: parts.telemetry,
        store: parts.store,
        scheduler: parts.scheduler,
        clock: parts.clock,
    });
    web.nest("/api/v1", api)
}

//! The HTTP server: its routes (the web outputs, `/metrics`, `/healthz`,
//! `/readyz` and the web app, and the REST API under `/api/v1`, each
//! given the handles it needs), the per-request timeout over all of them,
//! and its limits: the connection cap under the open-file limit, and the
//! timeouts of `listener`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::fd_limit;
use super::listener::{self, Limits};
use crate::access::cache::ApiTokenCache;
use crate::access::named::TokenNames;
use crate::api::{ApiError, ApiState};
use crate::clock::Clock;
use crate::config::Settings;
use crate::live::LiveModel;
use crate::metrics::Telemetry;
use crate::pipeline::Pipeline;
use crate::reload::{Reloader, rule_context};
use crate::scheduler::SchedulerHandle;
use crate::store::Store;
use crate::web::{SignInLinks, WebState};

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
    /// One-time sign-in links the web app honours (`okrd demo` makes one).
    pub links: SignInLinks,
}

/// The server, running until `shutdown`; see `listener::serve`.
pub type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Serves `parts` on `listener` within the `[server]` limits. Raises the
/// open-file limit first and logs it, with a warning when the connection
/// cap does not fit under it.
pub fn serve(listener: TcpListener, parts: Parts<'_>, shutdown: CancellationToken) -> Serving {
    let limits = limits(parts.settings);
    Box::pin(listener::serve(listener, router(parts), limits, shutdown))
}

fn limits(settings: &Settings) -> Limits {
    let raised = fd_limit::raise_open_file_limit();
    let (max_connections, warning) = fd_limit::connection_cap(settings, raised.map(|r| r.0));
    match raised {
        Some((limit, before)) => tracing::info!(
            open_file_limit = limit,
            raised_from = before,
            max_connections,
            "open-file limit {limit}; at most {max_connections} client connections"
        ),
        None => tracing::info!(
            max_connections,
            "at most {max_connections} client connections"
        ),
    }
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let server = &settings.server;
    Limits {
        max_connections,
        header_read_timeout: server.header_read_timeout.0,
        idle_timeout: server.idle_timeout.0,
        request_timeout: server.request_timeout.0,
    }
}

pub fn router(parts: Parts<'_>) -> Router {
    let request_timeout = parts.settings.server.request_timeout.0;
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
        tokens: Arc::new(ApiTokenCache::new(parts.store.clone())),
        token_names: Arc::new(TokenNames::new(parts.store.clone())),
        store: parts.store,
        scheduler: parts.scheduler,
        clock: parts.clock,
        status_page: parts.settings.server.status_page,
        proxy_auth: parts.settings.server.proxy_auth.clone(),
        api: api.clone(),
        rules: Arc::new(rule_context(parts.settings)),
        links: parts.links,
        pages: Default::default(),
    });
    web.nest("/api/v1", api)
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            within_request_timeout,
        ))
}

/// Answers 503 (problem+json, as the API's errors) when the handler takes
/// longer than `[server] request_timeout`, reading the body included. The
/// handler is dropped: a fetch it started (`/sources/{name}/run`) runs on.
async fn within_request_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within the server's request_timeout ({limit:?}); try again, \
                 and if this keeps happening raise [server] request_timeout"
            ),
        )
        .into_response(),
    }
}

//! What the daemon serves besides the REST API: `/metrics` for Prometheus,
//! `/healthz` and `/readyz` for orchestrators, and the web app for people
//! (`pages`): the overview at `/`, team, objective, KR, source and review
//! pages, and the forms of the bottom-up workflow. Pages render from the
//! live snapshot; forms write through the REST API in-process
//! (`api_call`), so a write from the browser passes the same checks as one
//! from a script.
//!
//! The web app is private by default (`[server] status_page`): it shows the
//! whole OKR tree and which sources fail, which is nobody's business
//! outside the company, so pages ask for an API token unless the operator
//! chose `public` or `off`.

mod api_call;
mod assets;
pub mod chart;
mod csrf;
mod html;
mod pages;
mod proxy;
mod reader;
pub mod render;
mod session;
mod sign_in;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use crate::access::cache::ApiTokenCache;
use crate::access::named::TokenNames;
use crate::clock::Clock;
use crate::config::{ProxyAuthSettings, StatusPageMode};
use crate::live::LiveModel;
use crate::metrics;
use crate::metrics::Telemetry;
use crate::reload::RuleContext;
use crate::scheduler::SchedulerHandle;
use crate::store::Store;

pub use pages::cache::PageCache;
pub use sign_in::SignInLinks;

#[derive(Clone)]
pub struct WebState {
    pub live: Arc<LiveModel>,
    pub telemetry: Arc<Telemetry>,
    pub store: Store,
    pub scheduler: SchedulerHandle,
    pub clock: Arc<dyn Clock>,
    /// Checks the API tokens visitors sign in with.
    pub tokens: Arc<ApiTokenCache>,
    /// Tokens by name, for visitors a trusted proxy names.
    pub token_names: Arc<TokenNames>,
    /// `[server] status_page`: who may read the pages.
    pub status_page: StatusPageMode,
    /// `[server.proxy_auth]`.
    pub proxy_auth: Option<ProxyAuthSettings>,
    /// The REST API's router (without its `/api/v1` prefix): every form
    /// writes through it.
    pub api: Router,
    /// The OKR rules, for the review queue's warnings.
    pub rules: Arc<RuleContext>,
    /// One-time sign-in links (`okrd demo`).
    pub links: SignInLinks,
    /// Rendered bodies of the snapshot-only pages.
    pub pages: PageCache,
}

pub fn router(state: WebState) -> Router {
    // Prometheus asks for gzip; with thousands of KRs the exposition shrinks
    // ~20x. Pages take the fastest level. /metrics takes level 4, measured on
    // the 130.6 MB text of 100,000 KRs (flate2's miniz_oxide, 64 KiB chunks,
    // 2 busy cores): level 1 sends 6.1 MB in 0.19 s of CPU, level 2 5.2 MB,
    // level 3 4.9 MB, level 4 3.8 MB in ~0.8 s, level 6 3.7 MB in 2.3 s;
    // Pushgateway sends the same series in 5.1 MB. Level 4 is the first
    // with lazy matching: a quarter under Pushgateway for 4x level 1's CPU.
    let gzip = CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Fastest);
    let metrics_gzip = CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Precise(4));
    let router = Router::new()
        .route("/metrics", get(metrics_handler).layer(metrics_gzip))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = match state.status_page {
        StatusPageMode::Off => router.route("/", get(web_app_off)),
        // Pages gzip to a tenth: the overview of 1,000 KRs is sent in ~40 KB.
        StatusPageMode::Private | StatusPageMode::Public => {
            router.merge(pages::router().layer(gzip))
        }
    };
    router.with_state(state)
}

/// Streams the exposition of the published snapshot: each chunk is
/// written when the connection (or the gzip encoder) asks for the next, so
/// a scrape holds one chunk, not the whole text.
async fn metrics_handler(State(s): State<WebState>) -> Response {
    let chunks = metrics::Exposition::new(s.live.snapshot(), &s.telemetry, s.clock.now());
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.map(|c| Ok::<_, Infallible>(Bytes::from(c))),
    ));
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        body,
    )
        .into_response()
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

async fn web_app_off() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no web app here: it is turned off ([server] status_page = \"off\")\n",
    )
        .into_response()
}

//! The stylesheet and the one small script, compiled into the binary: no
//! CDN, no build chain. Browsers keep them an hour; a new binary's pages
//! ask for them by a new `?v=` so an upgrade is seen at once.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub const CSS: &str = include_str!("assets/okrd.css");
pub const JS: &str = include_str!("assets/okrd.js");

/// Appended to the assets' addresses: changes with every release.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

//! The headers every HTML page carries: out of caches and frames, scripts
//! and styles only from this server. Pages are maud templates, which
//! escape every text they insert (titles, names, failure reasons), so what
//! a config file, an OKR file, an API caller or a remote server wrote can
//! never become markup.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Scripts and styles only from this server (the vendored
/// `/assets/okrd.js`; style attributes draw the progress bars), forms only
/// to this server, never in a frame (no clickjacking of a form).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML answer with the headers every page carries: pages may show what
/// only a signed-in reader may see, so no cache keeps them.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

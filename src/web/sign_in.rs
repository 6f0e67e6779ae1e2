//! `/sign-in` and `/sign-out`: a browser's way to the private status page.
//! The form takes an API token (any role), checks it and sets the session
//! cookie (`reader`); scripts send `Authorization: Bearer` instead and never
//! need this. A wrong token gets the form again, never an echo of what was
//! typed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::html::{self, esc};
use super::reader;

/// More than a token and its field name need; the body limit of `POST /sign-in`.
pub const MAX_FORM_BYTES: usize = 4096;

pub async fn form() -> Response {
    page(StatusCode::OK, None)
}

pub async fn sign_in(State(s): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    if token.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            Some("Paste an API token into the field."),
        );
    }
    match reader::check(&s.tokens, &token).await {
        Ok(Some(_)) => {
            let cookie = reader::session_cookie_for(&token, reader::came_over_https(&headers));
            redirect("/", &cookie)
        }
        Ok(None) => page(
            StatusCode::UNAUTHORIZED,
            Some(
                "That token is unknown or revoked. Make one with `okrd token create --role viewer`.",
            ),
        ),
        Err(e) => unavailable(&e),
    }
}

pub async fn sign_out(headers: HeaderMap) -> Response {
    redirect(
        "/sign-in",
        &reader::expired_session_cookie(reader::came_over_https(&headers)),
    )
}

/// The sign-in form, with `notice` above it; what `/` shows an anonymous
/// reader of a private status page (401).
pub fn page(status: StatusCode, notice: Option<&str>) -> Response {
    let notice = notice.map_or(String::new(), |n| format!("<p class=notice>{}</p>", esc(n)));
    let body = format!(
        "<h1>okrd</h1>{notice}<p>The status page needs an API token (any role). \
         An admin makes one with <code>okrd token create --role viewer --name YOU</code>.</p>\
         <form method=post action=/sign-in>\
         <p><label>API token<br><input type=password name=token autocomplete=current-password \
         required autofocus></label></p><p><button>Sign in</button></p></form>\
         <p class=muted>Scripts send <code>Authorization: Bearer &lt;token&gt;</code> instead. \
         <a href=/metrics>/metrics</a> needs no token.</p>"
    );
    html::respond(status, html::document("okrd: sign in", &body, false))
}

/// The answer when the token store cannot be read.
pub fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::warn!(error = %e, "cannot check a status page reader's token");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(
            "Tokens cannot be checked right now (the database is unreachable); try again shortly.",
        ),
    )
}

/// 303 to `to`, setting `cookie`.
fn redirect(to: &'static str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static(to));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(cookie) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

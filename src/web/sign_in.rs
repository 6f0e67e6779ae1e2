//! `/sign-in` and `/sign-out`: a browser's way into the web app. The form
//! takes an API token (any role), checks it and sets the session cookie
//! (`reader`); scripts send `Authorization: Bearer` instead and never need
//! this. A wrong token gets the form again, never an echo of what was
//! typed. `/sign-in/link` takes a one-time code instead (`SignInLinks`:
//! `okrd demo` prints one), so a first look needs no token at hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::WebState;
use super::pages::forms::CheckedForm;
use super::pages::layout::{Nav, Page, csrf_field};
use super::reader;
use super::session::Visitor;

/// How long a one-time link works.
const LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub async fn form(visitor: Visitor) -> Response {
    page(StatusCode::OK, &visitor, None)
}

pub async fn sign_in(State(s): State<WebState>, form: CheckedForm) -> Response {
    let visitor = &form.visitor;
    let Some(token) = form.get("token") else {
        return page(
            StatusCode::BAD_REQUEST,
            visitor,
            Some("Paste an API token into the field."),
        );
    };
    match reader::check(&s.tokens, token).await {
        Ok(Some(_)) => signed_in(token, visitor.https),
        Ok(None) => page(
            StatusCode::UNAUTHORIZED,
            visitor,
            Some(
                "That token is unknown or revoked. Make one with `okrd token create --role viewer`.",
            ),
        ),
        Err(e) => unavailable(&e),
    }
}

pub async fn sign_out(form: CheckedForm) -> Response {
    redirect(
        "/sign-in",
        &reader::expired_session_cookie(form.visitor.https),
    )
}

#[derive(Deserialize)]
pub struct LinkQuery {
    code: String,
}

/// `GET /sign-in/link?code=…`: a one-time link signs the browser in once.
pub async fn link(
    State(s): State<WebState>,
    visitor: Visitor,
    Query(q): Query<LinkQuery>,
) -> Response {
    match s.links.redeem(&q.code) {
        Some(token) => signed_in(&token, visitor.https),
        None => page(
            StatusCode::UNAUTHORIZED,
            &visitor,
            Some("That sign-in link was used already or has expired; sign in with a token."),
        ),
    }
}

/// The sign-in form, with `notice` above it; what every page shows an
/// anonymous visitor of a private installation (401).
pub fn page(status: StatusCode, visitor: &Visitor, notice: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(n) = notice { p.notice role="alert" { (n) } }
        p { "okrd needs an API token (any role) to show its pages. An admin makes one with "
            code { "okrd token create --role viewer --name YOU" } "." }
        form.stack method="post" action="/sign-in" {
            (csrf_field(visitor))
            label for="token" { "API token"
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
            }
            p { button type="submit" { "Sign in" } }
        }
        p.muted { "Scripts send " code { "Authorization: Bearer <token>" } " instead. "
            a href="/metrics" { "/metrics" } " needs no token." }
    };
    Page::new(visitor, "Sign in", Nav::None)
        .status(status)
        .render(body)
}

/// The answer when the token store cannot be read.
pub fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::warn!(error = %e, "cannot check a visitor's token");
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        "Tokens cannot be checked right now (the database is unreachable); try again shortly.\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn signed_in(token: &str, https: bool) -> Response {
    redirect("/", &reader::session_cookie_for(token, https))
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

/// One-time sign-in links: a random code stands for a token until it is
/// used once or a day has passed. Held in memory: a link works on the
/// process that made it (the demo's).
#[derive(Clone, Default)]
pub struct SignInLinks(Arc<Mutex<HashMap<String, (String, Instant)>>>);

impl SignInLinks {
    /// A new code for `token`: the path and query of its link.
    pub fn issue(&self, token: &str) -> String {
        let code = format!("{:032x}", rand::random::<u128>());
        let mut links = self.lock();
        links.retain(|_, (_, at)| at.elapsed() < LINK_LIFETIME);
        links.insert(code.clone(), (token.to_string(), Instant::now()));
        format!("/sign-in/link?code={code}")
    }

    /// The token behind `code`, once.
    fn redeem(&self, code: &str) -> Option<String> {
        let (token, at) = self.lock().remove(code)?;
        (at.elapsed() < LINK_LIFETIME).then_some(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once() {
        let links = SignInLinks::default();
        let path = links.issue("okrd_demo_token");
        let code = path.rsplit('=').next().unwrap();
        assert_eq!(links.redeem(code).as_deref(), Some("okrd_demo_token"));
        assert_eq!(links.redeem(code), None);
        assert_eq!(links.redeem("made-up"), None);
    }
}

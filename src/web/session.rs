//! Who is at the browser: the [`Visitor`] every page and form handler
//! takes. A visitor is signed in by the session cookie or a bearer token
//! (`reader`), or by a trusted proxy's header (`proxy`); either way they act
//! as an API token's principal, with its role and team. [`Reader`] is a
//! visitor the status-page setting lets in: anonymous visitors of a
//! private installation get the sign-in form instead.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use super::WebState;
use super::csrf::CsrfToken;
use super::{proxy, reader, sign_in};
use crate::access::{Principal, Role};
use crate::config::StatusPageMode;

/// How a visitor proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedInBy {
    /// The session cookie `/sign-in` set: they can sign out.
    Cookie,
    /// An `Authorization: Bearer` header (scripts).
    Bearer,
    /// The authenticating proxy in front of okrd: signing out is its job.
    Proxy,
}

#[derive(Debug, Clone)]
pub struct Visitor {
    pub principal: Option<Principal>,
    pub by: Option<SignedInBy>,
    /// The form token for this visitor's forms.
    pub csrf: CsrfToken,
    /// The browser talks HTTPS to the proxy in front: cookies are `Secure`.
    pub https: bool,
}

impl Visitor {
    pub fn role(&self) -> Option<Role> {
        self.principal.as_ref().map(|p| p.role)
    }

    /// May work on `team`'s KRs (draft, edit, check in): the API decides
    /// the write; this only decides which forms are worth showing.
    pub fn acts_for(&self, team: &str) -> bool {
        self.principal.as_ref().is_some_and(|p| p.acts_for(team))
    }

    pub fn is_at_least(&self, role: Role) -> bool {
        self.role().is_some_and(|r| r >= role)
    }
}

impl FromRequestParts<WebState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Visitor, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let https = reader::came_over_https(&parts.headers);
        let csrf = CsrfToken::of(&parts.headers);
        let (principal, by) = match proxy::identify(s, &parts.headers, peer).await {
            Some(found) => (
                found.map_err(|e| sign_in::unavailable(&e))?,
                SignedInBy::Proxy,
            ),
            None => match reader::presented(&parts.headers) {
                Some((token, by)) => (
                    reader::check(&s.tokens, token)
                        .await
                        .map_err(|e| sign_in::unavailable(&e))?,
                    by,
                ),
                None => (None, SignedInBy::Cookie),
            },
        };
        let by = principal.is_some().then_some(by);
        Ok(Visitor {
            principal,
            by,
            csrf,
            https,
        })
    }
}

/// A visitor who may read pages under `[server] status_page`.
pub struct Reader(pub Visitor);

impl FromRequestParts<WebState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Reader, Response> {
        let visitor = Visitor::from_request_parts(parts, s).await?;
        if visitor.principal.is_none() && s.status_page != StatusPageMode::Public {
            return Err(sign_in::page(StatusCode::UNAUTHORIZED, &visitor, None));
        }
        Ok(Reader(visitor))
    }
}

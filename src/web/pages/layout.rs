//! The shell of every page: landmarks (a banner with the main navigation, one
//! `main`, a footer), a skip link, who is signed in, and the headers every
//! page carries. Pages give their title and body; the shell adds the rest.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::super::assets;
use super::super::csrf;
use super::super::html as headers;
use super::super::session::{SignedInBy, Visitor};
use crate::access::Role;
use crate::live::Snapshot;
use crate::okr::WorkflowState;

/// The navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Sources,
    Review,
    NewKeyResult,
    None,
}

/// A page about to be sent.
pub struct Page<'a> {
    pub visitor: &'a Visitor,
    pub title: String,
    pub nav: Nav,
    /// The snapshot version the page shows: set on pages that refresh
    /// themselves (`okrd.js`), so an unchanged page is not redrawn.
    pub live: Option<u64>,
    /// Proposed KRs waiting for review, shown to leaders in the navigation.
    pub waiting_reviews: usize,
    pub status: StatusCode,
}

impl<'a> Page<'a> {
    pub fn new(visitor: &'a Visitor, title: impl Into<String>, nav: Nav) -> Page<'a> {
        Page {
            visitor,
            title: title.into(),
            nav,
            live: None,
            waiting_reviews: 0,
            status: StatusCode::OK,
        }
    }

    pub fn live(mut self, version: u64) -> Self {
        self.live = Some(version);
        self
    }

    /// Counts the proposals waiting for a leader in `s`.
    pub fn waiting(mut self, s: &Snapshot) -> Self {
        self.waiting_reviews = s
            .index
            .current
            .key_results
            .values()
            .filter(|k| k.item.state == WorkflowState::Proposed)
            .count();
        self
    }

    /// A page drawn from `s` that refreshes itself while `s` changes.
    pub fn showing(self, s: &Snapshot) -> Self {
        self.live(s.version).waiting(s)
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The whole document around `body`, as a response.
    pub fn render(self, body: Markup) -> Response {
        let status = self.status;
        let fresh = self
            .visitor
            .csrf
            .fresh
            .then(|| self.visitor.csrf.set_cookie(self.visitor.https));
        let mut response = headers::respond(status, self.document(body));
        if let Some(cookie) = fresh
            && let Ok(v) = HeaderValue::from_str(&cookie)
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    /// The whole document around `body`.
    pub fn document(&self, body: Markup) -> String {
        let doc = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · okrd" }
                    link rel="stylesheet" href={ "/assets/okrd.css?v=" (assets::VERSION) };
                    script src={ "/assets/okrd.js?v=" (assets::VERSION) } defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        (self.navigation())
                        (self.who())
                    }
                    main #main data-live=[self.live.map(|_| "")] data-version=[self.live] {
                        (body)
                    }
                    footer {
                        p {
                            "okrd " (assets::VERSION) " · "
                            a href="/metrics" { "/metrics" } " · "
                            a href="/api/v1/openapi.json" { "REST API" }
                            @if self.live.is_some() {
                                " · " span #live-note aria-live="polite" { "Refreshes by itself" }
                            }
                        }
                    }
                }
            }
        };
        doc.into_string()
    }

    fn navigation(&self) -> Markup {
        let current = |nav: Nav| (self.nav == nav).then_some("page");
        let v = self.visitor;
        html! {
            nav aria-label="Main" {
                a.brand href="/" { "okrd" }
                a href="/" aria-current=[current(Nav::Overview)] { "Overview" }
                a href="/sources" aria-current=[current(Nav::Sources)] { "Sources" }
                @if v.is_at_least(Role::Leader) {
                    a href="/review" aria-current=[current(Nav::Review)] {
                        "Review"
                        @if self.waiting_reviews > 0 { " (" (self.waiting_reviews) ")" }
                    }
                }
                @if v.is_at_least(Role::Member) {
                    a href="/key-results/new" aria-current=[current(Nav::NewKeyResult)] { "New key result" }
                }
            }
        }
    }

    fn who(&self) -> Markup {
        let v = self.visitor;
        html! {
            div.who {
                @match &v.principal {
                    Some(p) => {
                        span { "Signed in as " strong { (p.name) } " (" (p.role.as_str())
                            @if let Some(team) = &p.team { ", team " (team) } ")" }
                        @if v.by == Some(SignedInBy::Cookie) {
                            form.inline method="post" action="/sign-out" {
                                (csrf_field(v))
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                    None => { a href="/sign-in" { "Sign in" } }
                }
            }
        }
    }
}

/// The hidden field every form carries (`csrf`).
pub fn csrf_field(v: &Visitor) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(v.csrf.value); }
}

//! The web app's pages and forms (README "Web app"), one file per page.
//! Pages render from the live snapshot (and, on a KR's page, its stored
//! check-ins and reviews); forms write through the REST API in-process
//! (`api_call`). `layout` is the shell, `rows` and `format` the shared
//! pieces, `forms` the form handling.

pub mod cache;
pub mod forms;
pub mod layout;

mod actions;
mod drafts;
mod format;
pub mod key_result;
mod kr_chart;
mod objective;
pub mod overview;
mod review;
pub mod rows;
mod sources;
pub mod team;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::html;

use super::WebState;
use super::session::Visitor;
use super::{assets, sign_in};
use crate::store::StoreError;
use layout::{Nav, Page};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/sources", get(sources::page))
        .route("/review", get(review::page))
        .route("/teams/{id}", get(team::page))
        .route("/objectives/{id}", get(objective::page))
        .route("/key-results", post(drafts::create))
        .route("/key-results/new", get(drafts::new_form))
        .route("/key-results/{id}", get(key_result::page))
        .route(
            "/key-results/{id}/edit",
            get(drafts::edit_form).post(drafts::update),
        )
        .route("/key-results/{id}/workflow", post(actions::workflow))
        .route("/key-results/{id}/check-ins", post(actions::check_in))
        .route("/key-results/{id}/held", post(actions::held))
        .route("/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/sign-in/link", get(sign_in::link))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/assets/okrd.css", get(assets::css))
        .route("/assets/okrd.js", get(assets::js))
}

/// 404 for an id that names nothing.
pub fn not_found(v: &Visitor, what: &str, id: &str) -> Response {
    let body = html! {
        h1 { "No such " (what) }
        p { "There is no " (what) " " code { (id) } ". " a href="/" { "Back to the overview" } }
    };
    Page::new(v, format!("No such {what}"), Nav::None)
        .status(StatusCode::NOT_FOUND)
        .render(body)
}

/// 503 while the database cannot answer a page that needs it.
pub fn unavailable(v: &Visitor, e: &StoreError) -> Response {
    tracing::warn!(error = %e, "a page could not read the database");
    let body = html! {
        h1 { "Try again shortly" }
        p.notice role="alert" { "The database cannot be reached right now, so this page cannot be shown. The rest of okrd keeps running." }
    };
    Page::new(v, "Unavailable", Nav::None)
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .render(body)
}

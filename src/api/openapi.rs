//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every route,
//! body, response and error, generated from the handlers' annotations and
//! the types they take and return.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, check_ins, holds, key_results, objectives, periods, sources, teams, workflow};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "okrd",
        description = "Keeps OKR key results up to date from metric sources. Bottom-up workflow: \
            members draft and propose their team's KRs, leaders approve them, check-ins and \
            connectors move progress, rollups follow. Send `Authorization: Bearer <token>` \
            (make one with `okrd token create`). Errors are application/problem+json.",
        license(name = "Apache-2.0"),
    ),
    servers((url = "/api/v1")),
    paths(
        periods::list, periods::one, periods::create, periods::update,
        teams::list, teams::one, teams::summary, teams::create, teams::update,
        objectives::list, objectives::one, objectives::tree, objectives::create, objectives::update,
        key_results::list, key_results::one, key_results::create, key_results::update,
        check_ins::list, check_ins::create, holds::accept, holds::dismiss,
        workflow::propose, workflow::approve, workflow::request_changes, workflow::reject,
        workflow::archive, workflow::reviews,
        sources::list, sources::one, sources::run,
        audit::list,
    ),
    modifiers(&BearerAuth, &DatabaseUnavailable),
    tags(
        (name = "periods", description = "Time boxes, usually quarters"),
        (name = "teams", description = "Teams and their summaries"),
        (name = "objectives", description = "Qualitative objectives and their trees"),
        (name = "key results", description = "Measurable key results"),
        (name = "workflow", description = "draft → proposed → approved, or changes_requested / rejected, → archived"),
        (name = "check-ins", description = "Observed values of a KR"),
        (name = "sources", description = "Configured data sources"),
        (name = "audit", description = "Every write (admins)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `okrd token create --role ROLE`"))
                    .build(),
            ),
        );
    }
}

/// Any route can meet a database that is down or locked: 503 with
/// `Retry-After`, and nothing written (see `api/error.rs`).
struct DatabaseUnavailable;

impl Modify for DatabaseUnavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, Type};
        let response = ResponseBuilder::new()
            .description(
                "The database is unavailable (down, restarting or locked); nothing was \
                 written. Retry after `Retry-After` seconds.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(utoipa::openapi::schema::Object::with_type(Type::Integer))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                op.responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| {
        ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| {
            format!("{{\"error\": \"cannot render the OpenAPI document: {e}\"}}")
        })
    });
    &DOC
}

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

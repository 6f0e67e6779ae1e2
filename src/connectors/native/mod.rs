//! The connectors written in Rust, one directory each with its README:
//! `http_json` (a number from any JSON API), `prometheus` (an instant
//! query), `sql` (a query on SQLite, PostgreSQL or MySQL) and `exec` (a
//! command's output). `registry` lists them by their config name.

pub mod exec;
pub mod http_json;
pub mod prometheus;
pub mod sql;

use serde_json::Map;

use super::template::{TemplateContext, render_params};
use super::{Params, Redactor};

/// The origin of a native HTTP connector's `url` as the source's config
/// gives it (rendered for an example fetch: only the origin is kept, and a
/// template there may name the period). A KR may not choose where the
/// source's credentials go, so the config must set it.
fn config_url_origin(config: &Params) -> Result<Vec<String>, String> {
    let Some(url) = config.get("url") else {
        return Err(
            "param `url` must be set in the source's config: it decides where the \
                    source's requests, and its credentials, go"
                .into(),
        );
    };
    let one = Params::new(Map::from_iter([("url".to_string(), url.clone())]));
    let rendered = render_params(&one, &TemplateContext::example(), &Redactor::default())?;
    let url = rendered.require_str("url")?;
    let parsed = super::http::parse_http_url(url, "url")?;
    Ok(vec![super::http::origin(&parsed)])
}

/// The `url` param, as the one request a native HTTP connector makes.
fn request_url(params: &Params) -> Result<Vec<String>, String> {
    Ok(vec![params.require_str("url")?.to_string()])
}

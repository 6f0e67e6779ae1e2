//! Where a manifest's requests may go, and where one fetch's would.
//!
//! Allowed: the origin of every `url` and `*_url` param as the source's
//! config gives it (or its default, rendered with the config's params), plus
//! the token endpoint of a Google service account: Google's own, or the
//! `token_uri` of the key in the config. Nothing a KR sets counts; what the
//! KR's params make of the request is checked against this list
//! (`request_urls`) when the KR is bound, and again at every request.

use serde_json::{Map, Value};

use super::complete_params;
use super::credentials::google::{DEFAULT_TOKEN_URI, ServiceAccountKey};
use super::credentials::select;
use super::manifest::{AuthKind, AuthSpec, Manifest};
use super::plan;
use super::render::Vars;
use super::request::Built;
use crate::connectors::Params;
use crate::connectors::http::{origin, parse_http_url};
use crate::connectors::template::TemplateContext;

/// Does this param name say where requests go (`url`, `base_url`, ...)?
pub fn is_url_param(name: &str) -> bool {
    name == "url" || name.ends_with("_url")
}

/// The origins a source of this manifest may send requests to, from its
/// config alone.
pub fn allowed(m: &Manifest, config: &Params) -> Result<Vec<String>, String> {
    let ctx = TemplateContext::example();
    // Defaults that need a KR's params cannot be complete here; the URL
    // params' own defaults are rendered one by one below.
    let known = complete_params(m, config.as_map(), &ctx).unwrap_or_else(|_| plain(m, config));
    let vars = Vars::new(&known, &ctx);
    let mut urls = Vec::new();
    for (name, spec) in m.params.iter().filter(|(n, _)| is_url_param(n)) {
        let value = match (known.get(name), &spec.default) {
            (Some(v), _) => v.clone(),
            (None, Some(default)) => vars
                .render_value(default, &format!("default of param `{name}`"))
                .map_err(|e| {
                    format!(
                        "param `{name}` must come from the source's config, which decides where \
                         the source's requests and credentials go: {e}"
                    )
                })?,
            (None, None) if spec.required => {
                return Err(format!(
                    "param `{name}` must be set in the source's config: it decides where the \
                     source's requests, and its credentials, go"
                ));
            }
            (None, None) => continue,
        };
        let Value::String(text) = value else {
            return Err(format!("param `{name}` must be a string URL"));
        };
        urls.push(origin(&parse_http_url(&text, name)?));
    }
    for spec in &m.auth {
        urls.extend(token_endpoints(spec, &vars));
    }
    if urls.is_empty() {
        return Err(
            "the connector names no url or base_url param, so its requests could go \
                    nowhere"
                .into(),
        );
    }
    Ok(urls)
}

/// The given params with the manifest's plain (untemplated) defaults.
fn plain(m: &Manifest, config: &Params) -> Map<String, Value> {
    let mut out = config.as_map().clone();
    for (name, spec) in &m.params {
        if let Some(d) = &spec.default
            && !out.contains_key(name)
            && !d.to_string().contains("{{")
        {
            out.insert(name.clone(), d.clone());
        }
    }
    out
}

/// A Google service account's token endpoints: Google's, and the key's
/// `token_uri` when the config holds the key.
fn token_endpoints(spec: &AuthSpec, vars: &Vars) -> Vec<String> {
    if spec.kind != AuthKind::GoogleServiceAccount {
        return Vec::new();
    }
    let mut out = vec![DEFAULT_TOKEN_URI.to_string()];
    let key = spec
        .credentials
        .as_deref()
        .and_then(|t| vars.render(t, "auth.credentials").ok())
        .and_then(|text| ServiceAccountKey::from_json(&text).ok());
    if let Some(key) = key {
        out.push(key.token_uri().to_string());
    }
    out.into_iter()
        .filter_map(|u| reqwest::Url::parse(&u).ok().map(|u| origin(&u)))
        .collect()
}

/// The URLs one fetch with these (merged, rendered) params requests first:
/// the request of the variant that applies, and the login request. (A
/// service account's token endpoint comes from the key in the config,
/// which no KR sets, so it is allowed by construction.)
pub fn request_urls(m: &Manifest, params: &Params) -> Result<Vec<String>, String> {
    let ctx = TemplateContext::example();
    let complete = complete_params(m, params.as_map(), &ctx)?;
    let vars = Vars::new(&complete, &ctx);
    let plan = plan(m, &vars)?;
    let mut urls = vec![
        Built::from_spec(plan.request, &vars, "request")?
            .url
            .to_string(),
    ];
    if let Some(spec) = select(&m.auth, &vars)?
        && spec.kind == AuthKind::Login
        && let Some(req) = &spec.request
    {
        urls.push(
            Built::from_spec(req, &vars, "auth.request")?
                .url
                .to_string(),
        );
    }
    Ok(urls)
}

//! The declarative connector engine: runs a manifest from the catalog
//! (`connectors/<name>/connector.toml`) as a `Connector`. One instance serves
//! one source, so its token cache holds that source's logins.
//!
//! A fetch: params completed with the manifest's defaults → the variant that
//! applies → the credential (cached login or Google token) → the request,
//! page after page → the extracted value.

pub mod catalog;
pub mod credentials;
pub mod extract;
mod history;
pub mod manifest;
mod origins;
mod pagination;
pub mod render;
pub mod request;

use std::sync::Arc;

use serde_json::{Map, Value};

use self::credentials::AccessTokenCache;
use self::manifest::{ExtractSpec, Manifest, PaginationSpec, RequestSpec};
use self::pagination::fetch_pages;
use self::render::Vars;
use self::request::Built;
use super::template::TemplateContext;
use super::{BoxFuture, Connector, FetchContext, FetchError, Params, Reason};

pub use self::catalog::Catalog;

/// A catalog connector bound to one source.
pub struct Declarative {
    manifest: Arc<Manifest>,
    tokens: AccessTokenCache,
}

impl Declarative {
    pub fn new(manifest: Arc<Manifest>) -> Declarative {
        Declarative {
            manifest,
            tokens: AccessTokenCache::default(),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// The request, pagination and extraction one fetch uses.
struct Plan<'m> {
    request: &'m RequestSpec,
    pagination: Option<&'m PaginationSpec>,
    extract: &'m ExtractSpec,
    /// The request answers for a past moment (`history`).
    history: bool,
}

impl Connector for Declarative {
    fn check_params(&self, params: &Params) -> Result<(), String> {
        let m = &self.manifest;
        for key in params.as_map().keys() {
            if !m.params.contains_key(key) {
                let known: Vec<&str> = m.params.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown param `{key}` for connector `{}` (known: {})",
                    m.name,
                    known.join(", ")
                ));
            }
        }
        for (name, spec) in &m.params {
            match params.get(name) {
                None if spec.required => {
                    return Err(format!("param `{name}` is required"));
                }
                None => {}
                Some(v) => {
                    // A template is checked once rendered, at fetch time.
                    let templated = v.as_str().is_some_and(render::is_template);
                    if !templated && !spec.kind.accepts(v) {
                        return Err(format!(
                            "param `{name}` must be {}, not {}",
                            spec.kind.as_str(),
                            super::params::json_type(v)
                        ));
                    }
                    if let Some(allowed) = &spec.one_of
                        && !allowed.contains(v)
                    {
                        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                        return Err(format!(
                            "param `{name}` must be one of {}, not {v}",
                            list.join(", ")
                        ));
                    }
                }
            }
        }
        for group in &m.exactly_one_of {
            let set: Vec<&String> = group.iter().filter(|n| params.get(n).is_some()).collect();
            if set.len() != 1 {
                let names = group
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(if set.is_empty() {
                    format!("set one of {names}")
                } else {
                    format!("set only one of {names}")
                });
            }
        }
        // The variant must be decidable and its templates must find their params.
        let ctx = TemplateContext::example();
        let complete = complete_params(m, params.as_map(), &ctx)?;
        let vars = Vars::new(&complete, &ctx);
        let plan = plan(m, &vars)?;
        Built::from_spec(plan.request, &vars, "request")?;
        let auth = credentials::select(&m.auth, &vars)?;
        credentials::check(auth, &vars)
    }

    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
        Box::pin(async move { self.run(ctx).await.map_err(|e| e.redacted(ctx.redactor)) })
    }

    fn default_rate_limit(&self) -> Option<String> {
        self.manifest.rate_limit.clone()
    }

    fn secret_params(&self) -> Vec<String> {
        self.manifest.secret_params()
    }

    fn known_params(&self) -> Vec<String> {
        self.manifest.params.keys().cloned().collect()
    }

    fn allowed_origins(&self, config: &Params) -> Result<Vec<String>, String> {
        origins::allowed(&self.manifest, config)
    }

    fn request_urls(&self, params: &Params) -> Result<Vec<String>, String> {
        origins::request_urls(&self.manifest, params)
    }

    fn answers_for_past(&self, params: &Params) -> bool {
        history::answers_for_past(&self.manifest, params)
    }

    fn request_as_of(&self, params: &Params, template: &TemplateContext) -> Result<String, String> {
        history::request_as_of(&self.manifest, params, template)
    }
}

impl Declarative {
    async fn run(&self, ctx: &FetchContext<'_>) -> Result<f64, FetchError> {
        let bad = |m: String| FetchError::new(Reason::Parse, m);
        let m = &self.manifest;
        let mut params = complete_params(m, ctx.params.as_map(), ctx.template).map_err(bad)?;
        let mut vars = Vars::new(&params, ctx.template);
        let plan = plan(m, &vars).map_err(bad)?;
        if let Some(size) = plan.pagination.and_then(|p| p.page_size) {
            params.insert("page_size".into(), Value::from(size));
            vars = Vars::new(&params, ctx.template);
        }
        let auth_spec = credentials::select(&m.auth, &vars).map_err(bad)?;
        let mut renewed = false;
        loop {
            let credential = credentials::credential(auth_spec, &vars, ctx, &self.tokens).await?;
            match fetch_pages(&plan, &vars, &credential, ctx).await {
                // A cached token the API no longer accepts (401, not a 403
                // "not allowed", which a new token cannot fix): get a new one, once.
                Err(e)
                    if e.reason == Reason::Auth
                        && e.message.contains("HTTP 401")
                        && !renewed
                        && credentials::is_minted(auth_spec) =>
                {
                    credentials::forget(auth_spec, &vars, &self.tokens, &credential);
                    renewed = true;
                }
                other => return other,
            }
        }
    }
}

/// The params with the manifest's defaults filled in; defaults that are
/// templates see the params given and the other defaults.
pub fn complete_params(
    m: &Manifest,
    given: &Map<String, Value>,
    ctx: &TemplateContext,
) -> Result<Map<String, Value>, String> {
    let mut out = given.clone();
    let mut templated = Vec::new();
    for (name, spec) in &m.params {
        if out.contains_key(name) {
            continue;
        }
        match &spec.default {
            Some(Value::String(s)) if render::is_template(s) => templated.push(name),
            Some(d) if holds_braces(d) => templated.push(name),
            Some(d) => {
                out.insert(name.clone(), d.clone());
            }
            None => {}
        }
    }
    // Defaults may use other templated defaults: render in passes until
    // every one is done, or the rest cannot be (a param nobody set).
    let mut pending = templated;
    // The variables change only when a default is rendered.
    let mut vars = None;
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut last_error = None;
        for name in &pending {
            let Some(default) = m.params[*name].default.as_ref() else {
                continue;
            };
            let current = vars.get_or_insert_with(|| Vars::new(&out, ctx));
            match current.render_value(default, &format!("default of param `{name}`")) {
                Ok(v) => {
                    out.insert((*name).clone(), v);
                    vars = None;
                }
                Err(e) => {
                    waiting.push(*name);
                    last_error = Some(e);
                }
            }
        }
        if waiting.len() == pending.len() {
            let e = last_error.unwrap_or_default();
            return Err(hint_exactly_one_of(m, e));
        }
        pending = waiting;
    }
    Ok(out)
}

/// Whether `v` written as JSON holds `{{`: only a string or a key can.
fn holds_braces(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Array(a) => a.iter().any(holds_braces),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains("{{") || holds_braces(v)),
        _ => false,
    }
}

/// Which request, pagination and extraction apply to these params.
fn plan<'m>(m: &'m Manifest, vars: &Vars) -> Result<Plan<'m>, String> {
    let variant = m
        .variants
        .iter()
        .enumerate()
        .find_map(
            |(i, v)| match vars.holds(&v.when, &format!("variants[{i}].when")) {
                Ok(true) => Some(Ok(v)),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            },
        )
        .transpose()?;
    let request = variant
        .and_then(|v| v.request.as_ref())
        .or(m.request.as_ref())
        .ok_or_else(|| hint_exactly_one_of(m, "no variant of the connector applies".into()))?;
    let extract = variant
        .and_then(|v| v.extract.as_ref())
        .or(m.extract.as_ref())
        .ok_or_else(|| "the manifest has no [extract] for these params".to_string())?;
    let pagination = match variant {
        Some(v) if v.request.is_some() || v.pagination.is_some() => v.pagination.as_ref(),
        _ => m.pagination.as_ref(),
    };
    let history = variant.and_then(|v| v.history).unwrap_or(m.history);
    Ok(Plan {
        request,
        pagination,
        extract,
        history,
    })
}

fn hint_exactly_one_of(m: &Manifest, e: String) -> String {
    match m.exactly_one_of.first() {
        Some(group) => format!("{e} (set one of: {})", group.join(", ")),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_may_use_later_defaults() {
        let m = Manifest::parse(
            r#"
name = "x"
[params]
account = { required = true }
base_url = { default = "https://{{ subdomain }}.x.example" }
subdomain = { default = "{{ account }}-eu" }
[request]
url = "{{ base_url }}/v1"
[extract]
value = "$.n"
"#,
            "x",
        )
        .unwrap();
        let given = serde_json::json!({"account": "acme"});
        let out =
            complete_params(&m, given.as_object().unwrap(), &TemplateContext::example()).unwrap();
        assert_eq!(out["base_url"], "https://acme-eu.x.example");
        let e = complete_params(&m, &Map::new(), &TemplateContext::example()).unwrap_err();
        assert!(e.contains("not set"), "{e}");
    }
}

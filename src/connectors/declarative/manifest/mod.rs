//! The connector manifest (`connectors/<name>/connector.toml`): its types and
//! the checks run when it is loaded, so a broken manifest fails at startup
//! with its file name, never at the first fetch. The format is documented in
//! `connectors/README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::render;
use crate::connectors::Reason;
use crate::connectors::value::Reduce;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub docs: Option<String>,
    /// The API's documented request rate, `N/period`.
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub exactly_one_of: Vec<Vec<String>>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    #[serde(default)]
    pub auth: Vec<AuthSpec>,
    #[serde(default)]
    pub request: Option<RequestSpec>,
    #[serde(default)]
    pub pagination: Option<PaginationSpec>,
    #[serde(default)]
    pub extract: Option<ExtractSpec>,
    #[serde(default)]
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Table,
    Any,
}

impl ParamType {
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            ParamType::String => v.is_string(),
            ParamType::Integer => v.is_i64() || v.is_u64(),
            ParamType::Number => v.is_number(),
            ParamType::Boolean => v.is_boolean(),
            ParamType::Array => v.is_array(),
            ParamType::Table => v.is_object(),
            ParamType::Any => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Number => "a number",
            ParamType::Boolean => "a boolean",
            ParamType::Array => "an array",
            ParamType::Table => "a table",
            ParamType::Any => "any value",
        }
    }
}

/// One `[[auth]]` entry. Fields are checked per `kind` when loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub kind: AuthKind,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub request: Option<RequestSpec>,
    #[serde(default)]
    pub expires_in: Option<String>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub send_as: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Bearer,
    Basic,
    Header,
    Query,
    Form,
    Login,
    GoogleServiceAccount,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default)]
    pub method: Option<String>,
    pub url: String,
    #[serde(default)]
    pub query: Map<String, Value>,
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub json: Option<Value>,
    #[serde(default)]
    pub form: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    NextUrl,
    LinkHeader,
    Page,
    Offset,
    Cursor,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationSpec {
    pub kind: PageKind,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub start: Option<i64>,
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub total_pages: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub items: Option<String>,
    #[serde(default)]
    pub page_size: Option<u64>,
    #[serde(default)]
    pub max_pages: Option<u32>,
}

/// Default page limit: a runaway API cannot make one fetch loop forever.
pub const DEFAULT_MAX_PAGES: u32 = 100;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub reduce: Option<String>,
    #[serde(default)]
    pub nps: Option<String>,
    #[serde(default)]
    pub thousands: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorCheck>,
    #[serde(default)]
    pub no_data: Option<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCheck {
    pub path: String,
    pub equals: Value,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub auth_if_contains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub path: String,
    pub equals: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub when: String,
    #[serde(default)]
    pub request: Option<RequestSpec>,
    #[serde(default)]
    pub pagination: Option<PaginationSpec>,
    #[serde(default)]
    pub extract: Option<ExtractSpec>,
}

impl Manifest {
    /// Parse and check a manifest; `origin` names it in errors (a path).
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| format!("{origin}: {}", one_line(&e.to_string())))?;
        let problems = manifest.problems();
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(format!("{origin}: {}", problems.join("; ")))
        }
    }

    /// Every problem a loaded manifest has beyond its syntax.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !is_name(&self.name) {
            p.push(format!(
                "name `{}` must be lowercase letters, digits and `_`",
                self.name
            ));
        }
        if let Some(r) = &self.rate_limit
            && let Err(e) = crate::connectors::http::RateLimit::parse(r)
        {
            p.push(format!("rate_limit: {e}"));
        }
        if self.params.contains_key("params") {
            p.push(
                "a param cannot be named `params`: templates reach params as `params.<name>`"
                    .into(),
            );
        }
        for (name, spec) in &self.params {
            if spec.required && spec.default.is_some() {
                p.push(format!("param `{name}`: required with a default"));
            }
            if let Some(d) = &spec.default {
                check_templates_in(d, &format!("params.{name}.default"), &mut p);
            }
        }
        for group in &self.exactly_one_of {
            for name in group {
                if !self.params.contains_key(name) {
                    p.push(format!("exactly_one_of names undeclared param `{name}`"));
                }
            }
        }
        for (i, a) in self.auth.iter().enumerate() {
            a.problems(&format!("auth[{i}]"), &mut p);
        }
        if self.request.is_none() && self.variants.is_empty() {
            p.push("needs a [request] or [[variants]] with a request".into());
        }
        if let Some(r) = &self.request {
            r.problems("request", &mut p);
        }
        if let Some(pg) = &self.pagination {
            pg.problems("pagination", &mut p);
        }
        if let Some(e) = &self.extract {
            e.problems("extract", &mut p);
        }
        for (i, v) in self.variants.iter().enumerate() {
            let at = format!("variants[{i}]");
            check_expression(&v.when, &format!("{at}.when"), &mut p);
            if let Some(r) = &v.request {
                r.problems(&format!("{at}.request"), &mut p);
            }
            if let Some(pg) = &v.pagination {
                pg.problems(&format!("{at}.pagination"), &mut p);
            }
            if let Some(e) = &v.extract {
                e.problems(&format!("{at}.extract"), &mut p);
            }
            if v.request.is_none() && v.pagination.is_none() && v.extract.is_none() {
                p.push(format!("{at}: sets none of request, pagination, extract"));
            }
        }
        let has_extract =
            self.extract.is_some() || self.variants.iter().any(|v| v.extract.is_some());
        if !has_extract {
            p.push("needs an [extract]".into());
        }
        p
    }

    /// The params that name where requests go: `url` and every `*_url`
    /// (`base_url`, `taskrouter_base_url`), and the params their defaults
    /// are made of (Zendesk's `subdomain`).
    pub fn destination_params(&self) -> Vec<String> {
        let is_url = |name: &str| name == "url" || name.ends_with("_url");
        let mut out: Vec<String> = self.params.keys().filter(|n| is_url(n)).cloned().collect();
        let defaults: Vec<String> = self
            .params
            .iter()
            .filter(|(n, _)| is_url(n))
            .filter_map(|(_, s)| {
                s.default
                    .as_ref()
                    .and_then(|d| d.as_str())
                    .map(str::to_string)
            })
            .collect();
        for name in self.params.keys() {
            let used = defaults.iter().any(|d| {
                d.split("{{")
                    .skip(1)
                    .any(|expr| expr.split("}}").next().is_some_and(|e| e.trim() == name))
            });
            if used && !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// The params that must come from `{ env }` or `{ file }`.
    pub fn secret_params(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|(_, s)| s.secret)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

impl AuthSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        if let Some(w) = &self.when {
            check_expression(w, &format!("{at}.when"), p);
        }
        let mut need = |field: &str, v: &Option<String>| match v {
            None => p.push(format!("{at}: kind {:?} needs `{field}`", self.kind)),
            Some(t) => check_template(t, &format!("{at}.{field}"), p),
        };
        match self.kind {
            AuthKind::Bearer => need("token", &self.token),
            AuthKind::Basic => need("username", &self.username),
            AuthKind::Header | AuthKind::Query | AuthKind::Form => {
                need("name", &self.name);
                need("value", &self.value);
            }
            AuthKind::Login => {
                need("token", &self.token);
                match &self.request {
                    None => p.push(format!("{at}: kind login needs `request`")),
                    Some(r) => r.problems(&format!("{at}.request"), p),
                }
                if let Some(s) = &self.send_as
                    && !(s == "bearer" || s.starts_with("header:") || s.starts_with("query:"))
                {
                    p.push(format!(
                        "{at}.send_as must be bearer, header:<Name> or query:<name>, not `{s}`"
                    ));
                }
                if let Some(ttl) = &self.ttl
                    && crate::duration::parse_duration(ttl).is_err()
                {
                    p.push(format!("{at}.ttl `{ttl}` is not a duration like 1h"));
                }
            }
            AuthKind::GoogleServiceAccount => {
                need("credentials", &self.credentials);
                if self.scopes.is_empty() {
                    p.push(format!("{at}: kind google_service_account needs `scopes`"));
                }
            }
        }
    }
}

impl RequestSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        check_template(&self.url, &format!("{at}.url"), p);
        if let Some(m) = &self.method
            && !matches!(m.to_ascii_uppercase().as_str(), "GET" | "POST" | "PUT")
        {
            p.push(format!("{at}.method must be GET, POST or PUT, not `{m}`"));
        }
        for (name, table) in [
            ("query", &self.query),
            ("headers", &self.headers),
            ("form", &self.form),
        ] {
            for (k, v) in table {
                check_templates_in(v, &format!("{at}.{name}.{k}"), p);
            }
        }
        if let Some(j) = &self.json {
            check_templates_in(j, &format!("{at}.json"), p);
        }
        if self.json.is_some() && !self.form.is_empty() {
            p.push(format!("{at}: set `json` or `form`, not both"));
        }
    }
}

impl PaginationSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        let mut need = |field: &str, present: bool| {
            if !present {
                p.push(format!("{at}: kind {:?} needs `{field}`", self.kind));
            }
        };
        match self.kind {
            PageKind::NextUrl => need("next", self.next.is_some()),
            PageKind::LinkHeader => {}
            PageKind::Page => {
                need("param", self.param.is_some());
                need(
                    "items, total or total_pages",
                    self.items.is_some() || self.total.is_some() || self.total_pages.is_some(),
                );
                // Counting toward `total` needs to know how many items came.
                if self.total.is_some() {
                    need(
                        "items or page_size (to count toward total)",
                        self.items.is_some() || self.page_size.is_some(),
                    );
                }
            }
            PageKind::Offset => {
                need("param", self.param.is_some());
                // The next offset is the items seen so far.
                need(
                    "items or page_size",
                    self.items.is_some() || self.page_size.is_some(),
                );
            }
            PageKind::Cursor => {
                need("param", self.param.is_some());
                need("cursor", self.cursor.is_some());
            }
        }
        for (field, path) in [
            ("next", &self.next),
            ("total", &self.total),
            ("total_pages", &self.total_pages),
            ("cursor", &self.cursor),
            ("items", &self.items),
        ] {
            if let Some(path) = path {
                check_path(path, &format!("{at}.{field}"), p);
            }
        }
        if self.max_pages == Some(0) {
            p.push(format!("{at}.max_pages must be at least 1"));
        }
    }
}

impl ExtractSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        match (&self.value, &self.nps) {
            (Some(v), None) => check_path(v, &format!("{at}.value"), p),
            (None, Some(n)) => check_path(n, &format!("{at}.nps"), p),
            _ => p.push(format!("{at}: set exactly one of `value` and `nps`")),
        }
        if let Some(r) = &self.reduce
            && Reduce::parse(r).is_none()
        {
            p.push(format!(
                "{at}.reduce must be sum, mean, min, max, count or last, not `{r}`"
            ));
        }
        if let Some(e) = &self.error {
            check_path(&e.path, &format!("{at}.error.path"), p);
            if let Some(m) = &e.message {
                check_path(m, &format!("{at}.error.message"), p);
            }
            if let Some(r) = &e.reason
                && Reason::parse(r).is_none()
            {
                p.push(format!("{at}.error.reason `{r}` is not a failure reason"));
            }
        }
        if let Some(c) = &self.no_data {
            check_path(&c.path, &format!("{at}.no_data.path"), p);
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_template(t: &str, at: &str, p: &mut Vec<String>) {
    if let Err(e) = render::check_syntax(t) {
        p.push(format!("{at}: {e}"));
    }
}

fn check_templates_in(v: &Value, at: &str, p: &mut Vec<String>) {
    match v {
        Value::String(s) => check_template(s, at, p),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| check_templates_in(v, &format!("{at}[{i}]"), p)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| check_templates_in(v, &format!("{at}.{k}"), p)),
        _ => {}
    }
}

fn check_expression(e: &str, at: &str, p: &mut Vec<String>) {
    if let Err(err) = render::check_expression(e) {
        p.push(format!("{at}: {err}"));
    }
}

/// A JSONPath is checked now unless it is a template (checked once rendered).
fn check_path(path: &str, at: &str, p: &mut Vec<String>) {
    if render::is_template(path) {
        check_template(path, at, p);
    } else if let Err(e) = JsonPath::parse(path) {
        p.push(format!("{at}: `{path}` is not a JSONPath (RFC 9535): {e}"));
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "x"
[params]
base_url = { default = "https://x.example" }
[request]
url = "{{ base_url }}/v1"
[extract]
value = "$.n"
"#;

    #[test]
    fn minimal_manifest_loads() {
        let m = Manifest::parse(MINIMAL, "x/connector.toml").unwrap();
        assert_eq!(m.name, "x");
        assert!(m.auth.is_empty());
    }

    #[test]
    fn problems_are_all_listed_with_origin() {
        let text = r#"
name = "Bad-Name"
[params]
a = { required = true, default = 1 }
[[auth]]
kind = "basic"
[request]
url = "{{ base_url "
method = "DELETE"
[extract]
value = "$[?"
reduce = "median"
"#;
        let e = Manifest::parse(text, "bad/connector.toml").unwrap_err();
        for want in [
            "bad/connector.toml:",
            "name `Bad-Name`",
            "param `a`: required with a default",
            "auth[0]: kind Basic needs `username`",
            "request.url",
            "request.method",
            "extract.value",
            "extract.reduce",
        ] {
            assert!(e.contains(want), "missing {want:?} in {e}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = Manifest::parse(&format!("{MINIMAL}\nextra = 1\n"), "x").unwrap_err();
        assert!(e.contains("extra"), "{e}");
    }
}

//! The connector manifest (`connectors/<name>/connector.toml`): its types and
//! the checks run when it is loaded, so a broken manifest fails at startup
//! with its file name, never at the first fetch. The format is documented in
//! `connectors/README.md`. The checks are in `checks`.

mod checks;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

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
    /// The request depends only on the params, the period and the date
    /// variables (`today`, `now`, `now_ts`), so rendering it for a past
    /// moment asks for the value as of then: backfill may use it.
    #[serde(default)]
    pub history: bool,
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
    /// Whether this variant's request answers for a past moment (see
    /// `Manifest::history`); unset, the manifest's.
    #[serde(default)]
    pub history: Option<bool>,
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

    /// The params that must come from `{ env }` or `{ file }`.
    pub fn secret_params(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|(_, s)| s.secret)
            .map(|(n, _)| n.clone())
            .collect()
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

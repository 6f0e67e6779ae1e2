//! Templated source params: `{{ period.start }}`, `{{ today }}` and friends
//! rendered into string leaves before a fetch.
//!
//! Rendering is per string leaf, so its output is always a string: a value
//! can never inject JSON structure into a request body. Leaves that are
//! secrets are never rendered, so a secret that happens to contain `{{` is
//! used as it is and template errors can never quote one.

mod bound;
mod engine;
mod kept;
mod variables;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::ErrorKind;
use serde_json::{Map, Value};

pub use bound::Refusal;
pub(crate) use engine::ENV;
pub use engine::TEMPLATE_FUEL;
pub(crate) use kept::{expression, with_template};
use variables::VARIABLES;

use super::{Params, Redactor};

/// The longest a param's value may be, as written and once rendered.
pub const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// The largest value a param template may build on the way to its output.
pub const MAX_INTERMEDIATE_BYTES: u64 = 1024 * 1024;

/// The limits a param template is checked against.
const LIMITS: bound::Limits = bound::Limits {
    output: MAX_VALUE_BYTES,
    intermediate: MAX_INTERMEDIATE_BYTES,
};

/// What a template can refer to for one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContext {
    pub period_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub now: DateTime<Utc>,
    /// The scheduler's time zone: `today` is the date there.
    pub timezone: chrono_tz::Tz,
    pub key_result: String,
}

impl TemplateContext {
    /// The current quarter and time, for checking templates before any fetch.
    pub fn example() -> TemplateContext {
        let now = Utc::now();
        let period = crate::okr::Period::quarter_of(now.date_naive());
        TemplateContext {
            period_id: period.id,
            period_start: period.start,
            period_end: period.end,
            now,
            timezone: chrono_tz::UTC,
            key_result: "example".into(),
        }
    }
}

/// Why params cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A template that does not parse or render (a typo, an undefined
    /// variable, out of fuel).
    Template(String),
    /// A value, or what a template could build, is larger than allowed.
    TooLarge(String),
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::Template(m) | ParamError::TooLarge(m) => f.write_str(m),
        }
    }
}

impl From<ParamError> for String {
    fn from(e: ParamError) -> String {
        e.to_string()
    }
}

/// Every string leaf of `params` (secrets aside) is at most
/// [`MAX_VALUE_BYTES`], and every template among them provably stays within
/// the limits. Runs nothing: for binding time.
pub fn check_params(params: &Params, secrets: &Redactor) -> Result<(), ParamError> {
    for (k, v) in params.as_map() {
        map_strings(v, k, &mut |s, path| {
            if !secrets.is_secret(s) {
                check_leaf(s, path)?;
            }
            Ok(s.to_string())
        })?;
    }
    Ok(())
}

/// `params` with every string leaf that holds `{{` or `{%` rendered.
/// Errors name the param path (`body.filters[0]`) and, for an undefined
/// variable, the variable; they never quote a rendered value.
pub fn render_params(
    params: &Params,
    ctx: &TemplateContext,
    secrets: &Redactor,
) -> Result<Params, ParamError> {
    // Built lazily: most params hold no template at all.
    let mut vars = None;
    let mut out = Map::new();
    for (k, v) in params.as_map() {
        let rendered = map_strings(v, k, &mut |s, path| {
            if secrets.is_secret(s) {
                return Ok(s.to_string());
            }
            check_leaf(s, path)?;
            if !is_template(s) {
                return Ok(s.to_string());
            }
            let vars = vars.get_or_insert_with(|| variables::values(ctx));
            let r = render_str(s, path, vars).map_err(ParamError::Template)?;
            // The bound already holds; this keeps the limit if it ever does not.
            if r.len() as u64 > MAX_VALUE_BYTES {
                return Err(too_large(
                    path,
                    &Refusal::TooLong {
                        limit: MAX_VALUE_BYTES,
                    },
                ));
            }
            Ok(r)
        })?;
        out.insert(k.clone(), rendered);
    }
    Ok(Params::new(out))
}

/// One string leaf is short enough and, if a template, bounded.
fn check_leaf(s: &str, path: &str) -> Result<(), ParamError> {
    if s.len() as u64 > MAX_VALUE_BYTES {
        return Err(ParamError::TooLarge(format!(
            "param `{path}` is longer than {} KiB",
            MAX_VALUE_BYTES / 1024
        )));
    }
    if !is_template(s) {
        return Ok(());
    }
    match bound::output_bound(s, &variables::shapes(), LIMITS) {
        Ok(_) => Ok(()),
        Err(Refusal::Syntax(e)) => Err(ParamError::Template(format!(
            "param `{path}`: invalid template: {e}"
        ))),
        Err(refusal) => Err(too_large(path, &refusal)),
    }
}

fn too_large(path: &str, why: &Refusal) -> ParamError {
    ParamError::TooLarge(format!("param `{path}`: {why}"))
}

/// `v` with `f` applied to every string leaf, `f` told the leaf's path.
fn map_strings(
    v: &Value,
    path: &str,
    f: &mut impl FnMut(&str, &str) -> Result<String, ParamError>,
) -> Result<Value, ParamError> {
    match v {
        Value::String(s) => f(s, path).map(Value::String),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.clone(), map_strings(v, &format!("{path}.{k}"), f)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| map_strings(v, &format!("{path}[{i}]"), f))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn render_str(source: &str, path: &str, vars: &minijinja::Value) -> Result<String, String> {
    with_template(source, |tmpl| rendered(tmpl, path, vars))
        .map_err(|e| format!("param `{path}`: invalid template: {}", describe(&e)))?
}

fn rendered(
    tmpl: &minijinja::Template<'_, '_>,
    path: &str,
    vars: &minijinja::Value,
) -> Result<String, String> {
    tmpl.render(vars).map_err(|e| {
        if e.kind() == ErrorKind::UndefinedError {
            let unknown: BTreeSet<String> = tmpl
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| !VARIABLES.contains(&v.as_str()))
                .collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
                return format!(
                    "param `{path}`: undefined template variable `{}` (available: {})",
                    names.join("`, `"),
                    VARIABLES.join(", ")
                );
            }
        }
        format!("param `{path}`: {}", describe(&e))
    })
}

/// The error's own words, without minijinja's template name and line (always
/// `<string>`, line 1 for these one-line params).
pub(crate) fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests;

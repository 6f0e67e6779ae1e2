//! Rendering manifest templates for one fetch: the variables (params, period,
//! time), the extra filters, and JSON-safe substitution, where a string that
//! is exactly one `{{ expression }}` keeps the value's JSON type and any other
//! string renders to a string. Rendering is leaf by leaf, so a param value can
//! never add structure to a request.

use chrono::{NaiveDate, SecondsFormat};
use minijinja::{Error, ErrorKind};
use serde_json::{Map, Value};

use crate::connectors::template::{
    ENV, MAX_VALUE_BYTES, TemplateContext, describe, expression, with_template,
};

/// Whether `s` holds template syntax at all.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Check a template's syntax when a manifest is loaded.
pub fn check_syntax(t: &str) -> Result<(), String> {
    if !is_template(t) {
        return Ok(());
    }
    ENV.template_from_str(t)
        .map(|_| ())
        .map_err(|e| format!("invalid template `{t}`: {}", describe(&e)))
}

/// Check an expression (`when = "…"`) when a manifest is loaded.
pub fn check_expression(e: &str) -> Result<(), String> {
    ENV.compile_expression(e)
        .map(|_| ())
        .map_err(|err| format!("invalid expression `{e}`: {}", describe(&err)))
}

/// The variables of one fetch.
#[derive(Debug, Clone)]
pub struct Vars {
    value: minijinja::Value,
}

impl Vars {
    /// Params (merged, defaults applied) and the period and time variables.
    /// Params are also under `params.`, for one named like a built-in
    /// variable (Matomo's `period`): `{{ params.period }}`.
    pub fn new(params: &Map<String, Value>, ctx: &TemplateContext) -> Vars {
        let mut all = params.clone();
        all.insert("params".into(), Value::Object(params.clone()));
        all.insert("period".into(), period(ctx));
        let today = ctx.now.with_timezone(&ctx.timezone).date_naive();
        all.insert("today".into(), Value::String(date(today)));
        all.insert(
            "now".into(),
            Value::String(ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        all.insert("now_ts".into(), Value::from(ctx.now.timestamp()));
        all.insert(
            "key_result".into(),
            serde_json::json!({ "id": ctx.key_result }),
        );
        Vars {
            value: minijinja::Value::from_serialize(&all),
        }
    }

    /// Render one string to a string.
    pub fn render(&self, t: &str, at: &str) -> Result<String, String> {
        if !is_template(t) {
            return Ok(t.to_string());
        }
        let out = with_template(t, |tmpl| tmpl.render(&self.value))
            .map_err(|e| format!("{at}: invalid template: {}", describe(&e)))?
            .map_err(|e| format!("{at}: {}", explain(&e, t)))?;
        within_limit(out.len(), at)?;
        Ok(out)
    }

    /// Render a JSON value leaf by leaf; a string that is exactly one
    /// expression keeps the expression's JSON type.
    pub fn render_value(&self, v: &Value, at: &str) -> Result<Value, String> {
        match v {
            Value::String(s) => match single_expression(s) {
                Some(expr) => self.eval(expr, at),
                None => self.render(s, at).map(Value::String),
            },
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| self.render_value(v, &format!("{at}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), self.render_value(v, &format!("{at}.{k}"))?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// Evaluate an expression to a JSON value (`null` for none/undefined-safe results).
    pub fn eval(&self, expr: &str, at: &str) -> Result<Value, String> {
        let compiled =
            expression(expr).map_err(|e| format!("{at}: invalid expression: {}", describe(&e)))?;
        let out = compiled
            .eval(&self.value)
            .map_err(|e| format!("{at}: {}", explain(&e, expr)))?;
        if out.is_undefined() || out.is_none() {
            return Ok(Value::Null);
        }
        let json = serde_json::to_value(&out).map_err(|e| format!("{at}: {e}"))?;
        within_limit(json.to_string().len(), at)?;
        Ok(json)
    }

    /// Whether a `when` expression holds.
    pub fn holds(&self, expr: &str, at: &str) -> Result<bool, String> {
        let compiled =
            expression(expr).map_err(|e| format!("{at}: invalid expression: {}", describe(&e)))?;
        compiled
            .eval(&self.value)
            .map(|v| v.is_true())
            .map_err(|e| format!("{at}: {}", explain(&e, expr)))
    }
}

/// A manifest is trusted code, but its templates see params a KR sets: what
/// they render is held to the same limit as a param's value. Never quotes it.
fn within_limit(len: usize, at: &str) -> Result<(), String> {
    if len as u64 > MAX_VALUE_BYTES {
        return Err(format!(
            "{at}: the rendered value is longer than {} KiB",
            MAX_VALUE_BYTES / 1024
        ));
    }
    Ok(())
}

/// The inner expression of `"{{ expr }}"`, if that is the whole string.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

fn period(ctx: &TemplateContext) -> Value {
    let start = ctx.period_start.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = (ctx.period_end + chrono::Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    serde_json::json!({
        "id": ctx.period_id,
        "start": date(ctx.period_start),
        "end": date(ctx.period_end),
        "start_ts": start.timestamp(),
        "end_ts": end.timestamp(),
    })
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Unix time of a `YYYY-MM-DD` date (its midnight, UTC) or an RFC 3339 time.
/// An undefined variable is almost always a param nobody set: say so.
fn explain(e: &Error, source: &str) -> String {
    if e.kind() == ErrorKind::UndefinedError {
        return format!(
            "`{source}` uses a param or variable that is not set ({})",
            describe(e)
        );
    }
    describe(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn vars(params: Value) -> Vars {
        let ctx = TemplateContext {
            period_id: "2026-Q4".into(),
            period_start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            now: DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            timezone: chrono_tz::UTC,
            key_result: "kr".into(),
        };
        Vars::new(params.as_object().unwrap(), &ctx)
    }

    #[test]
    fn single_expressions_keep_their_json_type() {
        let v = vars(json!({"range": ["a", "b"], "n": 5, "s": "x"}));
        let out = v
            .render_value(
                &json!({"r": "{{ range }}", "n": "{{ n }}", "t": "n={{ n }}", "s": "{{s}}"}),
                "json",
            )
            .unwrap();
        assert_eq!(out, json!({"r": ["a", "b"], "n": 5, "t": "n=5", "s": "x"}));
    }

    #[test]
    fn a_param_value_cannot_inject_structure() {
        let evil = "x\", \"metrics\": [\"pageviews\"], \"y\": \"";
        let v = vars(json!({ "site_id": evil }));
        let out = v
            .render_value(
                &json!({"site_id": "{{ site_id }}", "m": ["visitors"]}),
                "json",
            )
            .unwrap();
        assert_eq!(out, json!({"site_id": evil, "m": ["visitors"]}));
        let wire: Value = serde_json::from_str(&out.to_string()).unwrap();
        assert_eq!(wire.as_object().unwrap().len(), 2);
    }

    #[test]
    fn params_named_like_builtins_are_under_params() {
        let v = vars(json!({"period": "range", "site": 1}));
        assert_eq!(
            v.render("{{ params.period }}/{{ period.id }}", "t")
                .unwrap(),
            "range/2026-Q4"
        );
        assert_eq!(v.render("{{ params.site }}", "t").unwrap(), "1");
    }

    #[test]
    fn period_time_and_filters() {
        let v =
            vars(json!({"talk": "current_queue_activity.calls_waiting", "range": "Sheet 1!B2"}));
        let r = |t: &str| v.render(t, "t").unwrap();
        assert_eq!(
            r("{{ period.start }}..{{ period.end }}"),
            "2026-10-01..2026-12-31"
        );
        assert_eq!(r("{{ period.start_ts }}"), "1790812800");
        assert_eq!(r("{{ period.end_ts }}"), "1798761600");
        assert_eq!(r("{{ period.start | unix_ms }}"), "1790812800000");
        assert_eq!(r("{{ now | unix }}"), r("{{ now_ts }}"));
        assert_eq!(r("{{ today }}"), "2026-11-23");
        assert_eq!(r("{{ talk | before('.') }}"), "current_queue_activity");
        assert_eq!(r("{{ talk | after('.') }}"), "calls_waiting");
        assert_eq!(r("{{ range | urlencode }}"), "Sheet%201%21B2");
        assert_eq!(r("{{ 'a:b' | b64 }}"), "YTpi");
    }

    #[test]
    fn rendered_values_are_held_to_the_param_limit() {
        let long = "y".repeat(40 * 1024);
        let v = vars(json!({ "q": long, "l": [long.clone(), long.clone()] }));
        assert_eq!(v.render("{{ q }}", "t").unwrap().len(), 40 * 1024);
        let e = v.render("{{ q }}{{ q }}", "request.url").unwrap_err();
        assert_eq!(e, "request.url: the rendered value is longer than 64 KiB");
        let e = v.eval("l", "body").unwrap_err();
        assert!(e.ends_with("longer than 64 KiB"), "{e}");
    }

    #[test]
    fn undefined_params_are_named_errors_and_testable() {
        let v = vars(json!({"a": 1}));
        let e = v.render("{{ subdomain }}.zendesk.com", "url").unwrap_err();
        assert!(e.contains("url") && e.contains("not set"), "{e}");
        assert!(v.holds("a is defined", "when").unwrap());
        assert!(!v.holds("talk is defined", "when").unwrap());
    }
}

//! Templated source params: `{{ period.start }}`, `{{ today }}` and friends
//! rendered into string leaves before a fetch.
//!
//! Rendering is per string leaf, so its output is always a string: a value
//! can never inject JSON structure into a request body. Leaves that are
//! secrets are never rendered, so a secret that happens to contain `{{` is
//! used as it is and template errors can never quote one.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

use super::http::url_encode;
use super::{Params, Redactor};

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

/// Every variable a template may use, for error messages.
const VARIABLES: &[&str] = &[
    "period.id",
    "period.start",
    "period.end",
    "today",
    "now",
    "key_result.id",
];

/// Instructions one template may run. Params set over the REST API are
/// templates too: a loop in one must not hold a worker on every fetch.
/// A param's template takes tens; a request's hundreds.
pub const TEMPLATE_FUEL: u64 = 50_000;

/// The one template engine, for KR and source params and for manifests
/// alike: strict undefined, no auto-escaping (templates are named
/// `<string>`, which has no escaping extension), fuel, and one set of extra
/// filters: `unix`, `unix_ms`, `before`, `after`, `urlencode`, `b64`.
pub(crate) static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    // Keep a trailing newline a user wrote (e.g. in a request body string).
    env.set_keep_trailing_newline(true);
    env.add_filter("unix", |s: String| timestamp(&s, 1));
    env.add_filter("unix_ms", |s: String| timestamp(&s, 1000));
    env.add_filter("before", |s: String, sep: String| {
        s.split_once(&sep).map_or(s.clone(), |(a, _)| a.to_string())
    });
    env.add_filter("after", |s: String, sep: String| {
        s.split_once(&sep)
            .map_or(String::new(), |(_, b)| b.to_string())
    });
    env.add_filter("urlencode", |s: String| url_encode(&s));
    env.add_filter("b64", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s)
    });
    env
});

/// A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time as seconds
/// (`per_second` 1) or milliseconds (1000) since the epoch.
fn timestamp(s: &str, per_second: i64) -> Result<i64, Error> {
    let t = s.trim();
    let instant: DateTime<Utc> = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN).and_utc()
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`{t}` is neither a YYYY-MM-DD date nor an RFC 3339 time"),
        ));
    };
    Ok(instant.timestamp_millis() * per_second / 1000)
}

/// `params` with every string leaf that holds `{{` or `{%` rendered.
/// Errors name the param path (`body.filters[0]`) and, for an undefined
/// variable, the variable.
pub fn render_params(
    params: &Params,
    ctx: &TemplateContext,
    secrets: &Redactor,
) -> Result<Params, String> {
    // Built lazily: most params hold no template at all.
    let mut vars = None;
    let mut out = Map::new();
    for (k, v) in params.as_map() {
        out.insert(k.clone(), render_value(v, k, ctx, secrets, &mut vars)?);
    }
    Ok(Params::new(out))
}

fn render_value(
    v: &Value,
    path: &str,
    ctx: &TemplateContext,
    secrets: &Redactor,
    vars: &mut Option<minijinja::Value>,
) -> Result<Value, String> {
    match v {
        Value::String(s) if is_template(s) && !secrets.is_secret(s) => {
            let vars = vars.get_or_insert_with(|| variables(ctx));
            render_str(s, path, vars).map(Value::String)
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(
                    k.clone(),
                    render_value(v, &format!("{path}.{k}"), ctx, secrets, vars)?,
                );
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| render_value(v, &format!("{path}[{i}]"), ctx, secrets, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn variables(ctx: &TemplateContext) -> minijinja::Value {
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    minijinja::context! {
        period => minijinja::context! {
            id => ctx.period_id.clone(),
            start => date(ctx.period_start),
            end => date(ctx.period_end),
        },
        today => date(ctx.now.with_timezone(&ctx.timezone).date_naive()),
        now => ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        key_result => minijinja::context! { id => ctx.key_result.clone() },
    }
}

fn render_str(source: &str, path: &str, vars: &minijinja::Value) -> Result<String, String> {
    let tmpl = ENV
        .template_from_str(source)
        .map_err(|e| format!("param `{path}`: invalid template: {}", describe(&e)))?;
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
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> TemplateContext {
        TemplateContext {
            period_id: "2026-Q4".into(),
            period_start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            now: DateTime::parse_from_rfc3339("2026-11-05T09:30:15.250Z")
                .unwrap()
                .with_timezone(&Utc),
            timezone: chrono_tz::UTC,
            key_result: "reset-calls".into(),
        }
    }

    fn params(v: Value) -> Params {
        Params::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn renders_period_and_time_variables() {
        let p = params(json!({
            "date": "{{ period.start }},{{ period.end }}",
            "id": "{{ period.id }}/{{ key_result.id }}",
            "today": "{{ today }}",
            "now": "{{ now }}",
            "plain": "no template {here}",
            "n": 3,
        }));
        let r = render_params(&p, &ctx(), &Redactor::default()).unwrap();
        assert_eq!(r.str("date"), Some("2026-10-01,2026-12-31"));
        assert_eq!(r.str("id"), Some("2026-Q4/reset-calls"));
        assert_eq!(r.str("today"), Some("2026-11-05"));
        assert_eq!(r.str("now"), Some("2026-11-05T09:30:15Z"));
        assert_eq!(r.str("plain"), Some("no template {here}"));
        assert_eq!(r.get("n"), Some(&json!(3)));
    }

    /// One engine: the filters manifests use work in a native source's params too.
    #[test]
    fn params_have_the_catalogs_filters() {
        let p = params(json!({
            "since": "{{ period.start | unix }}",
            "since_ms": "{{ period.start | unix_ms }}",
            "q": "{{ 'a b&c' | urlencode }}",
            "host": "{{ 'user@example.com' | after('@') }}",
            "user": "{{ 'user@example.com' | before('@') }}",
            "auth": "{{ 'key:' | b64 }}",
        }));
        let r = render_params(&p, &ctx(), &Redactor::default()).unwrap();
        assert_eq!(r.str("since"), Some("1790812800"));
        assert_eq!(r.str("since_ms"), Some("1790812800000"));
        assert_eq!(r.str("q"), Some("a%20b%26c"));
        assert_eq!(r.str("host"), Some("example.com"));
        assert_eq!(r.str("user"), Some("user"));
        assert_eq!(r.str("auth"), Some("a2V5Og=="));
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let p = params(json!({
            "q": "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
        }));
        let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
        assert!(e.contains("q") && e.contains("fuel"), "{e}");
    }

    #[test]
    fn renders_inside_nested_tables_and_arrays() {
        let p = params(json!({
            "body": {
                "date_range": ["{{ period.start }}", "{{ today }}"],
                "filters": [{"since": "{% if true %}{{ period.start }}{% endif %}"}],
                "limit": 10,
                "flag": true,
                "none": null,
            }
        }));
        let r = render_params(&p, &ctx(), &Redactor::default()).unwrap();
        assert_eq!(
            r.get("body").unwrap(),
            &json!({
                "date_range": ["2026-10-01", "2026-11-05"],
                "filters": [{"since": "2026-10-01"}],
                "limit": 10,
                "flag": true,
                "none": null,
            })
        );
    }

    #[test]
    fn undefined_variables_are_errors_naming_path_and_variable() {
        let p = params(json!({"body": {"q": ["ok", "{{ period.begin }}"]}}));
        let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
        assert!(e.contains("`body.q[1]`"), "{e}");
        assert!(e.contains("`period.begin`"), "{e}");
        assert!(e.contains("period.start"), "{e}");

        let p = params(json!({"x": "{{ tody }}"}));
        let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
        assert!(e.contains("`x`") && e.contains("`tody`"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_path() {
        let p = params(json!({"url": "https://x/{{ period.start "}));
        let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
        assert!(e.starts_with("param `url`: invalid template"), "{e}");
    }

    #[test]
    fn output_stays_a_string_leaf() {
        // A value that looks like JSON structure stays text, also once the
        // rendered params are serialised into a request body.
        let p = params(json!({
            "body": {"name": "x\"}, \"admin\": true, {\"y\": \"{{ period.id }}"}
        }));
        let r = render_params(&p, &ctx(), &Redactor::default()).unwrap();
        let body = r.get("body").unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(
            body["name"],
            json!("x\"}, \"admin\": true, {\"y\": \"2026-Q4")
        );
        let wire = serde_json::to_string(body).unwrap();
        let back: Value = serde_json::from_str(&wire).unwrap();
        assert_eq!(&back, body);
        assert!(back.get("admin").is_none());
    }

    #[test]
    fn no_html_escaping() {
        let mut c = ctx();
        c.key_result = "a&b<c>\"d\"".into();
        let p = params(json!({"k": "{{ key_result.id }}"}));
        let r = render_params(&p, &c, &Redactor::default()).unwrap();
        assert_eq!(r.str("k"), Some("a&b<c>\"d\""));
    }

    #[test]
    fn params_without_templates_are_returned_unchanged() {
        let p = params(json!({"a": "x", "b": {"c": [1, "y"]}}));
        assert_eq!(render_params(&p, &ctx(), &Redactor::default()).unwrap(), p);
    }

    #[test]
    fn today_is_the_date_in_the_scheduler_time_zone() {
        let mut c = ctx();
        c.now = DateTime::parse_from_rfc3339("2026-11-05T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        c.timezone = chrono_tz::Europe::Berlin;
        let p = params(json!({"d": "{{ today }}"}));
        let r = render_params(&p, &c, &Redactor::default()).unwrap();
        assert_eq!(r.str("d"), Some("2026-11-06"));
    }

    #[test]
    fn secrets_are_never_rendered() {
        let secret = "Bearer Zx9{{ k7QpL2vR }}aa";
        let mut r = Redactor::default();
        r.add(secret);
        let p = params(json!({"headers": {"Authorization": secret}, "d": "{{ period.id }}"}));
        let out = render_params(&p, &ctx(), &r).unwrap();
        assert_eq!(
            out.table("headers").unwrap().unwrap()["Authorization"],
            secret
        );
        assert_eq!(out.str("d"), Some("2026-Q4"));
    }
}

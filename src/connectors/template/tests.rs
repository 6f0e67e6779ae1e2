//! Rendering params: variables, filters, nesting, errors, limits.
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
    // No output, so the size bound holds: fuel stops it.
    let p = params(json!({
        "q": "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    }));
    let e = render_params(&p, &ctx(), &Redactor::default())
        .unwrap_err()
        .to_string();
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
    let e = render_params(&p, &ctx(), &Redactor::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`body.q[1]`"), "{e}");
    assert!(e.contains("`period.begin`"), "{e}");
    assert!(e.contains("period.start"), "{e}");

    let p = params(json!({"x": "{{ tody }}"}));
    let e = render_params(&p, &ctx(), &Redactor::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`x`") && e.contains("`tody`"), "{e}");
}

#[test]
fn syntax_errors_name_the_path() {
    let p = params(json!({"url": "https://x/{{ period.start "}));
    let e = render_params(&p, &ctx(), &Redactor::default())
        .unwrap_err()
        .to_string();
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

/// Issue 11's bomb in a nested param: refused before it runs, as too large,
/// naming the path and quoting no output.
#[test]
fn a_template_bomb_is_refused_before_rendering() {
    let bomb = "{% set a = 'x' * 100000000 %}{% set a = a ~ a %}{{ a }}";
    let p = params(json!({"body": {"filters": [bomb]}}));
    let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
    let ParamError::TooLarge(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.starts_with("param `body.filters[0]`: the template"),
        "{m}"
    );
    assert!(!m.contains("xxxx"), "{m}");
    assert_eq!(check_params(&p, &Redactor::default()), Err(e));
}

#[test]
fn values_longer_than_the_limit_are_refused_templated_or_not() {
    let long = "y".repeat(MAX_VALUE_BYTES as usize + 1);
    let p = params(json!({"q": long}));
    let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
    assert!(
        matches!(&e, ParamError::TooLarge(m) if m == "param `q` is longer than 64 KiB"),
        "{e:?}"
    );
    let p = params(json!({"q": "{{ 'y' * 70000 }}"}));
    let e = render_params(&p, &ctx(), &Redactor::default()).unwrap_err();
    assert!(
        matches!(&e, ParamError::TooLarge(m) if m.contains("longer than 64 KiB")),
        "{e:?}"
    );
    // Just under the limit renders.
    let p = params(json!({"q": format!("{{{{ 'y' * {} }}}}", 64 * 1024 - 10)}));
    let r = render_params(&p, &ctx(), &Redactor::default()).unwrap();
    assert_eq!(r.str("q").unwrap().len(), 64 * 1024 - 10);
}

#[test]
fn check_params_runs_nothing_and_skips_secrets() {
    let secret = "{{ 'x' * 100000000 }}";
    let mut r = Redactor::default();
    r.add(secret);
    let p = params(json!({"token": secret, "d": "{{ tody }}"}));
    // An undefined variable shows at render time, not in the size check.
    assert_eq!(check_params(&p, &r), Ok(()));
    let e = check_params(&params(json!({"d": "{{ x | indent(9) }}"})), &r).unwrap_err();
    assert!(matches!(e, ParamError::TooLarge(_)), "{e:?}");
    let e = check_params(&params(json!({"d": "{{ x "})), &r).unwrap_err();
    assert!(matches!(e, ParamError::Template(_)), "{e:?}");
}

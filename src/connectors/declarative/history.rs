//! Whether a manifest's request can be asked about a past day (`history`,
//! per manifest or per variant), and what it asks on one day: backfill
//! renders it for a past day and for now, and skips a KR whose request is
//! the same for both (its params override the date range with one the API
//! counts from its own today, such as Plausible's `"30d"`).

use super::manifest::Manifest;
use super::render::Vars;
use super::request::{Body, Built};
use super::{complete_params, plan};
use crate::connectors::Params;
use crate::connectors::template::TemplateContext;

/// The variant these params choose declares `history` (or the manifest
/// does). Params that choose no variant cannot be fetched at all: false.
pub fn answers_for_past(m: &Manifest, params: &Params) -> bool {
    let ctx = TemplateContext::example();
    let Ok(complete) = complete_params(m, params.as_map(), &ctx) else {
        return false;
    };
    plan(m, &Vars::new(&complete, &ctx)).is_ok_and(|p| p.history)
}

/// The first request of a fetch at `ctx` (method, URL with its query,
/// headers and body), rendered and not sent. Credentials are not part of
/// it: they are added when a request is sent, and never change with the day.
pub fn request_as_of(
    m: &Manifest,
    params: &Params,
    ctx: &TemplateContext,
) -> Result<String, String> {
    let complete = complete_params(m, params.as_map(), ctx)?;
    let vars = Vars::new(&complete, ctx);
    let plan = plan(m, &vars)?;
    let built = Built::from_spec(plan.request, &vars, "request")?;
    let body = match &built.body {
        Body::None => String::new(),
        Body::Json(v) => v.to_string(),
        Body::Form(f) => format!("{f:?}"),
    };
    Ok(format!(
        "{} {} {:?} {body}",
        built.method, built.url, built.headers
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

    fn manifest(extra: &str) -> Manifest {
        Manifest::parse(
            &format!(
                r#"
name = "x"
{extra}
[params]
base_url = {{ default = "https://x.example" }}
range = {{ type = "any", default = ["{{{{ period.start }}}}", "{{{{ today }}}}"] }}
live = {{ type = "boolean" }}
[request]
method = "POST"
url = "{{{{ base_url }}}}/v1"
json = {{ range = "{{{{ range }}}}" }}
[extract]
value = "$.n"

[[variants]]
when = "live is defined and live"
history = false
request = {{ url = "{{{{ base_url }}}}/now" }}
"#
            ),
            "x",
        )
        .unwrap()
    }

    fn at(day: u32) -> TemplateContext {
        TemplateContext {
            now: Utc.with_ymd_and_hms(2026, 11, day, 23, 59, 59).unwrap(),
            ..TemplateContext::example()
        }
    }

    fn params(v: serde_json::Value) -> Params {
        Params::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn history_is_the_manifests_unless_the_variant_says_otherwise() {
        assert!(!answers_for_past(&manifest(""), &params(json!({}))));
        let m = manifest("history = true");
        assert!(answers_for_past(&m, &params(json!({}))));
        assert!(!answers_for_past(&m, &params(json!({"live": true}))));
        assert!(answers_for_past(&m, &params(json!({"live": false}))));
    }

    #[test]
    fn the_request_follows_the_day_unless_the_params_pin_it() {
        let m = manifest("history = true");
        let day = |p: &Params, d| request_as_of(&m, p, &at(d)).unwrap();
        let default = params(json!({}));
        assert_ne!(day(&default, 5), day(&default, 6));
        assert!(
            day(&default, 5).contains("2026-11-05"),
            "{}",
            day(&default, 5)
        );
        let pinned = params(json!({"range": "30d"}));
        assert_eq!(day(&pinned, 5), day(&pinned, 6));
    }
}

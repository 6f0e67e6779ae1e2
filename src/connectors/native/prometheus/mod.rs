//! The `prometheus` connector: one PromQL instant query, one number.
//!
//! ```toml
//! [[sources]]
//! name = "prom"
//! connector = "prometheus"
//! [sources.params]
//! url = "http://prometheus:9090"          # base URL; a path prefix is kept
//! headers = { Authorization = { env = "PROM_TOKEN" } }   # optional, for auth proxies
//!
//! # on a KR:
//! params = { query = "sum(increase(calls_total[7d]))", reduce = "sum" }
//! ```
//!
//! `GET {url}/api/v1/query?query=…&time=…`, an instant query at the fetch
//! time (Unix seconds): a scheduled fetch asks for now, a backfill for the
//! end of a past day. A vector with one series or a scalar is
//! the value; several series need `reduce` (or aggregate in PromQL); an
//! empty vector is `no_data`, whatever `reduce` says (as PromQL's own
//! `count()` of nothing is nothing: write `count(x) or vector(0)` for 0).

use reqwest::Method;
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde_json::Value;

use crate::connectors::http::{headers_from_params, parse_http_url};
use crate::connectors::template::TemplateContext;
use crate::connectors::value::{Reduce, parse_number_redacted, reduce};
use crate::connectors::{BoxFuture, Connector, FetchContext, FetchError, Params, Reason, Redactor};

/// The `prometheus` connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prometheus;

const QUERY_PATH: &str = "/api/v1/query";

struct Spec {
    url: Url,
    headers: HeaderMap,
    reduce: Option<Reduce>,
}

impl Spec {
    fn from_params(params: &Params) -> Result<Spec, String> {
        Spec::at(params, None)
    }

    /// The query evaluated at `time` (Unix seconds), or at the server's now.
    fn at(params: &Params, time: Option<i64>) -> Result<Spec, String> {
        let base = params.require_str("url")?;
        let query = params.require_str("query")?;
        let mut url = query_url(base, query)?;
        if let Some(time) = time {
            url.query_pairs_mut().append_pair("time", &time.to_string());
        }
        let headers = headers_from_params(params.table("headers")?)?;
        let reduce = Reduce::from_param(params.get("reduce"))?;
        Ok(Spec {
            url,
            headers,
            reduce,
        })
    }
}

/// `{base}/api/v1/query?query=…`, keeping a path prefix and any query
/// parameters of `base` (some proxies authenticate with one). A base that
/// already ends in `/api/v1/query` is used as is.
pub fn query_url(base: &str, query: &str) -> Result<Url, String> {
    let mut url = parse_http_url(base, "url")?;
    let prefix = url.path().trim_end_matches('/');
    if !prefix.ends_with(QUERY_PATH) {
        let path = format!("{prefix}{QUERY_PATH}");
        url.set_path(&path);
    }
    url.set_fragment(None);
    url.query_pairs_mut().append_pair("query", query);
    Ok(url)
}

impl Connector for Prometheus {
    fn check_params(&self, params: &Params) -> Result<(), String> {
        Spec::from_params(params).map(|_| ())
    }

    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
        Box::pin(async move { fetch(ctx).await.map_err(|e| e.redacted(ctx.redactor)) })
    }

    fn known_params(&self) -> Vec<String> {
        ["url", "query", "headers", "reduce"]
            .map(String::from)
            .to_vec()
    }

    fn allowed_origins(&self, config: &Params) -> Result<Vec<String>, String> {
        super::config_url_origin(config)
    }

    fn request_urls(&self, params: &Params) -> Result<Vec<String>, String> {
        super::request_url(params)
    }

    /// An instant query at `time=` is the value then, as far back as the
    /// server keeps samples.
    fn answers_for_past(&self, _params: &Params) -> bool {
        true
    }

    fn request_as_of(&self, params: &Params, template: &TemplateContext) -> Result<String, String> {
        Spec::at(params, Some(template.now.timestamp())).map(|s| s.url.to_string())
    }
}

async fn fetch(ctx: &FetchContext<'_>) -> Result<f64, FetchError> {
    let spec = Spec::at(ctx.params, Some(ctx.template.now.timestamp()))
        .map_err(|m| FetchError::new(Reason::Parse, format!("invalid params: {m}")))?;
    let req = ctx
        .http
        .request(Method::GET, spec.url.as_str())
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .headers(spec.headers);
    // Non-2xx: classified by status (400/422 → http_4xx, 503 → http_5xx,
    // 401/403 → auth); the message quotes the envelope's `errorType: error`.
    let resp = ctx.http.send(req, ctx.timeout, ctx.redactor).await?;
    let json = resp.json()?;
    if let Some(warnings) = json.get("warnings").and_then(Value::as_array) {
        tracing::debug!(
            source = ctx.source,
            key_result = ctx.key_result,
            ?warnings,
            "prometheus query warnings"
        );
    }
    extract(&json, spec.reduce, ctx.redactor)
}

/// The number in a 2xx Prometheus query response.
pub fn extract(json: &Value, how: Option<Reduce>, redactor: &Redactor) -> Result<f64, FetchError> {
    match json.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            let kind = json
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let msg = json.get("error").and_then(Value::as_str).unwrap_or("");
            // The error text can be as long as the body: quote a short excerpt.
            let msg = crate::connectors::http::excerpt(msg.as_bytes(), redactor);
            return Err(parse(format!(
                "Prometheus answered an error with HTTP 2xx: {kind}: {msg}"
            )));
        }
        _ => {
            return Err(parse(
                "not a Prometheus API response: no `status` field".into(),
            ));
        }
    }
    let data = json.get("data").unwrap_or(&Value::Null);
    let result = data.get("result").unwrap_or(&Value::Null);
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => vector(result, how, redactor),
        Some("scalar") => match result.as_array().map(Vec::as_slice) {
            Some([_, v]) => parse_number_redacted(v, redactor),
            _ => Err(parse("scalar result is not [time, value]".into())),
        },
        Some("matrix") => Err(parse(
            "query returned a range vector (matrix); use an instant query, e.g. \
             last_over_time(x[5m]) instead of x[5m]"
                .into(),
        )),
        Some("string") => Err(parse(
            "query returned a string; use an instant query that returns a number".into(),
        )),
        Some(other) => Err(parse(format!("unknown resultType {other:?}"))),
        None => Err(parse("response has no data.resultType".into())),
    }
}

fn vector(result: &Value, how: Option<Reduce>, redactor: &Redactor) -> Result<f64, FetchError> {
    let Some(series) = result.as_array() else {
        return Err(parse("vector result is not an array".into()));
    };
    if series.is_empty() {
        return Err(FetchError::new(
            Reason::NoData,
            "query returned an empty vector: no series matched",
        ));
    }
    if series.len() > 1 && how.is_none() {
        return Err(parse(format!(
            "query returned {} series; set reduce (sum|mean|min|max|count|last) or aggregate \
             in PromQL, e.g. sum(...)",
            series.len()
        )));
    }
    let mut values = Vec::with_capacity(series.len());
    for s in series {
        values.push(sample(s, redactor).map_err(|mut e| {
            if series.len() > 1 {
                e.message = format!("series {}: {}", labels(s), e.message);
            }
            e
        })?);
    }
    match how {
        None => Ok(values[0]),
        Some(how) => reduce(&values, how)
            .ok_or_else(|| FetchError::new(Reason::NoData, "query returned no samples")),
    }
}

/// `value[1]` of one vector element (a string such as "1284" or "NaN").
fn sample(s: &Value, redactor: &Redactor) -> Result<f64, FetchError> {
    match s.get("value").and_then(Value::as_array).map(Vec::as_slice) {
        Some([_, v]) => parse_number_redacted(v, redactor),
        _ if s.get("histogram").is_some() => Err(parse(
            "series holds a native histogram; query a number, e.g. histogram_quantile(…) or \
             histogram_count(…)"
                .into(),
        )),
        _ => Err(parse("vector element has no [time, value] pair".into())),
    }
}

/// `{job="x", queue="y"}` for messages.
fn labels(s: &Value) -> String {
    let Some(m) = s.get("metric").and_then(Value::as_object) else {
        return "{}".into();
    };
    let pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map_or_else(|| v.to_string(), |s| format!("{s:?}"))
            )
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn parse(message: String) -> FetchError {
    FetchError::new(Reason::Parse, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_urls() {
        let u = |b| {
            query_url(b, "sum(rate(x{a=\"b c\"}[5m])) / 2 + 1")
                .unwrap()
                .to_string()
        };
        let q = "query=sum%28rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29%29+%2F+2+%2B+1";
        assert_eq!(
            u("http://p:9090"),
            format!("http://p:9090/api/v1/query?{q}")
        );
        assert_eq!(
            u("http://p:9090/"),
            format!("http://p:9090/api/v1/query?{q}")
        );
        assert_eq!(
            u("https://h/prom/"),
            format!("https://h/prom/api/v1/query?{q}")
        );
        assert_eq!(
            u("https://h/prom"),
            format!("https://h/prom/api/v1/query?{q}")
        );
        assert_eq!(
            u("https://h/prom/api/v1/query"),
            format!("https://h/prom/api/v1/query?{q}")
        );
        assert_eq!(
            u("https://h/?tenant=a#x"),
            format!("https://h/api/v1/query?tenant=a&{q}")
        );
    }

    #[test]
    fn check_params() {
        let p = |v: Value| Params::new(v.as_object().unwrap().clone());
        Prometheus
            .check_params(&p(json!({"url": "http://p:9090", "query": "up"})))
            .unwrap();
        let e = Prometheus
            .check_params(&p(json!({"url": "http://p:9090"})))
            .unwrap_err();
        assert!(e.contains("`query` is required"), "{e}");
        let e = Prometheus
            .check_params(&p(json!({"query": "up"})))
            .unwrap_err();
        assert!(e.contains("`url` is required"), "{e}");
        let e = Prometheus
            .check_params(&p(
                json!({"url": "http://p", "query": "up", "reduce": "avg"}),
            ))
            .unwrap_err();
        assert!(e.contains("reduce"), "{e}");
    }

    #[test]
    fn odd_shapes_are_parse_errors() {
        for doc in [
            json!({}),
            json!({"status": "success"}),
            json!({"status": "success", "data": {"resultType": "vector", "result": {}}}),
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1]}}),
            json!({"status": "success", "data": {"resultType": "string", "result": [1, "a"]}}),
            json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}),
            json!({"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "histogram": [1, {"count": "3"}]}]}}),
        ] {
            let e = extract(&doc, None, &Redactor::default()).unwrap_err();
            assert_eq!(e.reason, Reason::Parse, "{doc}: {e}");
        }
    }

    #[test]
    fn invalid_sample_names_its_series() {
        let doc = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"queue": "a"}, "value": [1, "1"]},
            {"metric": {"queue": "b"}, "value": [1, "+Inf"]},
        ]}});
        let e = extract(&doc, Some(Reduce::Sum), &Redactor::default()).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidValue);
        assert!(
            e.message.starts_with("series {queue=\"b\"}:"),
            "{}",
            e.message
        );
    }
}

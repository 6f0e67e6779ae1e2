//! The `http_json` connector: one HTTP request to any JSON API, one number
//! picked out of the answer with an RFC 9535 JSONPath.
//!
//! ```toml
//! [[sources]]
//! name = "tickets"
//! connector = "http_json"
//! [sources.params]
//! url = "https://api.example.com/v1/stats?since={{ period.start }}"
//! method = "POST"                         # GET (default) | POST | PUT
//! headers = { Authorization = { env = "EXAMPLE_TOKEN" } }
//! body = { metric = "open_tickets" }      # sent as JSON; POST/PUT only
//! value = "$.results[*].count"            # RFC 9535 JSONPath
//! reduce = "sum"                          # sum|mean|min|max|count|last, for several matches
//! history = true                          # the URL or body bound the answer by {{ today }}/{{ now }}
//! ```
//!
//! One match is the value; several need `reduce`; none is `no_data`, except
//! with `reduce = "count"`, where nothing matched counts as 0.

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::connectors::http::{headers_from_params, parse_http_url};
use crate::connectors::kept::json_path;
use crate::connectors::value::{Reduce, parse_number_redacted, reduce};
use crate::connectors::{BoxFuture, Connector, FetchContext, FetchError, Params, Reason, Redactor};

/// The `http_json` connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpJson;

/// Validated params of one fetch.
struct Spec<'p> {
    url: &'p str,
    method: Method,
    headers: HeaderMap,
    body: Option<&'p Map<String, Value>>,
    path_text: &'p str,
    path: Arc<JsonPath>,
    reduce: Option<Reduce>,
}

impl<'p> Spec<'p> {
    fn from_params(params: &'p Params) -> Result<Spec<'p>, String> {
        let url = params.require_str("url")?;
        parse_http_url(url, "url")?;
        let method = match params.get("method") {
            None => Method::GET,
            Some(Value::String(m)) => match m.to_ascii_uppercase().as_str() {
                "GET" => Method::GET,
                "POST" => Method::POST,
                "PUT" => Method::PUT,
                _ => {
                    return Err(format!(
                        "param `method` must be GET, POST or PUT, not {m:?}"
                    ));
                }
            },
            Some(other) => {
                return Err(format!(
                    "param `method` must be a string, not {}",
                    crate::connectors::params::json_type(other)
                ));
            }
        };
        let headers = headers_from_params(params.table("headers")?)?;
        let body = params.table("body")?;
        if body.is_some() && method == Method::GET {
            return Err("param `body` needs `method = \"POST\"` or `\"PUT\"`".into());
        }
        let path_text = params.require_str("value")?;
        let path = json_path(path_text)
            .map_err(|e| format!("param `value` is not a valid JSONPath (RFC 9535): {e}"))?;
        let reduce = Reduce::from_param(params.get("reduce"))?;
        if params.get("history").is_some_and(|h| !h.is_boolean()) {
            return Err("param `history` must be true or false".into());
        }
        Ok(Spec {
            url,
            method,
            headers,
            body,
            path_text,
            path,
            reduce,
        })
    }
}

impl Connector for HttpJson {
    fn check_params(&self, params: &Params) -> Result<(), String> {
        Spec::from_params(params).map(|_| ())
    }

    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
        Box::pin(async move { fetch(ctx).await.map_err(|e| e.redacted(ctx.redactor)) })
    }

    fn known_params(&self) -> Vec<String> {
        [
            "url", "method", "headers", "body", "value", "reduce", "history",
        ]
        .map(String::from)
        .to_vec()
    }

    fn allowed_origins(&self, config: &Params) -> Result<Vec<String>, String> {
        super::config_url_origin(config)
    }

    fn request_urls(&self, params: &Params) -> Result<Vec<String>, String> {
        super::request_url(params)
    }

    /// Any API might answer for a past day, but only the config can say
    /// so: `history = true`, with a URL or body that uses the date
    /// variables (backfill still skips a request that is the same every day).
    fn answers_for_past(&self, params: &Params) -> bool {
        params.get("history") == Some(&Value::Bool(true))
    }
}

async fn fetch(ctx: &FetchContext<'_>) -> Result<f64, FetchError> {
    // check_params ran at startup; this fails only if templating broke a param.
    let spec = Spec::from_params(ctx.params)
        .map_err(|m| FetchError::new(Reason::Parse, format!("invalid params: {m}")))?;
    let mut req = ctx
        .http
        .request(spec.method.clone(), spec.url)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .headers(spec.headers.clone());
    if let Some(body) = spec.body {
        req = req.json(body);
    }
    let resp = ctx.http.send(req, ctx.timeout, ctx.redactor).await?;
    let json = resp.json()?;
    extract(&json, &spec.path, spec.path_text, spec.reduce, ctx.redactor)
}

/// The number `path` selects in `json`, reduced if asked.
pub fn extract(
    json: &Value,
    path: &JsonPath,
    path_text: &str,
    how: Option<Reduce>,
    redactor: &Redactor,
) -> Result<f64, FetchError> {
    let nodes = path.query(json).all();
    if how == Some(Reduce::Count) {
        // Counting needs no numbers: `$.items[*]` counts objects.
        return Ok(nodes.len() as f64);
    }
    match (nodes.as_slice(), how) {
        ([], _) => Err(FetchError::new(
            Reason::NoData,
            format!("path {path_text} matched nothing"),
        )),
        ([one], None) => parse_number_redacted(one, redactor),
        (many, None) => Err(FetchError::new(
            Reason::Parse,
            format!(
                "path {path_text} matched {} values; set reduce (sum|mean|min|max|count|last)",
                many.len()
            ),
        )),
        (many, Some(how)) => {
            let values = many
                .iter()
                .map(|v| parse_number_redacted(v, redactor))
                .collect::<Result<Vec<f64>, FetchError>>()?;
            reduce(&values, how).ok_or_else(|| {
                FetchError::new(Reason::NoData, format!("path {path_text} matched nothing"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        Params::new(v.as_object().unwrap().clone())
    }

    fn check(v: Value) -> Result<(), String> {
        HttpJson.check_params(&params(v))
    }

    #[test]
    fn check_params_accepts_a_complete_set() {
        check(json!({"url": "https://x.example/a", "value": "$.a"})).unwrap();
        check(json!({
            "url": "https://x.example/a", "method": "post", "value": "$.a[*].b",
            "headers": {"Authorization": "Bearer t"}, "body": {"q": 1}, "reduce": "sum"
        }))
        .unwrap();
    }

    #[test]
    fn check_params_names_the_problem() {
        let e = |v| check(v).unwrap_err();
        assert!(e(json!({"value": "$.a"})).contains("`url` is required"));
        assert!(e(json!({"url": "ftp://x/", "value": "$.a"})).contains("http"));
        assert!(e(json!({"url": "https://x/"})).contains("`value` is required"));
        assert!(e(json!({"url": "https://x/", "value": "$.a["})).contains("JSONPath"));
        assert!(e(json!({"url": "https://x/", "value": "a.b"})).contains("JSONPath"));
        assert!(
            e(json!({"url": "https://x/", "value": "$.a", "method": "DELETE"})).contains("GET")
        );
        assert!(e(json!({"url": "https://x/", "value": "$.a", "body": {"q": 1}})).contains("body"));
        assert!(e(json!({"url": "https://x/", "value": "$.a", "body": "q"})).contains("table"));
        assert!(
            e(json!({"url": "https://x/", "value": "$.a", "reduce": "avg"})).contains("reduce")
        );
        assert!(
            e(json!({"url": "https://x/", "value": "$.a", "headers": {"A": 1}}))
                .contains("headers.A")
        );
    }

    fn ex(doc: Value, path: &str, how: Option<Reduce>) -> Result<f64, FetchError> {
        extract(
            &doc,
            &JsonPath::parse(path).unwrap(),
            path,
            how,
            &Redactor::default(),
        )
    }

    #[test]
    fn extraction_rules() {
        let doc = json!({"a": {"b": "12.5"}, "xs": [{"n": 1}, {"n": 5}, {"n": "3"}], "empty": []});
        assert_eq!(ex(doc.clone(), "$.a.b", None).unwrap(), 12.5);
        assert_eq!(
            ex(doc.clone(), "$.xs[*].n", Some(Reduce::Sum)).unwrap(),
            9.0
        );
        assert_eq!(
            ex(doc.clone(), "$.xs[*]", Some(Reduce::Count)).unwrap(),
            3.0
        );
        assert_eq!(
            ex(doc.clone(), "$.empty[*]", Some(Reduce::Count)).unwrap(),
            0.0
        );
        assert_eq!(ex(doc.clone(), "$.a.b", Some(Reduce::Max)).unwrap(), 12.5);
        let e = ex(doc.clone(), "$.xs[*].n", None).unwrap_err();
        assert_eq!(e.reason, Reason::Parse);
        assert!(
            e.message.contains("matched 3 values; set reduce"),
            "{}",
            e.message
        );
        let e = ex(doc.clone(), "$.nope", None).unwrap_err();
        assert_eq!(e.reason, Reason::NoData);
        assert_eq!(e.message, "path $.nope matched nothing");
        let e = ex(doc.clone(), "$.empty[*]", Some(Reduce::Sum)).unwrap_err();
        assert_eq!(e.reason, Reason::NoData);
        let e = ex(doc, "$.xs", None).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidValue);
    }
}

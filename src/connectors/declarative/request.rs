//! A manifest `[request]` rendered into a concrete HTTP request that can be
//! sent (as many times as there are pages), changed for the next page, and
//! described for `okrd source test` with its credentials hidden.

use reqwest::header::{ACCEPT, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{Map, Value};

use super::manifest::RequestSpec;
use super::render::Vars;
use crate::connectors::Redactor;
use crate::connectors::http::HttpClient;

/// A rendered request.
#[derive(Debug, Clone)]
pub struct Built {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Names of headers, query params and form fields that carry
    /// credentials: described as `<redacted>`.
    pub hidden: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

impl Built {
    pub fn from_spec(spec: &RequestSpec, vars: &Vars, at: &str) -> Result<Built, String> {
        let method = match spec
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("GET") => Method::GET,
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some(other) => return Err(format!("{at}.method: unsupported method {other}")),
        };
        let raw = vars.render(&spec.url, &format!("{at}.url"))?;
        let mut url = Url::parse(raw.trim())
            .map_err(|e| format!("{at}.url: `{raw}` is not a URL ({e}); check `base_url`"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{at}.url: `{raw}` must be http or https"));
        }
        for (k, v) in pairs(&spec.query, vars, &format!("{at}.query"))? {
            url.query_pairs_mut().append_pair(&k, &v);
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let headers = pairs(&spec.headers, vars, &format!("{at}.headers"))?;
        for (k, v) in &headers {
            HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("{at}.headers: `{k}` is not a header name"))?;
            HeaderValue::from_str(v)
                .map_err(|_| format!("{at}.headers.{k}: the value is not a valid header value"))?;
        }
        let body = match (&spec.json, spec.form.is_empty()) {
            (Some(j), _) => Body::Json(vars.render_value(j, &format!("{at}.json"))?),
            (None, false) => Body::Form(pairs(&spec.form, vars, &format!("{at}.form"))?),
            (None, true) => Body::None,
        };
        Ok(Built {
            method,
            url,
            headers,
            body,
            hidden: Vec::new(),
        })
    }

    /// Set (or replace) one query param.
    pub fn set_query(&mut self, name: &str, value: &str) {
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        self.url.set_query(None);
        {
            let mut q = self.url.query_pairs_mut();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            q.append_pair(name, value);
        }
    }

    /// Add a form field, turning a body-less request into a form POST.
    pub fn add_form_field(&mut self, name: &str, value: &str) -> Result<(), String> {
        match &mut self.body {
            Body::Form(f) => f.push((name.into(), value.into())),
            Body::None => {
                if self.method == Method::GET {
                    self.method = Method::POST;
                }
                self.body = Body::Form(vec![(name.into(), value.into())]);
            }
            Body::Json(_) => {
                return Err("auth kind form needs a request with a form body, not json".into());
            }
        }
        Ok(())
    }

    pub fn to_reqwest(&self, http: &HttpClient) -> RequestBuilder {
        let mut req = http.request(self.method.clone(), self.url.as_str());
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            req = req.header(ACCEPT, "application/json");
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match &self.body {
            Body::None => req,
            Body::Json(j) => req.json(j),
            Body::Form(f) => req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form_encode(f)),
        }
    }

    /// The request as people read it, credentials hidden, secrets redacted.
    pub fn describe(&self, redactor: &Redactor) -> String {
        let hide = |k: &str| {
            self.hidden.iter().any(|h| h.eq_ignore_ascii_case(k))
                || k.eq_ignore_ascii_case("authorization")
        };
        let mut url = self.url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if hide(&k) {
                    "<redacted>".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if !pairs.is_empty() {
            url.set_query(None);
            let mut q = url.query_pairs_mut();
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
        }
        let _ = url.set_password(None);
        let mut out = format!("{} {}", self.method, url);
        for (k, v) in &self.headers {
            let v = if hide(k) { "<redacted>" } else { v.as_str() };
            out.push_str(&format!("\n  {k}: {v}"));
        }
        match &self.body {
            Body::None => {}
            Body::Json(j) => out.push_str(&format!("\n  body: {j}")),
            Body::Form(f) => {
                let shown: Vec<(String, String)> = f
                    .iter()
                    .map(|(k, v)| {
                        let v = if hide(k) {
                            "<redacted>".into()
                        } else {
                            v.clone()
                        };
                        (k.clone(), v)
                    })
                    .collect();
                out.push_str(&format!("\n  form: {}", form_encode(&shown)));
            }
        }
        redactor.redact(&out)
    }
}

/// A table of query params, headers or form fields rendered to pairs:
/// `""` and `null` are left out, arrays repeat the key.
fn pairs(
    table: &Map<String, Value>,
    vars: &Vars,
    at: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in table {
        let rendered = vars.render_value(v, &format!("{at}.{k}"))?;
        let items = match rendered {
            Value::Array(a) => a,
            one => vec![one],
        };
        for item in items {
            let text = match item {
                Value::Null => continue,
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !text.is_empty() {
                out.push((k.clone(), text));
            }
        }
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded`, by the URL crate's serializer.
fn form_encode(fields: &[(String, String)]) -> String {
    let mut url = Url::parse("http://form.invalid/").expect("a constant URL");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in fields {
            q.append_pair(k, v);
        }
    }
    url.query().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(p: Value) -> Vars {
        let ctx = crate::connectors::template::TemplateContext {
            period_id: "p".into(),
            period_start: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            period_end: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            now: chrono::Utc::now(),
            timezone: chrono_tz::UTC,
            key_result: "k".into(),
        };
        Vars::new(p.as_object().unwrap(), &ctx)
    }

    #[test]
    fn query_omits_empty_and_repeats_arrays() {
        let spec: RequestSpec = serde_json::from_value(json!({
            "url": "{{ base }}/calls.json?x=1",
            "query": {"Status": "{{ status | default('') }}", "a": ["1", "2"], "n": "{{ n }}",
                      "StartTime>": "{{ period.start }}"},
        }))
        .unwrap();
        let b = Built::from_spec(
            &spec,
            &vars(json!({"base": "http://h:1/p", "n": 5})),
            "request",
        )
        .unwrap();
        assert_eq!(
            b.url.as_str(),
            "http://h:1/p/calls.json?x=1&StartTime%3E=2026-10-01&a=1&a=2&n=5"
        );
    }

    #[test]
    fn bad_urls_name_base_url() {
        let spec: RequestSpec = serde_json::from_value(json!({"url": "{{ base }}/x"})).unwrap();
        let e = Built::from_spec(&spec, &vars(json!({"base": "nope"})), "request").unwrap_err();
        assert!(e.contains("base_url"), "{e}");
    }

    #[test]
    fn describe_hides_credentials() {
        let spec: RequestSpec = serde_json::from_value(json!({
            "method": "POST", "url": "http://h/index.php",
            "query": {"key": "k-secret"}, "headers": {"Authorization": "Basic abc"},
            "form": {"module": "API"},
        }))
        .unwrap();
        let mut b = Built::from_spec(&spec, &vars(json!({})), "r").unwrap();
        b.add_form_field("token_auth", "t-secret").unwrap();
        b.hidden = vec!["key".into(), "token_auth".into()];
        let d = b.describe(&Redactor::default());
        assert!(!d.contains("secret") && !d.contains("abc"), "{d}");
        assert!(d.contains("module=API"), "{d}");
    }
}

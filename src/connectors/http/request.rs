//! What a native connector's request is made of: headers and an http(s)
//! URL from params, checked without quoting a value (it may be a credential).

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// Request headers from a params table (`headers = { Name = "value" }`).
/// Values are marked sensitive so they stay out of `Debug` output.
pub fn headers_from_params(table: Option<&Map<String, Value>>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    let Some(table) = table else { return Ok(out) };
    for (name, value) in table {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`headers.{name}` is not a valid header name"))?;
        let Value::String(value) = value else {
            return Err(format!(
                "`headers.{name}` must be a string, not {}",
                crate::connectors::params::json_type(value)
            ));
        };
        // Never quote the value: it is often a credential.
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("`headers.{name}` holds characters not allowed in a header"))?;
        value.set_sensitive(true);
        out.insert(header, value);
    }
    Ok(out)
}

/// An `http(s)` URL from params, or a message naming the param. The message
/// never quotes the URL: its query string may hold a credential.
pub fn parse_http_url(raw: &str, param: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("param `{param}` is not a valid URL: {e}"))?;
    if super::origins::has_userinfo(&url) {
        return Err(format!(
            "param `{param}` holds userinfo (`…@host`): credentials go in the source's params \
             (headers, secrets), never in the URL"
        ));
    }
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("param `{param}` has no host")),
        other => Err(format!(
            "param `{param}` must be an http or https URL, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_userinfo_are_refused_without_quoting_them() {
        for raw in [
            "http://u:s3cret@h/",
            "http://127.0.0.1@127.0.0.1:9/",
            "https://tok@h",
        ] {
            let e = parse_http_url(raw, "url").unwrap_err();
            assert!(
                e.contains("userinfo") && !e.contains("s3cret"),
                "{raw}: {e}"
            );
        }
        assert!(parse_http_url("https://h.example/a@b", "url").is_ok());
    }

    #[test]
    fn header_params_are_validated_without_quoting_values() {
        let t = serde_json::json!({"Authorization": "Bearer abc", "X-N": "1"});
        let h = headers_from_params(t.as_object()).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h["authorization"].is_sensitive());
        let bad = serde_json::json!({"X": "line\nbreak-secret"});
        let e = headers_from_params(bad.as_object()).unwrap_err();
        assert!(e.contains("headers.X") && !e.contains("secret"), "{e}");
        let bad = serde_json::json!({"bad name": "v"});
        assert!(headers_from_params(bad.as_object()).is_err());
        let bad = serde_json::json!({"X": 3});
        assert!(
            headers_from_params(bad.as_object())
                .unwrap_err()
                .contains("a number")
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_http_url("http://localhost:9090/prefix/", "url").is_ok());
        assert!(
            parse_http_url("ftp://x/", "url")
                .unwrap_err()
                .contains("http")
        );
        assert!(parse_http_url("not a url", "url").is_err());
        let e = parse_http_url("https://?k=s3cret", "url").unwrap_err();
        assert!(!e.contains("s3cret"));
    }
}

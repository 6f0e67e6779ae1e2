//! Reading a response body under the size cap, and what messages quote of
//! a body: a short redacted excerpt, or the text of a known error envelope.

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::client::error_chain;
use crate::connectors::{FetchError, Reason, Redactor};

/// How much of a body an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// How much of a body is looked at (and redacted) to build an excerpt.
const EXCERPT_WINDOW_BYTES: usize = 16 * 1024;

pub(super) async fn read_body(
    resp: &mut reqwest::Response,
    cap: usize,
    success: bool,
    target: &str,
    redactor: &Redactor,
) -> Result<Bytes, FetchError> {
    let too_large = || {
        FetchError::new(
            Reason::TooLarge,
            format!("{target}: response body exceeds the {cap}-byte cap"),
        )
    };
    // reqwest drops Content-Length when it decodes gzip, so this is the wire size
    // of an identity body; the loop below caps the decoded size in any case.
    let announced = resp.content_length();
    if success && announced.is_some_and(|n| n > cap as u64) {
        return Err(FetchError::new(
            Reason::TooLarge,
            format!(
                "{target}: response body is {} bytes, more than the {cap}-byte cap",
                announced.unwrap_or_default()
            ),
        ));
    }
    let initial = announced.map_or(0, |n| n.min(cap as u64) as usize);
    let mut buf = BytesMut::with_capacity(initial);
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(body_error(e, target, redactor)),
        };
        if buf.len() + chunk.len() > cap {
            if success {
                return Err(too_large());
            }
            // An error body is only quoted: keep what fits and stop reading.
            let room = cap - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn body_error(e: reqwest::Error, target: &str, redactor: &Redactor) -> FetchError {
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else if e.is_decode() {
        Reason::Parse
    } else {
        Reason::Connect
    };
    let chain = error_chain(&e.without_url());
    FetchError::new(
        reason,
        redactor.redact(&format!("{target}: while reading the body: {chain}")),
    )
}

/// A short single-line excerpt of `body`, redacted before it is cut so a
/// secret straddling the cut cannot survive in part.
pub fn excerpt(body: &[u8], redactor: &Redactor) -> String {
    let window = &body[..body.len().min(EXCERPT_WINDOW_BYTES)];
    let text = redactor.redact(&String::from_utf8_lossy(window));
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars >= EXCERPT_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    if window.len() < body.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// The error text of a body: the message of a known JSON error envelope
/// (Plausible/Zendesk, Google/Umami, Prometheus, Jira, RFC 9457, Twilio),
/// else a plain excerpt (text/plain 429s, HTML error pages).
pub fn error_detail(body: &[u8], redactor: &Redactor) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return excerpt(body, redactor);
    };
    let text = json_error_text(&json).unwrap_or_else(|| json.to_string());
    excerpt(text.as_bytes(), redactor)
}

fn json_error_text(v: &Value) -> Option<String> {
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    // Prometheus: {"status":"error","errorType":"bad_data","error":"…"}
    if let (Some(kind), Some(msg)) = (v.get("errorType").and_then(s), v.get("error").and_then(s)) {
        return Some(format!("{kind}: {msg}"));
    }
    if let Some(msg) = v.get("error").and_then(s) {
        return Some(msg);
    }
    if let Some(msg) = v.get("error").and_then(|e| e.get("message")).and_then(s) {
        return Some(msg);
    }
    if let Some(msgs) = v.get("errorMessages").and_then(Value::as_array) {
        let joined: Vec<&str> = msgs.iter().filter_map(Value::as_str).collect();
        if !joined.is_empty() {
            return Some(joined.join("; "));
        }
    }
    ["detail", "message", "title", "description"]
        .iter()
        .find_map(|k| v.get(*k).and_then(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_single_line_and_redacted() {
        let mut r = Redactor::default();
        r.add("hunter22");
        let body = format!("<html>\n  <p>key hunter22</p>\n{}</html>", "x".repeat(1000));
        let e = excerpt(body.as_bytes(), &r);
        assert!(e.starts_with("<html> <p>key ***</p> x"), "{e}");
        assert!(e.ends_with('…'));
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert!(!e.contains('\n'));
    }

    #[test]
    fn error_detail_reads_known_envelopes_and_plain_text() {
        let r = Redactor::default();
        let d = |b: &str| error_detail(b.as_bytes(), &r);
        assert_eq!(
            d(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#),
            "bad_data: parse error"
        );
        assert_eq!(
            d(r#"{"error":"Too many API requests."}"#),
            "Too many API requests."
        );
        assert_eq!(
            d(r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#),
            "Quota exceeded"
        );
        assert_eq!(d(r#"{"errorMessages":["a","b"],"errors":{}}"#), "a; b");
        assert_eq!(d(r#"{"type":"about:blank","detail":"nope"}"#), "nope");
        assert_eq!(
            d("Number of allowed API requests per minute exceeded"),
            "Number of allowed API requests per minute exceeded"
        );
        assert_eq!(d(r#"{"weird":1}"#), r#"{"weird":1}"#);
    }
}

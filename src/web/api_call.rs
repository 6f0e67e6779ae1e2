//! The web app's writes: each form becomes the REST API's own request,
//! served in-process by the API's router as the signed-in visitor
//! (`access::ActingAs`). Permissions, rules, the audit log and the model
//! reload are then the API's, one code path; the page only shows what the
//! API answered.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::access::{ActingAs, Principal};

/// The API answers at most this much to a form (a KR with warnings is a few KB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What the API answered: its status and JSON body (a problem on errors).
#[derive(Debug)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiAnswer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The problem's `detail`, or the status's reason.
    pub fn detail(&self) -> String {
        self.body["detail"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| self.status.to_string())
    }
}

/// `method path` on the API (a path under `/api/v1`, such as
/// `/key-results/x/propose`) with a JSON `body`, acting as `who`.
pub async fn call(
    api: &Router,
    who: &Principal,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> ApiAnswer {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let Ok(mut request) = request.body(body) else {
        return failed(StatusCode::BAD_REQUEST, "the address is not valid");
    };
    request.extensions_mut().insert(ActingAs(who.clone()));
    let Ok(response) = api.clone().oneshot(request).await;
    let status = response.status();
    match axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await {
        Ok(bytes) => ApiAnswer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        },
        Err(e) => failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the API's answer: {e}"),
        ),
    }
}

fn failed(status: StatusCode, detail: &str) -> ApiAnswer {
    ApiAnswer {
        status,
        body: serde_json::json!({ "detail": detail }),
    }
}

/// `id` as one path segment: ids are plain in practice, but whatever a
/// visitor puts in an address must not reach another endpoint.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_stays_one_segment() {
        assert_eq!(segment("signups-q4.v2"), "signups-q4.v2");
        assert_eq!(segment("../audit?x=1"), "..%2Faudit%3Fx%3D1");
        assert_eq!(segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}

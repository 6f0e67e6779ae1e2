//! Non-2xx answers as bounded `Reason`s: by status, except a 403 that is a
//! rate limit; and the error a non-2xx `HttpResponse` stands for.

use std::fmt::Write as _;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::body::error_detail;
use super::client::HttpResponse;
use super::retry::server_wait;
use crate::connectors::{FetchError, Reason};

impl HttpResponse {
    /// The error a non-2xx status stands for, or `None` on 2xx.
    ///
    /// 401/403 → auth, 429 → rate_limited, other 4xx → http_4xx, 5xx →
    /// http_5xx; a 3xx that was not followed → http_4xx. 429 and 503 carry
    /// `Retry-After`. The message names the status and quotes the error text
    /// of the body (known JSON envelopes, else a plain excerpt).
    pub fn status_error(&self) -> Option<FetchError> {
        if self.is_success() {
            return None;
        }
        let reason = response_reason(self.status, &self.headers);
        let detail = error_detail(&self.body, &self.redactor);
        let mut message = format!("{}: HTTP {}", self.target, status_text(self.status));
        if !detail.is_empty() {
            let _ = write!(message, ": {detail}");
        }
        if reason == Reason::Auth {
            message.push_str(" (check the credentials and their permissions)");
        }
        let retry = if matches!(self.status, 429 | 503) || reason == Reason::RateLimited {
            server_wait(&self.headers)
        } else {
            None
        }
        .or(self.retry_hint);
        Some(FetchError::new(reason, message).with_retry_after(retry))
    }
}

/// The `Reason` for a non-2xx answer: by status, except a 403 that is a
/// rate limit (GitHub's primary and secondary limits), which is `rate_limited`.
pub fn response_reason(status: u16, headers: &HeaderMap) -> Reason {
    if is_rate_limit_403(status, headers) {
        Reason::RateLimited
    } else {
        status_reason(status)
    }
}

/// A 403 that says "too many requests", not "not allowed": it has
/// `x-ratelimit-remaining: 0` or a `Retry-After`.
pub(super) fn is_rate_limit_403(status: u16, headers: &HeaderMap) -> bool {
    status == 403
        && (headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || headers.contains_key(RETRY_AFTER))
}

/// The `Reason` for a non-2xx status.
pub fn status_reason(status: u16) -> Reason {
    match status {
        401 | 403 => Reason::Auth,
        429 => Reason::RateLimited,
        500..=599 => Reason::Http5xx,
        // Other 4xx, and 1xx/3xx that reached us (a redirect not followed).
        _ => Reason::Http4xx,
    }
}

pub(super) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use reqwest::header::HeaderValue;

    use super::*;
    use crate::connectors::http::retry::server_wait_at;

    #[test]
    fn rate_limit_403s_are_rate_limited_with_their_reset() {
        let mut h = HeaderMap::new();
        assert_eq!(response_reason(403, &h), Reason::Auth);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1000060"));
        assert_eq!(response_reason(403, &h), Reason::RateLimited);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(server_wait_at(&h, now), Some(Duration::from_secs(60)));
        let mut secondary = HeaderMap::new();
        secondary.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(response_reason(403, &secondary), Reason::RateLimited);
        assert_eq!(
            server_wait_at(&secondary, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(response_reason(401, &secondary), Reason::Auth);
    }

    #[test]
    fn status_reasons() {
        assert_eq!(status_reason(401), Reason::Auth);
        assert_eq!(status_reason(403), Reason::Auth);
        assert_eq!(status_reason(429), Reason::RateLimited);
        assert_eq!(status_reason(404), Reason::Http4xx);
        assert_eq!(status_reason(410), Reason::Http4xx);
        assert_eq!(status_reason(500), Reason::Http5xx);
        assert_eq!(status_reason(503), Reason::Http5xx);
        assert_eq!(status_reason(302), Reason::Http4xx);
    }
}

//! The retry policy of a source's requests: which outcomes are tried again,
//! the backoff between attempts (exponential, full jitter), giving up at the
//! fetch deadline, and the waits a server asks for (`Retry-After`, an
//! exhausted `x-ratelimit-reset`).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::client::{Attempt, SourcePolicy};
use super::gate::{Held, HoldCause};
use super::status::{is_rate_limit_403, response_reason};
use crate::connectors::{FetchError, Reason};

/// Extra attempts after a failure worth retrying, unless the source says otherwise.
pub const DEFAULT_RETRIES: u32 = 2;

/// Most extra attempts a source may ask for.
pub const MAX_RETRIES: u32 = 10;

/// The first retry waits up to this long (full jitter); each further one doubles it.
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_millis(500);

/// The longest computed wait between two attempts.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A `Retry-After` longer than this is cut to it: a server asking for a day
/// of silence should not park a KR for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// How long to wait before trying `outcome` again, or `None` when it is
/// final: a success, auth, another 4xx, parse or too_large. A server's
/// `Retry-After` replaces the computed backoff.
pub(super) fn retry_delay(
    outcome: &Attempt,
    asked: Option<Duration>,
    attempt: u32,
) -> Option<Duration> {
    let retryable = match outcome {
        Ok(resp) => {
            resp.status == 429
                || (500..=599).contains(&resp.status)
                || is_rate_limit_403(resp.status, &resp.headers)
        }
        Err(e) => matches!(e.reason, Reason::Timeout | Reason::Connect),
    };
    retryable.then(|| asked.unwrap_or_else(|| backoff(attempt)))
}

/// Full jitter: uniform in [0, min(max, base · 2^attempt)].
fn backoff(attempt: u32) -> Duration {
    let ceiling = RETRY_BACKOFF_BASE
        .checked_mul(1u32 << attempt.min(16))
        .unwrap_or(RETRY_BACKOFF_MAX)
        .min(RETRY_BACKOFF_MAX);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// The last outcome, told to wait `wait` before the next try when it has no
/// `Retry-After` of its own.
pub(super) fn give_up(outcome: Attempt, wait: Duration) -> Attempt {
    match outcome {
        Ok(mut resp) => {
            resp.retry_hint = Some(wait);
            Ok(resp)
        }
        Err(e) if e.retry_after.is_none() => Err(e.with_retry_after(Some(wait))),
        Err(e) => Err(e),
    }
}

fn attempt_reason(outcome: &Attempt) -> Reason {
    match outcome {
        Ok(resp) => response_reason(resp.status, &resp.headers),
        Err(e) => e.reason,
    }
}

/// The error of a request the gate held back past the fetch deadline.
pub(super) fn held_error(
    held: Held,
    wait: Duration,
    policy: &SourcePolicy,
    target: &str,
) -> FetchError {
    let at: DateTime<Utc> = (SystemTime::now() + wait).into();
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let why = match held.cause {
        HoldCause::RetryAfter => "the server asked for a pause with Retry-After".to_string(),
        HoldCause::RateLimit(limit) => format!("rate_limit {limit}"),
    };
    FetchError::new(
        Reason::RateLimited,
        format!(
            "{target}: not sent, held back locally until {at} ({why}) for source `{}`; \
             that is past this fetch's deadline",
            policy.source
        ),
    )
    .with_retry_after(Some(wait))
}

/// The log line of a request about to be tried again: the one place a retry
/// is reported, so it can be sent elsewhere (a metrics event) in one change.
pub(super) fn log_retry(
    source: &str,
    target: &str,
    attempt: u32,
    outcome: &Attempt,
    delay: Duration,
) {
    tracing::debug!(
        source = %source,
        target = %target,
        attempt = attempt + 1,
        reason = %attempt_reason(outcome),
        delay_ms = delay.as_millis() as u64,
        "request failed; trying again"
    );
}

/// How long the server asked us to wait: `Retry-After`, else an exhausted
/// `x-ratelimit-reset` (Unix seconds), capped at `MAX_RETRY_AFTER`.
pub(super) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    server_wait_at(headers, SystemTime::now())
}

pub(super) fn server_wait_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_at(headers, now).or_else(|| {
        let exhausted = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        let reset: u64 = headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())?
            .trim()
            .parse()
            .ok()?;
        let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        exhausted
            .then(|| Duration::from_secs(reset.saturating_sub(now).max(1)).min(MAX_RETRY_AFTER))
    })
}

/// `Retry-After` as a wait: delta seconds or an HTTP-date, capped at
/// `MAX_RETRY_AFTER`; a date in the past is zero. `None` when absent or
/// unparsable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// `retry_after` with an explicit "now", for tests.
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly long numbers instead of rejecting them.
        Duration::from_secs(raw.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = parse_http_date(raw)?;
        let now: DateTime<Utc> = now.into();
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// RFC 9110 HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::connectors::Redactor;
    use crate::connectors::http::HttpResponse;

    fn headers(retry: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry).unwrap());
        h
    }

    fn at(s: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
            .into()
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(retry_after(&headers("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(
            retry_after(&headers("99999999999999999999999")),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(&headers("-3")), None);
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_http_dates() {
        let now = at("2026-10-05T12:00:00Z");
        let h = headers("Mon, 05 Oct 2026 12:00:42 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(42)));
        let h = headers("Monday, 05-Oct-26 12:01:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(60)));
        let h = headers("Mon Oct  5 12:00:10 2026");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(10)));
        // In the past: go now. Far future: capped.
        let h = headers("Mon, 05 Oct 2026 11:00:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::ZERO));
        let h = headers("Tue, 06 Oct 2026 12:00:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn backoff_is_full_jitter_doubling_up_to_the_cap() {
        for _ in 0..200 {
            assert!(backoff(0) <= RETRY_BACKOFF_BASE);
            assert!(backoff(1) <= 2 * RETRY_BACKOFF_BASE);
            assert!(backoff(3) <= 8 * RETRY_BACKOFF_BASE);
            assert!(backoff(30) <= RETRY_BACKOFF_MAX);
            assert!(backoff(u32::MAX) <= RETRY_BACKOFF_MAX);
        }
        // Jitter: not always the ceiling.
        let draws: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(6)).collect();
        assert!(draws.len() > 1);
    }

    fn response(status: u16) -> Attempt {
        Ok(HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            target: "GET http://x/".into(),
            redactor: Redactor::default(),
            retry_hint: None,
        })
    }

    #[test]
    fn what_is_retried() {
        let err = |reason| Err(FetchError::new(reason, "x"));
        for retried in [
            response(429),
            response(500),
            response(503),
            err(Reason::Timeout),
            err(Reason::Connect),
        ] {
            assert!(retry_delay(&retried, None, 0).is_some(), "{retried:?}");
        }
        for fin in [
            response(200),
            response(401),
            response(403),
            response(404),
            response(302),
            err(Reason::TooLarge),
            err(Reason::Parse),
            err(Reason::Http4xx),
        ] {
            assert!(retry_delay(&fin, None, 0).is_none(), "{fin:?}");
        }
        // The server's wait replaces the computed one.
        let asked = Some(Duration::from_secs(7));
        assert_eq!(retry_delay(&response(429), asked, 0), asked);
    }

    #[test]
    fn giving_up_passes_the_wait_on() {
        let wait = Duration::from_secs(4);
        let resp = give_up(response(502), wait).unwrap();
        assert_eq!(resp.status_error().unwrap().retry_after, Some(wait));
        let e = give_up(Err(FetchError::new(Reason::Timeout, "x")), wait).unwrap_err();
        assert_eq!(e.retry_after, Some(wait));
        // The server's own Retry-After is kept.
        let own = FetchError::new(Reason::RateLimited, "x").with_retry_after(Some(wait * 2));
        assert_eq!(
            give_up(Err(own), wait).unwrap_err().retry_after,
            Some(wait * 2)
        );
    }
}

//! The HTTP policy every HTTP connector goes through: one shared client
//! (gzip, rustls, pooled connections), the whole-request timeout, the
//! response size cap, and the mapping of transport and status failures onto
//! the bounded `Reason`s. Every message it produces is redacted.
//!
//! A source's client (`HttpClient::for_source`) adds that source's policy:
//! its gate (the `Retry-After` pause and the rate limit, see `gate`), retries
//! of 429, 5xx, timeouts and connect errors with exponential backoff and full
//! jitter, all within the fetch's deadline (`HttpClient::with_deadline`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{Map, Value};

use super::gate::{HoldCause, RateLimit, SourceGate};
use crate::connectors::{FetchError, Reason, Redactor};

/// Default response size cap: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A `Retry-After` longer than this is cut to it: a server asking for a day
/// of silence should not park a KR for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// How much of a body an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// How much of a body is looked at (and redacted) to build an excerpt.
const EXCERPT_WINDOW_BYTES: usize = 16 * 1024;

/// Limits every HTTP connector runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Largest accepted (decoded) response body.
    pub max_body_bytes: usize,
    pub user_agent: String,
}

impl Default for HttpPolicy {
    fn default() -> HttpPolicy {
        HttpPolicy {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            user_agent: concat!("okrd/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Extra attempts after a failure worth retrying, unless the source says otherwise.
pub const DEFAULT_RETRIES: u32 = 2;

/// Most extra attempts a source may ask for.
pub const MAX_RETRIES: u32 = 10;

/// The first retry waits up to this long (full jitter); each further one doubles it.
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_millis(500);

/// The longest computed wait between two attempts.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The fetch deadline of a source that sets none: 3 × its timeout + 30 s.
pub fn default_fetch_deadline(timeout: Duration) -> Duration {
    timeout
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(30))
}

/// How the requests of one source are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePolicy {
    /// The source's name, for messages and logs.
    pub source: String,
    /// Extra attempts for 429, 5xx, timeouts and connect errors.
    pub retries: u32,
    /// Requests per period, spaced evenly; shared by every KR of the source.
    pub rate_limit: Option<RateLimit>,
    /// Bound of one fetch (pages, retries, waits) when the caller sets no
    /// deadline with `HttpClient::with_deadline`.
    pub fetch_deadline: Duration,
}

impl SourcePolicy {
    /// The defaults: `DEFAULT_RETRIES`, no rate limit, and the default
    /// fetch deadline of a 10 s timeout.
    pub fn new(source: impl Into<String>) -> SourcePolicy {
        SourcePolicy {
            source: source.into(),
            retries: DEFAULT_RETRIES,
            rate_limit: None,
            fetch_deadline: default_fetch_deadline(Duration::from_secs(10)),
        }
    }
}

/// A source's policy and its gate, shared by the clones of its client.
#[derive(Debug)]
struct SourceState {
    policy: SourcePolicy,
    gate: SourceGate,
}

/// One pooled client shared by every HTTP connector. Cheap to clone.
///
/// The shared client (`HttpClient::new`) sends each request once. A source's
/// client (`for_source`) shares the connection pool and adds the source's
/// gate and retries; `with_deadline` bounds one fetch of it.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: Arc<HttpPolicy>,
    source: Option<Arc<SourceState>>,
    /// Every request, retry and wait of the current fetch ends by then.
    deadline: Option<Instant>,
}

/// A complete response whose body fits the cap.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `METHOD scheme://host/path` (no query, no credentials), redacted.
    target: String,
    redactor: Redactor,
    /// How long to wait before asking again when retries stopped at the
    /// fetch deadline (used when the response has no `Retry-After`).
    retry_hint: Option<Duration>,
}

/// What one attempt ended with.
type Attempt = Result<HttpResponse, FetchError>;

impl HttpClient {
    pub fn new(policy: HttpPolicy) -> Result<HttpClient, String> {
        let client = reqwest::Client::builder()
            .user_agent(policy.user_agent.clone())
            .gzip(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        Ok(HttpClient {
            client,
            policy: Arc::new(policy),
            source: None,
            deadline: None,
        })
    }

    /// A client for one source: the same connection pool and limits, plus the
    /// source's retries, rate limit and `Retry-After` pause. Make one per
    /// source and clone it: each call starts a new gate.
    pub fn for_source(&self, policy: SourcePolicy) -> HttpClient {
        let gate = SourceGate::new(policy.rate_limit);
        HttpClient {
            client: self.client.clone(),
            policy: self.policy.clone(),
            source: Some(Arc::new(SourceState { policy, gate })),
            deadline: None,
        }
    }

    /// This client for one fetch: its requests, retries and waits end by
    /// `deadline`. Without it, each `send` of a source's client is bounded
    /// by the source's `fetch_deadline` on its own.
    pub fn with_deadline(&self, deadline: Instant) -> HttpClient {
        HttpClient {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// The source policy of a source's client; `None` for the shared client.
    pub fn source_policy(&self) -> Option<&SourcePolicy> {
        self.source.as_deref().map(|s| &s.policy)
    }

    /// The gate of a source's client; `None` for the shared client.
    pub fn gate(&self) -> Option<&SourceGate> {
        self.source.as_deref().map(|s| &s.gate)
    }

    /// Start a request. An unparsable URL surfaces as an error from `send`.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Send `req` and read its body under the policy; non-2xx statuses are
    /// errors classified by status (see `status_error`). `timeout` bounds
    /// each attempt.
    pub async fn send(
        &self,
        req: RequestBuilder,
        timeout: Duration,
        redactor: &Redactor,
    ) -> Result<HttpResponse, FetchError> {
        let resp = self.send_raw(req, timeout, redactor).await?;
        match resp.status_error() {
            Some(e) => Err(e),
            None => Ok(resp),
        }
    }

    /// Like `send`, but returns non-2xx responses too (their bodies cut at the
    /// cap rather than refused), for connectors that read error envelopes.
    /// Transport failures, timeouts and oversized 2xx bodies are still errors.
    ///
    /// On a source's client the request waits for the source's gate first,
    /// and 429, 5xx, timeouts and connect errors are tried again (see
    /// `SourcePolicy`); what is returned is the last attempt's outcome.
    pub async fn send_raw(
        &self,
        req: RequestBuilder,
        timeout: Duration,
        redactor: &Redactor,
    ) -> Result<HttpResponse, FetchError> {
        let (client, request) = req.build_split();
        let request = request.map_err(|e| {
            // Usually an unparsable URL; check_params should have caught it.
            FetchError::new(
                Reason::Connect,
                redactor.redact(&format!(
                    "invalid request: {}",
                    error_chain(&e.without_url())
                )),
            )
        })?;
        let target = redactor.redact(&describe(request.method(), request.url()));
        let Some(source) = self.source.as_deref() else {
            return self
                .exchange(&client, request, timeout, None, &target, redactor)
                .await;
        };
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + source.policy.fetch_deadline);
        let mut request = request;
        let mut previous: Option<Attempt> = None;
        let mut attempt = 0;
        loop {
            // A body that cannot be copied (a stream) is sent once.
            let spare = if attempt < source.policy.retries {
                request.try_clone()
            } else {
                None
            };
            if let Err(held) = source.gate.wait(Some(deadline)).await {
                let wait = held.until.saturating_duration_since(Instant::now());
                return match previous {
                    Some(last) => give_up(last, wait),
                    None => Err(held_error(held, wait, &source.policy, &target)),
                };
            }
            let outcome = self
                .exchange(&client, request, timeout, Some(deadline), &target, redactor)
                .await;
            let asked = self.note_retry_after(&outcome, &source.gate);
            let Some(delay) = retry_delay(&outcome, asked, attempt) else {
                return outcome;
            };
            let Some(next) = spare else {
                return outcome;
            };
            if Instant::now() + delay >= deadline {
                // No time left to try again in this fetch: let the scheduler back off.
                return give_up(outcome, delay);
            }
            tracing::debug!(
                source = %source.policy.source,
                target = %target,
                attempt = attempt + 1,
                reason = %attempt_reason(&outcome),
                delay_ms = delay.as_millis() as u64,
                "request failed; trying again"
            );
            tokio::time::sleep(delay).await;
            previous = Some(outcome);
            request = next;
            attempt += 1;
        }
    }

    /// A 429 or 503 with `Retry-After` pauses the whole source. Returns the
    /// wait the server asked for.
    fn note_retry_after(&self, outcome: &Attempt, gate: &SourceGate) -> Option<Duration> {
        let resp = outcome.as_ref().ok()?;
        if !(matches!(resp.status, 429 | 503) || is_rate_limit_403(resp.status, &resp.headers)) {
            return None;
        }
        let wait = server_wait(&resp.headers)?;
        gate.hold_until(Instant::now() + wait);
        Some(wait)
    }

    /// One request and its body, within `timeout` and the fetch deadline.
    async fn exchange(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        timeout: Duration,
        deadline: Option<Instant>,
        target: &str,
        redactor: &Redactor,
    ) -> Attempt {
        let cap = self.policy.max_body_bytes;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let (limit, by_deadline) = match left {
            Some(left) if left < timeout => (left, true),
            _ => (timeout, false),
        };
        let exchange = async {
            let mut resp = client
                .execute(request)
                .await
                .map_err(|e| transport_error(e, target, redactor))?;
            let status = resp.status().as_u16();
            let headers = std::mem::take(resp.headers_mut());
            let body = read_body(&mut resp, cap, is_success(status), target, redactor).await?;
            Ok(HttpResponse {
                status,
                headers,
                body,
                target: target.to_string(),
                redactor: redactor.clone(),
                retry_hint: None,
            })
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) if by_deadline => Err(FetchError::new(
                Reason::Timeout,
                format!(
                    "{target}: no complete answer within {}, what was left of the fetch deadline",
                    format_duration(limit)
                ),
            )),
            Err(_) => Err(FetchError::new(
                Reason::Timeout,
                format!(
                    "{target}: no complete answer within {}",
                    format_duration(timeout)
                ),
            )),
        }
    }
}

/// How long to wait before trying `outcome` again, or `None` when it is
/// final: a success, auth, another 4xx, parse or too_large. A server's
/// `Retry-After` replaces the computed backoff.
fn retry_delay(outcome: &Attempt, asked: Option<Duration>, attempt: u32) -> Option<Duration> {
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
fn give_up(outcome: Attempt, wait: Duration) -> Attempt {
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
fn held_error(
    held: super::gate::Held,
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

impl HttpResponse {
    /// The body as JSON, or a `Parse` error quoting a short, redacted excerpt.
    pub fn json(&self) -> Result<Value, FetchError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(FetchError::new(
                Reason::Parse,
                format!("{}: empty response body, expected JSON", self.target),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            FetchError::new(
                Reason::Parse,
                format!(
                    "{}: response is not valid JSON ({e}): {}",
                    self.target,
                    self.excerpt()
                ),
            )
        })
    }

    /// A short, redacted, single-line excerpt of the body for messages.
    pub fn excerpt(&self) -> String {
        excerpt(&self.body, &self.redactor)
    }

    /// `METHOD scheme://host/path` of the request, redacted, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn is_success(&self) -> bool {
        is_success(self.status)
    }

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
fn is_rate_limit_403(status: u16, headers: &HeaderMap) -> bool {
    status == 403
        && (headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || headers.contains_key(RETRY_AFTER))
}

/// How long the server asked us to wait: `Retry-After`, else an exhausted
/// `x-ratelimit-reset` (Unix seconds), capped at `MAX_RETRY_AFTER`.
fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    server_wait_at(headers, SystemTime::now())
}

fn server_wait_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
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

fn is_success(status: u16) -> bool {
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
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("param `{param}` has no host")),
        other => Err(format!(
            "param `{param}` must be an http or https URL, not {other}"
        )),
    }
}

impl FetchError {
    /// This error with every known secret in its message replaced by `***`.
    /// Connectors apply it at their boundary, on top of the redaction done
    /// where messages are built.
    pub fn redacted(mut self, redactor: &Redactor) -> FetchError {
        self.message = redactor.redact(&self.message);
        self
    }
}

/// `METHOD scheme://host[:port]/path`, without credentials, query or fragment.
fn describe(method: &Method, url: &Url) -> String {
    let mut out = format!("{method} {}://", url.scheme());
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        let _ = write!(out, ":{port}");
    }
    out.push_str(url.path());
    if url.query().is_some() {
        out.push_str("?…");
    }
    out
}

fn transport_error(e: reqwest::Error, target: &str, redactor: &Redactor) -> FetchError {
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else if e.is_redirect() {
        Reason::Http4xx
    } else {
        // Connect, DNS, TLS, reset before the response: the server was not reachable.
        Reason::Connect
    };
    let chain = error_chain(&e.without_url());
    FetchError::new(reason, redactor.redact(&format!("{target}: {chain}")))
}

async fn read_body(
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

/// An error and its sources, `a: b: c`, skipping repeats.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
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

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn describe_drops_credentials_and_query() {
        let url = Url::parse("https://user:pw@example.com:8443/a/b?api_key=s3cret#frag").unwrap();
        assert_eq!(
            describe(&Method::GET, &url),
            "GET https://example.com:8443/a/b?…"
        );
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

    #[test]
    fn default_policy() {
        let p = HttpPolicy::default();
        assert_eq!(p.max_body_bytes, 10 * 1024 * 1024);
        assert!(p.user_agent.starts_with("okrd/"));
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

    #[test]
    fn default_fetch_deadline_is_three_timeouts_and_30_s() {
        assert_eq!(
            default_fetch_deadline(Duration::from_secs(10)),
            Duration::from_secs(60)
        );
        assert_eq!(
            SourcePolicy::new("s").fetch_deadline,
            Duration::from_secs(60)
        );
        assert_eq!(SourcePolicy::new("s").retries, 2);
    }
}

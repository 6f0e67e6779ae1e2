//! The clients: one pooled `HttpClient` shared by every HTTP connector, and
//! a source's client with its policy (gate, retries, fetch deadline); sending
//! one request under them and the `HttpResponse` it gives.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Url};
use serde_json::Value;

use super::body::{excerpt, read_body};
use super::gate::{RateLimit, SourceGate};
use super::origins::AllowedOrigins;
use super::redirect;
use super::retry::{self, DEFAULT_RETRIES, give_up, held_error, retry_delay, server_wait};
use super::status::{is_rate_limit_403, is_success};
use crate::connectors::{FetchError, Reason, Redactor};

/// Default response size cap: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

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
    /// Where the source's requests may go (see `origins`).
    pub origins: AllowedOrigins,
}

impl SourcePolicy {
    /// The defaults: `DEFAULT_RETRIES`, no rate limit, the default fetch
    /// deadline of a 10 s timeout, and any origin (a configured source
    /// always gets its own, see `binding::build_sources`).
    pub fn new(source: impl Into<String>) -> SourcePolicy {
        SourcePolicy {
            source: source.into(),
            retries: DEFAULT_RETRIES,
            rate_limit: None,
            fetch_deadline: default_fetch_deadline(Duration::from_secs(10)),
            origins: AllowedOrigins::unrestricted(),
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
    pub(super) target: String,
    pub(super) redactor: Redactor,
    /// How long to wait before asking again when retries stopped at the
    /// fetch deadline (used when the response has no `Retry-After`).
    pub(super) retry_hint: Option<Duration>,
}

/// What one attempt ended with.
pub(super) type Attempt = Result<HttpResponse, FetchError>;

impl HttpClient {
    pub fn new(policy: HttpPolicy) -> Result<HttpClient, String> {
        let client = reqwest::Client::builder()
            .user_agent(policy.user_agent.clone())
            .gzip(true)
            .redirect(redirect::policy())
            .referer(false)
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
        let origins = self.source.as_deref().map(|s| &s.policy.origins);
        if let Err(refused) = origins
            .unwrap_or(&AllowedOrigins::unrestricted())
            .check(request.url())
        {
            return Err(FetchError::new(
                Reason::Connect,
                redactor.redact(&format!("{target}: not sent: {refused}")),
            ));
        }
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
            retry::log_retry(&source.policy.source, &target, attempt, &outcome, delay);
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
        let url = request.url().clone();
        let exchange = async {
            let mut resp = client
                .execute(request)
                .await
                .map_err(|e| transport_error(e, target, redactor))?;
            let status = resp.status().as_u16();
            let headers = std::mem::take(resp.headers_mut());
            if let Some(e) = redirect::stopped_redirect(status, &headers, &url, target) {
                return Err(e.redacted(redactor));
            }
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

/// An error and its sources, `a: b: c`, skipping repeats.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
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

    #[test]
    fn describe_drops_credentials_and_query() {
        let url = Url::parse("https://user:pw@example.com:8443/a/b?api_key=s3cret#frag").unwrap();
        assert_eq!(
            describe(&Method::GET, &url),
            "GET https://example.com:8443/a/b?…"
        );
    }

    #[test]
    fn default_policy() {
        let p = HttpPolicy::default();
        assert_eq!(p.max_body_bytes, 10 * 1024 * 1024);
        assert!(p.user_agent.starts_with("okrd/"));
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

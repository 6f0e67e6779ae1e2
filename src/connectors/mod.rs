//! Connectors: the trait every metric source implements, and the failure
//! vocabulary the core counts (`okr_source_fetch_failures_total{reason}`).
//!
//! Connectors only fetch and extract one number. The core owns schedule,
//! timeout, retry, backoff, rate limits and the response size cap.
//!
//! - this file: the contract (`Connector`, `FetchContext`, `FetchError`,
//!   `Reason`, `Trace`); `params`, `template` and `value` are the params,
//!   templates and number parsing every connector shares;
//! - `http/`: the shared HTTP machinery: client, retries, status reasons,
//!   the capped body reader, a source's gate, redaction of secrets;
//! - `native/`: the connectors written in Rust, one directory and README each;
//! - `declarative/`: the engine running the catalog's manifests
//!   (`/connectors`), with their outgoing credentials (`credentials/`);
//! - `registry`: which connector a `connector = "…"` name stands for;
//! - `kept`: what fetches compile from text (templates, JSONPaths), kept.

pub mod declarative;
pub mod http;
pub(crate) mod kept;
pub mod native;
pub mod params;
pub mod registry;
pub mod template;
pub mod value;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use http::Redactor;
pub use params::Params;

/// A boxed future, so `Connector` stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a fetch failed. Bounded: these are the only values of the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// DNS failure, refused or reset connection, TLS failure.
    Connect,
    /// No complete answer within the source's timeout.
    Timeout,
    /// 401 or 403: credentials are wrong or lack a permission. Not retried.
    Auth,
    /// 429.
    RateLimited,
    /// Any other 4xx.
    Http4xx,
    /// 5xx.
    Http5xx,
    /// The body exceeded the response size cap.
    TooLarge,
    /// The body is not what the connector expects (not JSON, wrong shape, an error envelope).
    Parse,
    /// A value was found but is unusable: NaN, infinite, not a number, implausible for the KR.
    InvalidValue,
    /// The answer is well formed but holds no value (missing field, empty result).
    NoData,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::Connect,
        Reason::Timeout,
        Reason::Auth,
        Reason::RateLimited,
        Reason::Http4xx,
        Reason::Http5xx,
        Reason::TooLarge,
        Reason::Parse,
        Reason::InvalidValue,
        Reason::NoData,
    ];

    /// The reason spelled `s` (as in metrics and manifests).
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
            Reason::Auth => "auth",
            Reason::RateLimited => "rate_limited",
            Reason::Http4xx => "http_4xx",
            Reason::Http5xx => "http_5xx",
            Reason::TooLarge => "too_large",
            Reason::Parse => "parse",
            Reason::InvalidValue => "invalid_value",
            Reason::NoData => "no_data",
        }
    }

    /// Whether trying again soon may help (the scheduler backs off on these).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Reason::Connect | Reason::Timeout | Reason::RateLimited | Reason::Http5xx
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed fetch: a bounded reason for metrics, a message for people.
///
/// Messages must never hold a secret: build them from redacted text
/// (`Redactor::redact`) when they quote a URL, a header or a body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct FetchError {
    pub reason: Reason,
    pub message: String,
    /// The server asked us to wait this long before the next request.
    pub retry_after: Option<Duration>,
}

impl FetchError {
    pub fn new(reason: Reason, message: impl Into<String>) -> FetchError {
        FetchError {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> FetchError {
        self.retry_after = retry_after;
        self
    }
}

/// Everything one fetch needs. Params are already merged (source then KR),
/// templated and secret-resolved.
pub struct FetchContext<'a> {
    pub source: &'a str,
    pub key_result: &'a str,
    pub params: &'a Params,
    /// The source's client: its requests go through the source's gate and
    /// retries, within the fetch's deadline.
    pub http: &'a http::HttpClient,
    /// The source's timeout, for each request; the whole fetch (pages,
    /// retries, waits) is bounded by the source's `fetch_deadline`.
    pub timeout: Duration,
    pub redactor: &'a Redactor,
    /// The KR's period and the fetch time, for templates.
    pub template: &'a template::TemplateContext,
    /// Where `okrd source test` collects the requests made; `None` when serving.
    pub trace: Option<&'a Trace>,
}

/// The requests and responses of one fetch, described for people (secrets
/// redacted, credentials hidden).
#[derive(Debug, Default)]
pub struct Trace {
    lines: std::sync::Mutex<Vec<String>>,
}

impl Trace {
    pub fn push(&self, line: String) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(line);
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A kind of metric source. One instance serves every KR bound to a source.
pub trait Connector: Send + Sync + 'static {
    /// Check that merged params are complete and well formed, naming the
    /// first problem (used by `okrd check` and at startup, before any fetch).
    fn check_params(&self, params: &Params) -> Result<(), String>;

    /// Fetch one value now.
    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>>;

    /// The rate limit the API documents, such as `"600/hour"` (see
    /// `http::RateLimit::parse`); a source's own `rate_limit` wins.
    fn default_rate_limit(&self) -> Option<String> {
        None
    }

    /// Params that must be given as `{ env }` or `{ file }`, never inline.
    fn secret_params(&self) -> Vec<String> {
        Vec::new()
    }

    /// Params only a source's config may set, never a KR's binding (e.g.
    /// `command` of the exec connector).
    fn source_only_params(&self) -> &'static [&'static str] {
        &[]
    }

    /// Every param this connector reads. Any other is refused, in a
    /// source's config and in a KR's binding alike: it is a typo, or a
    /// template that would be rendered for nothing.
    fn known_params(&self) -> Vec<String>;

    /// The origins (`scheme://host[:port]`) this source's requests may go
    /// to, from its config alone (`config`: the source's params, secrets
    /// resolved, templates not rendered): where its `url` or `base_url`
    /// points, plus fixed origins the connector declares. An error says
    /// what the config must set. Connectors that send no HTTP request
    /// return none.
    fn allowed_origins(&self, config: &Params) -> Result<Vec<String>, String> {
        let _ = config;
        Ok(Vec::new())
    }

    /// The URLs one fetch with `params` (merged and rendered) would request
    /// first: the request itself and any login or token endpoint. Nothing is
    /// sent; binding a KR checks them against the allowed origins.
    fn request_urls(&self, params: &Params) -> Result<Vec<String>, String> {
        let _ = params;
        Ok(Vec::new())
    }

    /// Whether a fetch whose template time (`today`, `now`) is a past
    /// moment answers the value as of that moment, so backfill may fetch
    /// a KR's past days with these params (merged, not rendered). Most
    /// APIs only tell the present (`http_json`, `exec`): false.
    fn answers_for_past(&self, params: &Params) -> bool {
        let _ = params;
        false
    }

    /// What one fetch with `params` (merged and rendered for `template`)
    /// asks for, as text; nothing is sent. Backfill compares it for a past
    /// day and for now: a request that does not change with the day would
    /// answer today's value for every past day. The default is the params
    /// themselves, for connectors whose request is only its params.
    fn request_as_of(
        &self,
        params: &Params,
        template: &template::TemplateContext,
    ) -> Result<String, String> {
        let _ = template;
        Ok(serde_json::Value::Object(params.as_map().clone()).to_string())
    }
}

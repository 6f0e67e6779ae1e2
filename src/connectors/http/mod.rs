//! The HTTP policy every HTTP connector goes through: one shared client
//! (gzip, rustls, pooled connections), the whole-request timeout, the
//! response size cap, and the mapping of transport and status failures onto
//! the bounded `Reason`s. Every message it produces is redacted.
//!
//! A source's client (`HttpClient::for_source`) adds that source's policy:
//! its gate (the `Retry-After` pause and the rate limit, see `gate`), retries
//! of 429, 5xx, timeouts and connect errors with exponential backoff and full
//! jitter, all within the fetch's deadline (`HttpClient::with_deadline`).
//!
//! One job per file: `client` (the clients and sending a request), `retry`
//! (what is retried, backoff, giving up, `Retry-After`), `status` (statuses
//! as `Reason`s), `body` (the capped body reader, excerpts, error text),
//! `request` (headers and URLs from params), `gate` (pause and rate limit),
//! `origins` (where a source's requests may go), `redirect` (same-origin
//! redirects only, no `Referer`) and `redact` (secrets out of everything
//! printed).

mod body;
mod client;
mod gate;
mod origins;
mod redact;
mod redirect;
mod request;
mod retry;
mod status;

pub use body::{error_detail, excerpt};
pub use client::{
    DEFAULT_MAX_BODY_BYTES, HttpClient, HttpPolicy, HttpResponse, SourcePolicy,
    default_fetch_deadline,
};
pub use gate::{Held, HoldCause, RateLimit, SourceGate};
pub use origins::{AllowedOrigins, origin};
pub use redact::Redactor;
pub(crate) use redact::url_encode;
pub use redirect::MAX_REDIRECTS;
pub use request::{headers_from_params, parse_http_url};
pub use retry::{
    DEFAULT_RETRIES, MAX_RETRIES, MAX_RETRY_AFTER, RETRY_BACKOFF_BASE, RETRY_BACKOFF_MAX,
    retry_after, retry_after_at,
};
pub use status::{response_reason, status_reason};

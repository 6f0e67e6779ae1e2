//! The HTTP machinery every HTTP connector goes through: the client and its
//! policy (`client`), a source's pause and rate limit (`gate`), and the
//! redaction of secrets in everything printed (`redact`).

mod client;
mod gate;
mod redact;

pub use client::*;
pub use gate::{Held, HoldCause, RateLimit, SourceGate};
pub use redact::Redactor;
pub(crate) use redact::url_encode;

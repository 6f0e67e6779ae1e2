//! Each fetch outcome is one event that both counts and logs, so the two
//! never drift apart (the pairing Vector's `internal_events` uses). A
//! failure is logged once per change of its reason (repeats go to debug),
//! and a recovery once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SourceTelemetry;
use crate::connectors::{FetchError, Reason};

/// Something that happened, told to the telemetry it is counted in.
pub trait InternalEvent {
    fn emit(self, to: &SourceTelemetry);
}

/// A fetch for a KR returned a value.
pub struct FetchSucceeded<'a> {
    pub source: &'a str,
    pub key_result: &'a str,
    pub took: Duration,
    pub at: DateTime<Utc>,
}

/// A fetch for a KR failed; the KR keeps its last good value.
pub struct FetchFailed<'a> {
    pub source: &'a str,
    pub key_result: &'a str,
    pub error: &'a FetchError,
    pub took: Duration,
    pub at: DateTime<Utc>,
}

impl InternalEvent for FetchSucceeded<'_> {
    fn emit(self, to: &SourceTelemetry) {
        to.record_success(self.source, self.took, self.at);
        let after = lock(to).remove(self.key_result);
        if let Some(reason) = after {
            tracing::info!(source = %self.source, key_result = %self.key_result, after = %reason, "fetch recovered");
        }
    }
}

impl InternalEvent for FetchFailed<'_> {
    fn emit(self, to: &SourceTelemetry) {
        to.record_failure(self.source, self.error, self.took, self.at);
        let reason = self.error.reason;
        let previous = lock(to).insert(self.key_result.to_string(), reason);
        log_failure(
            self.source,
            self.key_result,
            self.error,
            previous == Some(reason),
        );
    }
}

fn lock(
    to: &SourceTelemetry,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Reason>> {
    to.last_failure.lock().unwrap_or_else(|e| e.into_inner())
}

/// Auth failures at error level naming the source whose credentials to
/// check; other reasons as warnings; a repeat of the last reason at debug.
fn log_failure(source: &str, key_result: &str, err: &FetchError, repeated: bool) {
    if repeated {
        tracing::debug!(source = %source, key_result = %key_result, reason = %err.reason, error = %err.message, "fetch failed again");
    } else if err.reason == Reason::Auth {
        tracing::error!(
            source = %source,
            key_result = %key_result,
            reason = %err.reason,
            error = %err.message,
            "source `{0}` rejected our credentials (HTTP 401/403, not retried); check the credentials of source `{0}`",
            source
        );
    } else {
        tracing::warn!(source = %source, key_result = %key_result, reason = %err.reason, error = %err.message, "fetch failed; keeping the last good value");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::metrics::Telemetry;

    /// Log lines written while `f` runs, at `info` and above.
    fn logs(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    fn failed<'a>(error: &'a FetchError) -> FetchFailed<'a> {
        FetchFailed {
            source: "billing",
            key_result: "kr",
            error,
            took: Duration::from_millis(5),
            at: Utc::now(),
        }
    }

    #[test]
    fn an_auth_failure_is_logged_once_as_an_error_naming_the_source() {
        let telemetry = Telemetry::new();
        let to = &telemetry.sources;
        let auth = FetchError::new(Reason::Auth, "GET http://x/: HTTP 401 Unauthorized");
        let first = logs(|| failed(&auth).emit(to));
        assert!(first.contains("ERROR"), "{first}");
        assert!(
            first.contains("check the credentials of source `billing`"),
            "{first}"
        );
        let again = logs(|| failed(&auth).emit(to));
        assert!(again.is_empty(), "{again}");
        let other = FetchError::new(Reason::Timeout, "slow");
        let changed = logs(|| failed(&other).emit(to));
        assert!(changed.contains("WARN"), "{changed}");
        let back = logs(|| failed(&auth).emit(to));
        assert!(back.contains("ERROR"), "{back}");
    }

    #[test]
    fn each_event_is_counted_and_a_recovery_logged_once() {
        let telemetry = Telemetry::new();
        let to = &telemetry.sources;
        to.register_source("billing");
        let timeout = FetchError::new(Reason::Timeout, "slow");
        failed(&timeout).emit(to);
        let ok = || FetchSucceeded {
            source: "billing",
            key_result: "kr",
            took: Duration::from_millis(5),
            at: Utc::now(),
        };
        let recovered = logs(|| ok().emit(to));
        assert!(recovered.contains("fetch recovered"), "{recovered}");
        assert!(recovered.contains("after=timeout"), "{recovered}");
        let quiet = logs(|| ok().emit(to));
        assert!(quiet.is_empty(), "{quiet}");
        let mut out = Vec::new();
        telemetry.render(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("okr_source_fetches_total{source=\"billing\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "okr_source_fetch_failures_total{reason=\"timeout\",source=\"billing\"} 1"
            ),
            "{text}"
        );
        let health = &to.health()["billing"];
        assert!(health.last_success.is_some());
        assert_eq!(
            health.last_failure.as_ref().map(|f| f.reason),
            Some(Reason::Timeout)
        );
    }
}

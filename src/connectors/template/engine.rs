//! The one template engine and the filters okrd adds to minijinja's.

use std::sync::LazyLock;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use crate::connectors::http::url_encode;

/// Instructions one template may run. Params set over the REST API are
/// templates too: a loop in one must not hold a worker on every fetch.
/// A param's template takes tens; a request's hundreds.
pub const TEMPLATE_FUEL: u64 = 50_000;

/// The one template engine, for KR and source params and for manifests
/// alike: strict undefined, no auto-escaping (templates are named
/// `<string>`, which has no escaping extension), fuel, and one set of extra
/// filters: `unix`, `unix_ms`, `before`, `after`, `urlencode`, `b64`.
pub(crate) static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    // Keep a trailing newline a user wrote (e.g. in a request body string).
    env.set_keep_trailing_newline(true);
    env.add_filter("unix", |s: String| timestamp(&s, 1));
    env.add_filter("unix_ms", |s: String| timestamp(&s, 1000));
    env.add_filter("before", |s: String, sep: String| {
        s.split_once(&sep).map_or(s.clone(), |(a, _)| a.to_string())
    });
    env.add_filter("after", |s: String, sep: String| {
        s.split_once(&sep)
            .map_or(String::new(), |(_, b)| b.to_string())
    });
    env.add_filter("urlencode", |s: String| url_encode(&s));
    env.add_filter("b64", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s)
    });
    env
});

/// A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time as seconds
/// (`per_second` 1) or milliseconds (1000) since the epoch.
fn timestamp(s: &str, per_second: i64) -> Result<i64, Error> {
    let t = s.trim();
    let instant: DateTime<Utc> = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN).and_utc()
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`{t}` is neither a YYYY-MM-DD date nor an RFC 3339 time"),
        ));
    };
    Ok(instant.timestamp_millis() * per_second / 1000)
}

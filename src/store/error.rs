//! The store's error type, and the URL redaction that keeps database
//! passwords out of every message.

use sqlx::error::ErrorKind;

/// What went wrong in the store. `Display` never holds a database password:
/// URLs are redacted and connection failures keep only a redacted message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL {url:?}: expected sqlite://PATH (or sqlite::memory:), \
         postgres://… or postgresql://…"
    )]
    UnsupportedUrl { url: String },

    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },

    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    #[error("database not ready: {0}")]
    NotReady(String),

    /// A check-in for a KR the store does not hold.
    #[error("unknown key result {0:?}")]
    UnknownKeyResult(String),

    /// A unique, foreign-key or check constraint refused a write.
    #[error("constraint violated: {0}")]
    Constraint(String),

    /// A write whose precondition no longer holds (a KR archived meanwhile).
    #[error("{0}")]
    Conflict(String),

    /// Input the store refuses before writing (non-finite number, duplicate id, …).
    #[error("invalid input: {0}")]
    Invalid(String),

    /// A stored value this version cannot read (unknown enum text, bad date).
    #[error("unreadable {column} in stored row {id:?}: {value:?}")]
    Corrupt {
        column: &'static str,
        id: String,
        value: String,
    },

    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => {
                    return StoreError::Constraint(db.message().to_string());
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// True for constraint violations: API callers map these to 409/422.
    pub fn is_constraint(&self) -> bool {
        matches!(
            self,
            StoreError::Constraint(_) | StoreError::UnknownKeyResult(_)
        )
    }

    /// True when the database could not be reached or was busy, rather than
    /// refusing this write: the same write may succeed in a few seconds. The
    /// pipeline keeps such values for later and the API answers 503.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } | StoreError::NotReady(_) => true,
            StoreError::Database(e) => sqlx_unavailable(e),
            _ => false,
        }
    }
}

/// A driver error that says "not now" rather than "never".
fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// SQLite: busy, locked, busy in recovery or on a snapshot. PostgreSQL:
/// connection exceptions (class 08), the server shutting down or starting
/// (57P01–57P03), too many connections, a read-only standby after failover.
fn unavailable_code(code: &str) -> bool {
    matches!(
        code,
        "5" | "6" | "261" | "517" | "57P01" | "57P02" | "57P03" | "53300" | "25006"
    ) || code.starts_with("08")
}

/// `url` with its password replaced by `***`, for logs and errors.
///
/// Works on text that is not a valid URL too: the userinfo is everything
/// between `://` and the last `@` before the query string.
pub fn redact_url(url: &str) -> String {
    let mut spans: Vec<(usize, usize)> = password_span(url)
        .into_iter()
        .chain(query_password_span(url))
        .collect();
    // Replace from the end so earlier offsets stay valid.
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = url.to_string();
    for (start, end) in spans {
        out.replace_range(start..end, "***");
    }
    out
}

/// Byte range of the value of a `password=` query parameter (sqlx accepts one).
fn query_password_span(url: &str) -> Option<(usize, usize)> {
    let q = url.find('?')? + 1;
    let mut offset = q;
    for pair in url[q..].split('&') {
        if let Some(value) = pair.strip_prefix("password=") {
            let start = offset + "password=".len();
            return (!value.is_empty()).then_some((start, start + value.len()));
        }
        offset += pair.len() + 1;
    }
    None
}

/// `text` with every occurrence of `url`'s password (raw and percent-decoded)
/// replaced by `***`: driver messages may quote what they were given.
pub(crate) fn redact_password(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    for (start, end) in password_span(url)
        .into_iter()
        .chain(query_password_span(url))
    {
        let raw = &url[start..end];
        for secret in [raw.to_string(), percent_decode(raw)] {
            if !secret.is_empty() {
                out = out.replace(&secret, "***");
            }
        }
    }
    out
}

/// Byte range of the password in `scheme://user:password@host…`, if any.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let before_query = rest.find('?').map_or(rest, |q| &rest[..q]);
    let at = before_query.rfind('@')?;
    let colon = before_query[..at].find(':')?;
    let (start, end) = (authority_start + colon + 1, authority_start + at);
    (start < end).then_some((start, end))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_a_password_query_parameter() {
        assert_eq!(
            redact_url("postgres://okrd@db/okrd?sslmode=require&password=hunter22"),
            "postgres://okrd@db/okrd?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://u:pw1@db/okrd?password=pw2"),
            "postgres://u:***@db/okrd?password=***"
        );
        let url = "postgres://okrd@db/okrd?password=hunter22";
        assert_eq!(
            redact_password("failed for hunter22", url),
            "failed for ***"
        );
    }

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact_url("postgres://okrd:s3cr3t@db:5432/okrd?sslmode=require"),
            "postgres://okrd:***@db:5432/okrd?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://okrd@db/okrd"),
            "postgres://okrd@db/okrd"
        );
        assert_eq!(redact_url("sqlite://okrd.db"), "sqlite://okrd.db");
        // An unencoded `@` in the password still ends up redacted.
        assert_eq!(redact_url("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");
    }

    #[test]
    fn redacts_decoded_password_in_messages() {
        let url = "postgres://u:p%40ss@h/d";
        assert_eq!(
            redact_password("bad p@ss and p%40ss", url),
            "bad *** and ***"
        );
    }
}

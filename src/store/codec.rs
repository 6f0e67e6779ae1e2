//! Conversions between model values and portable column values: instants as
//! unix milliseconds, dates as `YYYY-MM-DD` text, enums as their snake_case
//! names, JSON as text.

use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;

const DATE_FORMAT: &str = "%Y-%m-%d";

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Millisecond precision: finer parts of `t` are dropped.
pub(super) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(
    ms: i64,
    column: &'static str,
    id: &str,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(column, id, ms.to_string()))
}

pub(super) fn date_text(d: NaiveDate) -> String {
    d.format(DATE_FORMAT).to_string()
}

pub(super) fn parse_date(s: &str, column: &'static str, id: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, DATE_FORMAT).map_err(|_| corrupt(column, id, s))
}

/// Parses enum text with the enum's own `parse`; unknown text is corruption.
pub(super) fn parse_enum<T>(
    s: &str,
    parse: fn(&str) -> Option<T>,
    column: &'static str,
    id: &str,
) -> Result<T, StoreError> {
    parse(s).ok_or_else(|| corrupt(column, id, s))
}

/// SQLite stores NaN as NULL and neither backend orders infinities usefully:
/// only finite numbers are written.
pub(super) fn finite(what: &str, id: &str, v: f64) -> Result<f64, StoreError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(StoreError::Invalid(format!(
            "{what} of {id:?} is not a finite number: {v}"
        )))
    }
}

pub(super) fn corrupt(column: &'static str, id: &str, value: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        column,
        id: id.to_string(),
        value: value.into(),
    }
}

//! Bounds on what clients send, checked before anything is looked up:
//! lengths of texts, sizes of numbers. Ids follow the OKR file rules
//! (`validate::check_id`). Each error names the JSON member.

use super::error::{ApiError, ApiResult};
use crate::okr::validate::check_id;

pub const MAX_TITLE: usize = 200;
pub const MAX_NAME: usize = 200;
/// An email address is at most 254 characters.
pub const MAX_OWNER: usize = 254;
pub const MAX_UNIT: usize = 32;
pub const MAX_DESCRIPTION: usize = 4000;
/// Check-in notes and review comments.
pub const MAX_NOTE: usize = 2000;
pub const MAX_SCHEDULE: usize = 100;
/// A KR's source params, as JSON text.
pub const MAX_PARAMS_BYTES: usize = 16 * 1024;
/// Largest magnitude of a KR's numbers: beyond it, doubles stop counting in ones.
pub const MAX_ABS_NUMBER: f64 = 1e15;
pub const MAX_WEIGHT: f64 = 1000.0;

/// An id for a new entity.
pub fn id(field: &str, value: &str) -> ApiResult<()> {
    check_id(value).map_err(|why| {
        ApiError::unprocessable(format!("`{field}` `{value}` is not a valid id: {why}"))
    })
}

/// A text people read: not blank, at most `max` characters, no control
/// characters but line breaks and tabs (and those only where `multiline`).
pub fn text(field: &str, value: &str, max: usize, multiline: bool) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable(format!(
            "`{field}` must not be empty"
        )));
    }
    let len = value.chars().count();
    if len > max {
        return Err(ApiError::unprocessable(format!(
            "`{field}` is {len} characters long; the most is {max}"
        )));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(ApiError::unprocessable(format!(
            "`{field}` holds a control character; {}",
            if multiline {
                "only line breaks and tabs are allowed"
            } else {
                "it must be one line"
            }
        )));
    }
    Ok(())
}

pub fn opt_text(field: &str, value: Option<&str>, max: usize, multiline: bool) -> ApiResult<()> {
    value.map_or(Ok(()), |v| text(field, v, max, multiline))
}

/// A KR value, start or target: finite and at most `MAX_ABS_NUMBER` in size.
pub fn number(field: &str, value: f64) -> ApiResult<()> {
    if !value.is_finite() || value.abs() > MAX_ABS_NUMBER {
        return Err(ApiError::unprocessable(format!(
            "`{field}` must be a finite number between -{MAX_ABS_NUMBER:e} and {MAX_ABS_NUMBER:e}, not {value}"
        )));
    }
    Ok(())
}

pub fn opt_number(field: &str, value: Option<f64>) -> ApiResult<()> {
    value.map_or(Ok(()), |v| number(field, v))
}

pub fn weight(value: f64) -> ApiResult<()> {
    if !(value.is_finite() && value > 0.0 && value <= MAX_WEIGHT) {
        return Err(ApiError::unprocessable(format!(
            "`weight` is the KR's share of its objective's progress: a number above 0 and at most {MAX_WEIGHT}, not {value}"
        )));
    }
    Ok(())
}

/// A confidence: how sure the author is that the KR will be met, 0 to 1.
pub fn confidence(value: f64) -> ApiResult<()> {
    if !(0.0..=1.0).contains(&value) {
        return Err(ApiError::unprocessable(format!(
            "`confidence` is a share from 0 (no chance) to 1 (certain), not {value}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_and_one_line_unless_allowed() {
        assert!(text("title", "Grow", MAX_TITLE, false).is_ok());
        assert!(text("title", "  ", MAX_TITLE, false).is_err());
        assert!(text("title", &"x".repeat(MAX_TITLE + 1), MAX_TITLE, false).is_err());
        assert!(text("title", "a\nb", MAX_TITLE, false).is_err());
        assert!(text("description", "a\nb", MAX_DESCRIPTION, true).is_ok());
        assert!(text("description", "a\u{0}b", MAX_DESCRIPTION, true).is_err());
        let e = text("title", &"é".repeat(201), MAX_TITLE, false).unwrap_err();
        assert!(e.detail().contains("201 characters"), "{}", e.detail());
    }

    #[test]
    fn numbers_are_finite_and_sane() {
        assert!(number("value", -3.5).is_ok());
        assert!(number("value", 1e16).is_err());
        assert!(number("value", f64::NAN).is_err());
        assert!(weight(0.0).is_err() && weight(1.0).is_ok() && weight(1e6).is_err());
        assert!(confidence(1.1).is_err() && confidence(0.7).is_ok());
    }
}

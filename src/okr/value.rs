//! What a KR may take as a value from a source: a finite number, and for a
//! milestone 0 (not done) or 1 (done).

use super::KrKind;

/// Why a value cannot be a KR's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

/// `value` if it is plausible for a KR of `kind`.
pub fn check_value(kind: KrKind, value: f64) -> Result<f64, InvalidValue> {
    if !value.is_finite() {
        return Err(InvalidValue(format!(
            "value {value} is not a finite number"
        )));
    }
    if kind == KrKind::Milestone && !(0.0..=1.0).contains(&value) {
        return Err(InvalidValue(format!(
            "milestone value must be 0 (not done) or 1 (done), got {value}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_rejected() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = check_value(KrKind::Increase, v).unwrap_err();
            assert!(e.to_string().contains("not a finite number"), "{e}");
        }
        assert_eq!(check_value(KrKind::Decrease, -3.5), Ok(-3.5));
    }

    #[test]
    fn milestones_take_zero_or_one() {
        assert_eq!(check_value(KrKind::Milestone, 1.0), Ok(1.0));
        assert_eq!(check_value(KrKind::Milestone, 0.0), Ok(0.0));
        let e = check_value(KrKind::Milestone, 2.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "milestone value must be 0 (not done) or 1 (done), got 2"
        );
    }
}

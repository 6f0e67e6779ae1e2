//! Turning extracted JSON into one finite number: lenient number parsing
//! (APIs send numbers as strings, sometimes with `%`) and the reductions
//! applied when a query yields several values.

use serde_json::Value;

use super::{FetchError, Reason, Redactor};

/// How much of an offending value an error message quotes.
const QUOTE_CHARS: usize = 60;

/// A finite number from a JSON number or a string holding one.
///
/// Accepted strings: surrounding whitespace, exponent forms and a trailing
/// `%` (`"47%"` → 47, the percent is not divided). NaN and infinities, in
/// any spelling, are `InvalidValue`: they can never become a check-in.
/// Thousands separators are not stripped (`"18,432"` is invalid): guessing
/// between `,` and `.` as a decimal mark would silently misread values.
pub fn parse_number(v: &Value) -> Result<f64, FetchError> {
    parse_number_redacted(v, &Redactor::default())
}

/// `parse_number`, redacting a quoted value before cutting it, so no part
/// of a secret echoed by a server survives in the message. Connectors use
/// this one.
pub fn parse_number_redacted(v: &Value, redactor: &Redactor) -> Result<f64, FetchError> {
    let quote = |s: &str| quote(&redactor.redact(s));
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err(invalid(format!("number {n} is not finite"))),
        },
        Value::String(s) => parse_str(s, quote),
        Value::Null => Err(invalid("value is null, not a number".into())),
        Value::Bool(b) => Err(invalid(format!("value is a boolean ({b}), not a number"))),
        Value::Array(_) | Value::Object(_) => Err(invalid(format!(
            "value is {}, not a number: {}",
            super::params::json_type(v),
            quote(&v.to_string())
        ))),
    }
}

fn parse_str(s: &str, quote: impl Fn(&str) -> String) -> Result<f64, FetchError> {
    let t = s.trim();
    let t = t.strip_suffix('%').map_or(t, str::trim_end);
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err(invalid(format!("value {} is not finite", quote(s)))),
        Err(_) => Err(invalid(format!("value {} is not a number", quote(s)))),
    }
}

fn invalid(message: String) -> FetchError {
    FetchError::new(Reason::InvalidValue, message)
}

/// `"text"`, cut to `QUOTE_CHARS` characters.
fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// How several values become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Min,
    Max,
    /// The number of values (not their sum).
    Count,
    /// The last value in document (or series) order.
    Last,
}

impl Reduce {
    pub const ALL: [Reduce; 6] = [
        Reduce::Sum,
        Reduce::Mean,
        Reduce::Min,
        Reduce::Max,
        Reduce::Count,
        Reduce::Last,
    ];

    pub fn parse(s: &str) -> Option<Reduce> {
        Reduce::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reduce::Sum => "sum",
            Reduce::Mean => "mean",
            Reduce::Min => "min",
            Reduce::Max => "max",
            Reduce::Count => "count",
            Reduce::Last => "last",
        }
    }

    /// The optional `reduce` param, or a message listing the allowed values.
    pub fn from_param(v: Option<&Value>) -> Result<Option<Reduce>, String> {
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Reduce::parse(s).map(Some).ok_or_else(|| {
                format!(
                    "param `reduce` must be one of {}, not {s:?}",
                    Reduce::names()
                )
            }),
            Some(other) => Err(format!(
                "param `reduce` must be a string, not {}",
                super::params::json_type(other)
            )),
        }
    }

    fn names() -> String {
        Reduce::ALL.map(Reduce::as_str).join("|")
    }
}

impl std::fmt::Display for Reduce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reduce `values`. `None` for no values, except `Count`, which is 0: a count
/// of matches is meaningful when nothing matched (an empty list of open
/// incidents is 0 incidents), while a sum or mean of nothing is no data.
pub fn reduce(values: &[f64], how: Reduce) -> Option<f64> {
    if how == Reduce::Count {
        return Some(values.len() as f64);
    }
    if values.is_empty() {
        return None;
    }
    Some(match how {
        Reduce::Sum => values.iter().sum(),
        Reduce::Mean => values.iter().sum::<f64>() / values.len() as f64,
        Reduce::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Reduce::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduce::Last => values[values.len() - 1],
        Reduce::Count => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value) -> f64 {
        parse_number(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn err(v: Value) -> FetchError {
        let e = parse_number(&v).expect_err(&v.to_string());
        assert_eq!(e.reason, Reason::InvalidValue, "{v}");
        e
    }

    #[test]
    fn numbers_and_numeric_strings() {
        assert_eq!(ok(json!(2541)), 2541.0);
        assert_eq!(ok(json!(-3.5)), -3.5);
        assert_eq!(ok(json!("2541")), 2541.0);
        assert_eq!(ok(json!(" 12.5 ")), 12.5);
        assert_eq!(ok(json!("1e3")), 1000.0);
        assert_eq!(ok(json!("47%")), 47.0);
        assert_eq!(ok(json!("47.5 %")), 47.5);
        assert_eq!(ok(json!("-0.25")), -0.25);
        assert_eq!(ok(json!(u64::MAX)), u64::MAX as f64);
    }

    #[test]
    fn non_finite_values_are_invalid() {
        for s in [
            "NaN",
            "nan",
            "+Inf",
            "-Inf",
            "Inf",
            "Infinity",
            "-infinity",
            "1e999",
        ] {
            let e = err(json!(s));
            assert!(e.message.contains("not finite"), "{s}: {}", e.message);
        }
    }

    #[test]
    fn other_values_are_invalid_and_quoted() {
        assert!(err(json!("abc")).message.contains("\"abc\""));
        assert!(err(json!("")).message.contains("not a number"));
        assert!(err(json!("18,432")).message.contains("18,432"));
        assert!(err(json!("%")).message.contains("not a number"));
        assert!(err(json!(true)).message.contains("boolean"));
        assert!(err(json!(null)).message.contains("null"));
        assert!(err(json!({"value": 1})).message.contains("a table"));
        assert!(err(json!([1])).message.contains("an array"));
        let mut r = Redactor::default();
        r.add("secret-value");
        let text = format!("{} secret-value tail", "x".repeat(50));
        let e = parse_number_redacted(&json!(text), &r).unwrap_err();
        assert!(
            e.message.contains("***") && !e.message.contains("secr"),
            "{}",
            e.message
        );
        let long = "x".repeat(500);
        let m = err(json!(long)).message;
        assert!(m.len() < 120, "{m}");
        assert!(m.contains('…'));
    }

    #[test]
    fn reduce_parses_and_prints() {
        for r in Reduce::ALL {
            assert_eq!(Reduce::parse(r.as_str()), Some(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(Reduce::parse("avg"), None);
        assert_eq!(Reduce::from_param(None), Ok(None));
        assert_eq!(
            Reduce::from_param(Some(&json!("max"))),
            Ok(Some(Reduce::Max))
        );
        let e = Reduce::from_param(Some(&json!("avg"))).unwrap_err();
        assert!(e.contains("sum|mean|min|max|count|last"), "{e}");
        assert!(Reduce::from_param(Some(&json!(1))).is_err());
    }

    #[test]
    fn reductions() {
        let v = [3.0, 1.0, 2.0];
        assert_eq!(reduce(&v, Reduce::Sum), Some(6.0));
        assert_eq!(reduce(&v, Reduce::Mean), Some(2.0));
        assert_eq!(reduce(&v, Reduce::Min), Some(1.0));
        assert_eq!(reduce(&v, Reduce::Max), Some(3.0));
        assert_eq!(reduce(&v, Reduce::Count), Some(3.0));
        assert_eq!(reduce(&v, Reduce::Last), Some(2.0));
        for r in Reduce::ALL {
            let expected = if r == Reduce::Count { Some(0.0) } else { None };
            assert_eq!(reduce(&[], r), expected, "{r}");
        }
    }
}

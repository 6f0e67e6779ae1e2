//! Typed field extraction from one entry: strings, numbers, dates and choices,
//! with the type errors and "required" bookkeeping that go with them.

use chrono::NaiveDate;
use toml::Spanned;
use toml::de::DeValue;

use super::reader::{Entry, Parser};
use crate::okr::validate::closest;

impl<'a> Parser<'a> {
    pub(super) fn value<'d, 'i>(
        &self,
        e: &Entry<'d, 'i>,
        key: &str,
    ) -> Option<&'d Spanned<DeValue<'i>>> {
        e.fields.get(key).map(|(_, v)| *v)
    }

    pub(super) fn required<T>(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &'static str,
        got: Option<T>,
    ) -> Option<T> {
        if got.is_none() && !e.fields.contains_key(key) {
            e.missing.push(key);
        }
        got
    }

    fn type_error(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        expected: &str,
    ) {
        e.ok = false;
        self.type_error_at(key, v, expected);
    }

    /// Reports that `key` holds something else than `expected`.
    fn type_error_at(&mut self, key: &str, v: &Spanned<DeValue<'_>>, expected: &str) {
        let mut msg = format!(
            "`{key}` must be {expected}, found {}",
            describe(v.get_ref())
        );
        if expected.starts_with("a number")
            && let DeValue::String(s) = v.get_ref()
            && s.trim().parse::<f64>().is_ok()
        {
            msg.push_str("; remove the quotes");
        }
        self.error(&v.span(), msg);
    }

    pub(super) fn string(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<String> {
        let v = self.value(e, key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(e, key, v, "a string");
                None
            }
        }
    }

    pub(super) fn req_string(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &'static str,
    ) -> Option<String> {
        let got = self.string(e, key);
        self.required(e, key, got)
    }

    pub(super) fn number(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<f64> {
        let v = self.value(e, key)?;
        let n = self.number_at(v, key);
        e.ok &= n.is_some();
        n
    }

    /// The number `v` holds, reported under `key` when it is none.
    pub(super) fn number_at(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n as f64),
                Err(_) => {
                    self.error(
                        &v.span(),
                        format!("`{key}` is out of range for a 64-bit integer"),
                    );
                    None
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Some(x),
                Err(_) => {
                    self.error(&v.span(), format!("`{key}` is not a valid number"));
                    None
                }
            },
            _ => {
                self.type_error_at(key, v, "a number");
                None
            }
        }
    }

    /// A count (`required`, `confirm_after`): a whole number from 0 to
    /// 2^32 − 1, reported under `key` when it is not.
    pub(super) fn count_at(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<u32> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::Float(_) => None,
            _ => {
                self.type_error_at(key, v, "a whole number");
                return None;
            }
        };
        let count = n.and_then(|n| u32::try_from(n).ok());
        if count.is_none() {
            let msg = format!("`{key}` must be a whole number from 0 to {}", u32::MAX);
            self.error(&v.span(), msg);
        }
        count
    }

    pub(super) fn date(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<NaiveDate> {
        let v = self.value(e, key)?;
        let parsed = match v.get_ref() {
            DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                }
                _ => {
                    e.ok = false;
                    let msg =
                        format!("`{key}` must be a date (YYYY-MM-DD) without a time, found `{dt}`");
                    self.error(&v.span(), msg);
                    return None;
                }
            },
            DeValue::String(s) => {
                let s = s.as_ref();
                if s.len() == 10 {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
                } else {
                    None
                }
            }
            _ => {
                self.type_error(e, key, v, "a date (YYYY-MM-DD)");
                return None;
            }
        };
        if parsed.is_none() {
            e.ok = false;
            let shown = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Datetime(dt) => dt.to_string(),
                _ => String::new(),
            };
            let msg = format!("`{key}` is not a valid date: `{shown}`; write it as YYYY-MM-DD");
            self.error(&v.span(), msg);
        }
        parsed
    }

    /// A string that must be one of `allowed`, parsed by `parse`.
    pub(super) fn choice<T>(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.value(e, key)?;
        let s = self.string(e, key)?;
        if let Some(t) = parse(&s) {
            return Some(t);
        }
        e.ok = false;
        let hint = match closest(&s, allowed.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? "),
            None => String::new(),
        };
        let msg = format!(
            "unknown {key} `{s}`; {hint}expected one of: {}",
            allowed.join(", ")
        );
        self.error(&v.span(), msg);
        None
    }
}

/// "a string (\"x\")", "an integer", ...: what was found where another type was expected.
pub(super) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let shown: String = s.chars().take(40).collect();
            format!("a string ({shown:?})")
        }
        DeValue::Integer(_) => "an integer".into(),
        DeValue::Float(_) => "a float".into(),
        DeValue::Boolean(_) => "a boolean".into(),
        DeValue::Datetime(dt) => match (dt.date, dt.time) {
            (Some(_), None) => "a date".into(),
            (None, Some(_)) => "a time".into(),
            _ => "a date-time".into(),
        },
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

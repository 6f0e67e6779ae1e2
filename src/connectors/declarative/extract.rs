//! Getting the number out of one or more response pages: the success check
//! for APIs that report errors with status 200, the "no data" condition,
//! JSONPath matches gathered across pages, then one value, a reduction, or a
//! Net Promoter Score.

use std::sync::Arc;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::manifest::{Condition, ErrorCheck, ExtractSpec};
use super::render::Vars;
use crate::connectors::kept::json_path;
use crate::connectors::value::{Reduce, parse_number_redacted, reduce};
use crate::connectors::{FetchError, Reason, Redactor};

/// An `[extract]` with its templates rendered and paths compiled.
pub struct Extractor {
    path_text: String,
    path: Arc<JsonPath>,
    nps: bool,
    reduce: Option<Reduce>,
    thousands: Option<String>,
    error: Option<(Arc<JsonPath>, ErrorCheck, Option<Arc<JsonPath>>)>,
    no_data: Option<(Arc<JsonPath>, Condition)>,
    /// Numbers gathered so far, across pages (converted page by page, so
    /// a long paged fetch keeps numbers, not JSON documents).
    numbers: Vec<f64>,
    /// How many nodes matched, across pages.
    matched: usize,
}

impl Extractor {
    pub fn new(spec: &ExtractSpec, vars: &Vars) -> Result<Extractor, String> {
        let (text, nps) = match (&spec.value, &spec.nps) {
            (Some(v), _) => (vars.render(v, "extract.value")?, false),
            (None, Some(n)) => (vars.render(n, "extract.nps")?, true),
            (None, None) => return Err("extract needs `value` or `nps`".into()),
        };
        let path = compile(&text, "extract")?;
        let error = match &spec.error {
            None => None,
            Some(e) => Some((
                compile(&e.path, "extract.error.path")?,
                e.clone(),
                e.message
                    .as_deref()
                    .map(|m| compile(m, "extract.error.message"))
                    .transpose()?,
            )),
        };
        let no_data = match &spec.no_data {
            None => None,
            Some(c) => Some((compile(&c.path, "extract.no_data.path")?, c.clone())),
        };
        Ok(Extractor {
            path_text: text,
            path,
            nps,
            reduce: spec.reduce.as_deref().and_then(Reduce::parse),
            thousands: spec.thousands.clone(),
            error,
            no_data,
            numbers: Vec::new(),
            matched: 0,
        })
    }

    /// Check one page and gather its matches.
    pub fn page(&mut self, body: &Value, redactor: &Redactor) -> Result<(), FetchError> {
        if let Some((path, check, message)) = &self.error
            && path.query(body).all().iter().any(|v| **v == check.equals)
        {
            let text = message
                .as_ref()
                .and_then(|m| m.query(body).first().cloned())
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "the API reported an error".into());
            let text = redactor.redact(&text);
            let lower = text.to_lowercase();
            let reason = if check
                .auth_if_contains
                .iter()
                .any(|s| lower.contains(&s.to_lowercase()))
            {
                Reason::Auth
            } else {
                check
                    .reason
                    .as_deref()
                    .and_then(Reason::parse)
                    .unwrap_or(Reason::Http4xx)
            };
            return Err(FetchError::new(
                reason,
                format!("the API answered with an error: {}", cut(&text)),
            ));
        }
        if let Some((path, cond)) = &self.no_data
            && path.query(body).all().iter().any(|v| same(v, &cond.equals))
        {
            return Err(FetchError::new(
                Reason::NoData,
                format!("the API has no data yet ({} is {})", cond.path, cond.equals),
            ));
        }
        let nodes = self.path.query(body).all();
        self.matched += nodes.len();
        // Counting needs no numbers: `$.calls[*]` counts objects.
        if self.reduce != Some(Reduce::Count) {
            for node in nodes {
                let n = self.number(node, redactor)?;
                self.numbers.push(n);
            }
        }
        Ok(())
    }

    /// The value from every page gathered.
    pub fn finish(self) -> Result<f64, FetchError> {
        let nothing = || {
            FetchError::new(
                Reason::NoData,
                format!("path {} matched nothing", self.path_text),
            )
        };
        if self.nps {
            return nps(&self.numbers)?.ok_or_else(nothing);
        }
        if self.reduce == Some(Reduce::Count) {
            return Ok(self.matched as f64);
        }
        match (self.numbers.as_slice(), self.reduce) {
            ([], _) => Err(nothing()),
            ([one], None) => Ok(*one),
            (many, None) => Err(FetchError::new(
                Reason::Parse,
                format!(
                    "path {} matched {} values; the manifest needs `reduce`",
                    self.path_text,
                    many.len()
                ),
            )),
            (many, Some(how)) => reduce(many, how).ok_or_else(nothing),
        }
    }

    fn number(&self, v: &Value, redactor: &Redactor) -> Result<f64, FetchError> {
        match (v, &self.thousands) {
            (Value::String(s), Some(sep)) if is_grouped(s.trim(), sep) => {
                parse_number_redacted(&Value::String(s.replace(sep.as_str(), "")), redactor)
            }
            // `{"value": N}` wrappers (older Umami, Plausible v1) hold the number.
            (Value::Object(m), _) if m.len() <= 3 && m.contains_key("value") => {
                parse_number_redacted(&m["value"], redactor)
            }
            _ => parse_number_redacted(v, redactor),
        }
    }
}

/// Net Promoter Score of 0–10 answers; `None` when there are none.
pub fn nps(scores: &[f64]) -> Result<Option<f64>, FetchError> {
    if let Some(bad) = scores
        .iter()
        .find(|s| !(0.0..=10.0).contains(*s) || s.fract() != 0.0)
    {
        return Err(FetchError::new(
            Reason::InvalidValue,
            format!("NPS answers must be whole numbers 0–10, got {bad}"),
        ));
    }
    if scores.is_empty() {
        return Ok(None);
    }
    let promoters = scores.iter().filter(|s| **s >= 9.0).count() as f64;
    let detractors = scores.iter().filter(|s| **s <= 6.0).count() as f64;
    Ok(Some(100.0 * (promoters - detractors) / scores.len() as f64))
}

/// `"18,432"` or `"-1,234,567.5"`: groups of three after the separator.
fn is_grouped(s: &str, sep: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let int = s.split('.').next().unwrap_or(s);
    let mut groups = int.split(sep);
    let first = groups.next().unwrap_or("");
    let rest: Vec<&str> = groups.collect();
    !rest.is_empty()
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && rest
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Equality where `0` and `0.0` are the same.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compile(path: &str, at: &str) -> Result<Arc<JsonPath>, String> {
    json_path(path).map_err(|e| format!("{at}: `{path}` is not a JSONPath: {e}"))
}

fn cut(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(200).collect();
    if out.len() < one_line.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let ctx = crate::connectors::template::TemplateContext {
            period_id: "p".into(),
            period_start: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            period_end: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            now: chrono::Utc::now(),
            timezone: chrono_tz::UTC,
            key_result: "k".into(),
        };
        Vars::new(&serde_json::Map::new(), &ctx)
    }

    fn spec(v: Value) -> ExtractSpec {
        serde_json::from_value(v).unwrap()
    }

    fn run(s: Value, pages: &[Value]) -> Result<f64, FetchError> {
        let mut x = Extractor::new(&spec(s), &vars()).unwrap();
        for p in pages {
            x.page(p, &Redactor::default())?;
        }
        x.finish()
    }

    #[test]
    fn nps_is_promoters_minus_detractors_over_answers() {
        // Delighted's docs example: 32 promoters, 13 passives, 6 detractors.
        let mut s = vec![10.0; 32];
        s.extend(vec![7.0; 13]);
        s.extend(vec![3.0; 6]);
        let v = nps(&s).unwrap().unwrap();
        assert!((v - 50.980392).abs() < 1e-5, "{v}");
        assert_eq!(nps(&[10.0, 8.0, 4.0]).unwrap(), Some(0.0));
        assert_eq!(nps(&[]).unwrap(), None);
        assert_eq!(nps(&[11.0]).unwrap_err().reason, Reason::InvalidValue);
    }

    #[test]
    fn matches_are_gathered_across_pages() {
        let s = json!({"value": "$.calls[*]", "reduce": "count"});
        let pages = [json!({"calls": [1, 2]}), json!({"calls": [3]})];
        assert_eq!(run(s, &pages).unwrap(), 3.0);
        let s = json!({"nps": "$.items[*].score"});
        let pages = [
            json!({"items": [{"score": 10}, {"score": 9}]}),
            json!({"items": [{"score": 2}, {"score": "8"}]}),
        ];
        assert_eq!(run(s, &pages).unwrap(), 25.0);
    }

    #[test]
    fn numbers_as_strings() {
        let one = |v: Value, thousands: Option<&str>| {
            let mut s = json!({"value": "$.v"});
            if let Some(t) = thousands {
                s["thousands"] = json!(t);
            }
            run(s, &[json!({ "v": v })])
        };
        assert_eq!(one(json!("2541"), None).unwrap(), 2541.0);
        assert_eq!(one(json!("47%"), None).unwrap(), 47.0);
        assert_eq!(one(json!("18,432"), Some(",")).unwrap(), 18432.0);
        assert_eq!(one(json!("-1,234,567.5"), Some(",")).unwrap(), -1234567.5);
        assert_eq!(
            one(json!("18,432"), None).unwrap_err().reason,
            Reason::InvalidValue
        );
        assert_eq!(
            one(json!("1,23"), Some(",")).unwrap_err().reason,
            Reason::InvalidValue
        );
        assert_eq!(one(json!({"value": 7, "prev": 3}), None).unwrap(), 7.0);
        assert_eq!(
            one(json!("NaN"), None).unwrap_err().reason,
            Reason::InvalidValue
        );
    }

    #[test]
    fn missing_rows_are_no_data() {
        let s = json!({"value": "$.rows[0].metricValues[0].value"});
        let e = run(s, &[json!({"metricHeaders": [], "kind": "x"})]).unwrap_err();
        assert_eq!(e.reason, Reason::NoData);
    }

    #[test]
    fn success_check_and_no_data_condition() {
        let s = json!({
            "value": "$.nb_visits",
            "error": {"path": "$.result", "equals": "error", "message": "$.message",
                      "auth_if_contains": ["authenticate"]},
            "no_data": {"path": "$.response_count", "equals": 0},
        });
        let e = run(
            s.clone(),
            &[json!({"result": "error", "message": "Bad period"})],
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::Http4xx);
        assert!(e.message.contains("Bad period"), "{}", e.message);
        let e = run(
            s.clone(),
            &[json!({"result": "error", "message": "Unable to authenticate with the provided token"})],
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::Auth);
        let e = run(s.clone(), &[json!({"response_count": 0.0, "nb_visits": 0})]).unwrap_err();
        assert_eq!(e.reason, Reason::NoData);
        assert_eq!(run(s, &[json!({"nb_visits": 5310})]).unwrap(), 5310.0);
    }
}

//! A key result's `source` binding (`use`, `schedule`, `params`), inline or as
//! `[key_results.source]`, with its params converted from TOML to JSON.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::entities::SOURCE_KEYS;
use super::fields::describe;
use super::reader::{Entry, Parser};
use crate::okr::model::SourceRef;

impl<'a> Parser<'a> {
    /// `source = { use, schedule?, params? }`, either inline or as `[key_results.source]`.
    pub(super) fn source(&mut self, e: &mut Entry<'_, '_>) -> Option<SourceRef> {
        let v = self.value(e, "source")?;
        let DeValue::Table(table) = v.get_ref() else {
            e.ok = false;
            let msg = format!(
                "`source` must be a table, found {}; write source = {{ use = \"<source name>\" }} \
                 or a [key_results.source] table",
                describe(v.get_ref())
            );
            self.error(&v.span(), msg);
            return None;
        };
        let fields = self.fields(table, "in [key_results.source]", SOURCE_KEYS);
        for (name, (key_span, _)) in &fields {
            let line = self.line(key_span.start);
            e.lines.insert(format!("source.{name}"), line);
        }
        let mut ok = true;
        let mut field_str = |p: &mut Self, key: &str| -> Option<String> {
            let (_, v) = fields.get(key)?;
            match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                other => {
                    ok = false;
                    let msg = format!("`source.{key}` must be a string, found {}", describe(other));
                    p.error(&v.span(), msg);
                    None
                }
            }
        };
        let source = field_str(self, "use");
        let schedule = field_str(self, "schedule");
        if source.is_none() && !fields.contains_key("use") {
            ok = false;
            let msg = "`source` is missing required key `use` (the name of a [[sources]] entry)"
                .to_string();
            self.error(&v.span(), msg);
        }
        let params = match fields.get("params") {
            None => Some(serde_json::Map::new()),
            Some((_, pv)) => match pv.get_ref() {
                DeValue::Table(t) => self.json_table(t, "source.params"),
                other => {
                    let msg = format!("`source.params` must be a table, found {}", describe(other));
                    self.error(&pv.span(), msg);
                    None
                }
            },
        };
        if !ok || params.is_none() {
            e.ok = false;
            return None;
        }
        Some(SourceRef {
            source: source?,
            schedule,
            params: params?,
        })
    }

    fn json_table(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut map = serde_json::Map::new();
        let mut ok = true;
        for (k, v) in t.iter() {
            let key = k.get_ref().to_string();
            match self.json_value(v, &format!("{path}.{key}")) {
                Some(j) => {
                    map.insert(key, j);
                }
                None => ok = false,
            }
        }
        ok.then_some(map)
    }

    /// Any TOML value as JSON; dates and times become their TOML text (RFC 3339).
    fn json_value(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        match v.get_ref() {
            DeValue::String(s) => Some(J::String(s.to_string())),
            DeValue::Boolean(b) => Some(J::Bool(*b)),
            DeValue::Datetime(dt) => Some(J::String(dt.to_string())),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(J::from(n)),
                Err(_) => {
                    self.error(
                        &v.span(),
                        format!("`{path}` is out of range for a 64-bit integer"),
                    );
                    None
                }
            },
            DeValue::Float(f) => {
                match f
                    .as_str()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(n) => Some(J::Number(n)),
                    None => {
                        self.error(&v.span(), format!("`{path}` must be a finite number"));
                        None
                    }
                }
            }
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.json_value(item, &format!("{path}[{i}]")) {
                        Some(j) => out.push(j),
                        None => ok = false,
                    }
                }
                ok.then_some(J::Array(out))
            }
            DeValue::Table(t) => self.json_table(t, path).map(J::Object),
        }
    }
}

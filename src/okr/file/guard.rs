//! A key result's guard against implausible fetched values, inline or as
//! `[key_results.guard]`: `min`, `max`, `max_change`, `confirm_after`.

use toml::de::DeValue;

use super::fields::describe;
use super::reader::{Entry, Parser};
use crate::okr::guard::Guard;

pub(super) const GUARD_KEYS: &[&str] = &["min", "max", "max_change", "confirm_after"];

impl<'a> Parser<'a> {
    /// Types and keys only; `Guard::problem` (run by validation) judges the values.
    pub(super) fn guard(&mut self, e: &mut Entry<'_, '_>) -> Option<Guard> {
        let v = self.value(e, "guard")?;
        let DeValue::Table(table) = v.get_ref() else {
            e.ok = false;
            let msg = format!(
                "`guard` must be a table, found {}; write guard = {{ max_change = 0.5 }} \
                 or a [key_results.guard] table",
                describe(v.get_ref())
            );
            self.error(&v.span(), msg);
            return None;
        };
        let fields = self.fields(table, "in [key_results.guard]", GUARD_KEYS);
        if fields.len() != table.len() {
            e.ok = false;
        }
        let mut guard = Guard::default();
        for (name, (key_span, value)) in &fields {
            let line = self.line(key_span.start);
            e.lines.insert(format!("guard.{name}"), line);
            let key = format!("guard.{name}");
            let ok = match *name {
                "confirm_after" => {
                    guard.confirm_after = self.count_at(value, &key);
                    guard.confirm_after.is_some()
                }
                _ => {
                    let n = self.number_at(value, &key);
                    match *name {
                        "min" => guard.min = n,
                        "max" => guard.max = n,
                        _ => guard.max_change = n,
                    }
                    n.is_some()
                }
            };
            e.ok &= ok;
        }
        Some(guard)
    }
}

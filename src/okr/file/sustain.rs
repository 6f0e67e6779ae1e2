//! A key result's sustain rule (`comparison`, `window`, `required`,
//! `aggregate`): read as loose keys, made into the rule for a KR of kind
//! `sustain` and refused on any other.

use super::reader::{Entry, Parser};
use crate::okr::model::KrKind;
use crate::okr::sustain::{Aggregate, Comparison, Sustain, SustainFields, Window};

impl<'a> Parser<'a> {
    /// The rule of KR `id` of `kind`; problems are reported at the key at
    /// fault (or the entry, for a missing one).
    pub(super) fn sustain(
        &mut self,
        e: &mut Entry<'_, '_>,
        kind: Option<KrKind>,
        id: Option<&str>,
    ) -> Option<Sustain> {
        let comparisons = Comparison::ALL.map(Comparison::as_str);
        let windows = Window::ALL.map(Window::as_str);
        let aggregates = Aggregate::ALL.map(Aggregate::as_str);
        let fields = SustainFields {
            comparison: self.choice(e, "comparison", &comparisons, Comparison::parse),
            window: self.choice(e, "window", &windows, Window::parse),
            required: match self.value(e, "required") {
                Some(v) => {
                    let n = self.count_at(v, "required");
                    e.ok &= n.is_some();
                    n
                }
                None => None,
            },
            aggregate: self.choice(e, "aggregate", &aggregates, Aggregate::parse),
        };
        // A key already reported, or a KR without kind or id, is left out anyway.
        let (Some(kind), Some(id), true) = (kind, id, e.ok) else {
            return None;
        };
        match fields.resolve(kind, id) {
            Ok(rule) => rule,
            Err((field, message)) => {
                e.ok = false;
                let span = e
                    .fields
                    .get(field)
                    .map_or_else(|| e.span.clone(), |(key, _)| key.clone());
                self.error(&span, message);
                None
            }
        }
    }
}

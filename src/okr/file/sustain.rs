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

#[cfg(test)]
mod tests {
    use crate::okr::file::parse_str;
    use crate::okr::guard::Guard;
    use crate::okr::model::KrKind;
    use crate::okr::sustain::{Aggregate, Comparison, Sustain, Window};

    fn kr(lines: &str) -> String {
        format!(
            "[[key_results]]\nid = \"nps\"\nobjective = \"o\"\nteam = \"t\"\nowner = \"a@b.c\"\n\
             title = \"NPS\"\n{lines}\n"
        )
    }

    fn problems(text: &str) -> Vec<String> {
        let (_, _, problems) = parse_str("f.toml", text);
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_sustain_kr_and_its_guard_are_read() {
        let text = kr(
            "kind = \"sustain\"\ntarget = 40\ncomparison = \"at_least\"\n\
             window = \"week\"\nrequired = 10\naggregate = \"mean\"\n\
             [key_results.guard]\nmin = 0\nmax = 100\nmax_change = 0.5\nconfirm_after = 2",
        );
        let (set, locations, problems) = parse_str("f.toml", &text);
        assert!(problems.is_empty(), "{problems:?}");
        let nps = &set.key_results[0];
        assert_eq!(nps.kind, KrKind::Sustain);
        assert_eq!(
            nps.sustain,
            Some(Sustain {
                comparison: Comparison::AtLeast,
                window: Window::Week,
                required: 10,
                aggregate: Aggregate::Mean,
            })
        );
        assert_eq!(
            nps.guard,
            Some(Guard {
                min: Some(0.0),
                max: Some(100.0),
                max_change: Some(0.5),
                confirm_after: Some(2),
            })
        );
        let line = |field: &str| {
            locations
                .field_at(crate::okr::EntityKind::KeyResult, 0, field)
                .map(|l| l.line)
        };
        assert_eq!(line("required"), Some(11));
        assert_eq!(line("guard.max_change"), Some(16));
        // `aggregate` defaults to `last`; a guard may be inline.
        let text = kr(
            "kind = \"sustain\"\ntarget = 40\ncomparison = \"at_most\"\nwindow = \"day\"\n\
             required = 3\nguard = { confirm_after = 5 }",
        );
        let (set, _, problems) = parse_str("f.toml", &text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            set.key_results[0].sustain.unwrap().aggregate,
            Aggregate::Last
        );
        assert_eq!(set.key_results[0].guard.unwrap().confirm_after, Some(5));
    }

    #[test]
    fn sustain_keys_are_checked_where_they_are() {
        let missing =
            kr("kind = \"sustain\"\ntarget = 40\ncomparison = \"at_least\"\nrequired = 3");
        assert_eq!(
            problems(&missing),
            vec!["f.toml:1: sustain key result `nps` needs `window` (day, week or month)"]
        );
        let stray = kr("kind = \"at_least\"\ntarget = 40\nwindow = \"week\"");
        assert_eq!(
            problems(&stray),
            vec![
                "f.toml:9: key result `nps`: `window` applies only to sustain key results; \
                 remove it or set kind = \"sustain\""
            ]
        );
        let bad = kr(
            "kind = \"sustain\"\ntarget = 40\ncomparison = \"atleast\"\n\
             window = \"weekly\"\nrequired = -1\naggregate = \"median\"",
        );
        let found = problems(&bad);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("did you mean `at_least`"), "{found:?}");
        assert!(
            found[1].starts_with("f.toml:10: unknown window `weekly`"),
            "{found:?}"
        );
        assert!(
            found[2].contains("`required` must be a whole number"),
            "{found:?}"
        );
        assert!(found[3].contains("unknown aggregate `median`"), "{found:?}");
        let fraction = kr(
            "kind = \"sustain\"\ntarget = 40\ncomparison = \"at_least\"\n\
             window = \"week\"\nrequired = 2.5",
        );
        assert!(problems(&fraction)[0].contains("`required` must be a whole number"));
    }

    #[test]
    fn guard_keys_and_types_are_checked() {
        let text = kr(
            "kind = \"increase\"\nstart = 0\ntarget = 10\n[key_results.guard]\n\
             mn = 0\nmax_change = \"half\"\nconfirm_after = -2",
        );
        let found = problems(&text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("f.toml:11: unknown key `mn`"),
            "{found:?}"
        );
        assert!(found[0].contains("did you mean `min`"), "{found:?}");
        assert!(
            found[1].contains("`guard.max_change` must be a number"),
            "{found:?}"
        );
        assert!(
            found[2].contains("`guard.confirm_after` must be a whole number"),
            "{found:?}"
        );
        let (set, _, _) = parse_str("f.toml", &text);
        assert!(set.key_results.is_empty(), "a broken KR is left out");
        let not_a_table = kr("kind = \"increase\"\nstart = 0\ntarget = 10\nguard = 3");
        assert!(problems(&not_a_table)[0].contains("`guard` must be a table"));
    }
}

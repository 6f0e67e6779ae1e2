//! A sustain rule as OKR files and the API spell it: loose fields of a KR
//! (`comparison`, `window`, `required`, `aggregate`), made into the rule
//! only for a KR of kind `sustain`.

use super::{Aggregate, Comparison, Sustain, Window};
use crate::okr::model::KrKind;

/// The sustain fields of a KR, each maybe set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SustainFields {
    pub comparison: Option<Comparison>,
    pub window: Option<Window>,
    pub required: Option<u32>,
    pub aggregate: Option<Aggregate>,
}

impl SustainFields {
    /// The fields of a stored rule.
    pub fn of(rule: Option<Sustain>) -> SustainFields {
        rule.map_or_else(SustainFields::default, |r| SustainFields {
            comparison: Some(r.comparison),
            window: Some(r.window),
            required: Some(r.required),
            aggregate: Some(r.aggregate),
        })
    }

    /// The rule of KR `id` of `kind`: a sustain KR needs `comparison`,
    /// `window` and `required`; the other kinds take none of the four.
    /// `Err` names the field at fault and says why.
    pub fn resolve(
        self,
        kind: KrKind,
        id: &str,
    ) -> Result<Option<Sustain>, (&'static str, String)> {
        if kind != KrKind::Sustain {
            let set = [
                ("comparison", self.comparison.is_some()),
                ("window", self.window.is_some()),
                ("required", self.required.is_some()),
                ("aggregate", self.aggregate.is_some()),
            ];
            return match set.into_iter().find(|(_, set)| *set) {
                Some((field, _)) => Err((
                    field,
                    format!(
                        "key result `{id}`: `{field}` applies only to sustain key results; \
                         remove it or set kind = \"sustain\""
                    ),
                )),
                None => Ok(None),
            };
        }
        let missing = |field: &'static str, what: &str| {
            (
                field,
                format!("sustain key result `{id}` needs `{field}` ({what})"),
            )
        };
        let comparison = self
            .comparison
            .ok_or_else(|| missing("comparison", "at_least or at_most"))?;
        let window = self
            .window
            .ok_or_else(|| missing("window", "day, week or month"))?;
        let required = self.required.ok_or_else(|| {
            missing(
                "required",
                "how many windows of the period must hold the level",
            )
        })?;
        Ok(Some(Sustain {
            comparison,
            window,
            required,
            aggregate: self.aggregate.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly() -> SustainFields {
        SustainFields {
            comparison: Some(Comparison::AtLeast),
            window: Some(Window::Week),
            required: Some(10),
            aggregate: None,
        }
    }

    #[test]
    fn a_sustain_kr_needs_comparison_window_and_required() {
        let rule = weekly().resolve(KrKind::Sustain, "nps").unwrap().unwrap();
        assert_eq!(rule.aggregate, Aggregate::Last);
        assert_eq!(
            SustainFields::of(Some(rule)).resolve(KrKind::Sustain, "nps"),
            Ok(Some(rule))
        );
        for (field, fields) in [
            (
                "comparison",
                SustainFields {
                    comparison: None,
                    ..weekly()
                },
            ),
            (
                "window",
                SustainFields {
                    window: None,
                    ..weekly()
                },
            ),
            (
                "required",
                SustainFields {
                    required: None,
                    ..weekly()
                },
            ),
        ] {
            let (at, message) = fields.resolve(KrKind::Sustain, "nps").unwrap_err();
            assert_eq!(at, field);
            assert!(message.contains(&format!("needs `{field}`")), "{message}");
        }
    }

    #[test]
    fn other_kinds_take_none_of_the_fields() {
        assert_eq!(
            SustainFields::default().resolve(KrKind::AtLeast, "x"),
            Ok(None)
        );
        let only_aggregate = SustainFields {
            aggregate: Some(Aggregate::Mean),
            ..SustainFields::default()
        };
        let (field, message) = only_aggregate.resolve(KrKind::Increase, "x").unwrap_err();
        assert_eq!(field, "aggregate");
        assert!(message.contains("only to sustain"), "{message}");
        assert_eq!(
            weekly().resolve(KrKind::Milestone, "x").unwrap_err().0,
            "comparison"
        );
    }
}

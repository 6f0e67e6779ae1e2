//! Values of single entities: well-formed and unique ids, non-empty texts,
//! finite numbers, positive weights.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::Checker;
use super::{Finding, Severity, check_id, kind_label};
use crate::okr::model::EntityKind;

impl<'a> Checker<'a> {
    /// Ids well-formed, required texts non-empty, numbers finite, weights positive.
    pub(super) fn ids_and_values(&mut self) {
        let set = self.set;
        let ids = set
            .periods
            .iter()
            .map(|p| (EntityKind::Period, &p.id))
            .enumerate()
            .chain(
                set.teams
                    .iter()
                    .map(|t| (EntityKind::Team, &t.id))
                    .enumerate(),
            )
            .chain(
                set.objectives
                    .iter()
                    .map(|o| (EntityKind::Objective, &o.id))
                    .enumerate(),
            )
            .chain(
                set.key_results
                    .iter()
                    .map(|k| (EntityKind::KeyResult, &k.id))
                    .enumerate(),
            );
        for (i, (kind, id)) in ids {
            if let Err(why) = check_id(id) {
                let label = kind_label(kind);
                self.error(
                    kind,
                    i,
                    Some("id"),
                    format!("{label} id `{id}` is not valid: {why}"),
                );
            }
        }
        for (i, p) in set.periods.iter().enumerate() {
            for (field, day) in [("start", p.start), ("end", p.end)] {
                if !plausible_day(day) {
                    let msg = format!(
                        "period `{}`: `{field}` {day} is out of range; dates go from {MIN_YEAR} to {MAX_YEAR}",
                        p.id
                    );
                    self.error(EntityKind::Period, i, Some(field), msg);
                }
            }
        }
        for (i, kr) in set.key_results.iter().enumerate() {
            if let Some(day) = kr.due.filter(|d| !plausible_day(*d)) {
                let msg = format!(
                    "key result `{}`: `due` {day} is out of range; dates go from {MIN_YEAR} to {MAX_YEAR}",
                    kr.id
                );
                self.error(EntityKind::KeyResult, i, Some("due"), msg);
            }
        }
        for (i, t) in set.teams.iter().enumerate() {
            if t.name.trim().is_empty() {
                let msg = format!("team `{}` has an empty `name`; give it one", t.id);
                self.error(EntityKind::Team, i, Some("name"), msg);
            }
        }
        for (i, o) in set.objectives.iter().enumerate() {
            if o.title.trim().is_empty() {
                let msg = format!("objective `{}` has an empty `title`; give it one", o.id);
                self.error(EntityKind::Objective, i, Some("title"), msg);
            }
        }
        for (i, kr) in set.key_results.iter().enumerate() {
            let kind = EntityKind::KeyResult;
            for (field, text) in [("title", &kr.title), ("owner", &kr.owner)] {
                if text.trim().is_empty() {
                    let msg = format!("key result `{}` has an empty `{field}`; give it one", kr.id);
                    self.error(kind, i, Some(field), msg);
                }
            }
            for (field, value) in [("start", kr.start), ("target", kr.target)] {
                if value.is_some_and(|v| !v.is_finite()) {
                    let msg = format!("key result `{}`: `{field}` must be a finite number", kr.id);
                    self.error(kind, i, Some(field), msg);
                }
            }
            if !(kr.weight.is_finite() && kr.weight > 0.0) {
                let msg = format!(
                    "key result `{}` has weight {}; `weight` is its share of the objective's \
                     progress and must be a number greater than 0 (default 1)",
                    kr.id, kr.weight
                );
                self.error(kind, i, Some("weight"), msg);
            }
            if let Some(src) = &kr.source
                && src.source.trim().is_empty()
            {
                let msg = format!(
                    "key result `{}`: `source.use` is empty; name a source",
                    kr.id
                );
                self.error(kind, i, Some("source.use"), msg);
            }
        }
    }

    /// Every entity whose id an earlier entity of the same kind already has.
    pub(super) fn duplicates(&mut self) {
        let set = self.set;
        let lists: [(EntityKind, Vec<&str>); 4] = [
            (
                EntityKind::Period,
                set.periods.iter().map(|p| p.id.as_str()).collect(),
            ),
            (
                EntityKind::Team,
                set.teams.iter().map(|t| t.id.as_str()).collect(),
            ),
            (
                EntityKind::Objective,
                set.objectives.iter().map(|o| o.id.as_str()).collect(),
            ),
            (
                EntityKind::KeyResult,
                set.key_results.iter().map(|k| k.id.as_str()).collect(),
            ),
        ];
        for (kind, ids) in lists {
            let mut first: HashMap<&str, usize> = HashMap::new();
            for (i, id) in ids.into_iter().enumerate() {
                match first.get(id) {
                    None => {
                        first.insert(id, i);
                    }
                    Some(&f) => {
                        let label = kind_label(kind);
                        self.out.push(Finding {
                            entity: (kind, id.to_string()),
                            index: i,
                            field: Some("id"),
                            message: format!(
                                "duplicate {label} id `{id}`; ids must be unique, rename or remove one"
                            ),
                            severity: Severity::Error,
                            duplicate_of: Some(f),
                            rule: self.rule,
                            limit: None,
                        });
                    }
                }
            }
        }
    }
}

/// The years a period or due date may fall in.
pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 9999;

fn plausible_day(day: NaiveDate) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&day.year())
}

//! Rules specific to one kind of entity: period ranges, numbers in objective
//! titles, and a key result's kind-specific needs, due date, parent's period,
//! rollup and schedule.

use std::collections::BTreeSet;

use super::{Checker, rules};
use crate::okr::model::{EntityKind, KrKind};

impl<'a> Checker<'a> {
    pub(super) fn periods(&mut self) {
        for (i, p) in self.set.periods.iter().enumerate() {
            if p.end < p.start {
                let msg = format!(
                    "period `{}` ends on {} before it starts on {}; fix `start` or `end`",
                    p.id, p.end, p.start
                );
                self.error(EntityKind::Period, i, Some("end"), msg);
            }
        }
    }

    pub(super) fn objectives(&mut self) {
        for (i, o) in self.set.objectives.iter().enumerate() {
            if o.title.chars().any(|c| c.is_ascii_digit() || c == '%') {
                let msg = format!(
                    "objective `{}` has a number in its title ({:?}); objectives are qualitative; \
                     put the number in a KR",
                    o.id, o.title
                );
                self.warn(EntityKind::Objective, i, Some("title"), msg);
            }
        }
    }

    /// Kind-specific needs, due dates, parents' periods, rollups and schedules.
    pub(super) fn key_results(&mut self) {
        let set = self.set;
        let kind = EntityKind::KeyResult;
        let mut has_children: BTreeSet<&str> = BTreeSet::new();
        for kr in &set.key_results {
            if let Some(p) = &kr.parent {
                has_children.insert(p.as_str());
            }
        }
        for (i, kr) in set.key_results.iter().enumerate() {
            let id = &kr.id;
            let k = kr.kind.as_str();
            self.rule = rules::MEASURABLE_TARGET;
            match kr.kind {
                KrKind::Increase | KrKind::Decrease => {
                    if kr.start.is_none() {
                        let msg = format!(
                            "key result `{id}` of kind `{k}` needs a `start` (the value it moves from)"
                        );
                        self.error(kind, i, None, msg);
                    }
                    if kr.target.is_none() {
                        let msg = format!(
                            "key result `{id}` of kind `{k}` needs a `target` (the value it moves to)"
                        );
                        self.error(kind, i, None, msg);
                    }
                    if let (Some(s), Some(t)) = (kr.start, kr.target) {
                        if s == t {
                            let msg = format!(
                                "key result `{id}` has `start` equal to `target` ({t}); \
                                 it measures nothing, set the target it should reach"
                            );
                            self.error(kind, i, Some("target"), msg);
                        } else if kr.kind == KrKind::Increase && t < s {
                            let msg = format!(
                                "key result `{id}` is `increase` but its target ({t}) is below its \
                                 start ({s}); did you mean kind `decrease`?"
                            );
                            self.warn(kind, i, Some("kind"), msg);
                        } else if kr.kind == KrKind::Decrease && t > s {
                            let msg = format!(
                                "key result `{id}` is `decrease` but its target ({t}) is above its \
                                 start ({s}); did you mean kind `increase`?"
                            );
                            self.warn(kind, i, Some("kind"), msg);
                        }
                    }
                }
                KrKind::AtLeast | KrKind::AtMost | KrKind::Sustain => {
                    if kr.target.is_none() {
                        let msg = format!(
                            "key result `{id}` of kind `{k}` needs a `target` (the threshold to hold)"
                        );
                        self.error(kind, i, None, msg);
                    }
                }
                KrKind::Milestone => {
                    if kr.due.is_none() {
                        let msg = format!("milestone key result `{id}` needs a `due` date");
                        self.error(kind, i, None, msg);
                    }
                    for (field, value) in [("start", kr.start), ("target", kr.target)] {
                        if value.is_some() {
                            let msg = format!(
                                "key result `{id}`: `{field}` means nothing for a milestone \
                                 (1 = done, 0 = not yet); remove it"
                            );
                            self.warn(kind, i, Some(field), msg);
                        }
                    }
                }
            }

            self.rule = rules::KEY_RESULT_LINKS;
            let objective = self.objective_of(kr);
            let period = objective.and_then(|o| {
                self.periods
                    .get(o.period.as_str())
                    .map(|&p| &set.periods[p])
            });
            // A period whose range is inverted is reported on its own; no due date fits it.
            if let (Some(due), Some(p)) = (kr.due, period)
                && p.start <= p.end
                && (due < p.start || due > p.end)
            {
                let msg = format!(
                    "key result `{id}` is due {due}, outside period `{}` ({} to {}) of its objective",
                    p.id, p.start, p.end
                );
                self.warn(kind, i, Some("due"), msg);
            }

            if let Some(parent_id) = &kr.parent
                && let Some(&pi) = self.krs.get(parent_id.as_str())
                && let (Some(mine), Some(theirs)) =
                    (self.period_of(kr), self.period_of(&set.key_results[pi]))
                && mine != theirs
            {
                let msg = format!(
                    "key result `{id}` is in period `{mine}` but its parent `{parent_id}` is in \
                     `{theirs}`; a KR can only contribute to a KR of the same period"
                );
                self.error(kind, i, Some("parent"), msg);
            }

            if let Some(rollup) = kr.rollup {
                if kr.kind == KrKind::Sustain {
                    let msg = format!(
                        "sustain key result `{id}` has `rollup`; a sustain key result judges                          its own values window by window and cannot take them from children,                          so remove `rollup`"
                    );
                    self.error(kind, i, Some("rollup"), msg);
                } else if kr.source.is_some() {
                    let msg = format!(
                        "key result `{id}` has both `rollup` and a `source`; a KR with a source takes \
                         its own value, so remove one of them"
                    );
                    self.error(kind, i, Some("rollup"), msg);
                } else if !has_children.contains(id.as_str()) {
                    let msg = format!(
                        "key result `{id}` has `rollup = \"{}\"` but no key result names it as \
                         `parent`; remove `rollup` or add children",
                        rollup.as_str()
                    );
                    self.warn(kind, i, Some("rollup"), msg);
                }
            }

            if let (Some(check), Some(schedule)) = (
                self.ctx.check_schedule,
                kr.source.as_ref().and_then(|s| s.schedule.as_deref()),
            ) && let Err(why) = check(schedule)
            {
                self.rule = rules::VALID_VALUES;
                let msg = format!("key result `{id}` has an invalid schedule `{schedule}`: {why}");
                self.error(kind, i, Some("source.schedule"), msg);
            }
        }
    }
}

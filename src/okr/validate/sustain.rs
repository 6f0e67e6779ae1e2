//! A KR's sustain rule and guard: the rule only on sustain KRs and always
//! on them, `required` from 1 to the windows of the period, periods cut
//! into a bounded number of windows, and the guard's own values.

use super::Checker;
use crate::okr::model::{EntityKind, KrKind};
use crate::okr::sustain::window_count;

/// The most windows a sustain KR's period may hold: each is listed by the
/// API and judged on every new value.
pub const MAX_SUSTAIN_WINDOWS: u32 = 1000;

impl<'a> Checker<'a> {
    pub(super) fn sustain_and_guard(&mut self) {
        let set = self.set;
        let kind = EntityKind::KeyResult;
        for (i, kr) in set.key_results.iter().enumerate() {
            let id = &kr.id;
            if let Some(problem) = kr.guard.as_ref().and_then(|g| g.problem()) {
                let msg = format!("key result `{id}`: {problem}");
                self.error(kind, i, Some("guard"), msg);
            }
            let rule = match (kr.kind, kr.sustain) {
                (KrKind::Sustain, Some(rule)) => rule,
                (KrKind::Sustain, None) => {
                    let msg = format!(
                        "sustain key result `{id}` needs `comparison`, `window` and `required`"
                    );
                    self.error(kind, i, Some("window"), msg);
                    continue;
                }
                (_, Some(_)) => {
                    let msg = format!(
                        "key result `{id}` is `{}`: `comparison`, `window`, `required` and \
                         `aggregate` apply only to sustain key results",
                        kr.kind.as_str()
                    );
                    self.error(kind, i, Some("window"), msg);
                    continue;
                }
                (_, None) => continue,
            };
            if rule.required == 0 {
                let msg = format!(
                    "key result `{id}`: `required` is the number of windows that must hold \
                     the level; it must be at least 1"
                );
                self.error(kind, i, Some("required"), msg);
            }
            let period = self
                .objective_of(kr)
                .and_then(|o| self.periods.get(o.period.as_str()))
                .map(|&p| &set.periods[p]);
            // An unknown or inverted period is reported by its own rules.
            let Some(period) = period.filter(|p| p.start <= p.end) else {
                continue;
            };
            let windows = window_count(period, rule.window);
            let plural = rule.window.plural();
            if windows > MAX_SUSTAIN_WINDOWS {
                let msg = format!(
                    "key result `{id}`: period `{}` holds {windows} {plural}, more than the \
                     {MAX_SUSTAIN_WINDOWS} a sustain key result may judge; use a longer `window`",
                    period.id
                );
                self.error(kind, i, Some("window"), msg);
            } else if rule.required > windows {
                let msg = format!(
                    "key result `{id}` requires {} {plural} but period `{}` ({} to {}) holds \
                     only {windows}; lower `required`",
                    rule.required, period.id, period.start, period.end
                );
                self.error(kind, i, Some("required"), msg);
            }
        }
    }
}

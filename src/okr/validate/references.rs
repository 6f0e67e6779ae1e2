//! References by id: parents, periods, teams, objectives and configured
//! sources must exist, with a "did you mean" hint when one is close.

use std::collections::HashMap;

use super::Checker;
use super::closest;
use crate::okr::model::EntityKind;

impl<'a> Checker<'a> {
    /// A message for a reference to an id that no entity has, with a hint when one is close.
    fn unknown(what: &str, id: &str, known: &HashMap<&str, usize>) -> String {
        let mut candidates: Vec<&str> = known.keys().copied().collect();
        candidates.sort_unstable();
        match closest(id, candidates) {
            Some(c) => format!("{what} `{id}` does not exist; did you mean `{c}`?"),
            None => format!("{what} `{id}` does not exist; declare it or fix the id"),
        }
    }

    pub(super) fn references(&mut self) {
        let set = self.set;
        for (i, t) in set.teams.iter().enumerate() {
            if let Some(p) = &t.parent
                && !self.teams.contains_key(p.as_str())
            {
                let msg = format!(
                    "team `{}`: {}",
                    t.id,
                    Self::unknown("parent team", p, &self.teams)
                );
                self.error(EntityKind::Team, i, Some("parent"), msg);
            }
        }
        for (i, o) in set.objectives.iter().enumerate() {
            let kind = EntityKind::Objective;
            if !self.periods.contains_key(o.period.as_str()) {
                let msg = format!(
                    "objective `{}`: {}",
                    o.id,
                    Self::unknown("period", &o.period, &self.periods)
                );
                self.error(kind, i, Some("period"), msg);
            }
            if !self.teams.contains_key(o.team.as_str()) {
                let msg = format!(
                    "objective `{}`: {}",
                    o.id,
                    Self::unknown("team", &o.team, &self.teams)
                );
                self.error(kind, i, Some("team"), msg);
            }
            if let Some(p) = &o.parent
                && !self.objectives.contains_key(p.as_str())
            {
                let msg = format!(
                    "objective `{}`: {}",
                    o.id,
                    Self::unknown("parent objective", p, &self.objectives)
                );
                self.error(kind, i, Some("parent"), msg);
            }
        }
        for (i, kr) in set.key_results.iter().enumerate() {
            let kind = EntityKind::KeyResult;
            if !self.objectives.contains_key(kr.objective.as_str()) {
                let msg = format!(
                    "key result `{}`: {}",
                    kr.id,
                    Self::unknown("objective", &kr.objective, &self.objectives)
                );
                self.error(kind, i, Some("objective"), msg);
            }
            if !self.teams.contains_key(kr.team.as_str()) {
                let msg = format!(
                    "key result `{}`: {}",
                    kr.id,
                    Self::unknown("team", &kr.team, &self.teams)
                );
                self.error(kind, i, Some("team"), msg);
            }
            if let Some(p) = &kr.parent
                && !self.krs.contains_key(p.as_str())
            {
                let msg = format!(
                    "key result `{}`: {}",
                    kr.id,
                    Self::unknown("parent key result", p, &self.krs)
                );
                self.error(kind, i, Some("parent"), msg);
            }
            if let (Some(known), Some(src)) = (self.ctx.known_sources, &kr.source)
                && !src.source.trim().is_empty()
                && !known.contains(&src.source)
            {
                let hint = match closest(&src.source, known.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None if known.is_empty() => {
                        "no sources are configured; add a [[sources]] entry".into()
                    }
                    None => format!(
                        "configured sources: {}",
                        known
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let msg = format!(
                    "key result `{}` uses source `{}`, which is not configured; {hint}",
                    kr.id, src.source
                );
                self.error(kind, i, Some("source.use"), msg);
            }
        }
    }
}

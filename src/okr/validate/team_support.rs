//! Warnings about teams that support no objective in a period.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use super::Checker;
use super::counts;
use crate::okr::model::{EntityKind, Objective};

impl<'a> Checker<'a> {
    /// Warns about teams that support no objective.
    ///
    /// A team supports a period when it, or one of its descendant teams, owns a
    /// non-archived objective of that period or has a live (not archived or
    /// rejected) KR on an objective of that period. Only periods that have a
    /// non-archived objective are considered, and a team is only expected to
    /// take part from the first such period in which it does (a team is not
    /// blamed for quarters before it existed). A team that takes part in no
    /// period gets a single warning. Sets without any objective are not checked
    /// (a file of teams alone is not an error).
    pub(super) fn team_support(&mut self) {
        let set = self.set;
        let live_objectives: Vec<&Objective> =
            set.objectives.iter().filter(|o| !o.archived).collect();
        if live_objectives.is_empty() {
            return;
        }
        // Periods in play, ordered by start date (unknown periods sort last by id).
        let mut active: Vec<&str> = live_objectives.iter().map(|o| o.period.as_str()).collect();
        active.sort_unstable();
        active.dedup();
        let start_of =
            |p: &str| -> Option<NaiveDate> { self.periods.get(p).map(|&i| set.periods[i].start) };
        active.sort_by_key(|p| (start_of(p).is_none(), start_of(p), *p));

        // Direct participation: team → periods.
        let mut takes_part: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for o in &live_objectives {
            takes_part
                .entry(o.team.as_str())
                .or_default()
                .insert(o.period.as_str());
        }
        for kr in set.key_results.iter().filter(|k| counts(k)) {
            if let Some(o) = self.objective_of(kr)
                && !o.archived
            {
                takes_part
                    .entry(kr.team.as_str())
                    .or_default()
                    .insert(o.period.as_str());
            }
        }
        // Credit ancestors with their descendants' participation (bounded walk: cycles are reported elsewhere).
        let mut supports: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for (team, periods) in &takes_part {
            let mut cur = Some(*team);
            let mut steps = 0;
            while let Some(t) = cur {
                supports
                    .entry(t)
                    .or_default()
                    .extend(periods.iter().copied());
                steps += 1;
                if steps > set.teams.len() {
                    break;
                }
                cur = self
                    .teams
                    .get(t)
                    .and_then(|&i| set.teams[i].parent.as_deref());
            }
        }

        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (i, team) in set.teams.iter().enumerate() {
            if !seen.insert(team.id.as_str()) {
                continue; // a duplicate; reported elsewhere
            }
            let Some(periods) = supports.get(team.id.as_str()) else {
                let msg = format!(
                    "team `{}` supports no objective in any period: it owns no objective and has no \
                     key result; add one or remove the team",
                    team.id
                );
                self.warn(EntityKind::Team, i, None, msg);
                continue;
            };
            let Some(first) = active.iter().position(|p| periods.contains(p)) else {
                continue;
            };
            for p in active[first..].iter().filter(|p| !periods.contains(*p)) {
                let msg = format!(
                    "team `{}` supports no objective in period `{p}`: it owns no objective there and \
                     has no key result on one; add a key result or an objective for it",
                    team.id
                );
                self.warn(EntityKind::Team, i, None, msg);
            }
        }
    }
}

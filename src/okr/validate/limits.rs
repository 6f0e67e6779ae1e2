//! The OKR practice's limits ([`Limits`](super::Limits)): key results per
//! objective per team and per owner per period, counting live KRs only.

use std::collections::BTreeMap;

use super::Checker;
use super::counts;
use crate::okr::model::EntityKind;

impl<'a> Checker<'a> {
    /// Limits per objective per team and per owner per period, counting live KRs only.
    pub(super) fn kr_limits(&mut self) {
        let set = self.set;
        let mut by_objective_team: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        let mut by_owner_period: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, kr) in set.key_results.iter().enumerate() {
            if !counts(kr) {
                continue;
            }
            by_objective_team
                .entry((kr.objective.as_str(), kr.team.as_str()))
                .or_default()
                .push(i);
            if let Some(period) = self.period_of(kr) {
                by_owner_period
                    .entry((kr.owner.as_str(), period))
                    .or_default()
                    .push(i);
            }
        }
        let ids = |group: &[usize]| -> String {
            group
                .iter()
                .map(|&i| set.key_results[i].id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let limit = self.ctx.limits.max_krs_per_objective_per_team;
        for ((objective, team), group) in &by_objective_team {
            if group.len() > limit {
                let msg = format!(
                    "team `{team}` has {} key results on objective `{objective}` ({}); the limit is \
                     {limit} per objective per team, so drop or merge some",
                    group.len(),
                    ids(group)
                );
                for &i in &group[limit..] {
                    self.error(EntityKind::KeyResult, i, None, msg.clone());
                }
            }
        }
        let limit = self.ctx.limits.max_krs_per_owner_per_period;
        for ((owner, period), group) in &by_owner_period {
            if group.len() > limit {
                let msg = format!(
                    "owner `{owner}` has {} key results in period `{period}` ({}); the limit is \
                     {limit} per owner per period, so hand some over or drop some",
                    group.len(),
                    ids(group)
                );
                for &i in &group[limit..] {
                    self.error(EntityKind::KeyResult, i, None, msg.clone());
                }
            }
        }
    }
}

//! The OKR practice's limits ([`Limits`](super::Limits)): key results per
//! objective per team and per owner per period, counting KRs put forward
//! (proposed, approved, changes requested) only.

use std::collections::BTreeMap;

use super::counts_against_limits;
use super::{Checker, LimitBreach, rules};
use crate::okr::model::EntityKind;

impl<'a> Checker<'a> {
    /// Limits per objective per team and per owner per period. The KRs past
    /// the limit, in set order, are the ones at fault.
    pub(super) fn kr_limits(&mut self) {
        let set = self.set;
        let mut by_objective_team: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        let mut by_owner_period: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, kr) in set.key_results.iter().enumerate() {
            if !counts_against_limits(kr) {
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
        let ids = |group: &[usize]| -> Vec<String> {
            group
                .iter()
                .map(|&i| set.key_results[i].id.clone())
                .collect()
        };
        let limit = self.ctx.limits.max_krs_per_objective_per_team;
        for ((objective, team), group) in &by_objective_team {
            if group.len() > limit {
                let counted = ids(group);
                let msg = format!(
                    "team `{team}` has {} key results on objective `{objective}` ({}); the limit is \
                     {limit} per objective per team, so drop or merge some",
                    group.len(),
                    counted.join(", ")
                );
                self.rule = rules::MAX_KRS_PER_OBJECTIVE_PER_TEAM;
                self.breach(&group[limit..], msg, limit, counted);
            }
        }
        let limit = self.ctx.limits.max_krs_per_owner_per_period;
        for ((owner, period), group) in &by_owner_period {
            if group.len() > limit {
                let counted = ids(group);
                let msg = format!(
                    "owner `{owner}` has {} key results in period `{period}` ({}); the limit is \
                     {limit} per owner per period, so hand some over or drop some",
                    group.len(),
                    counted.join(", ")
                );
                self.rule = rules::MAX_KRS_PER_OWNER_PER_PERIOD;
                self.breach(&group[limit..], msg, limit, counted);
            }
        }
    }

    /// Reports the KRs at `over` (set indices) as past `limit`.
    fn breach(&mut self, over: &[usize], msg: String, limit: usize, counted: Vec<String>) {
        for &i in over {
            self.error(EntityKind::KeyResult, i, None, msg.clone());
            if let Some(f) = self.out.last_mut() {
                f.limit = Some(LimitBreach {
                    limit,
                    key_results: counted.clone(),
                });
            }
        }
    }
}

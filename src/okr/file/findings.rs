//! Turning [`validate::check`](crate::okr::validate::check)'s findings into
//! `file:line` problems, and leaving out those about entities already
//! reported broken.

use std::collections::BTreeSet;

use super::{FileProblem, Locations};
use crate::okr::model::{EntityKind, OkrSet};
use crate::okr::validate::Finding;

/// Places a finding at the line of its field, else of its entity.
pub(super) fn problem_from_finding(finding: &Finding, locations: &Locations) -> FileProblem {
    let (kind, _) = finding.entity;
    let at = finding
        .field
        .and_then(|f| locations.field_at(kind, finding.index, f))
        .or_else(|| locations.at(kind, finding.index));
    let mut message = finding.message.clone();
    if let Some(first) = finding.duplicate_of.and_then(|i| locations.at(kind, i)) {
        message.push_str(&format!(" (first declared at {first})"));
    }
    FileProblem {
        file: at.map(|l| l.file.clone()).unwrap_or_default(),
        line: at.map(|l| l.line).unwrap_or(0),
        message,
        severity: finding.severity,
    }
}

/// Whether a finding is about a reference to an entity that was declared but
/// left out for its own problems (already reported): "does not exist" would be wrong.
pub(super) fn refers_to_broken(
    set: &OkrSet,
    finding: &Finding,
    broken: &BTreeSet<(EntityKind, String)>,
) -> bool {
    let i = finding.index;
    let target = match (finding.entity.0, finding.field) {
        (EntityKind::Team, Some("parent")) => set
            .teams
            .get(i)
            .and_then(|t| t.parent.clone())
            .map(|p| (EntityKind::Team, p)),
        (EntityKind::Objective, Some("period")) => set
            .objectives
            .get(i)
            .map(|o| (EntityKind::Period, o.period.clone())),
        (EntityKind::Objective, Some("team")) => set
            .objectives
            .get(i)
            .map(|o| (EntityKind::Team, o.team.clone())),
        (EntityKind::Objective, Some("parent")) => set
            .objectives
            .get(i)
            .and_then(|o| o.parent.clone())
            .map(|p| (EntityKind::Objective, p)),
        (EntityKind::KeyResult, Some("objective")) => set
            .key_results
            .get(i)
            .map(|k| (EntityKind::Objective, k.objective.clone())),
        (EntityKind::KeyResult, Some("team")) => set
            .key_results
            .get(i)
            .map(|k| (EntityKind::Team, k.team.clone())),
        (EntityKind::KeyResult, Some("parent")) => set
            .key_results
            .get(i)
            .and_then(|k| k.parent.clone())
            .map(|p| (EntityKind::KeyResult, p)),
        _ => None,
    };
    target.is_some_and(|t| broken.contains(&t))
}

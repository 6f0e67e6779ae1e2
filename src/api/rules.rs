//! The OKR rules (`okr::validate`) applied to one write: the stored model with the
//! changed entity (put last in its list, so a limit it pushes past is
//! reported on it) is checked as a whole. What blocks the write: errors on
//! the entity itself, and errors the change causes elsewhere (a cycle it
//! closes). Warnings on it, or on the objective and team of a KR, go back
//! to the client.

use std::collections::HashSet;

use super::error::{Violation, Warning};
use crate::okr::validate::{self, Finding, Severity, rules};
use crate::okr::{EntityKind, KeyResult, Objective, OkrSet, Period, Team};
use crate::reload::RuleContext;
use crate::store::Current;

/// The entity a write creates or changes, as it will be stored.
pub enum Subject<'a> {
    Period(&'a Period),
    Team(&'a Team),
    Objective(&'a Objective),
    KeyResult(&'a KeyResult),
}

/// How much of the rule book a write must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Drafts and plain edits: values, references, unique ids, no cycles.
    /// What the OKR practice asks of a KR (a measurable target, the
    /// limits) waits until it is proposed.
    Basic,
    /// Proposing and approving a KR, editing one past review, and every
    /// objective, team and period: every rule.
    Full,
}

const BASIC_RULES: [&str; 5] = [
    rules::VALID_VALUES,
    rules::UNIQUE_IDS,
    rules::REFERENCES,
    rules::NO_CYCLES,
    rules::PERIOD_RANGE,
];

#[derive(Debug, Default)]
pub struct RuleCheck {
    pub violations: Vec<Violation>,
    pub warnings: Vec<Warning>,
}

pub fn check(current: &Current, subject: Subject<'_>, ctx: &RuleContext, gate: Gate) -> RuleCheck {
    let before = current.clone().into_set();
    let mut after = before.clone();
    let (kind, id, related) = match subject {
        Subject::Period(p) => {
            after.periods.retain(|x| x.id != p.id);
            after.periods.push(p.clone());
            (EntityKind::Period, &p.id, vec![])
        }
        Subject::Team(t) => {
            after.teams.retain(|x| x.id != t.id);
            after.teams.push(t.clone());
            (EntityKind::Team, &t.id, vec![])
        }
        Subject::Objective(o) => {
            after.objectives.retain(|x| x.id != o.id);
            after.objectives.push(o.clone());
            (
                EntityKind::Objective,
                &o.id,
                vec![(EntityKind::Team, o.team.clone())],
            )
        }
        Subject::KeyResult(k) => {
            after.key_results.retain(|x| x.id != k.id);
            after.key_results.push(k.clone());
            let related = vec![
                (EntityKind::Objective, k.objective.clone()),
                (EntityKind::Team, k.team.clone()),
            ];
            (EntityKind::KeyResult, &k.id, related)
        }
    };
    let subject = (kind, id.clone());
    let found_before = findings(&before, ctx);
    let known: HashSet<(&'static str, &(EntityKind, String), &str)> = found_before
        .iter()
        .map(|f| (f.rule, &f.entity, f.message.as_str()))
        .collect();
    let mut out = RuleCheck::default();
    for f in findings(&after, ctx) {
        let on_subject = f.entity == subject;
        let caused = !known.contains(&(f.rule, &f.entity, f.message.as_str()));
        match f.severity {
            Severity::Error => {
                let blocks = if on_subject {
                    gate == Gate::Full || BASIC_RULES.contains(&f.rule)
                } else {
                    caused
                };
                if blocks {
                    out.violations.push(violation(f));
                }
            }
            Severity::Warning => {
                if on_subject || related.contains(&f.entity) {
                    out.warnings.push(warning(f));
                }
            }
        }
    }
    out
}

fn findings(set: &OkrSet, ctx: &RuleContext) -> Vec<Finding> {
    ctx.with(|ctx| validate::check(set, ctx))
}

fn violation(f: Finding) -> Violation {
    Violation {
        rule: f.rule.to_string(),
        field: f.field.map(str::to_string),
        message: f.message,
        limit: f.limit.as_ref().map(|l| l.limit),
        key_results: f.limit.map(|l| l.key_results),
    }
}

fn warning(f: Finding) -> Warning {
    Warning {
        rule: f.rule.to_string(),
        entity: format!("{}/{}", f.entity.0.as_str(), f.entity.1),
        message: f.message,
    }
}

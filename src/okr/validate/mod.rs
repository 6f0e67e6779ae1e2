//! The semantic rules of OKRs (README "OKR files") over a whole [`OkrSet`].
//!
//! Independent of files: OKR files call [`check`] on the union of what they
//! declare, the REST API on the store's set plus the proposed change. Each
//! [`Finding`] names the entity (kind, id and position in its list) and, when
//! one field is at fault, that field, so callers can point at a line or a
//! JSON member. Types and syntax are the caller's business; values (ids,
//! finite numbers, weights, dates) are checked here so every entry point
//! shares them.

mod cycles;
mod limits;
mod per_kind;
mod references;
mod sustain;
mod team_support;
mod values;

use std::collections::{BTreeSet, HashMap};

use super::model::{EntityKind, KeyResult, Objective, OkrSet, WorkflowState};

#[cfg(test)]
use cycles::find_cycles;
pub use sustain::MAX_SUSTAIN_WINDOWS;
pub use values::{MAX_YEAR, MIN_YEAR};

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// Limits from the OKR practice (README "Config file"); the defaults are 5 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_krs_per_objective_per_team: usize,
    pub max_krs_per_owner_per_period: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_krs_per_objective_per_team: 5,
            max_krs_per_owner_per_period: 5,
        }
    }
}

/// Validates a cron schedule: `Err` says why it is not valid.
pub type ScheduleCheck = dyn Fn(&str) -> Result<(), String> + Sync;

/// What the rules need to know beyond the set itself.
#[derive(Default, Clone, Copy)]
pub struct CheckContext<'a> {
    pub limits: Limits,
    /// Names of the configured `[[sources]]`; `None` skips the `source.use` check.
    pub known_sources: Option<&'a BTreeSet<String>>,
    /// Validates a KR's `source.schedule`; `None` skips the check.
    pub check_schedule: Option<&'a ScheduleCheck>,
}

impl std::fmt::Debug for CheckContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckContext")
            .field("limits", &self.limits)
            .field("known_sources", &self.known_sources)
            .field("check_schedule", &self.check_schedule.map(|_| "fn"))
            .finish()
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The entity at fault.
    pub entity: (EntityKind, String),
    /// Its position in the set's list of that kind: tells apart entities that share an id.
    pub index: usize,
    /// The field at fault, when there is one (`source.use` and `source.schedule`
    /// for the parts of a KR's source).
    pub field: Option<&'static str>,
    pub message: String,
    pub severity: Severity,
    /// For a duplicate id: the index of the first entity of that kind with the id.
    pub duplicate_of: Option<usize>,
    /// Which rule this is (see [`rules`]), so callers can tell them apart.
    pub rule: &'static str,
    /// For the limits: the limit and the KRs that count against it.
    pub limit: Option<LimitBreach>,
}

/// A limit of the OKR practice exceeded.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBreach {
    pub limit: usize,
    /// The KRs that count against it, in set order.
    pub key_results: Vec<String>,
}

/// The names of the rules, as [`Finding::rule`] gives them.
pub mod rules {
    /// Ids well-formed; required texts, finite numbers, positive weights;
    /// a sustain rule that fits its period; a guard's own values.
    pub const VALID_VALUES: &str = "valid_values";
    pub const UNIQUE_IDS: &str = "unique_ids";
    /// Periods, teams, objectives, parents and sources referred to exist.
    pub const REFERENCES: &str = "references";
    pub const PERIOD_RANGE: &str = "period_range";
    /// Warning: objectives are qualitative.
    pub const QUALITATIVE_OBJECTIVE: &str = "qualitative_objective";
    /// A measurable target: start ≠ target, a target to hold, a due date for milestones.
    pub const MEASURABLE_TARGET: &str = "measurable_target";
    /// A KR's due date, parent, rollup and schedule fit.
    pub const KEY_RESULT_LINKS: &str = "key_result_links";
    pub const NO_CYCLES: &str = "no_cycles";
    pub const MAX_KRS_PER_OBJECTIVE_PER_TEAM: &str = "max_krs_per_objective_per_team";
    pub const MAX_KRS_PER_OWNER_PER_PERIOD: &str = "max_krs_per_owner_per_period";
    /// Warning: a team that supports no objective in a period.
    pub const TEAM_SUPPORT: &str = "team_support";
}

/// Checks an id: non-empty, at most [`MAX_ID_LEN`] characters of `[A-Za-z0-9._-]`.
/// The error completes "id `x` is not valid: ...".
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".into());
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(format!("it is longer than {MAX_ID_LEN} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed; use only letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

/// The name people read for an entity kind.
pub fn kind_label(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Period => "period",
        EntityKind::Team => "team",
        EntityKind::Objective => "objective",
        EntityKind::KeyResult => "key result",
    }
}

/// The closest of `candidates` to `word` within edit distance 2, for "did you mean" hints.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Runs every rule over `set`; an empty result means the set is valid.
pub fn check(set: &OkrSet, ctx: &CheckContext) -> Vec<Finding> {
    let mut c = Checker::new(set, ctx);
    c.rule = rules::VALID_VALUES;
    c.ids_and_values();
    c.sustain_and_guard();
    c.rule = rules::UNIQUE_IDS;
    c.duplicates();
    c.rule = rules::REFERENCES;
    c.references();
    c.rule = rules::PERIOD_RANGE;
    c.periods();
    c.rule = rules::QUALITATIVE_OBJECTIVE;
    c.objectives();
    c.rule = rules::KEY_RESULT_LINKS;
    c.key_results();
    c.rule = rules::NO_CYCLES;
    c.cycles();
    c.kr_limits();
    c.rule = rules::TEAM_SUPPORT;
    c.team_support();
    c.out
}

/// Whether a KR counts as support for an objective: it is not archived or rejected.
fn counts(kr: &KeyResult) -> bool {
    !matches!(kr.state, WorkflowState::Archived | WorkflowState::Rejected)
}

/// Whether a KR counts against the limits: it was put forward (proposed,
/// approved or sent back for changes). A team's drafts are its own
/// business until one is proposed.
fn counts_against_limits(kr: &KeyResult) -> bool {
    counts(kr) && kr.state != WorkflowState::Draft
}

struct Checker<'a> {
    set: &'a OkrSet,
    ctx: &'a CheckContext<'a>,
    /// First index of each id, per kind: references resolve to the first declaration.
    periods: HashMap<&'a str, usize>,
    teams: HashMap<&'a str, usize>,
    objectives: HashMap<&'a str, usize>,
    krs: HashMap<&'a str, usize>,
    /// The rule the running check reports under.
    rule: &'static str,
    out: Vec<Finding>,
}

impl<'a> Checker<'a> {
    fn new(set: &'a OkrSet, ctx: &'a CheckContext<'a>) -> Self {
        fn first_index<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
            let mut map = HashMap::new();
            for (i, id) in ids.enumerate() {
                map.entry(id).or_insert(i);
            }
            map
        }
        Checker {
            set,
            ctx,
            periods: first_index(set.periods.iter().map(|p| p.id.as_str())),
            teams: first_index(set.teams.iter().map(|t| t.id.as_str())),
            objectives: first_index(set.objectives.iter().map(|o| o.id.as_str())),
            krs: first_index(set.key_results.iter().map(|k| k.id.as_str())),
            rule: "",
            out: Vec::new(),
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        kind: EntityKind,
        index: usize,
        field: Option<&'static str>,
        message: String,
    ) {
        let id = match kind {
            EntityKind::Period => &self.set.periods[index].id,
            EntityKind::Team => &self.set.teams[index].id,
            EntityKind::Objective => &self.set.objectives[index].id,
            EntityKind::KeyResult => &self.set.key_results[index].id,
        };
        self.out.push(Finding {
            entity: (kind, id.clone()),
            index,
            field,
            message,
            severity,
            duplicate_of: None,
            rule: self.rule,
            limit: None,
        });
    }

    fn error(&mut self, kind: EntityKind, index: usize, field: Option<&'static str>, msg: String) {
        self.push(Severity::Error, kind, index, field, msg);
    }

    fn warn(&mut self, kind: EntityKind, index: usize, field: Option<&'static str>, msg: String) {
        self.push(Severity::Warning, kind, index, field, msg);
    }

    fn objective_of(&self, kr: &KeyResult) -> Option<&'a Objective> {
        self.objectives
            .get(kr.objective.as_str())
            .map(|&i| &self.set.objectives[i])
    }

    /// The period id a KR belongs to, through its objective.
    fn period_of(&self, kr: &KeyResult) -> Option<&'a str> {
        self.objective_of(kr).map(|o| o.period.as_str())
    }
}

#[cfg(test)]
mod tests;

//! The semantic rules of OKRs (DESIGN §1) over a whole [`OkrSet`].
//!
//! Independent of files: OKR files call [`check`] on the union of what they
//! declare, the REST API on the store's set plus the proposed change. Each
//! [`Finding`] names the entity (kind, id and position in its list) and, when
//! one field is at fault, that field, so callers can point at a line or a
//! JSON member. Types and syntax are the caller's business; values (ids,
//! finite numbers, weights, dates) are checked here so every entry point
//! shares them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use super::model::{EntityKind, KeyResult, KrKind, Objective, OkrSet, WorkflowState};

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// Limits from the OKR practice (DESIGN §1); the defaults are 5 and 5.
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
    c.ids_and_values();
    c.duplicates();
    c.references();
    c.periods();
    c.objectives();
    c.key_results();
    c.cycles();
    c.kr_limits();
    c.team_support();
    c.out
}

/// Whether a KR counts against the limits and as support for an objective.
fn counts(kr: &KeyResult) -> bool {
    !matches!(kr.state, WorkflowState::Archived | WorkflowState::Rejected)
}

struct Checker<'a> {
    set: &'a OkrSet,
    ctx: &'a CheckContext<'a>,
    /// First index of each id, per kind: references resolve to the first declaration.
    periods: HashMap<&'a str, usize>,
    teams: HashMap<&'a str, usize>,
    objectives: HashMap<&'a str, usize>,
    krs: HashMap<&'a str, usize>,
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

    /// Ids well-formed, required texts non-empty, numbers finite, weights positive.
    fn ids_and_values(&mut self) {
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
    fn duplicates(&mut self) {
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
                        });
                    }
                }
            }
        }
    }

    /// A message for a reference to an id that no entity has, with a hint when one is close.
    fn unknown(what: &str, id: &str, known: &HashMap<&str, usize>) -> String {
        let mut candidates: Vec<&str> = known.keys().copied().collect();
        candidates.sort_unstable();
        match closest(id, candidates) {
            Some(c) => format!("{what} `{id}` does not exist; did you mean `{c}`?"),
            None => format!("{what} `{id}` does not exist; declare it or fix the id"),
        }
    }

    fn references(&mut self) {
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

    fn periods(&mut self) {
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

    fn objectives(&mut self) {
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
    fn key_results(&mut self) {
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
                KrKind::AtLeast | KrKind::AtMost => {
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
                if kr.source.is_some() {
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
                let msg = format!("key result `{id}` has an invalid schedule `{schedule}`: {why}");
                self.error(kind, i, Some("source.schedule"), msg);
            }
        }
    }

    /// Parent links that loop, per kind; each cycle once, at its first member in list order.
    fn cycles(&mut self) {
        let set = self.set;
        let teams: Vec<Option<usize>> = set
            .teams
            .iter()
            .map(|t| t.parent.as_deref().and_then(|p| self.teams.get(p).copied()))
            .collect();
        let objectives: Vec<Option<usize>> = set
            .objectives
            .iter()
            .map(|o| {
                o.parent
                    .as_deref()
                    .and_then(|p| self.objectives.get(p).copied())
            })
            .collect();
        let krs: Vec<Option<usize>> = set
            .key_results
            .iter()
            .map(|k| k.parent.as_deref().and_then(|p| self.krs.get(p).copied()))
            .collect();
        for (kind, parents) in [
            (EntityKind::Team, teams),
            (EntityKind::Objective, objectives),
            (EntityKind::KeyResult, krs),
        ] {
            for cycle in find_cycles(&parents) {
                let id_of = |i: usize| -> &str {
                    match kind {
                        EntityKind::Team => &set.teams[i].id,
                        EntityKind::Objective => &set.objectives[i].id,
                        _ => &set.key_results[i].id,
                    }
                };
                let label = kind_label(kind);
                let first = cycle[0];
                let msg = if cycle.len() == 1 {
                    format!(
                        "{label} `{}` is its own parent; remove `parent` or name another {label}",
                        id_of(first)
                    )
                } else {
                    let path: Vec<&str> = cycle.iter().chain([&first]).map(|&i| id_of(i)).collect();
                    format!(
                        "{label} parents form a cycle: {}; remove one of these `parent` links",
                        path.join(" → ")
                    )
                };
                self.error(kind, first, Some("parent"), msg);
            }
        }
    }

    /// Limits per objective per team and per owner per period, counting live KRs only.
    fn kr_limits(&mut self) {
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
    fn team_support(&mut self) {
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

/// Cycles in a parent forest given as `parents[i] = Some(parent index)`.
/// Each cycle is listed once, starting at its member with the lowest index,
/// in parent order.
fn find_cycles(parents: &[Option<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; parents.len()];
    let mut cycles = Vec::new();
    for start in 0..parents.len() {
        let mut path = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match marks[i] {
                Mark::Done => break,
                Mark::OnPath => {
                    let pos = path.iter().position(|&p| p == i).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[pos..].to_vec();
                    let min_at = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| **v)
                        .map(|(at, _)| at)
                        .unwrap_or(0);
                    cycle.rotate_left(min_at);
                    cycles.push(cycle);
                    break;
                }
                Mark::New => {
                    marks[i] = Mark::OnPath;
                    path.push(i);
                    cur = parents[i];
                }
            }
        }
        for i in path {
            marks[i] = Mark::Done;
        }
    }
    cycles.sort_by_key(|c| c[0]);
    cycles
}

#[cfg(test)]
mod tests;

//! Planning an apply, without writing: the OKR set compared with what is
//! stored, field by field, into the rows to write and the changes to report.

use std::collections::{BTreeSet, HashSet};

use super::{ApplyPlan, Change, Write};
use crate::okr::{EntityKind, Id, OkrSet, Ownership, WorkflowState};
use crate::store::StoreError;
use crate::store::codec::finite;
use crate::store::okrs::{Current, Stored};

/// The files named in `ownership`.
pub(super) fn files_of(ownership: &Ownership) -> Vec<String> {
    let files: HashSet<&String> = ownership.values().collect();
    files.into_iter().cloned().collect()
}

/// Compares the set with what is stored. Pure: `now` stamps new archivals.
/// The rows to write borrow from the set and what is stored.
pub(super) fn plan<'a>(
    current: &'a Current,
    set: &'a OkrSet,
    ownership: &'a Ownership,
    files: &[String],
    now: i64,
) -> Result<(ApplyPlan, Vec<Write<'a>>), StoreError> {
    let mut plan = ApplyPlan::default();
    let mut writes = Vec::new();
    let owner =
        |kind: EntityKind, id: &str| ownership.get(&(kind, id.to_string())).map(String::as_str);

    for p in sorted_unique(&set.periods, |p| &p.id, EntityKind::Period)? {
        let managed_by = owner(EntityKind::Period, &p.id);
        let fields = current.periods.get(&p.id).map(|cur| {
            let mut f = Fields::default();
            f.check("start", cur.item.start != p.start);
            f.check("end", cur.item.end != p.end);
            f.managed_by(cur, &managed_by);
            f.0
        });
        if record(&mut plan, EntityKind::Period, &p.id, fields) {
            writes.push(Write::Period(p, managed_by));
        }
    }

    for t in sorted_unique(&set.teams, |t| &t.id, EntityKind::Team)? {
        let managed_by = owner(EntityKind::Team, &t.id);
        let fields = current.teams.get(&t.id).map(|cur| {
            let mut f = Fields::default();
            f.check("name", cur.item.name != t.name);
            f.check("parent", cur.item.parent != t.parent);
            f.managed_by(cur, &managed_by);
            f.0
        });
        if record(&mut plan, EntityKind::Team, &t.id, fields) {
            writes.push(Write::Team(t, managed_by));
        }
    }

    for o in sorted_unique(&set.objectives, |o| &o.id, EntityKind::Objective)? {
        let managed_by = owner(EntityKind::Objective, &o.id);
        let fields = current.objectives.get(&o.id).map(|cur| {
            let c = &cur.item;
            let mut f = Fields::default();
            f.check("title", c.title != o.title);
            f.check("description", c.description != o.description);
            f.check("period", c.period != o.period);
            f.check("team", c.team != o.team);
            f.check("parent", c.parent != o.parent);
            f.check("archived", c.archived != o.archived);
            f.managed_by(cur, &managed_by);
            f.0
        });
        if record(&mut plan, EntityKind::Objective, &o.id, fields) {
            let archived_at = o.archived.then(|| {
                current
                    .objective_archived_at
                    .get(&o.id)
                    .copied()
                    .unwrap_or(now)
            });
            writes.push(Write::Objective(o, managed_by, archived_at));
        }
    }

    for k in sorted_unique(&set.key_results, |k| &k.id, EntityKind::KeyResult)? {
        for (what, v) in [
            ("start", k.start),
            ("target", k.target),
            ("weight", Some(k.weight)),
            ("guard.min", k.guard.and_then(|g| g.min)),
            ("guard.max", k.guard.and_then(|g| g.max)),
            ("guard.max_change", k.guard.and_then(|g| g.max_change)),
        ] {
            if let Some(v) = v {
                finite(what, &k.id, v)?;
            }
        }
        // KRs applied from a file are approved: the file is the review.
        let state = WorkflowState::Approved;
        let managed_by = owner(EntityKind::KeyResult, &k.id);
        let fields = current.key_results.get(&k.id).map(|cur| {
            let c = &cur.item;
            let mut f = Fields::default();
            f.check("objective", c.objective != k.objective);
            f.check("team", c.team != k.team);
            f.check("owner", c.owner != k.owner);
            f.check("title", c.title != k.title);
            f.check("description", c.description != k.description);
            f.check("kind", c.kind != k.kind);
            f.check("start", c.start != k.start);
            f.check("target", c.target != k.target);
            f.check("due", c.due != k.due);
            f.check("unit", c.unit != k.unit);
            f.check("weight", c.weight != k.weight);
            f.check("parent", c.parent != k.parent);
            f.check("rollup", c.rollup != k.rollup);
            f.check("source", c.source != k.source);
            f.check("sustain", c.sustain != k.sustain);
            f.check("guard", c.guard != k.guard);
            f.check("state", c.state != state);
            f.managed_by(cur, &managed_by);
            f.0
        });
        if record(&mut plan, EntityKind::KeyResult, &k.id, fields) {
            writes.push(Write::KeyResult(k, state, managed_by));
        }
    }

    // Archive what the applied files used to manage and no longer declare.
    let files: HashSet<&str> = files.iter().map(String::as_str).collect();
    let managed_by_applied = |m: &Option<String>| m.as_deref().is_some_and(|f| files.contains(f));
    let declared_objectives: HashSet<&str> = set.objectives.iter().map(|o| o.id.as_str()).collect();
    for (id, cur) in &current.objectives {
        if !cur.item.archived
            && managed_by_applied(&cur.meta.managed_by)
            && !declared_objectives.contains(id.as_str())
        {
            plan.archived
                .push(change(EntityKind::Objective, id, vec![]));
            writes.push(Write::ArchiveObjective(id));
        }
    }
    let declared_krs: HashSet<&str> = set.key_results.iter().map(|k| k.id.as_str()).collect();
    for (id, cur) in &current.key_results {
        if cur.item.state != WorkflowState::Archived
            && managed_by_applied(&cur.meta.managed_by)
            && !declared_krs.contains(id.as_str())
        {
            plan.archived
                .push(change(EntityKind::KeyResult, id, vec![]));
            writes.push(Write::ArchiveKeyResult(id));
        }
    }

    Ok((plan, writes))
}

/// Names of differing fields.
#[derive(Default)]
struct Fields(Vec<String>);

impl Fields {
    fn check(&mut self, name: &str, differs: bool) {
        if differs {
            self.0.push(name.to_string());
        }
    }

    fn managed_by<T>(&mut self, cur: &Stored<T>, new: &Option<&str>) {
        self.check("managed_by", cur.meta.managed_by.as_deref() != *new);
    }
}

/// Adds the entity to the plan; true when it needs writing.
/// `fields`: `None` when not stored yet, else the differing fields.
pub(super) fn record(
    plan: &mut ApplyPlan,
    kind: EntityKind,
    id: &str,
    fields: Option<Vec<String>>,
) -> bool {
    match fields {
        None => plan.created.push(change(kind, id, vec![])),
        Some(f) if f.is_empty() => {
            plan.unchanged += 1;
            return false;
        }
        Some(f) => plan.changed.push(change(kind, id, f)),
    }
    true
}

pub(super) fn change(kind: EntityKind, id: &str, fields: Vec<String>) -> Change {
    Change {
        kind,
        id: id.to_string(),
        fields,
    }
}

/// The entities ordered by id; a duplicate id is refused (one row per id).
pub(super) fn sorted_unique<T>(
    items: &[T],
    id: fn(&T) -> &Id,
    kind: EntityKind,
) -> Result<Vec<&T>, StoreError> {
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(id(item)) {
            return Err(StoreError::Invalid(format!(
                "{} {:?} is declared more than once",
                kind.as_str(),
                id(item)
            )));
        }
    }
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| id(a).cmp(id(b)));
    Ok(sorted)
}

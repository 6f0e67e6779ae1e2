//! The audit record of each row an apply writes: by the file that declares
//! (or declared) the entity, with the entity before and after as JSON.

use serde::Serialize;

use super::write::Write;
use crate::okr::{EntityKind, KeyResult, Objective, WorkflowState};
use crate::store::audit::AuditRow;
use crate::store::okrs::{Current, Stored};

fn json<T: Serialize>(t: &T) -> String {
    serde_json::to_string(t).unwrap_or_default()
}

fn row<T: Serialize>(
    kind: EntityKind,
    id: &str,
    before: Option<&Stored<T>>,
    after: Option<String>,
    file: Option<&str>,
) -> AuditRow {
    let verb = match (&before, &after) {
        (None, _) => "create",
        (Some(_), None) => "archive",
        (Some(_), Some(_)) => "update",
    };
    AuditRow {
        actor: format!("okrd apply {}", file.unwrap_or("(no file)")),
        action: format!("{}.{verb}", kind.as_str()),
        entity_kind: kind.as_str(),
        entity_id: id.to_string(),
        before: before.map(|b| json(&b.item)),
        after,
    }
}

impl Write<'_> {
    /// The audit record of this write, against the model before the apply.
    pub(super) fn audit(&self, current: &Current) -> AuditRow {
        match self {
            Write::Period(p, file) => row(
                EntityKind::Period,
                &p.id,
                current.periods.get(&p.id),
                Some(json(p)),
                *file,
            ),
            Write::Team(t, file) => row(
                EntityKind::Team,
                &t.id,
                current.teams.get(&t.id),
                Some(json(t)),
                *file,
            ),
            Write::Objective(o, file, _) => row(
                EntityKind::Objective,
                &o.id,
                current.objectives.get(&o.id),
                Some(json(o)),
                *file,
            ),
            Write::KeyResult(k, state, file) => {
                // A copy only when the stored state differs from the set's.
                let after = if k.state == *state {
                    json(k)
                } else {
                    json(&KeyResult {
                        state: *state,
                        ..KeyResult::clone(k)
                    })
                };
                let before = current.key_results.get(&k.id);
                row(EntityKind::KeyResult, &k.id, before, Some(after), *file)
            }
            Write::ArchiveObjective(id) => {
                let before = current.objectives.get(*id);
                let after = before.map(|b| {
                    json(&Objective {
                        archived: true,
                        ..b.item.clone()
                    })
                });
                archival(EntityKind::Objective, id, before, after)
            }
            Write::ArchiveKeyResult(id) => {
                let before = current.key_results.get(*id);
                let after = before.map(|b| {
                    json(&KeyResult {
                        state: WorkflowState::Archived,
                        ..b.item.clone()
                    })
                });
                archival(EntityKind::KeyResult, id, before, after)
            }
        }
    }
}

/// An archival is recorded as by the file that managed the entity.
fn archival<T: Serialize>(
    kind: EntityKind,
    id: &str,
    before: Option<&Stored<T>>,
    after: Option<String>,
) -> AuditRow {
    let file = before.and_then(|b| b.meta.managed_by.as_deref());
    let mut r = row(kind, id, before, None, file);
    r.after = after;
    r
}

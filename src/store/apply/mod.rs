//! OKRs-as-code: what applying OKR files would change (`plan_apply`) and
//! doing it in one transaction (`apply`).
//!
//! Entities in the set are upserted and marked as managed by their file; KRs
//! become `approved`. Objectives and KRs that one of the applied files used
//! to manage but that are no longer in the set are archived, never deleted
//! (their check-ins stay). Teams and periods are never archived or deleted.

use serde::Serialize;
use sqlx::AnyConnection;

use super::audit::{AuditEntry, insert_audit};
use super::codec::{date_text, now_ms};
use super::okrs::{Current, EntityMeta, Stored, load_current};
use super::version::bump_revision;
use super::{Backend, Store, StoreError};
mod plan;

use plan::{files_of, plan};

use crate::okr::{
    EntityKind, Id, KeyResult, Objective, OkrSet, Ownership, Period, Team, WorkflowState,
};

/// What an apply does (or did). Every list is ordered by kind, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyPlan {
    pub created: Vec<Change>,
    pub changed: Vec<Change>,
    pub archived: Vec<Change>,
    /// Entities of the set that are already stored exactly as declared.
    pub unchanged: usize,
}

impl ApplyPlan {
    /// True when applying would write nothing.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.changed.is_empty() && self.archived.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: EntityKind,
    pub id: String,
    /// For `changed`: the model field names that differ (e.g. `title`,
    /// `target`, `source`, `state`, `managed_by`). Empty for created/archived.
    pub fields: Vec<String>,
}

/// Serialises writers of the OKR model (applies from replicas starting
/// together, API writes on any replica): an arbitrary constant key for
/// `pg_advisory_xact_lock`.
const MODEL_LOCK_KEY: i64 = 0x6f6b_7264_6170; // "okrdap"

impl Store {
    /// A transaction holding the model write lock, so that what it reads
    /// stays true until it commits: SQLite's write lock, taken up front (a
    /// deferred transaction that reads first and then writes fails with
    /// SQLITE_BUSY instead of waiting when another writer got in between),
    /// or PostgreSQL's advisory lock shared by every replica.
    pub(super) async fn begin_model_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // Selects a column so the Any driver never sees the `void` result.
                sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                    .bind(MODEL_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        })
    }

    /// What applying these OKR files would do, without writing.
    pub async fn plan_apply(
        &self,
        set: &OkrSet,
        ownership: &Ownership,
    ) -> Result<ApplyPlan, StoreError> {
        self.plan_apply_files(set, ownership, &files_of(ownership))
            .await
    }

    /// `plan_apply` naming every applied file, also those that now declare
    /// nothing (what they managed gets archived).
    pub async fn plan_apply_files(
        &self,
        set: &OkrSet,
        ownership: &Ownership,
        files: &[String],
    ) -> Result<ApplyPlan, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let current = load_current(&mut conn).await?;
        Ok(plan(&current, set, ownership, files, now_ms())?.0)
    }

    /// Applies in one transaction: all or nothing. Idempotent: applying the
    /// same set again yields (and writes) an empty plan. Returns the plan it
    /// executed.
    ///
    /// Each entity's `managed_by` becomes its entry in `ownership` (none when
    /// absent); the files named in `ownership` decide what gets archived.
    /// Concurrent applies serialise (SQLite write lock, PostgreSQL advisory
    /// lock), each planning against what the previous one committed.
    pub async fn apply(
        &self,
        set: &OkrSet,
        ownership: &Ownership,
    ) -> Result<ApplyPlan, StoreError> {
        self.apply_files(set, ownership, &files_of(ownership)).await
    }

    /// `apply` naming every applied file, also those that now declare
    /// nothing (what they managed gets archived).
    pub async fn apply_files(
        &self,
        set: &OkrSet,
        ownership: &Ownership,
        files: &[String],
    ) -> Result<ApplyPlan, StoreError> {
        let mut tx = self.begin_model_write().await?;
        let now = now_ms();
        let current = load_current(&mut tx).await?;
        let (plan, writes) = plan(&current, set, ownership, files, now)?;
        for write in &writes {
            write.execute(&mut tx, now).await?;
            insert_audit(&mut tx, &write.audit(&current), now).await?;
        }
        if !writes.is_empty() {
            bump_revision(&mut tx).await?;
        }
        // Foreign keys are deferred: a dangling reference fails here, and the
        // dropped transaction rolls everything back.
        tx.commit().await?;
        Ok(plan)
    }
}

/// One row to write.
pub(super) enum Write {
    Period(Period, Option<String>),
    Team(Team, Option<String>),
    Objective(Objective, Option<String>, Option<i64>),
    // Boxed: a KR is several times the size of the other rows.
    KeyResult(Box<KeyResult>, Option<String>),
    ArchiveObjective(Id),
    ArchiveKeyResult(Id),
}

impl Write {
    /// The audit record of this write: by the file that declares (or
    /// declared) the entity, with the entity before and after.
    fn audit(&self, current: &Current) -> AuditEntry {
        fn json<T: Serialize>(t: &T) -> serde_json::Value {
            serde_json::to_value(t).unwrap_or_default()
        }
        fn entry<T: Serialize>(
            kind: EntityKind,
            id: &str,
            before: Option<&Stored<T>>,
            after: Option<serde_json::Value>,
            file: Option<&str>,
        ) -> AuditEntry {
            let verb = match (&before, &after) {
                (None, _) => "create",
                (Some(_), None) => "archive",
                (Some(_), Some(_)) => "update",
            };
            AuditEntry {
                actor: format!("okrd apply {}", file.unwrap_or("(no file)")),
                action: format!("{}.{verb}", kind.as_str()),
                entity_kind: kind.as_str(),
                entity_id: id.to_string(),
                before: before.map(|b| json(&b.item)),
                after,
            }
        }
        let was = |m: Option<&EntityMeta>| m.and_then(|m| m.managed_by.clone());
        match self {
            Write::Period(p, file) => entry(
                EntityKind::Period,
                &p.id,
                current.periods.get(&p.id),
                Some(json(p)),
                file.as_deref(),
            ),
            Write::Team(t, file) => entry(
                EntityKind::Team,
                &t.id,
                current.teams.get(&t.id),
                Some(json(t)),
                file.as_deref(),
            ),
            Write::Objective(o, file, _) => entry(
                EntityKind::Objective,
                &o.id,
                current.objectives.get(&o.id),
                Some(json(o)),
                file.as_deref(),
            ),
            Write::KeyResult(k, file) => entry(
                EntityKind::KeyResult,
                &k.id,
                current.key_results.get(&k.id),
                Some(json(k)),
                file.as_deref(),
            ),
            Write::ArchiveObjective(id) => {
                let before = current.objectives.get(id);
                let mut e = entry(
                    EntityKind::Objective,
                    id,
                    before,
                    None,
                    was(before.map(|b| &b.meta)).as_deref(),
                );
                e.after = before.map(|b| {
                    json(&Objective {
                        archived: true,
                        ..b.item.clone()
                    })
                });
                e
            }
            Write::ArchiveKeyResult(id) => {
                let before = current.key_results.get(id);
                let mut e = entry(
                    EntityKind::KeyResult,
                    id,
                    before,
                    None,
                    was(before.map(|b| &b.meta)).as_deref(),
                );
                e.after = before.map(|b| {
                    json(&KeyResult {
                        state: WorkflowState::Archived,
                        ..b.item.clone()
                    })
                });
                e
            }
        }
    }

    pub(super) async fn execute(
        &self,
        conn: &mut AnyConnection,
        now: i64,
    ) -> Result<(), StoreError> {
        match self {
            Write::Period(p, managed_by) => {
                sqlx::query(
                    "INSERT INTO periods (id, start_date, end_date, managed_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (id) DO UPDATE SET start_date = excluded.start_date, \
                     end_date = excluded.end_date, managed_by = excluded.managed_by, \
                     updated_at = excluded.updated_at",
                )
                .bind(&p.id)
                .bind(date_text(p.start))
                .bind(date_text(p.end))
                .bind(managed_by)
                .bind(now)
                .execute(conn)
                .await?;
            }
            Write::Team(t, managed_by) => {
                sqlx::query(
                    "INSERT INTO teams (id, name, parent_id, managed_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     parent_id = excluded.parent_id, managed_by = excluded.managed_by, \
                     updated_at = excluded.updated_at",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(&t.parent)
                .bind(managed_by)
                .bind(now)
                .execute(conn)
                .await?;
            }
            Write::Objective(o, managed_by, archived_at) => {
                sqlx::query(
                    "INSERT INTO objectives (id, title, description, period_id, team_id, parent_id, \
                     archived_at, managed_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
                     description = excluded.description, period_id = excluded.period_id, \
                     team_id = excluded.team_id, parent_id = excluded.parent_id, \
                     archived_at = excluded.archived_at, managed_by = excluded.managed_by, \
                     updated_at = excluded.updated_at",
                )
                .bind(&o.id)
                .bind(&o.title)
                .bind(&o.description)
                .bind(&o.period)
                .bind(&o.team)
                .bind(&o.parent)
                .bind(archived_at)
                .bind(managed_by)
                .bind(now)
                .execute(conn)
                .await?;
            }
            Write::KeyResult(k, managed_by) => {
                let (source_name, source_schedule, source_params) = match &k.source {
                    None => (None, None, None),
                    Some(s) => (
                        Some(s.source.as_str()),
                        s.schedule.as_deref(),
                        Some(serde_json::Value::Object(s.params.clone()).to_string()),
                    ),
                };
                let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
                let sustain = json(k.sustain.map(|r| serde_json::json!(r)));
                let guard = json(k.guard.map(|g| serde_json::json!(g)));
                sqlx::query(
                    "INSERT INTO key_results (id, objective_id, team_id, owner, title, description, \
                     kind, start_value, target_value, due_date, unit, weight, parent_id, rollup, \
                     source_name, source_schedule, source_params, state, managed_by, created_at, \
                     updated_at, sustain, guard) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $18, $19, $20, $20, $21, $22) \
                     ON CONFLICT (id) DO UPDATE SET objective_id = excluded.objective_id, \
                     team_id = excluded.team_id, owner = excluded.owner, title = excluded.title, \
                     description = excluded.description, kind = excluded.kind, \
                     start_value = excluded.start_value, target_value = excluded.target_value, \
                     due_date = excluded.due_date, unit = excluded.unit, weight = excluded.weight, \
                     parent_id = excluded.parent_id, rollup = excluded.rollup, \
                     source_name = excluded.source_name, source_schedule = excluded.source_schedule, \
                     source_params = excluded.source_params, state = excluded.state, \
                     managed_by = excluded.managed_by, updated_at = excluded.updated_at, \
                     sustain = excluded.sustain, guard = excluded.guard",
                )
                .bind(&k.id)
                .bind(&k.objective)
                .bind(&k.team)
                .bind(&k.owner)
                .bind(&k.title)
                .bind(&k.description)
                .bind(k.kind.as_str())
                .bind(k.start)
                .bind(k.target)
                .bind(k.due.map(date_text))
                .bind(&k.unit)
                .bind(k.weight)
                .bind(&k.parent)
                .bind(k.rollup.map(|r| r.as_str()))
                .bind(source_name)
                .bind(source_schedule)
                .bind(source_params)
                .bind(k.state.as_str())
                .bind(managed_by)
                .bind(now)
                .bind(sustain)
                .bind(guard)
                // Binds nullable doubles: see `NULLABLE_DOUBLES` in mod.rs.
                .persistent(false)
                .execute(conn)
                .await?;
            }
            Write::ArchiveObjective(id) => {
                sqlx::query(
                    "UPDATE objectives SET archived_at = $2, updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(conn)
                .await?;
            }
            Write::ArchiveKeyResult(id) => {
                sqlx::query("UPDATE key_results SET state = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(WorkflowState::Archived.as_str())
                    .bind(now)
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    }
}

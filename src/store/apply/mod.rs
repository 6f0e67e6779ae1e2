//! OKRs-as-code: what applying OKR files would change (`plan_apply`) and
//! doing it in one transaction (`apply`).
//!
//! Entities in the set are upserted and marked as managed by their file; KRs
//! become `approved`. Objectives and KRs that one of the applied files used
//! to manage but that are no longer in the set are archived, never deleted
//! (their check-ins stay). Teams and periods are never archived or deleted.

use serde::Serialize;

use super::audit::insert_audit_rows;
use super::codec::now_ms;
use super::okrs::load_current;
use super::version::bump_revision;
use super::{Backend, Store, StoreError};
mod audited;
mod plan;
mod write;

use plan::{files_of, plan};
pub(super) use write::{Write, execute};

use crate::okr::{EntityKind, OkrSet, Ownership};

/// Rows written (and audited) per round: bounds the audit records held at once.
const ROUND: usize = 10_000;

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
        for round in writes.chunks(ROUND) {
            execute(&mut tx, self.backend, round, now).await?;
            let audit: Vec<_> = round.iter().map(|w| w.audit(&current)).collect();
            insert_audit_rows(&mut tx, self.backend, &audit, now).await?;
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

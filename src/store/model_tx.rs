//! Writes to the OKR model from the REST API: one transaction under the
//! model write lock (see `Store::begin_model_write`) that reads the whole
//! model, lets the caller check its rules against it, and writes the changed
//! rows together with their review and audit records. Nothing is visible
//! until `commit`; dropping a `ModelTx` rolls everything back.

use chrono::{DateTime, Utc};

use super::apply::{Write, execute};
use super::audit::{AuditEntry, insert_audit};
use super::codec::{finite, now_ms};
use super::okrs::{Current, EntityMeta, Stored, load_current};
use super::reviews::{NewReview, insert_review};
use super::version::bump_revision;
use super::{Backend, Store, StoreError};
use crate::okr::{KeyResult, Objective, Period, Team};

pub struct ModelTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    now: i64,
    current: Current,
}

impl Store {
    /// Starts a model write: takes the lock, then reads the model as it is now.
    pub async fn begin_model_tx(&self) -> Result<ModelTx, StoreError> {
        let mut tx = self.begin_model_write().await?;
        let current = load_current(&mut tx).await?;
        Ok(ModelTx {
            tx,
            backend: self.backend,
            now: now_ms(),
            current,
        })
    }
}

impl ModelTx {
    /// The model as read under the lock, with this transaction's writes.
    pub fn current(&self) -> &Current {
        &self.current
    }

    /// The instant every row of this transaction is stamped with.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now).unwrap_or_default()
    }

    pub async fn put_period(&mut self, p: &Period) -> Result<(), StoreError> {
        self.write(Write::Period(p, None)).await?;
        let meta = self.meta(self.current.periods.get(&p.id));
        self.current.periods.insert(p.id.clone(), stored(p, meta));
        Ok(())
    }

    pub async fn put_team(&mut self, t: &Team) -> Result<(), StoreError> {
        self.write(Write::Team(t, None)).await?;
        let meta = self.meta(self.current.teams.get(&t.id));
        self.current.teams.insert(t.id.clone(), stored(t, meta));
        Ok(())
    }

    /// An archived objective keeps the instant it was first archived.
    pub async fn put_objective(&mut self, o: &Objective) -> Result<(), StoreError> {
        let archived_at = o.archived.then(|| {
            self.current
                .objective_archived_at
                .get(&o.id)
                .copied()
                .unwrap_or(self.now)
        });
        self.write(Write::Objective(o, None, archived_at)).await?;
        match archived_at {
            Some(at) => self.current.objective_archived_at.insert(o.id.clone(), at),
            None => self.current.objective_archived_at.remove(&o.id),
        };
        let meta = self.meta(self.current.objectives.get(&o.id));
        self.current
            .objectives
            .insert(o.id.clone(), stored(o, meta));
        Ok(())
    }

    pub async fn put_key_result(&mut self, k: &KeyResult) -> Result<(), StoreError> {
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
        self.write(Write::KeyResult(k, k.state, None)).await?;
        let meta = self.meta(self.current.key_results.get(&k.id));
        self.current
            .key_results
            .insert(k.id.clone(), stored(k, meta));
        Ok(())
    }

    pub async fn record_review(&mut self, review: &NewReview) -> Result<(), StoreError> {
        insert_review(&mut self.tx, review, self.now).await
    }

    pub async fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        insert_audit(&mut self.tx, entry, self.now).await
    }

    /// Makes every write of this transaction visible at once. Deferred
    /// foreign keys are checked here: a dangling reference fails the commit.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        bump_revision(&mut self.tx).await?;
        self.tx.commit().await?;
        Ok(())
    }

    async fn write(&mut self, row: Write<'_>) -> Result<(), StoreError> {
        execute(&mut self.tx, self.backend, &[row], self.now).await
    }

    /// The meta of an entity after a write by the API: created now unless it existed.
    fn meta<T>(&self, before: Option<&Stored<T>>) -> EntityMeta {
        EntityMeta {
            managed_by: None,
            created_at: before.map_or(self.now, |b| b.meta.created_at),
            updated_at: self.now,
        }
    }
}

fn stored<T: Clone>(item: &T, meta: EntityMeta) -> Stored<T> {
    Stored {
        item: item.clone(),
        meta,
    }
}

//! Held values (README "Held values"): a fetched value outside its KR's
//! guard is written as held and does not move the KR. It leaves the hold
//! when the same level persists for `confirm_after` fetches (a step, not a
//! value out of bounds), or when a value inside the guard supersedes it.
//! People accept or dismiss held values over the API.
//!
//! Decided from the store after each write, not from memory, so replicas
//! that fetch alternate slots of one KR agree on a run of held values.

use std::sync::Arc;

use crate::binding::Binding;
use crate::okr::guard::{Hold, Scale, Verdict};
use crate::store::{HeldValue, Resolution, StoreError, StoredCheckIn};

use super::{Pending, Pipeline};

impl Pipeline {
    /// The guard's word on a fetched value, against the KR as the live
    /// model holds it (its last counted value).
    pub(super) fn judge(&self, binding: &Binding, value: f64) -> Verdict {
        match self.scale(&binding.key_result) {
            Some(scale) => binding.guard.judge(&scale, value),
            None => Verdict::Inside,
        }
    }

    /// What a guard measures a KR's steps against, as the live model holds it.
    fn scale(&self, kr: &str) -> Option<Scale> {
        self.live.read(|engine, _| {
            engine.key_result(kr).map(|k| Scale {
                kind: k.kind,
                start: k.start,
                target: k.target,
                last: k.value,
            })
        })
    }

    /// The KR's newest held value again, out of bounds: a tracker stuck at
    /// 0 would otherwise store a row per fetch that compaction keeps, and
    /// such a value never confirms by repetition anyway.
    pub(super) fn repeats_held(&self, p: &Pending) -> bool {
        p.verdict == Verdict::OutOfBounds
            && self
                .live
                .held(&p.binding.key_result)
                .is_some_and(|h| h.value == p.value)
    }

    /// After a held value was stored: show it, and confirm its level when
    /// the run of held values sharing it is long enough.
    pub(super) async fn after_held(&self, p: &Pending, stored: &StoredCheckIn) {
        let kr = &p.binding.key_result;
        self.live.set_held(
            kr,
            Some(HeldValue {
                check_in: stored.id,
                value: p.value,
                observed_at: p.observed_at,
            }),
        );
        tracing::warn!(
            key_result = %kr,
            value = p.value,
            reason = why(p.verdict),
            "a fetched value is held: it does not move the key result until confirmed or accepted"
        );
        if let Verdict::TooLargeStep { .. } = p.verdict
            && let Err(e) = self.confirm_if_level(p).await
        {
            tracing::warn!(key_result = %kr, error = %e, "cannot check whether held values confirm a level; the next fetch looks again");
        }
    }

    /// After a counted value was stored: held values before it are superseded.
    pub(super) async fn after_counted(&self, p: &Pending) {
        let kr = &p.binding.key_result;
        if self.live.held(kr).is_none() {
            return;
        }
        match self.store.supersede_held(kr, p.observed_at).await {
            Ok(n) => {
                self.live.set_held(kr, None);
                tracing::info!(key_result = %kr, superseded = n, "held values superseded by a value inside the guard");
            }
            Err(e) => {
                tracing::warn!(key_result = %kr, error = %e, "cannot mark held values superseded; the next value tries again");
            }
        }
    }

    /// A leader accepts (the value counts) or dismisses a held check-in.
    /// Runs to the end in a task of its own, like a manual check-in, so a
    /// client that hangs up cannot leave the store and the engine apart.
    /// `None`: `kr` has no such check-in.
    pub async fn resolve_held(
        self: &Arc<Self>,
        kr: &str,
        check_in: i64,
        how: Resolution,
        actor: &str,
    ) -> Result<Option<StoredCheckIn>, StoreError> {
        let pipeline = self.clone();
        let (kr, actor) = (kr.to_string(), actor.to_string());
        let task = tokio::spawn(async move {
            let Some(resolved) = pipeline
                .store
                .resolve_held(&kr, check_in, how, &actor)
                .await?
            else {
                return Ok(None);
            };
            if how == Resolution::Accept {
                let c = &resolved.check_in;
                pipeline.live.apply_value(&kr, c.value, c.observed_at);
            }
            pipeline.live.refresh_held(&pipeline.store).await?;
            tracing::info!(key_result = %kr, check_in, by = %actor, "held value {}ed", how.verb());
            Ok(Some(resolved))
        });
        task.await
            .map_err(|e| StoreError::NotReady(format!("the resolving task failed: {e}")))?
    }

    /// `confirm_after` held values in a row, each one step from the newest
    /// within the guard's `max_change`: a real change. They count, oldest
    /// first, and older held values are superseded.
    async fn confirm_if_level(&self, p: &Pending) -> Result<(), StoreError> {
        let kr = &p.binding.key_result;
        let guard = p.binding.guard;
        let recent = self
            .store
            .recent_check_ins(kr, p.observed_at, guard.confirm_after)
            .await?;
        if recent.len() < guard.confirm_after as usize {
            return Ok(());
        }
        let Some(scale) = self.scale(kr) else {
            return Ok(());
        };
        let level = recent.iter().all(|c| {
            c.hold == Some(Hold::Held) && guard.same_level(&scale, c.check_in.value, p.value)
        });
        if !level {
            return Ok(());
        }
        let ids: Vec<i64> = recent.iter().map(|c| c.id).collect();
        self.store.confirm_held(&ids).await?;
        self.store.supersede_held(kr, p.observed_at).await?;
        for c in recent.iter().rev() {
            self.live
                .apply_value(kr, c.check_in.value, c.check_in.observed_at);
        }
        self.live.set_held(kr, None);
        tracing::info!(key_result = %kr, value = p.value, fetches = ids.len(), "held values confirmed: the same level persisted, it is the key result's value now");
        Ok(())
    }
}

/// Why a value is held, for the log.
fn why(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Inside => "inside the guard",
        Verdict::OutOfBounds => "outside the guard's min/max",
        Verdict::TooLargeStep { .. } => "a step larger than the guard's max_change",
    }
}

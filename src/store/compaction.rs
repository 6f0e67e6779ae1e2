//! Compaction: fetched check-ins older than `[storage] raw_retention` are
//! thinned to the last one of each day (in the scheduler's time zone) per
//! KR, so a KR's history for charts survives while the table stays
//! bounded. Check-ins from people and the API are never removed; fetched
//! ones carry no audit record, so the audit log stays whole. Nor are
//! fetched check-ins the guard held (README "Held values"): they are few,
//! and what people reviewed stays reviewable.
//!
//! A check-in is removed only when a newer fetched check-in of the same KR
//! and day exists, so a KR's latest value always stays, a second run (or a
//! second replica) removes nothing more, and a day straddling the cutoff
//! keeps what it will need once it is wholly past it. Each KR is read
//! newest first along its history index, a page of `batch` at a time, and
//! each page's removals are one short statement, so the writer never
//! waits long for the lock. With several replicas, the schedule lease
//! table lets one of them run per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

use super::leases::Lease;
use super::{Store, StoreError};
use crate::clock::Clock;
use crate::okr::SOURCE_PREFIX;

/// The lease row naming compaction; no KR id holds a `:`.
const LEASE: &str = "storage:compaction";

/// Two days: a later run rereads from the previous cutoff less this, so
/// a day cut across by the previous cutoff (25 h with a DST change) is
/// thinned once it is wholly past.
const OVERLAP_MS: i64 = 2 * 86_400_000;

/// What to keep, and how much to read per statement.
#[derive(Debug, Clone)]
pub struct CompactionPlan {
    /// Fetched check-ins observed longer ago than this are thinned.
    pub retention: Duration,
    /// Check-ins read per page, and removed per statement at most.
    pub batch: usize,
    /// Days are counted in this zone.
    pub timezone: Tz,
}

/// What one compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    pub removed: u64,
    /// KRs that lost at least one check-in.
    pub key_results: usize,
    /// Removal statements run.
    pub batches: usize,
}

/// Runs compaction for one process; it remembers how far it got so later
/// runs read only the days that have become old since.
pub struct Compactor {
    store: Store,
    plan: CompactionPlan,
    holder: String,
    /// The previous run's cutoff (Unix ms), once a run has finished.
    done_before: Option<i64>,
}

impl Compactor {
    pub fn new(store: Store, plan: CompactionPlan) -> Compactor {
        let holder = format!("{}:{:x}", std::process::id(), rand::random::<u64>());
        Compactor {
            store,
            plan,
            holder,
            done_before: None,
        }
    }

    /// Compacts at `now` unless another replica has the run of this
    /// `interval` (then `None`).
    pub async fn run_due(
        &mut self,
        now: DateTime<Utc>,
        interval: Duration,
    ) -> Result<Option<Compacted>, StoreError> {
        let every = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let slot = now.timestamp_millis().div_euclid(every) * every;
        let lease = self
            .store
            .try_lease(LEASE, slot, &self.holder, interval)
            .await?;
        if lease != Lease::Won {
            return Ok(None);
        }
        let done = self.run(now).await?;
        self.store.lease_done(LEASE, slot, &self.holder).await?;
        Ok(Some(done))
    }

    /// Compacts at `now`, whoever else does too.
    pub async fn run(&mut self, now: DateTime<Utc>) -> Result<Compacted, StoreError> {
        let keep = i64::try_from(self.plan.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.timestamp_millis().saturating_sub(keep);
        let since = self
            .done_before
            .map_or(i64::MIN, |before| before.saturating_sub(OVERLAP_MS));
        let mut done = Compacted::default();
        for kr in self.store.key_result_ids().await? {
            let removed = self
                .compact_key_result(&kr, since, cutoff, &mut done)
                .await?;
            if removed > 0 {
                done.removed += removed;
                done.key_results += 1;
            }
        }
        self.done_before = Some(cutoff);
        Ok(done)
    }

    /// Thins one KR's fetched check-ins observed in `[since, cutoff)`.
    async fn compact_key_result(
        &self,
        kr: &str,
        since: i64,
        cutoff: i64,
        done: &mut Compacted,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        // Newest first: (observed_at, id) of the last row read, and its day.
        let mut after = (cutoff, i64::MIN);
        let mut newer_day: Option<NaiveDate> = None;
        loop {
            let page = self
                .store
                .fetched_page(kr, since, after, self.plan.batch)
                .await?;
            let Some(&(last_id, last_at)) = page.last() else {
                return Ok(removed);
            };
            let mut doomed = Vec::new();
            for &(id, at) in &page {
                let day = self.day_of(at);
                if newer_day == Some(day) {
                    doomed.push(id);
                }
                newer_day = Some(day);
            }
            if !doomed.is_empty() {
                removed += self.store.delete_check_ins(&doomed).await?;
                done.batches += 1;
            }
            if page.len() < self.plan.batch {
                return Ok(removed);
            }
            after = (last_at, last_id);
        }
    }

    fn day_of(&self, ms: i64) -> NaiveDate {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.plan.timezone)
            .date_naive()
    }

    /// Compacts every `interval` on `clock` until `stop`, one replica per
    /// interval; `on_run` sees what each run did (for metrics).
    pub async fn run_every(
        mut self,
        interval: Duration,
        clock: Arc<dyn Clock>,
        stop: CancellationToken,
        on_run: impl Fn(&Compacted) + Send,
    ) {
        loop {
            let started = Instant::now();
            match self.run_due(clock.now(), interval).await {
                Ok(Some(done)) => {
                    on_run(&done);
                    if done.removed > 0 {
                        tracing::info!(
                            removed = done.removed,
                            key_results = done.key_results,
                            batches = done.batches,
                            took = ?started.elapsed(),
                            "compacted fetched check-ins older than the raw retention to the last of each day"
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "compaction stopped early; it runs again next interval");
                }
            }
            let next = clock.now() + chrono::Duration::from_std(interval).unwrap_or_default();
            tokio::select! {
                () = stop.cancelled() => return,
                () = clock.sleep_until(next) => {}
            }
        }
    }
}

impl Store {
    /// Every KR id (check-ins reference them).
    async fn key_result_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM key_results")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }

    /// Up to `limit` fetched check-ins of `kr` as (id, observed_at), newest
    /// first, observed at or after `since` and before `after` (observed_at,
    /// id), along the history index.
    async fn fetched_page(
        &self,
        kr: &str,
        since: i64,
        after: (i64, i64),
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, observed_at FROM check_ins WHERE key_result_id = $1 \
             AND origin LIKE $2 AND hold IS NULL AND observed_at >= $3 \
             AND (observed_at, id) < ($4, $5) \
             ORDER BY observed_at DESC, id DESC LIMIT $6",
        )
        .bind(kr)
        .bind(format!("{SOURCE_PREFIX}%"))
        .bind(since)
        .bind(after.0)
        .bind(after.1)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Removes check-ins by id in one statement; returns how many went.
    async fn delete_check_ins(&self, ids: &[i64]) -> Result<u64, StoreError> {
        // Placeholders only: the ids are bound.
        let list = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("DELETE FROM check_ins WHERE id IN ({list})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.execute(&self.pool).await?.rows_affected())
    }
}

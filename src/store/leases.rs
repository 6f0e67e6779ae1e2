//! Schedule leases: with several replicas on one PostgreSQL database, each
//! schedule slot of a binding is fetched by exactly one of them, and a slot
//! whose replica died mid-fetch is taken over by another once its lease
//! expires.
//!
//! One row per binding holds the latest slot claimed, its holder, when the
//! lease expires and whether the holder is done with it. Claiming is a
//! single upsert that moves the slot forward, or takes over the same slot
//! when its lease expired unfinished, so it is atomic on both backends
//! without explicit locking: PostgreSQL re-checks the `WHERE` on the locked
//! row for every contender, SQLite serialises writers.

use std::time::Duration;

use sqlx::Row as _;

use super::codec::now_ms;
use super::{Store, StoreError};

/// What a replica asking for a slot learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The slot is this caller's: fetch it, then call `lease_done`.
    Won,
    /// Another replica finished the slot, or has moved on to a later one.
    Done,
    /// Another replica holds the slot until then (Unix ms); ask again after
    /// that in case it died.
    HeldUntil(i64),
}

impl Store {
    /// Claims `slot_ms` of `binding` for `holder` for `ttl`. `Won` for
    /// exactly one caller per (binding, slot) at a time; an earlier slot is
    /// never claimed again, the same one only once its lease expired
    /// without being done.
    pub async fn try_lease(
        &self,
        binding: &str,
        slot_ms: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = now_ms();
        let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let won = sqlx::query(
            "INSERT INTO schedule_leases (binding, slot, holder, leased_at, expires_at, done) \
             VALUES ($1, $2, $3, $4, $5, 0) \
             ON CONFLICT (binding) DO UPDATE SET slot = excluded.slot, holder = excluded.holder, \
             leased_at = excluded.leased_at, expires_at = excluded.expires_at, done = 0 \
             WHERE schedule_leases.slot < excluded.slot \
             OR (schedule_leases.slot = excluded.slot AND schedule_leases.done = 0 \
                 AND schedule_leases.expires_at < excluded.leased_at)",
        )
        .bind(binding)
        .bind(slot_ms)
        .bind(holder)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if won {
            return Ok(Lease::Won);
        }
        let row =
            sqlx::query("SELECT slot, done, expires_at FROM schedule_leases WHERE binding = $1")
                .bind(binding)
                .fetch_one(&self.pool)
                .await?;
        let (slot, done, expires_at): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        Ok(if slot > slot_ms || done != 0 {
            Lease::Done
        } else {
            Lease::HeldUntil(expires_at)
        })
    }

    /// The holder finished `slot_ms` of `binding`: no one takes it over.
    pub async fn lease_done(
        &self,
        binding: &str,
        slot_ms: i64,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE schedule_leases SET done = 1 WHERE binding = $1 AND slot = $2 AND holder = $3",
        )
        .bind(binding)
        .bind(slot_ms)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

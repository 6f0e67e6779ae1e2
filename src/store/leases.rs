//! Schedule leases: with several replicas on one PostgreSQL database, each
//! schedule slot of a binding is fetched by exactly one of them.
//!
//! One row per binding holds the latest slot claimed. Claiming is a single
//! upsert that only moves the slot forward, so it is atomic on both backends
//! without explicit locking: PostgreSQL re-checks the `WHERE` on the locked
//! row for every contender, SQLite serialises writers.

use super::codec::now_ms;
use super::{Store, StoreError};

impl Store {
    /// Claims `slot_ms` of `binding` for `holder`. True for exactly one
    /// caller per (binding, slot); a later slot can be claimed again, an
    /// earlier or equal one never.
    pub async fn try_lease(
        &self,
        binding: &str,
        slot_ms: i64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO schedule_leases (binding, slot, holder, leased_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (binding) DO UPDATE SET slot = excluded.slot, holder = excluded.holder, \
             leased_at = excluded.leased_at WHERE schedule_leases.slot < excluded.slot",
        )
        .bind(binding)
        .bind(slot_ms)
        .bind(holder)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

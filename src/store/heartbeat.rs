//! `[storage] heartbeat`: a fetched value equal to the KR's counted
//! check-in just before it (any origin; held values do not count) is not stored again until the heartbeat has
//! passed since that check-in; every change is stored. Decided from the
//! stored history inside the writing transaction, so replicas agree, and
//! by observation time, so a value written late from the backlog is
//! compared with what came before it, not with something newer.

use std::time::Duration;

use super::check_ins::{STORED_COLUMNS, StoredCheckIn, stored_check_in};
use super::codec::to_ms;
use super::history::COUNTED;
use super::{Backend, StoreError};
use crate::okr::CheckIn;

/// The stored check-in that already stands for `c`, when `c` is a fetched
/// value equal to the check-in before it and observed within `heartbeat`
/// of it. `None`: store `c`. A zero heartbeat stores every fetch.
pub(super) async fn standing_for(
    conn: &mut sqlx::AnyConnection,
    c: &CheckIn,
    heartbeat: Duration,
    backend: Backend,
) -> Result<Option<StoredCheckIn>, StoreError> {
    if heartbeat.is_zero() || !c.origin.is_source() {
        return Ok(None);
    }
    let observed = to_ms(c.observed_at);
    let sql = format!(
        "SELECT {STORED_COLUMNS} FROM check_ins WHERE key_result_id = $1 AND observed_at <= $2 \
         AND {COUNTED} \
         ORDER BY observed_at DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.key_result)
        .bind(observed)
        .persistent(backend == Backend::Sqlite)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let before = stored_check_in(&row)?;
    let since = observed.saturating_sub(to_ms(before.check_in.observed_at));
    let within = u128::try_from(since).is_ok_and(|ms| ms < heartbeat.as_millis());
    Ok((before.check_in.value == c.value && within).then_some(before))
}

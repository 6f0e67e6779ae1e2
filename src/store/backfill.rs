//! What backfill asks the database: which of a KR's past days already have
//! a check-in that stands for them, so only the others are fetched.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row as _;

use super::codec::to_ms;
use super::{Store, StoreError};
use crate::okr::{BACKFILL_PREFIX, Origin, SOURCE_PREFIX};

/// One local day, as the instants it starts at and ends before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySpan {
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Days asked about per statement: three parameters each, far below what
/// either backend binds.
const DAYS_PER_QUERY: usize = 200;

impl Store {
    /// The days of `spans` on which `kr` has a check-in standing for the
    /// day when the KR is fetched from `source`: one fetched from it (on
    /// schedule or backfilled), held or not, or one from a person or the
    /// API. Check-ins fetched from another source do not stand: after a
    /// KR changes source, its past days are fetched again from the new
    /// one. One index probe per day.
    pub async fn days_with_check_ins(
        &self,
        kr: &str,
        source: &str,
        spans: &[DaySpan],
    ) -> Result<Vec<NaiveDate>, StoreError> {
        let mut out = Vec::new();
        for chunk in spans.chunks(DAYS_PER_QUERY) {
            let mut days = String::new();
            for i in 0..chunk.len() {
                let p = 4 + 3 * i;
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(
                    days,
                    "{sep}(CAST(${p} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    p + 1,
                    p + 2
                );
            }
            // The prefixes are constants, never input.
            let sql = format!(
                "WITH days (i, s, e) AS (VALUES {days}) SELECT i FROM days WHERE EXISTS \
                 (SELECT 1 FROM check_ins c WHERE c.key_result_id = $1 \
                 AND c.observed_at >= days.s AND c.observed_at < days.e \
                 AND (c.origin = $2 OR c.origin = $3 OR (c.origin NOT LIKE '{SOURCE_PREFIX}%' \
                 AND c.origin NOT LIKE '{BACKFILL_PREFIX}%')))"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(kr)
                .bind(Origin::source(source).0)
                .bind(Origin::backfill(source).0);
            for (i, span) in chunk.iter().enumerate() {
                query = query
                    .bind(i as i64)
                    .bind(to_ms(span.start))
                    .bind(to_ms(span.end));
            }
            let rows = query.persistent(false).fetch_all(&self.pool).await?;
            for row in rows {
                let i: i64 = row.try_get("i")?;
                if let Some(span) = usize::try_from(i).ok().and_then(|i| chunk.get(i)) {
                    out.push(span.day);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

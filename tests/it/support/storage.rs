//! For the `[storage]` tests: a store holding KRs `a` and `b` (approved,
//! `b` bound to a source), check-ins to write at chosen instants, and the
//! stored history read back.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use okrd::okr::{CheckIn, Origin};
use okrd::store::Store;

/// 2026-10-01 00:00 UTC, the period's first instant.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
}

/// `t0` plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Span::minutes(minutes)
}

pub const OKRS: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"
[[teams]]
id = "t"
name = "T"
[[objectives]]
id = "o"
title = "O"
period = "2026-Q4"
team = "t"
[[key_results]]
id = "a"
objective = "o"
team = "t"
owner = "a@x"
title = "A"
kind = "increase"
start = 0
target = 100
[[key_results]]
id = "b"
objective = "o"
team = "t"
owner = "b@x"
title = "B"
kind = "increase"
start = 0
target = 100
"#;

/// Applies KRs `a` and `b` to `store`.
pub async fn with_two_krs(store: &Store) {
    let (set, _, problems) = okrd::okr::file::parse_str("okrs.toml", OKRS);
    assert!(problems.is_empty(), "{problems:?}");
    store
        .apply(&set, &okrd::okr::Ownership::new())
        .await
        .unwrap();
}

/// A value of `kr` fetched at `when`, keyed by its slot like the pipeline's.
pub fn fetched(kr: &str, value: f64, when: DateTime<Utc>) -> CheckIn {
    CheckIn {
        key_result: kr.into(),
        value,
        observed_at: when,
        origin: Origin::source("src"),
        note: None,
        confidence: None,
        idempotency_key: Some(format!("{kr}@{}", when.timestamp_millis())),
    }
}

/// A value of `kr` checked in by a person at `when`.
pub fn manual(kr: &str, value: f64, when: DateTime<Utc>) -> CheckIn {
    CheckIn {
        origin: Origin::manual("dana"),
        idempotency_key: None,
        ..fetched(kr, value, when)
    }
}

/// `kr`'s whole stored history, oldest first, as (value, observed_at, origin).
pub async fn history(store: &Store, kr: &str) -> Vec<(f64, DateTime<Utc>, String)> {
    let mut all = store.check_ins(kr, u32::MAX).await.unwrap();
    all.reverse();
    all.into_iter()
        .map(|c| (c.value, c.observed_at, c.origin.0))
        .collect()
}

//! Compaction: fetched check-ins older than the raw retention are thinned
//! to the last of each day per KR (in the configured time zone); newer
//! ones, and every check-in from a person, stay. Runs in batches, is
//! idempotent, keeps each KR's latest value, and with several replicas
//! only one compacts per interval.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use okrd::clock::{Clock, ManualClock};
use okrd::okr::CheckIn;
use okrd::store::{Compacted, CompactionPlan, Compactor, Store};
use tokio_util::sync::CancellationToken;

use crate::support::backends::{self, TestStore};
use crate::support::storage::{fetched, history, manual, t0, with_two_krs};

const RETENTION: Duration = Duration::from_secs(35 * 86_400);

fn plan(batch: usize, timezone: chrono_tz::Tz) -> CompactionPlan {
    CompactionPlan {
        retention: RETENTION,
        batch,
        timezone,
    }
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + Span::hours(h)
}

/// Days 0–4: `b` fetched at 00, 06, 12 and 18 h (value = day × 10 + hour /
/// 6) and checked in by hand on day 1 at 03 and 20 h; `a` fetched at 00
/// and 12 h.
async fn five_days(s: &Store) {
    with_two_krs(s).await;
    let mut all: Vec<CheckIn> = Vec::new();
    for day in 0..5 {
        for h in [0, 6, 12, 18] {
            all.push(fetched("b", (day * 10 + h / 6) as f64, hours(day * 24 + h)));
        }
        for h in [0, 12] {
            all.push(fetched("a", day as f64, hours(day * 24 + h)));
        }
    }
    all.push(manual("b", 100.0, hours(24 + 3)));
    all.push(manual("b", 101.0, hours(24 + 20)));
    for c in &all {
        assert!(s.insert_check_in(c).await.unwrap());
    }
}

/// When days 0–2 are wholly older than the retention and day 3 from 01:00.
fn now() -> DateTime<Utc> {
    hours(3 * 24 + 1) + Span::from_std(RETENTION).unwrap()
}

/// `kr`'s history as hours since t0.
async fn hours_of(s: &Store, kr: &str) -> Vec<i64> {
    history(s, kr)
        .await
        .into_iter()
        .map(|(_, t, _)| (t - t0()).num_hours())
        .collect()
}

const B_AFTER: [i64; 15] = [
    18, // day 0: its last
    27, 42, 44, // day 1: the manual ones and the last fetched
    66, // day 2
    72, 78, 84, 90, // day 3: from 01:00 on newer than the retention, 00:00 the last before it
    96, 102, 108, 114, 118, 120,
];

#[tokio::test]
async fn old_days_keep_their_last_fetched_value_and_everything_else_stays() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        five_days(&s).await;
        s.insert_check_in(&manual("b", 102.0, hours(118)))
            .await
            .unwrap();
        s.insert_check_in(&fetched("b", 48.0, hours(120)))
            .await
            .unwrap();
        let latest = s.latest_check_ins().await.unwrap();
        let mut compactor = Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC));
        let done = compactor.run(now()).await.unwrap();
        assert_eq!(
            (done.removed, done.key_results),
            (3 * 3 + 3, 2),
            "{b}: {done:?}"
        );
        assert_eq!(hours_of(&s, "b").await, B_AFTER, "{b}");
        assert_eq!(
            hours_of(&s, "a").await,
            [12, 36, 60, 72, 84, 96, 108],
            "{b}"
        );
        let values: Vec<f64> = history(&s, "b").await.iter().map(|c| c.0).collect();
        assert_eq!(&values[..5], [3.0, 100.0, 13.0, 101.0, 23.0], "{b}");
        assert_eq!(
            s.latest_check_ins().await.unwrap(),
            latest,
            "{b}: latest values"
        );
        // Idempotent: a second run, by this process or another, removes nothing.
        assert_eq!(compactor.run(now()).await.unwrap().removed, 0, "{b}");
        let mut other = Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC));
        assert_eq!(other.run(now()).await.unwrap().removed, 0, "{b}");
        assert_eq!(hours_of(&s, "b").await, B_AFTER, "{b}");
        // A day later, day 3 is old too: thinned to its last, on the next run.
        let done = compactor.run(now() + Span::days(1)).await.unwrap();
        assert_eq!(done.removed, 3 + 1, "{b}: {done:?}");
        assert_eq!(
            hours_of(&s, "b").await[5..],
            [90, 96, 102, 108, 114, 118, 120],
            "{b}"
        );
    })
    .await;
}

#[tokio::test]
async fn small_batches_take_several_rounds_and_keep_the_same_rows() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        five_days(&s).await;
        let mut compactor = Compactor::new(s.reconnect().await, plan(2, chrono_tz::UTC));
        let done = compactor.run(now()).await.unwrap();
        assert_eq!(done.removed, 12, "{b}: {done:?}");
        // b's three old days span 6 pages of 2; a's, 3.
        assert!(done.batches >= 6, "{b}: {done:?}");
        assert_eq!(hours_of(&s, "b").await[..9], B_AFTER[..9], "{b}");
        assert_eq!(compactor.run(now()).await.unwrap().removed, 0, "{b}");
    })
    .await;
}

#[tokio::test]
async fn days_are_counted_in_the_configured_time_zone() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        with_two_krs(&s).await;
        // 2026-10-01 20:00, 10-02 02:00 and 03:00 UTC: in New York (UTC-4)
        // all on October 1st; in UTC the last two share October 2nd.
        let at = |d, h| Utc.with_ymd_and_hms(2026, 10, d, h, 0, 0).unwrap();
        for (i, t) in [at(1, 20), at(2, 2), at(2, 3)].into_iter().enumerate() {
            s.insert_check_in(&fetched("a", i as f64, t)).await.unwrap();
            s.insert_check_in(&fetched("b", i as f64, t)).await.unwrap();
        }
        let later = at(10, 0) + Span::from_std(RETENTION).unwrap();
        let utc = Compactor::new(s.reconnect().await, plan(100, chrono_tz::UTC))
            .run(later)
            .await
            .unwrap();
        let new_york = Compactor::new(s.reconnect().await, plan(100, chrono_tz::America::New_York))
            .run(later)
            .await
            .unwrap();
        assert_eq!((utc.removed, new_york.removed), (2, 2), "{b}");
        let left: Vec<f64> = history(&s, "a").await.iter().map(|c| c.0).collect();
        assert_eq!(left, [2.0], "{b}: the last of New York's October 1st");
    })
    .await;
}

#[tokio::test]
async fn one_replica_compacts_per_interval() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        five_days(&s).await;
        let hour = Duration::from_secs(3600);
        let mut first = Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC));
        let mut second = Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC));
        let ran = first.run_due(now(), hour).await.unwrap();
        assert_eq!(ran.map(|d| d.removed), Some(12), "{b}");
        assert_eq!(second.run_due(now(), hour).await.unwrap(), None, "{b}");
        assert_eq!(
            first
                .run_due(now() + Span::minutes(30), hour)
                .await
                .unwrap(),
            None,
            "{b}: once per interval"
        );
        let next = now() + Span::hours(1);
        let ran = second.run_due(next, hour).await.unwrap();
        assert_eq!(
            ran.map(|d| d.removed),
            Some(0),
            "{b}: the next interval is anyone's"
        );
    })
    .await;
}

/// The background task runs at once and then every interval on the clock,
/// reports each run, and ends when told to.
#[tokio::test]
async fn the_background_task_runs_every_interval_until_stopped() {
    let s = TestStore::open(backends::sqlite_db()).await;
    five_days(&s).await;
    let clock = Arc::new(ManualClock::new(now()));
    let runs: Arc<Mutex<Vec<Compacted>>> = Arc::default();
    let stop = CancellationToken::new();
    let seen = runs.clone();
    let task = tokio::spawn(
        Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC)).run_every(
            Duration::from_secs(3600),
            clock.clone() as Arc<dyn Clock>,
            stop.clone(),
            move |done| seen.lock().unwrap().push(done.clone()),
        ),
    );
    let count = |n: usize| {
        let runs = runs.clone();
        async move {
            for _ in 0..400 {
                if runs.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{n} runs expected: {:?}", runs.lock().unwrap());
        }
    };
    count(1).await;
    assert_eq!(runs.lock().unwrap()[0].removed, 12);
    // A day on, day 3 is old too.
    clock.advance(Duration::from_secs(86_400));
    count(2).await;
    assert_eq!(runs.lock().unwrap()[1].removed, 3 + 1);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the task ends when stopped")
        .unwrap();
}

/// A held value is never thinned away, and it does not make the counted
/// value of its day look older than the last: that one stays too.
#[tokio::test]
async fn held_values_and_the_counted_value_of_their_day_stay() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        five_days(&s).await;
        let (writer, _) = s.check_in_writer(CancellationToken::new(), Duration::ZERO);
        writer
            .write(okrd::store::CheckInWrite {
                check_in: fetched("a", 1e9, hours(18)),
                is_override: false,
                hold: Some(okrd::okr::guard::Hold::Held),
                audit: None,
                guard: None,
            })
            .await
            .unwrap();
        let mut compactor = Compactor::new(s.reconnect().await, plan(1000, chrono_tz::UTC));
        compactor.run(now()).await.unwrap();
        assert_eq!(
            hours_of(&s, "a").await,
            [12, 18, 36, 60, 72, 84, 96, 108],
            "{b}: day 0 keeps its last counted value (12 h) and the held one"
        );
    })
    .await;
}

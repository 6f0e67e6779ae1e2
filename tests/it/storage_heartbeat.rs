//! `[storage] heartbeat`: an unchanged fetched value is stored at most once
//! per heartbeat, every change is stored, and the decision comes from the
//! stored history (any origin, any replica), by observation time, so a
//! value written late from the backlog is compared with what came before it.
//! Through the daemon: a skipped value still counts as a good fetch and
//! keeps the KR's update time fresh.

use std::sync::Arc;
use std::time::Duration;

use okrd::clock::{Clock, ManualClock};
use okrd::okr::CheckIn;
use okrd::store::{CheckInWrite, CheckInWriter, Store, Written};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::backends::{self, TestStore};
use crate::support::daemon::Launch;
use crate::support::sample;
use crate::support::storage::{at, fetched, history, manual, t0, with_two_krs};

const HOUR: Duration = Duration::from_secs(3600);

fn writer(store: &Store, heartbeat: Duration) -> CheckInWriter {
    store.check_in_writer(CancellationToken::new(), heartbeat).0
}

async fn write(w: &CheckInWriter, c: CheckIn) -> Written {
    w.write(CheckInWrite {
        check_in: c,
        is_override: false,
        hold: None,
        audit: None,
        guard: None,
    })
    .await
    .unwrap()
}

fn is_new(w: &Written) -> bool {
    matches!(w, Written::New(_))
}

#[tokio::test]
async fn unchanged_values_are_stored_once_per_heartbeat_and_every_change_is_stored() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        with_two_krs(&s).await;
        let w = writer(&s, HOUR);
        assert!(is_new(&write(&w, fetched("b", 5.0, at(0))).await), "{b}");
        // Unchanged within the hour: nothing stored, the first stands for them.
        for m in [15, 30, 45] {
            match write(&w, fetched("b", 5.0, at(m))).await {
                Written::Unchanged(standing) => {
                    assert_eq!(standing.check_in.observed_at, at(0), "{b}")
                }
                other => panic!("{b}: minute {m}: {other:?}"),
            }
        }
        // An hour after the stored one: stored again.
        assert!(is_new(&write(&w, fetched("b", 5.0, at(60))).await), "{b}");
        // A change is stored at once, and so is the change back.
        assert!(is_new(&write(&w, fetched("b", 6.0, at(75))).await), "{b}");
        assert!(is_new(&write(&w, fetched("b", 5.0, at(90))).await), "{b}");
        assert!(
            !is_new(&write(&w, fetched("b", 5.0, at(149))).await),
            "{b}: 59 minutes after the change back"
        );
        let minutes: Vec<_> = history(&s, "b")
            .await
            .into_iter()
            .map(|(v, t, _)| (v, (t - t0()).num_minutes()))
            .collect();
        assert_eq!(minutes, [(5.0, 0), (5.0, 60), (6.0, 75), (5.0, 90)], "{b}");
        // The other KR has a history of its own.
        assert!(is_new(&write(&w, fetched("a", 5.0, at(15))).await), "{b}");
    })
    .await;
}

#[tokio::test]
async fn a_zero_heartbeat_stores_every_fetch_and_manual_check_ins_are_always_stored() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        with_two_krs(&s).await;
        let every = writer(&s, Duration::ZERO);
        for m in [0, 1, 2] {
            assert!(
                is_new(&write(&every, fetched("a", 1.0, at(m))).await),
                "{b}"
            );
        }
        let w = writer(&s, HOUR);
        assert!(is_new(&write(&w, manual("b", 3.0, at(0))).await), "{b}");
        assert!(
            is_new(&write(&w, manual("b", 3.0, at(1))).await),
            "{b}: a person's check-in is never skipped"
        );
        // A fetched value equal to the latest check-in, a manual one: unchanged.
        assert!(
            matches!(
                write(&w, fetched("b", 3.0, at(2))).await,
                Written::Unchanged(_)
            ),
            "{b}"
        );
        assert_eq!(history(&s, "a").await.len(), 3, "{b}");
        assert_eq!(history(&s, "b").await.len(), 2, "{b}");
    })
    .await;
}

#[tokio::test]
async fn replicas_decide_from_the_stored_history() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        with_two_krs(&s).await;
        let first = writer(&s, HOUR);
        let other = s.reconnect().await;
        let second = writer(&other, HOUR);
        assert!(
            is_new(&write(&first, fetched("b", 8.0, at(0))).await),
            "{b}"
        );
        assert!(
            matches!(
                write(&second, fetched("b", 8.0, at(1))).await,
                Written::Unchanged(_)
            ),
            "{b}: the other replica's check-in counts"
        );
        assert!(
            is_new(&write(&second, fetched("b", 9.0, at(2))).await),
            "{b}"
        );
        assert!(
            matches!(
                write(&first, fetched("b", 9.0, at(3))).await,
                Written::Unchanged(_)
            ),
            "{b}"
        );
        // The same slot written twice is the earlier write, not a skip.
        assert!(
            matches!(
                write(&first, fetched("b", 1.0, at(2))).await,
                Written::Existing(_)
            ),
            "{b}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_value_written_late_is_compared_with_the_check_in_before_it() {
    backends::for_each_backend(|s: TestStore| async move {
        let b = s.backend;
        with_two_krs(&s).await;
        let w = writer(&s, HOUR);
        write(&w, fetched("b", 5.0, at(0))).await;
        write(&w, fetched("b", 8.0, at(30))).await;
        // Waited in the backlog: observed before the 8, after the first 5.
        assert!(
            matches!(
                write(&w, fetched("b", 5.0, at(10))).await,
                Written::Unchanged(_)
            ),
            "{b}: equal to the value before it"
        );
        assert!(
            is_new(&write(&w, fetched("b", 7.0, at(20))).await),
            "{b}: a change, although older than the latest"
        );
        // Equal to the latest (8) but not to the value before it (7): stored.
        assert!(is_new(&write(&w, fetched("b", 8.0, at(25))).await), "{b}");
        let latest = s.latest_check_ins().await.unwrap();
        let latest_b = latest.iter().find(|c| c.key_result == "b").unwrap();
        assert_eq!((latest_b.value, latest_b.observed_at), (8.0, at(30)), "{b}");
        assert_eq!(history(&s, "b").await.len(), 4, "{b}");
    })
    .await;
}

/// Through the daemon on a clock the test moves: the same value fetched
/// every minute is stored once, yet every fetch counts as a success, the
/// KR's update time follows the fetches, and the skips are counted.
#[tokio::test]
async fn a_skipped_value_still_counts_as_a_good_fetch_and_keeps_the_kr_fresh() {
    for db in backends::databases().await {
        let b = db.backend;
        let upstream = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"v": 42})))
            .mount(&upstream)
            .await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("okrs.toml"),
            format!(
                "{}[key_results.source]\nuse = \"up\"\n",
                crate::support::storage::OKRS
            ),
        )
        .unwrap();
        let config = format!(
            r#"
[database]
url = "{}"
[okrs]
files = ["okrs.toml"]
[scheduler]
default_schedule = "* * * * *"
jitter = "0s"
[server]
anonymous_read = true
[storage]
heartbeat = "1h"
[[sources]]
name = "up"
connector = "http_json"
[sources.params]
url = "{}/v"
value = "$.v"
"#,
            db.url,
            upstream.uri()
        );
        let cfg = dir.path().join("okrd.toml");
        std::fs::write(&cfg, config).unwrap();
        // Between slots, so the first advance crosses exactly one.
        let clock = Arc::new(ManualClock::new(t0() + chrono::Duration::seconds(30)));
        let daemon = Launch::serve(&cfg)
            .clock(clock.clone() as Arc<dyn Clock>)
            .in_process()
            .await;
        let fetches = |m: &str| sample(m, "okr_source_fetches_total", &["source=\"up\""]);
        let mut m = String::new();
        for n in 1..=3 {
            clock.advance(Duration::from_secs(60));
            for _ in 0..400 {
                m = daemon.metrics().await;
                if fetches(&m) == Some(f64::from(n)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert_eq!(fetches(&m), Some(f64::from(n)), "{b}: fetch {n}:\n{m}");
            // The next advance must find the scheduler waiting for the next slot.
            wait_past_slot(&daemon.base(), clock.now()).await;
        }
        let kr = ["key_result=\"b\""];
        // A fetch is observed when it completes: the clock stands still meanwhile.
        let third = clock.now().timestamp() as f64;
        let update = |m: &str| sample(m, "okr_key_result_last_update_timestamp_seconds", &kr);
        // The snapshot behind the KR gauges is published a moment after the write.
        for _ in 0..400 {
            if update(&m) == Some(third) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            m = daemon.metrics().await;
        }
        assert_eq!(
            sample(&m, "okr_check_ins_skipped_unchanged_total", &[]),
            Some(2.0),
            "{b}:\n{m}"
        );
        assert_eq!(
            sample(&m, "okr_source_fetch_failures_total", &["source=\"up\""]).unwrap_or(0.0),
            0.0,
            "{b}"
        );
        assert_eq!(sample(&m, "okr_key_result_value", &kr), Some(42.0), "{b}");
        assert_eq!(
            update(&m),
            Some(third),
            "{b}: the update time is the last fetch's"
        );
        assert_eq!(
            sample(
                &m,
                "okr_source_last_success_timestamp_seconds",
                &["source=\"up\""]
            ),
            Some(third),
            "{b}"
        );
        daemon.stop().await;
        let store = Store::connect(&db.url, 1).await.unwrap();
        assert_eq!(history(&store, "b").await.len(), 1, "{b}: stored once");
        store.close().await;
    }
}

/// Waits until the scheduler is done with the slot before `now` for source
/// `up`: nothing running and its next run after `now`.
async fn wait_past_slot(base: &str, now: chrono::DateTime<chrono::Utc>) {
    let url = format!("{base}/api/v1/sources/up");
    let mut last = serde_json::Value::Null;
    for _ in 0..400 {
        last = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let next_run = last["next_run"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if last["running"] == false && next_run.is_some_and(|t| t > now) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the scheduler never moved past {now}: {last}");
}

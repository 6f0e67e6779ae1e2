//! The scheduler's start lag reaches the exposed `okr_scheduler_lag_seconds`
//! histogram, exactly. Each daemon's telemetry is its own, so the counts
//! below are exact even with other tests running in this process.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use okrd::clock::ManualClock;
use okrd::metrics::Telemetry;
use okrd::scheduler::jitter::jitter_offset;
use okrd::scheduler::{Entry, Job, Outcome, Runner, Schedule, SchedulerConfig, spawn};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SAFETY_NET: Duration = Duration::from_secs(10);

/// Monday 2026-01-05 10:00:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
}

/// `okr_scheduler_lag_seconds{_count,_sum,_bucket{le}}` as `telemetry` exposes it.
fn exposed(telemetry: &Telemetry, suffix: &str) -> f64 {
    let mut text = Vec::new();
    telemetry.render(&mut text);
    let text = String::from_utf8(text).unwrap();
    let name = format!("okr_scheduler_lag_seconds{suffix} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name))
        .unwrap_or_else(|| panic!("no `{name}` in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn each_job_start_records_its_exact_lag_in_the_exposed_histogram() {
    let telemetry = Telemetry::new();
    assert_eq!(
        exposed(&telemetry, "_count"),
        0.0,
        "nothing recorded before the test"
    );

    let jitter = Duration::from_secs(20);
    let clock = Arc::new(ManualClock::new(t0()));
    let (started, mut jobs) = mpsc::unbounded_channel::<Job>();
    let runner: Runner = Arc::new(move |job: Job| {
        let started = started.clone();
        Box::pin(async move {
            let _ = started.send(job);
            Outcome::Success
        })
    });
    let shutdown = CancellationToken::new();
    let config = SchedulerConfig {
        max_concurrency: 4,
        jitter,
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(3600),
    };
    let (handle, task) = spawn(
        config,
        clock.clone(),
        runner,
        shutdown.clone(),
        telemetry.scheduler.clone(),
    );
    handle.set_bindings(vec![Entry {
        id: "late".into(),
        schedule: Arc::new(Schedule::parse("* * * * *", Tz::UTC).unwrap()),
    }]);
    tokio::time::timeout(SAFETY_NET, handle.settle())
        .await
        .expect("settles");
    let offset = TimeDelta::from_std(jitter_offset("late", jitter)).unwrap();
    let first_run = t0() + TimeDelta::minutes(1) + offset;

    // The scheduler only gets to run 3 s after the job's intended start.
    clock.set(first_run + TimeDelta::seconds(3));
    let job = tokio::time::timeout(SAFETY_NET, jobs.recv())
        .await
        .expect("the first job starts")
        .unwrap();
    assert_eq!(job.slot, t0() + TimeDelta::minutes(1));
    let lag = &telemetry.scheduler.lag;
    assert_eq!(lag.get_sample_count(), 1);
    assert!(
        (lag.get_sample_sum() - 3.0).abs() < 1e-9,
        "{}",
        lag.get_sample_sum()
    );

    // The next one starts exactly on time: a lag of 0.
    tokio::time::timeout(
        SAFETY_NET,
        handle.wait_for(|s| s.iter().all(|b| !b.running)),
    )
    .await
    .expect("the first job finishes");
    clock.set(first_run + TimeDelta::minutes(1));
    tokio::time::timeout(SAFETY_NET, jobs.recv())
        .await
        .expect("the second job starts")
        .unwrap();

    // What /metrics shows: two starts, 3 s in all, one in the 2.5..5 s bucket.
    assert_eq!(exposed(&telemetry, "_count"), 2.0);
    assert!((exposed(&telemetry, "_sum") - 3.0).abs() < 1e-9);
    assert_eq!(
        exposed(&telemetry, "_bucket{le=\"0.001\"}"),
        1.0,
        "the on-time start"
    );
    assert_eq!(exposed(&telemetry, "_bucket{le=\"2.5\"}"), 1.0);
    assert_eq!(
        exposed(&telemetry, "_bucket{le=\"5\"}"),
        2.0,
        "the 3 s late start"
    );

    shutdown.cancel();
    tokio::time::timeout(SAFETY_NET, task)
        .await
        .expect("scheduler exits")
        .unwrap();
}

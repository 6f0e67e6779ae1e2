//! Scheduler behaviour, driven by a `ManualClock`: nothing sleeps, and the
//! real-time timeouts below are only a safety net against hangs.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use okrd::clock::{Clock, ManualClock};
use okrd::metrics::SchedulerTelemetry;
use okrd::scheduler::jitter::jitter_offset;
use okrd::scheduler::{
    BindingStatus, Entry, Job, Outcome, Runner, Schedule, SchedulerConfig, SchedulerHandle, spawn,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SAFETY_NET: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(SAFETY_NET, f)
        .await
        .unwrap_or_else(|_| panic!("safety net: {what} did not happen"))
}

/// Monday 2026-01-05 10:00:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, h, m, s).unwrap()
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn binding(id: &str, expr: &str) -> Entry {
    Entry {
        id: id.to_string(),
        schedule: Arc::new(Schedule::parse(expr, Tz::UTC).unwrap()),
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        max_concurrency: 16,
        jitter: Duration::ZERO,
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(3600),
    }
}

/// A job the runner has been called with, held until the test answers.
struct Held {
    job: Job,
    reply: oneshot::Sender<Outcome>,
}

struct Harness {
    clock: Arc<ManualClock>,
    handle: SchedulerHandle,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
    jobs: mpsc::UnboundedReceiver<Held>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Harness {
    fn start(config: SchedulerConfig, clock: Arc<ManualClock>) -> Self {
        let (tx, jobs) = mpsc::unbounded_channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let runner: Runner = {
            let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
            Arc::new(move |job: Job| {
                let (tx, in_flight, max_in_flight) =
                    (tx.clone(), in_flight.clone(), max_in_flight.clone());
                Box::pin(async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let (reply, answer) = oneshot::channel();
                    let _ = tx.send(Held { job, reply });
                    let outcome = answer.await.unwrap_or(Outcome::Success);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    outcome
                })
            })
        };
        let shutdown = CancellationToken::new();
        let (handle, task) = spawn(
            config,
            clock.clone(),
            runner,
            shutdown.clone(),
            SchedulerTelemetry::unregistered(),
        );
        Self {
            clock,
            handle,
            task,
            shutdown,
            jobs,
            in_flight,
            max_in_flight,
        }
    }

    fn new(config: SchedulerConfig) -> Self {
        Self::start(config, Arc::new(ManualClock::new(t0())))
    }

    /// Sets the clock and waits until the scheduler has handled that time.
    async fn set_time(&self, t: DateTime<Utc>) {
        self.clock.set(t);
        within("settle", self.handle.settle()).await;
    }

    async fn set_bindings(&self, bindings: Vec<Entry>) {
        self.handle.set_bindings(bindings);
        within("settle", self.handle.settle()).await;
    }

    async fn next_job(&mut self) -> Held {
        within("a runner call", self.jobs.recv())
            .await
            .expect("runner channel open")
    }

    /// Answers a held job and waits until the scheduler has recorded it.
    async fn finish(&self, held: Held, outcome: Outcome) {
        let id = held.job.binding.clone();
        held.reply.send(outcome).expect("runner waiting");
        within(
            "job completion",
            self.handle
                .wait_for(|s| s.iter().all(|b| b.id != id || !b.running)),
        )
        .await;
    }

    fn status(&self, id: &str) -> BindingStatus {
        self.handle
            .status()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no binding {id}"))
    }

    fn running(&self) -> Vec<String> {
        self.handle
            .status()
            .into_iter()
            .filter(|s| s.running)
            .map(|s| s.id)
            .collect()
    }
}

fn transient(retry_after: Option<Duration>) -> Outcome {
    Outcome::Failure {
        transient: true,
        retry_after,
    }
}

#[tokio::test]
async fn five_field_schedule_fires_at_exact_slots_over_an_hour() {
    exact_slots_over_an_hour().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_slots_on_a_multi_thread_runtime() {
    exact_slots_over_an_hour().await;
}

async fn exact_slots_over_an_hour() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "*/15 * * * *")]).await;
    assert_eq!(h.status("kr").next_slot, Some(at(10, 15, 0)));

    let mut fired = Vec::new();
    for minute in 1..=60 {
        let slot = t0() + secs(60 * minute);
        h.set_time(slot - secs(1)).await;
        assert!(h.running().is_empty(), "nothing runs before {slot}");
        h.set_time(slot).await;
        if !h.running().is_empty() {
            let held = h.next_job().await;
            assert_eq!(held.job.slot, h.clock.now());
            fired.push(held.job.slot);
            h.finish(held, Outcome::Success).await;
        }
    }
    assert_eq!(
        fired,
        vec![at(10, 15, 0), at(10, 30, 0), at(10, 45, 0), at(11, 0, 0)]
    );
    assert_eq!(h.status("kr").next_slot, Some(at(11, 15, 0)));
}

#[tokio::test]
async fn seconds_field_fires_every_ten_seconds() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "*/10 * * * * *")]).await;
    let mut fired = Vec::new();
    for s in 1..=60 {
        h.set_time(t0() + secs(s)).await;
        if !h.running().is_empty() {
            let held = h.next_job().await;
            fired.push(held.job.slot);
            h.finish(held, Outcome::Success).await;
        }
    }
    let expected: Vec<_> = (1..=6).map(|i| t0() + secs(10 * i)).collect();
    assert_eq!(fired, expected);
}

#[tokio::test]
async fn two_bindings_follow_their_own_schedules() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![
        binding("a", "*/15 * * * *"),
        binding("b", "*/20 * * * *"),
    ])
    .await;
    let mut fired: Vec<(String, DateTime<Utc>)> = Vec::new();
    for minute in 1..=60 {
        h.set_time(t0() + secs(60 * minute)).await;
        for _ in 0..h.running().len() {
            let held = h.next_job().await;
            fired.push((held.job.binding.clone(), held.job.slot));
            h.finish(held, Outcome::Success).await;
        }
    }
    fired.sort();
    let a = |m: i64| ("a".to_string(), t0() + secs(60 * m));
    let b = |m: i64| ("b".to_string(), t0() + secs(60 * m));
    assert_eq!(fired, vec![a(15), a(30), a(45), a(60), b(20), b(40), b(60)]);
}

#[tokio::test]
async fn a_running_binding_skips_its_next_slot() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;
    h.set_time(at(10, 1, 0)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 1, 0));

    // Still running at 10:02: that slot is skipped, 10:03 is next.
    h.set_time(at(10, 2, 0)).await;
    let s = h.status("kr");
    assert!(s.running);
    assert_eq!(s.skipped, 1);
    assert_eq!(s.last_slot, Some(at(10, 1, 0)));
    assert_eq!(s.next_slot, Some(at(10, 3, 0)));
    assert!(h.jobs.try_recv().is_err(), "no second job while one runs");

    h.finish(held, Outcome::Success).await;
    h.set_time(at(10, 3, 0)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 3, 0));
    assert_eq!(h.status("kr").skipped, 1);
    h.finish(held, Outcome::Success).await;
}

#[tokio::test]
async fn max_concurrency_is_respected() {
    let mut h = Harness::new(SchedulerConfig {
        max_concurrency: 2,
        ..config()
    });
    let ids: Vec<String> = (0..5).map(|i| format!("kr-{i}")).collect();
    h.set_bindings(ids.iter().map(|id| binding(id, "* * * * *")).collect())
        .await;
    h.set_time(at(10, 1, 0)).await;
    assert_eq!(h.running().len(), 5, "all five are dispatched");

    let mut held = vec![h.next_job().await, h.next_job().await];
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.in_flight.load(Ordering::SeqCst), 2);
    assert!(h.jobs.try_recv().is_err(), "a third waits for a permit");

    let mut done = Vec::new();
    while let Some(job) = held.pop() {
        done.push(job.job.binding.clone());
        h.finish(job, Outcome::Success).await;
        if done.len() + held.len() < 5 {
            held.push(h.next_job().await);
        }
        assert!(h.in_flight.load(Ordering::SeqCst) <= 2);
    }
    done.sort();
    assert_eq!(done, ids);
    assert_eq!(h.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn jitter_is_deterministic_bounded_and_spread() {
    let jitter = Duration::from_secs(60);
    let cfg = SchedulerConfig { jitter, ..config() };
    let ids: Vec<String> = (0..50).map(|i| format!("kr-{i}")).collect();
    let bindings: Vec<Entry> = ids.iter().map(|id| binding(id, "*/15 * * * *")).collect();

    let mut h = Harness::new(cfg.clone());
    h.set_bindings(bindings.clone()).await;
    let first = h.handle.status();
    let mut offsets = Vec::new();
    for s in &first {
        assert_eq!(s.next_slot, Some(at(10, 15, 0)));
        let offset = (s.next_run.unwrap() - at(10, 15, 0)).to_std().unwrap();
        assert!(offset < jitter, "{}: {offset:?}", s.id);
        assert_eq!(offset, jitter_offset(&s.id, jitter));
        offsets.push(offset.as_secs());
    }
    offsets.sort();
    offsets.dedup();
    assert!(offsets.len() >= 30, "offsets spread: {offsets:?}");

    // Deterministic: another scheduler plans the same run times.
    let other = Harness::new(cfg);
    other.set_bindings(bindings).await;
    assert_eq!(other.handle.status(), first);

    // The earliest binding runs at slot + offset, with the cron slot as key.
    let earliest = first.iter().min_by_key(|s| s.next_run).unwrap();
    let run_at = earliest.next_run.unwrap();
    h.set_time(run_at - TimeDelta::milliseconds(1)).await;
    assert!(h.running().is_empty());
    h.set_time(run_at).await;
    let held = h.next_job().await;
    assert_eq!(held.job.binding, earliest.id);
    assert_eq!(held.job.slot, at(10, 15, 0));
    h.finish(held, Outcome::Success).await;
}

#[tokio::test]
async fn jitter_is_capped_at_the_gap() {
    let jitter = Duration::from_secs(600);
    let h = Harness::new(SchedulerConfig { jitter, ..config() });
    let ids: Vec<String> = (0..200).map(|i| format!("kr-{i}")).collect();
    h.set_bindings(ids.iter().map(|id| binding(id, "* * * * *")).collect())
        .await;
    let minute = Duration::from_secs(60);
    let mut second_half = 0;
    for s in h.handle.status() {
        let offset = (s.next_run.unwrap() - s.next_slot.unwrap())
            .to_std()
            .unwrap();
        assert!(offset < minute, "{}: {offset:?}", s.id);
        assert_eq!(offset, jitter_offset(&s.id, minute));
        second_half += usize::from(offset >= minute / 2);
    }
    // Spread over the whole minute, not crammed into its first half.
    assert!((60..=140).contains(&second_half), "{second_half} of 200");
}

#[tokio::test]
async fn runs_jittered_over_the_whole_gap_keep_the_slots_order() {
    // Gaps of 5 and 55 minutes, windows of 5 and 55 minutes: every run
    // still comes before the following slot.
    let jitter = Duration::from_secs(3600);
    let mut h = Harness::new(SchedulerConfig { jitter, ..config() });
    let ids: Vec<String> = (0..20).map(|i| format!("kr-{i}")).collect();
    for id in &ids {
        h.set_bindings(vec![binding(id, "0,5 * * * *")]).await;
        let mut slots = Vec::new();
        for _ in 0..4 {
            let s = h.status(id);
            let (slot, run_at) = (s.next_slot.unwrap(), s.next_run.unwrap());
            let following = if slot.minute() == 0 {
                slot + secs(300)
            } else {
                slot + secs(3300)
            };
            assert!(
                slot <= run_at && run_at < following,
                "{id}: {slot} runs at {run_at}"
            );
            h.set_time(run_at).await;
            let held = h.next_job().await;
            assert_eq!(held.job.slot, slot);
            slots.push(slot);
            h.finish(held, Outcome::Success).await;
        }
        assert!(slots.windows(2).all(|p| p[0] < p[1]), "{id}: {slots:?}");
    }
}

#[tokio::test]
async fn backoff_doubles_and_resets_on_success() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "*/10 * * * * *")]).await;

    // Fails at 10:00:10 -> not before +30 s; the slots at :20 and :30 are skipped.
    h.set_time(at(10, 0, 10)).await;
    let held = h.next_job().await;
    h.finish(held, transient(None)).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 1);
    assert_eq!(s.not_before, Some(at(10, 0, 40)));
    assert_eq!(s.next_slot, Some(at(10, 0, 40)));
    h.set_time(at(10, 0, 30)).await;
    assert!(h.running().is_empty());

    // Second failure: 60 s.
    h.set_time(at(10, 0, 40)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 0, 40));
    h.finish(held, transient(None)).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.not_before, Some(at(10, 1, 40)));
    assert_eq!(s.next_slot, Some(at(10, 1, 40)));

    // Third failure: 120 s.
    h.set_time(at(10, 1, 40)).await;
    let held = h.next_job().await;
    h.finish(held, transient(None)).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.not_before, Some(at(10, 3, 40)));

    // Success resets: back to every 10 s.
    h.set_time(at(10, 3, 40)).await;
    let held = h.next_job().await;
    h.finish(held, Outcome::Success).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.not_before, None);
    assert_eq!(s.next_slot, Some(at(10, 3, 50)));
    assert_eq!(s.skipped, 0, "backoff is not an overlap skip");
}

/// A run the database could not finish is the same slot again soon: no
/// failure counted, no backoff, and dropped once the next slot is due first.
#[tokio::test]
async fn a_deferred_run_retries_its_own_slot_without_backing_off() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;
    h.set_time(at(10, 1, 0)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 1, 0));
    let deferred = Outcome::Deferred {
        retry_in: Duration::from_secs(4),
    };
    h.finish(held, deferred).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.not_before, None);
    assert_eq!(s.next_slot, Some(at(10, 1, 0)), "the same slot");
    assert_eq!(s.next_run, Some(at(10, 1, 4)));
    h.set_time(at(10, 1, 3)).await;
    assert!(h.running().is_empty());
    h.set_time(at(10, 1, 4)).await;
    let again = h.next_job().await;
    assert_eq!(again.job.slot, at(10, 1, 0), "the deferred slot runs again");
    // Deferred past the next slot: that slot takes over.
    h.finish(
        again,
        Outcome::Deferred {
            retry_in: Duration::from_secs(120),
        },
    )
    .await;
    let s = h.status("kr");
    assert_eq!(s.next_slot, Some(at(10, 2, 0)));
    assert_eq!(s.consecutive_failures, 0);
    h.set_time(at(10, 2, 0)).await;
    let next = h.next_job().await;
    assert_eq!(next.job.slot, at(10, 2, 0));
    h.finish(next, Outcome::Success).await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;

    // Transient, Retry-After longer than the 30 s backoff: 5 minutes.
    h.set_time(at(10, 1, 0)).await;
    let held = h.next_job().await;
    h.finish(held, transient(Some(Duration::from_secs(300))))
        .await;
    let s = h.status("kr");
    assert_eq!(s.not_before, Some(at(10, 6, 0)));
    assert_eq!(s.next_slot, Some(at(10, 6, 0)));

    // Transient, Retry-After shorter than the backoff (60 s): backoff wins.
    h.set_time(at(10, 6, 0)).await;
    let held = h.next_job().await;
    h.finish(held, transient(Some(Duration::from_secs(5))))
        .await;
    assert_eq!(h.status("kr").not_before, Some(at(10, 7, 0)));

    // Permanent with Retry-After: honoured.
    h.set_time(at(10, 7, 0)).await;
    let held = h.next_job().await;
    let permanent = |retry_after| Outcome::Failure {
        transient: false,
        retry_after,
    };
    h.finish(held, permanent(Some(Duration::from_secs(150))))
        .await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.not_before, Some(at(10, 9, 30)));
    assert_eq!(s.next_slot, Some(at(10, 10, 0)));

    // Permanent without Retry-After: no backoff, the next slot runs.
    h.set_time(at(10, 10, 0)).await;
    let held = h.next_job().await;
    h.finish(held, permanent(None)).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 4);
    assert_eq!(s.not_before, None);
    assert_eq!(s.next_slot, Some(at(10, 11, 0)));
}

#[tokio::test]
async fn set_bindings_adds_removes_and_keeps() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("a", "*/10 * * * * *")]).await;
    h.set_time(at(10, 0, 10)).await;
    let held = h.next_job().await;
    h.finish(held, transient(None)).await;
    assert_eq!(h.status("a").next_slot, Some(at(10, 0, 40)));

    // Adding b keeps a's plan (a fresh plan would say 10:00:20) and its failures.
    h.set_time(at(10, 0, 15)).await;
    h.set_bindings(vec![
        binding("a", "*/10 * * * * *"),
        binding("b", "*/15 * * * *"),
    ])
    .await;
    let a = h.status("a");
    assert_eq!(a.next_slot, Some(at(10, 0, 40)));
    assert_eq!(a.consecutive_failures, 1);
    assert_eq!(h.status("b").next_slot, Some(at(10, 15, 0)));

    // Changing b's schedule re-plans it from now.
    h.set_bindings(vec![
        binding("a", "*/10 * * * * *"),
        binding("b", "*/5 * * * *"),
    ])
    .await;
    assert_eq!(h.status("b").next_slot, Some(at(10, 5, 0)));

    // Removing a: it disappears and never runs again.
    h.set_bindings(vec![binding("b", "*/5 * * * *")]).await;
    let ids: Vec<String> = h.handle.status().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, vec!["b"]);
    h.set_time(at(10, 4, 59)).await;
    assert!(h.running().is_empty());
    assert!(h.jobs.try_recv().is_err());
    h.set_time(at(10, 5, 0)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.binding, "b");
    h.finish(held, Outcome::Success).await;
}

#[tokio::test]
async fn run_now_starts_an_immediate_job() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "*/15 * * * *")]).await;
    h.set_time(at(10, 3, 7)).await;

    assert!(!h.handle.run_now("unknown"));
    assert!(h.handle.run_now("kr"));
    assert!(!h.handle.run_now("kr"), "already running");
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 3, 7));
    h.finish(held, Outcome::Success).await;
    let s = h.status("kr");
    assert_eq!(s.last_slot, Some(at(10, 3, 7)));
    assert_eq!(
        s.next_slot,
        Some(at(10, 15, 0)),
        "the schedule is unchanged"
    );
    assert!(h.handle.run_now("kr"));
    let held = h.next_job().await;
    h.finish(held, Outcome::Success).await;
}

#[tokio::test]
async fn shutdown_waits_for_the_running_job() {
    let mut h = Harness::new(SchedulerConfig {
        max_concurrency: 1,
        ..config()
    });
    h.set_bindings(vec![binding("a", "* * * * *"), binding("b", "* * * * *")])
        .await;
    h.set_time(at(10, 1, 0)).await;
    let held = h.next_job().await;

    h.shutdown.cancel();
    within("settle", h.handle.settle()).await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(!h.task.is_finished(), "waits for the running job");
    assert!(!h.handle.run_now("a") && !h.handle.run_now("b"));
    assert!(h.handle.status().iter().all(|s| s.next_slot.is_none()));

    held.reply.send(Outcome::Success).unwrap();
    within("scheduler exit", &mut h.task).await.unwrap();
    // The job that was waiting for a permit never started.
    assert!(h.jobs.try_recv().is_err());
    assert_eq!(h.max_in_flight.load(Ordering::SeqCst), 1);
    // Time moving on after shutdown starts nothing.
    h.clock.set(at(10, 5, 0));
    assert!(h.running().is_empty());
}

#[tokio::test]
async fn restart_after_downtime_does_not_replay_missed_slots() {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut first = Harness::start(config(), clock.clone());
    first
        .set_bindings(vec![binding("kr", "*/15 * * * *")])
        .await;
    first.set_time(at(10, 15, 0)).await;
    let held = first.next_job().await;
    first.finish(held, Outcome::Success).await;
    first.shutdown.cancel();
    within("scheduler exit", &mut first.task).await.unwrap();

    // Five hours of downtime (20 slots), then a new process.
    clock.set(at(15, 22, 0));
    let mut second = Harness::start(config(), clock.clone());
    second
        .set_bindings(vec![binding("kr", "*/15 * * * *")])
        .await;
    assert!(second.running().is_empty());
    assert!(second.jobs.try_recv().is_err());
    let s = second.status("kr");
    assert_eq!(s.next_slot, Some(at(15, 30, 0)));
    assert_eq!(s.last_slot, None);

    second.set_time(at(15, 30, 0)).await;
    let held = second.next_job().await;
    assert_eq!(held.job.slot, at(15, 30, 0));
    second.finish(held, Outcome::Success).await;
    assert!(second.jobs.try_recv().is_err(), "exactly one job");
}

#[tokio::test]
async fn a_clock_jump_runs_once_not_once_per_missed_slot() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;
    h.set_time(at(10, 10, 30)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 1, 0), "the first missed slot, late");
    h.finish(held, Outcome::Success).await;
    let s = h.status("kr");
    assert_eq!(s.next_slot, Some(at(10, 11, 0)));
    assert!(h.jobs.try_recv().is_err());
}

fn calls_ok() -> bool {
    true
}

#[tokio::test]
async fn a_panicking_runner_counts_as_a_transient_failure() {
    let clock = Arc::new(ManualClock::new(t0()));
    let calls = Arc::new(AtomicUsize::new(0));
    let runner: Runner = {
        let calls = calls.clone();
        Arc::new(move |_job| {
            calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                if calls_ok() {
                    panic!("runner bug");
                }
                Outcome::Success
            })
        })
    };
    let shutdown = CancellationToken::new();
    let (handle, task) = spawn(
        config(),
        clock.clone(),
        runner,
        shutdown.clone(),
        SchedulerTelemetry::unregistered(),
    );
    handle.set_bindings(vec![binding("kr", "* * * * *")]);
    clock.set(at(10, 1, 0));
    let s = within(
        "failure recorded",
        handle.wait_for(|s| {
            s.first()
                .is_some_and(|b| b.consecutive_failures == 1 && !b.running)
        }),
    )
    .await;
    assert_eq!(s[0].not_before, Some(at(10, 1, 30)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    within("scheduler exit", task).await.unwrap();
}

#[tokio::test]
async fn both_clocks_behave_the_same_behind_the_trait_object() {
    use futures_util::FutureExt;
    // The scheduler only sees `Arc<dyn Clock>`: through it, a deadline in the
    // past is ready on the first poll and one in the future is not.
    let manual = Arc::new(ManualClock::new(t0()));
    let clocks: Vec<Arc<dyn Clock>> = vec![manual.clone(), Arc::new(okrd::clock::SystemClock)];
    for clock in &clocks {
        let now = clock.now();
        assert_eq!(
            clock.sleep_until(now - secs(1)).now_or_never(),
            Some(()),
            "a past deadline does not wait"
        );
        assert_eq!(
            clock.sleep_until(now + secs(3600)).now_or_never(),
            None,
            "a deadline an hour away is pending"
        );
    }
    // The manual clock wakes its sleeper when moved to the deadline, not before.
    let dyn_manual: Arc<dyn Clock> = manual.clone();
    let mut sleeper = dyn_manual.sleep_until(t0() + secs(30));
    manual.advance(Duration::from_secs(29));
    assert_eq!((&mut sleeper).now_or_never(), None);
    manual.advance(Duration::from_secs(1));
    within("the manual sleeper wakes", sleeper).await;
    assert_eq!(dyn_manual.now(), t0() + secs(30));
    // The system clock reads the wall clock.
    let drift = clocks[1].now() - Utc::now();
    assert!(
        drift.num_seconds().abs() <= 1,
        "system clock off by {drift}"
    );
}

#[tokio::test]
async fn a_removed_binding_still_running_blocks_its_readded_twin() {
    let mut h = Harness::new(config());
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;
    h.set_time(at(10, 1, 0)).await;
    let held = h.next_job().await;

    h.set_bindings(vec![]).await;
    h.set_bindings(vec![binding("kr", "* * * * *")]).await;
    let s = h.status("kr");
    assert!(s.running, "the old job is still in flight");
    assert_eq!(s.next_slot, Some(at(10, 2, 0)));
    h.set_time(at(10, 2, 0)).await;
    assert_eq!(h.status("kr").skipped, 1);
    assert!(h.jobs.try_recv().is_err());

    // The old incarnation's failure does not leak into the new one.
    h.finish(held, transient(None)).await;
    let s = h.status("kr");
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.not_before, None);
    h.set_time(at(10, 3, 0)).await;
    let held = h.next_job().await;
    assert_eq!(held.job.slot, at(10, 3, 0));
    h.finish(held, Outcome::Success).await;
}

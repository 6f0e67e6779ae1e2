//! The live state every reader renders from: the rollup engine holding each
//! KR's latest value, the snapshot index of the whole stored model, and the
//! published [`Snapshot`]. Values go in (`apply_value`, `refresh_values`), a
//! rebuilt model is swapped in (`replace`), and snapshots come out: coalesced
//! for `/metrics` (`publish_loop`), up to date for API reads (`fresh_snapshot`).

mod index;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use index::{KrLinks, LatestValue, SharedId, SnapshotIndex, latest_values, refs_of, set_of};
pub use snapshot::{SharedSnapshot, Snapshot};

use crate::clock::Clock;
use crate::okr::rollup::RollupEngine;
use crate::store::{HeldValue, Store, StoreError};

/// The rollup engine and the snapshot index it was built with, kept together
/// so a snapshot never pairs one model's states with another's index.
struct Engine {
    rollup: RollupEngine,
    index: Arc<SnapshotIndex>,
    /// Each KR's newest held value (copied on write; snapshots share it).
    held: Arc<HashMap<String, HeldValue>>,
    /// Bumped on every change to either.
    generation: u64,
}

pub struct LiveModel {
    engine: Mutex<Engine>,
    /// `Engine::generation`, readable without the lock.
    changed_generation: AtomicU64,
    /// The generation of the snapshot published last.
    published_generation: AtomicU64,
    /// When the engine's local day ends (unix ms; `i64::MAX`: no sustain
    /// KRs), so reads advance the engine only when a window may close.
    day_ends_ms: AtomicI64,
    /// Makes "is it newer, then store it" one step for racing publishers.
    publishing: Mutex<()>,
    snapshot: SharedSnapshot,
    changed: Notify,
    clock: Arc<dyn Clock>,
}

impl LiveModel {
    /// Starts from `engine` and its `index`, and publishes the first snapshot.
    pub fn new(
        mut engine: RollupEngine,
        index: Arc<SnapshotIndex>,
        snapshot: SharedSnapshot,
        clock: Arc<dyn Clock>,
    ) -> LiveModel {
        engine.advance_to(clock.now());
        let live = LiveModel {
            day_ends_ms: AtomicI64::new(day_ends_ms(&engine)),
            engine: Mutex::new(Engine {
                rollup: engine,
                index,
                held: Arc::default(),
                generation: 1,
            }),
            changed_generation: AtomicU64::new(1),
            published_generation: AtomicU64::new(0),
            publishing: Mutex::new(()),
            snapshot,
            changed: Notify::new(),
            clock,
        };
        live.publish();
        live
    }

    /// Roll a new value up and mark the snapshot stale.
    pub fn apply_value(&self, kr: &str, value: f64, at: DateTime<Utc>) {
        let mut engine = self.lock();
        // A sustain KR's windows are judged on today, not on a stale day.
        if self.advance_locked(&mut engine) {
            self.bump(&mut engine);
        }
        if engine.rollup.set_value(kr, value, at).is_ok() {
            self.bump(&mut engine);
        }
    }

    /// A KR's newest held value changed (`None`: nothing held any more).
    pub fn set_held(&self, kr: &str, held: Option<HeldValue>) {
        let mut engine = self.lock();
        let map = Arc::make_mut(&mut engine.held);
        let changed = match held {
            Some(h) => map.insert(kr.to_string(), h.clone()).as_ref() != Some(&h),
            None => map.remove(kr).is_some(),
        };
        if changed {
            self.bump(&mut engine);
        }
    }

    /// A KR's newest held value, if it has one.
    pub fn held(&self, kr: &str) -> Option<HeldValue> {
        self.lock().held.get(kr).cloned()
    }

    /// Replaces every held value with what the database holds (at start,
    /// and on PostgreSQL to see what other replicas held or resolved).
    pub async fn refresh_held(&self, store: &Store) -> Result<(), StoreError> {
        let held: HashMap<String, HeldValue> = store.held_values().await?.into_iter().collect();
        let mut engine = self.lock();
        if *engine.held != held {
            engine.held = Arc::new(held);
            self.bump(&mut engine);
        }
        Ok(())
    }

    /// Reads the engine and the snapshot index as they are now, under the
    /// lock (keep `f` short: fetches wait for it).
    pub fn read<R>(&self, f: impl FnOnce(&RollupEngine, &SnapshotIndex) -> R) -> R {
        let engine = self.lock();
        f(&engine.rollup, &engine.index)
    }

    /// The snapshot published last (`/metrics`, the web app).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load()
    }

    /// The snapshot with every change made so far: publishes first when the
    /// published one is behind. API reads use it so that a client sees its
    /// own writes; `/metrics` is fine with the coalesced one.
    pub fn fresh_snapshot(&self) -> Arc<Snapshot> {
        self.advance();
        if self.changed_generation.load(Ordering::Acquire)
            > self.published_generation.load(Ordering::Acquire)
        {
            self.publish();
        }
        self.snapshot.load()
    }

    /// Take in check-ins newer than what the engine holds: values written by
    /// other replicas sharing the database. Returns how many KRs moved.
    pub async fn refresh_values(&self, store: &Store) -> Result<usize, StoreError> {
        let latest = store.latest_check_ins().await?;
        let moved = self.take_in(&latest);
        self.refresh_held(store).await?;
        Ok(moved)
    }

    /// `refresh_values` under the lock: the latest check-ins that are newer.
    fn take_in(&self, latest: &[crate::okr::CheckIn]) -> usize {
        let mut engine = self.lock();
        let rollup = &mut engine.rollup;
        let mut moved = 0;
        for c in latest {
            let newer = rollup
                .key_result(&c.key_result)
                .is_some_and(|k| k.last_update.is_none_or(|t| t < c.observed_at));
            if newer
                && rollup
                    .set_value(&c.key_result, c.value, c.observed_at)
                    .is_ok()
            {
                moved += 1;
            }
        }
        if moved > 0 {
            self.bump(&mut engine);
        }
        moved
    }

    /// Swap in a rebuilt model (OKRs changed in the database) and its index.
    /// Values the running engine took in after the new one was read from
    /// the database carry over.
    pub fn replace(&self, mut rollup: RollupEngine, index: Arc<SnapshotIndex>) {
        rollup.advance_to(self.clock.now());
        let mut engine = self.lock();
        carry_over_values(&engine.rollup, &mut rollup);
        self.day_ends_ms
            .store(day_ends_ms(&rollup), Ordering::Release);
        engine.rollup = rollup;
        engine.index = index;
        self.bump(&mut engine);
    }

    /// Build and swap in a new snapshot now.
    pub fn publish(&self) {
        let (snapshot, generation) = {
            let mut engine = self.lock();
            if self.advance_locked(&mut engine) {
                self.mark_changed(&mut engine);
            }
            let snapshot = Snapshot {
                held: engine.held.clone(),
                ..Snapshot::new(
                    &engine.rollup,
                    engine.index.clone(),
                    engine.generation,
                    self.clock.now(),
                )
            };
            (snapshot, engine.generation)
        };
        // Two publishers racing: the later generation wins.
        let _one_at_a_time = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        if self.published_generation.load(Ordering::Acquire) < generation {
            self.snapshot.store(snapshot);
            self.published_generation
                .store(generation, Ordering::Release);
        }
    }

    /// Publish snapshots after changes, at most every `min_interval`, until shutdown.
    /// Coalescing keeps a burst of 10,000 fetches from copying the model 10,000 times.
    /// Also when a local day ends while sustain KRs are judged: their
    /// windows close with the clock, without a new value.
    pub async fn publish_loop(
        self: Arc<Self>,
        min_interval: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            let day_ends = self.read(|engine, _| engine.next_change());
            let clock = self.clock.clone();
            let day_ended = async move {
                match day_ends {
                    Some(t) => clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = day_ended => {}
                _ = shutdown.cancelled() => break,
            }
            self.publish();
            tokio::select! {
                _ = tokio::time::sleep(min_interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.publish();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a change under the lock and wakes the publisher.
    fn bump(&self, engine: &mut Engine) {
        self.mark_changed(engine);
        self.changed.notify_one();
    }

    /// Marks a change under the lock (the caller publishes it).
    fn mark_changed(&self, engine: &mut Engine) {
        engine.generation += 1;
        self.changed_generation
            .store(engine.generation, Ordering::Release);
    }

    /// Moves the engine to the clock's time: sustain KRs' windows may have
    /// closed since (cheap when the local day did not change).
    fn advance(&self) {
        if self.clock.now().timestamp_millis() < self.day_ends_ms.load(Ordering::Acquire) {
            return;
        }
        let mut engine = self.lock();
        if self.advance_locked(&mut engine) {
            self.bump(&mut engine);
        }
    }

    /// `advance` under the lock: true when the engine changed (the caller
    /// marks it). Nothing but an atomic load until the local day ends.
    fn advance_locked(&self, engine: &mut Engine) -> bool {
        let now = self.clock.now();
        if now.timestamp_millis() < self.day_ends_ms.load(Ordering::Acquire) {
            return false;
        }
        let changed = engine.rollup.advance_to(now);
        self.day_ends_ms
            .store(day_ends_ms(&engine.rollup), Ordering::Release);
        changed
    }
}

/// When `engine`'s local day ends, as unix ms (`i64::MAX`: never matters).
fn day_ends_ms(engine: &RollupEngine) -> i64 {
    engine
        .next_change()
        .map_or(i64::MAX, |t| t.timestamp_millis())
}

/// Values in `old` newer than what `new` holds for the same KR: check-ins
/// recorded between reading the database and swapping the engines.
fn carry_over_values(old: &RollupEngine, new: &mut RollupEngine) {
    for k in old.key_results().iter().filter(|k| !k.derived) {
        let (Some(value), Some(at)) = (k.value, k.last_update) else {
            continue;
        };
        let newer = new
            .key_result(&k.id)
            .is_some_and(|n| !n.derived && n.last_update.is_none_or(|t| t < at));
        if newer {
            let _ = new.set_value(&k.id, value, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;
    use crate::okr::file::parse_str;

    /// A sustain KR `nps` (at least 40 in 2 weeks from Monday 5 October),
    /// days in UTC.
    fn sustained() -> RollupEngine {
        let okrs = r#"
[[periods]]
id = "p"
start = "2026-10-05"
end = "2026-10-18"
[[teams]]
id = "t"
name = "T"
[[objectives]]
id = "o"
title = "O"
period = "p"
team = "t"
[[key_results]]
id = "nps"
objective = "o"
team = "t"
owner = "o@x"
title = "NPS"
kind = "sustain"
target = 40
comparison = "at_least"
window = "week"
required = 2
"#;
        let (set, _, problems) = parse_str("okrs.toml", okrs);
        assert!(problems.is_empty(), "{problems:?}");
        RollupEngine::new(&set)
    }

    /// 1,000 KRs in 200 objectives of 5, in 40 teams, all in one period.
    fn thousand_krs() -> RollupEngine {
        let mut okrs =
            String::from("[[periods]]\nid = \"q\"\nstart = \"2026-10-01\"\nend = \"2026-12-31\"\n");
        for t in 0..40 {
            okrs += &format!("[[teams]]\nid = \"t{t}\"\nname = \"T{t}\"\n");
        }
        for o in 0..200 {
            okrs += &format!(
                "[[objectives]]\nid = \"o{o}\"\ntitle = \"O\"\nperiod = \"q\"\nteam = \"t{}\"\n",
                o / 5
            );
        }
        for k in 0..1000 {
            okrs += &format!(
                "[[key_results]]\nid = \"k{k}\"\nobjective = \"o{}\"\nteam = \"t{}\"\n\
                 owner = \"owner{k}@x\"\ntitle = \"K\"\nkind = \"increase\"\nstart = 0\ntarget = 100\n",
                k / 5,
                k / 25
            );
        }
        let (set, _, problems) = parse_str("okrs.toml", &okrs);
        assert!(problems.is_empty(), "{problems:?}");
        RollupEngine::new(&set)
    }

    #[test]
    fn publishing_after_one_check_in_copies_only_that_kr_s_chunks() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap();
        let live = LiveModel::new(
            thousand_krs(),
            Arc::default(),
            SharedSnapshot::default(),
            Arc::new(ManualClock::new(now)),
        );
        let before = live.fresh_snapshot();
        live.apply_value("k517", 40.0, now);
        let after = live.fresh_snapshot();
        assert!(after.version > before.version);
        let kr = after
            .key_results
            .iter()
            .position(|k| &*k.id == "k517")
            .unwrap();
        assert_eq!(after.key_results[kr].value, Some(40.0));
        assert_eq!(
            before.key_results[kr].value, None,
            "the old snapshot is untouched"
        );
        // One chunk of KRs (64 of 1,000), one of objectives, one of teams.
        assert_eq!(after.key_results.chunks_apart_from(&before.key_results), 1);
        assert_eq!(after.objectives.chunks_apart_from(&before.objectives), 1);
        assert_eq!(after.teams.chunks_apart_from(&before.teams), 1);
    }

    #[tokio::test]
    async fn the_publisher_wakes_when_a_window_closes() {
        let wednesday = Utc.with_ymd_and_hms(2026, 10, 7, 12, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(wednesday));
        let mut engine = sustained();
        engine.set_value("nps", 50.0, wednesday).unwrap();
        let live = Arc::new(LiveModel::new(
            engine,
            Arc::default(),
            SharedSnapshot::default(),
            clock.clone(),
        ));
        let progress = || live.snapshot().key_results[0].progress;
        let shutdown = CancellationToken::new();
        let publisher = tokio::spawn(
            live.clone()
                .publish_loop(Duration::from_millis(1), shutdown.clone()),
        );
        // The value came before the publisher started: publish it first.
        live.fresh_snapshot();
        assert_eq!(progress(), 0.0);
        // Monday: the first week closed, with no new value and no reader.
        clock.set(Utc.with_ymd_and_hms(2026, 10, 12, 0, 0, 0).unwrap());
        let published = async {
            while progress() == 0.0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), published)
            .await
            .expect("the publisher republishes when the week ends");
        assert_eq!(progress(), 0.5);
        shutdown.cancel();
        publisher.await.unwrap();
    }
}

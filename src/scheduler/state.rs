//! The scheduler's bookkeeping: bindings, their next slots in a min-heap,
//! which ones are in flight, failures and backoff. Synchronous and
//! clock-free (callers pass `now`), so every rule lives here in one place.

use std::cmp::Reverse;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::backoff::hold_off;
use super::jitter::jitter_offset;
use super::{BindingStatus, Entry, Outcome, Schedule, SchedulerConfig};

/// How many slots planning walks past (missed or backing off) before it
/// jumps straight to the first slot after the hold-off.
const MAX_WALK: usize = 1000;

/// A job to start: which binding, which slot, when it was meant to start,
/// and which incarnation of the binding (a removed and re-added id is a new
/// incarnation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fire {
    pub id: String,
    pub slot: DateTime<Utc>,
    /// The slot plus the binding's jitter (for `start_now`, the request
    /// time): the start it is late against.
    pub run_at: DateTime<Utc>,
    pub incarnation: u64,
}

/// A slot and when it runs (slot + jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planned {
    slot: DateTime<Utc>,
    run_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Tracked {
    binding: Entry,
    incarnation: u64,
    planned: Option<Planned>,
    /// Matches the heap item that is current for this entry; older items
    /// are stale and dropped when they surface.
    seq: u64,
    consecutive_failures: u32,
    not_before: Option<DateTime<Utc>>,
    skipped: u64,
    last_slot: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HeapItem {
    run_at: DateTime<Utc>,
    seq: u64,
    id: String,
}

#[derive(Debug)]
pub(crate) struct State {
    config: SchedulerConfig,
    entries: HashMap<String, Tracked>,
    heap: BinaryHeap<Reverse<HeapItem>>,
    in_flight: HashSet<String>,
    counter: u64,
}

impl State {
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            in_flight: HashSet::new(),
            counter: 0,
        }
    }

    /// Replaces the binding set. New bindings and bindings whose schedule
    /// changed get the first slot strictly after `now`; unchanged ones keep
    /// their planned slot. Failure state survives a schedule change.
    pub fn set_bindings(&mut self, bindings: Vec<Entry>, now: DateTime<Utc>) {
        let mut wanted: HashMap<String, Entry> = HashMap::with_capacity(bindings.len());
        for binding in bindings {
            if let Some(dup) = wanted.insert(binding.id.clone(), binding) {
                tracing::warn!(binding = %dup.id, "duplicate binding id; the last one wins");
            }
        }
        self.entries.retain(|id, _| {
            let keep = wanted.contains_key(id);
            if !keep {
                tracing::debug!(binding = %id, "binding removed");
            }
            keep
        });
        for (id, binding) in wanted {
            let incarnation = self.next_counter();
            match self.entries.entry(id) {
                MapEntry::Occupied(mut e) => {
                    let entry = e.get_mut();
                    let unchanged = *entry.binding.schedule == *binding.schedule;
                    entry.binding = binding;
                    if unchanged {
                        continue;
                    }
                    tracing::debug!(binding = %entry.binding.id, schedule = %entry.binding.schedule, "binding schedule changed");
                    entry.planned = None;
                }
                MapEntry::Vacant(v) => {
                    tracing::debug!(binding = %binding.id, schedule = %binding.schedule, "binding added");
                    v.insert(Tracked {
                        binding,
                        incarnation,
                        planned: None,
                        seq: 0,
                        consecutive_failures: 0,
                        not_before: None,
                        skipped: 0,
                        last_slot: None,
                    });
                }
            }
        }
        let unplanned: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.planned.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in unplanned {
            self.replan(&id, now, now);
        }
        self.compact_heap();
    }

    /// Takes every slot due at `now` off the heap: returns the jobs to start
    /// (already marked in flight) and plans each binding's following slot.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Fire> {
        let mut fires = Vec::new();
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.run_at > now {
                break;
            }
            let Some(Reverse(item)) = self.heap.pop() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&item.id) else {
                continue;
            };
            let Some(planned) = entry.planned.filter(|_| entry.seq == item.seq) else {
                continue;
            };
            if self.in_flight.contains(&item.id) {
                entry.skipped += 1;
                tracing::debug!(binding = %item.id, slot = %planned.slot, "slot skipped: previous job still running");
            } else if entry.not_before.is_some_and(|nb| planned.run_at < nb) {
                // Normally planned past already; kept as a safety net.
                tracing::debug!(binding = %item.id, slot = %planned.slot, "slot skipped: backing off");
            } else {
                entry.last_slot = Some(planned.slot);
                self.in_flight.insert(item.id.clone());
                fires.push(Fire {
                    id: item.id.clone(),
                    slot: planned.slot,
                    run_at: planned.run_at,
                    incarnation: entry.incarnation,
                });
            }
            // The following slot is the first one still ahead of `now`:
            // slots the clock jumped past are dropped, not replayed.
            self.replan(&item.id, planned.slot, now);
        }
        fires
    }

    /// Starts `id` at once (slot `now`), ignoring its schedule and backoff.
    /// `None` if the binding is unknown or already in flight.
    pub fn start_now(&mut self, id: &str, now: DateTime<Utc>) -> Option<Fire> {
        let entry = self.entries.get_mut(id)?;
        if !self.in_flight.insert(id.to_string()) {
            return None;
        }
        entry.last_slot = Some(now);
        Some(Fire {
            id: id.to_string(),
            slot: now,
            run_at: now,
            incarnation: entry.incarnation,
        })
    }

    /// Records how a job ended (`None`: it never started, e.g. shutdown while
    /// waiting for a permit) and applies backoff to the binding's plan.
    pub fn complete(&mut self, fire: &Fire, outcome: Option<Outcome>, now: DateTime<Utc>) {
        self.in_flight.remove(&fire.id);
        let Some(outcome) = outcome else { return };
        let Some(entry) = self.entries.get_mut(&fire.id) else {
            return;
        };
        if entry.incarnation != fire.incarnation {
            return;
        }
        match outcome {
            Outcome::Success => entry.consecutive_failures = 0,
            Outcome::Failure { .. } => {
                entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
            }
            Outcome::Deferred { retry_in } => {
                self.retry_slot(fire, add(now, retry_in));
                return;
            }
        }
        let hold = hold_off(&outcome, entry.consecutive_failures, &self.config);
        entry.not_before = hold.map(|d| add(now, d));
        if let Some(nb) = entry.not_before {
            tracing::debug!(binding = %fire.id, failures = entry.consecutive_failures, not_before = %nb, "backing off");
            if entry.planned.is_some_and(|p| p.run_at < nb) {
                let after = entry.planned.map_or(now, |p| p.slot);
                self.replan(&fire.id, after, now);
            }
        }
    }

    /// Runs `fire`'s slot again at `run_at`, unless the binding's next
    /// planned run comes first (that slot then takes over).
    fn retry_slot(&mut self, fire: &Fire, run_at: DateTime<Utc>) {
        let seq = self.next_counter();
        let Some(entry) = self.entries.get_mut(&fire.id) else {
            return;
        };
        if entry.planned.is_some_and(|p| p.run_at <= run_at) {
            tracing::debug!(binding = %fire.id, slot = %fire.slot, "deferred slot dropped: the next slot comes first");
            return;
        }
        tracing::debug!(binding = %fire.id, slot = %fire.slot, %run_at, "slot deferred");
        entry.seq = seq;
        entry.planned = Some(Planned {
            slot: fire.slot,
            run_at,
        });
        self.heap.push(Reverse(HeapItem {
            run_at,
            seq,
            id: fire.id.clone(),
        }));
    }

    /// The earliest time something is due, dropping stale heap items.
    pub fn next_wake(&mut self) -> Option<DateTime<Utc>> {
        while let Some(Reverse(top)) = self.heap.peek() {
            let current = self
                .entries
                .get(&top.id)
                .is_some_and(|e| e.seq == top.seq && e.planned.is_some());
            if current {
                return Some(top.run_at);
            }
            self.heap.pop();
        }
        None
    }

    pub fn status(&self) -> Vec<BindingStatus> {
        let mut out: Vec<BindingStatus> =
            self.entries.values().map(|e| self.status_of(e)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// One binding's status, without building everyone's (a KR's page).
    pub fn binding_status(&self, id: &str) -> Option<BindingStatus> {
        self.entries.get(id).map(|e| self.status_of(e))
    }

    fn status_of(&self, e: &Tracked) -> BindingStatus {
        BindingStatus {
            id: e.binding.id.clone(),
            next_slot: e.planned.map(|p| p.slot),
            next_run: e.planned.map(|p| p.run_at),
            running: self.in_flight.contains(&e.binding.id),
            consecutive_failures: e.consecutive_failures,
            not_before: e.not_before,
            skipped: e.skipped,
            last_slot: e.last_slot,
        }
    }

    /// Forgets every planned slot (shutdown): nothing more becomes due.
    pub fn clear_plans(&mut self) {
        self.heap.clear();
        for entry in self.entries.values_mut() {
            entry.planned = None;
        }
    }

    /// Plans `id`'s first slot after `after` that runs after `now` and not
    /// before its hold-off, and pushes it on the heap.
    fn replan(&mut self, id: &str, after: DateTime<Utc>, now: DateTime<Utc>) {
        let seq = self.next_counter();
        let jitter = self.config.jitter;
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        entry.seq = seq;
        entry.planned = plan(
            &entry.binding.schedule,
            id,
            jitter,
            after,
            now,
            entry.not_before,
        );
        match entry.planned {
            Some(p) => self.heap.push(Reverse(HeapItem {
                run_at: p.run_at,
                seq,
                id: id.to_string(),
            })),
            None => tracing::warn!(binding = %id, "schedule has no further fire time"),
        }
    }

    /// Rebuilds the heap when stale items outnumber live ones.
    fn compact_heap(&mut self) {
        if self.heap.len() <= 2 * self.entries.len() + 64 {
            return;
        }
        self.heap = self
            .entries
            .values()
            .filter_map(|e| {
                e.planned.map(|p| {
                    Reverse(HeapItem {
                        run_at: p.run_at,
                        seq: e.seq,
                        id: e.binding.id.clone(),
                    })
                })
            })
            .collect();
    }

    fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// The first slot after `after` whose run time is after `now` and not before
/// `not_before`.
fn plan(
    schedule: &Schedule,
    id: &str,
    jitter: Duration,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
    not_before: Option<DateTime<Utc>>,
) -> Option<Planned> {
    let runnable = |p: &Planned| p.run_at > now && not_before.is_none_or(|nb| p.run_at >= nb);
    let mut slot = schedule.next_after(after)?;
    for _ in 0..MAX_WALK {
        let planned = with_jitter(schedule, id, jitter, slot);
        if runnable(&planned) {
            return Some(planned);
        }
        slot = schedule.next_after(slot)?;
    }
    // A frequent schedule and a long hold-off: jump instead of walking.
    let from = not_before.map_or(now, |nb| nb.max(now));
    let planned = with_jitter(schedule, id, jitter, schedule.next_after(from)?);
    Some(planned)
}

/// `slot` plus the binding's jitter offset. The window is capped at the gap
/// to the following slot, so each run comes before the next slot and runs
/// keep the slots' order. The whole gap, not less: 10,000 KRs on one
/// schedule spread over all of it, at half the peak rate of half of it.
fn with_jitter(schedule: &Schedule, id: &str, jitter: Duration, slot: DateTime<Utc>) -> Planned {
    let window = match schedule
        .next_after(slot)
        .and_then(|n| (n - slot).to_std().ok())
    {
        Some(gap) => jitter.min(gap),
        None => jitter,
    };
    Planned {
        slot,
        run_at: add(slot, jitter_offset(id, window)),
    }
}

/// `t + d`, saturating at the end of representable time.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

//! One scheduled fetch, end to end: lease → fetch → validate → idempotent
//! check-in → live model → log. A failure never becomes a check-in: the KR
//! keeps its last good value and the failure is counted with its reason.
//!
//! The database being away is not the source's fault: a lease that cannot
//! be taken defers the slot a few seconds (no failure counted, no backoff),
//! and a value that cannot be written waits in the `backlog` until it can.
//! A success is counted once its value is written.

mod backlog;
mod hold;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio_util::sync::CancellationToken;

pub use backlog::{BACKLOG_CAPACITY, Backlog, Pending};

use crate::binding::{Binding, Sources, fetch_value};
use crate::clock::Clock;
use crate::connectors::{FetchError, Reason, Redactor};
use crate::live::LiveModel;
use crate::metrics::{FetchFailed, FetchSucceeded, InternalEvent, Telemetry};
use crate::okr::guard::{Hold, Verdict};
use crate::okr::{CheckIn, Origin};
use crate::scheduler::{Job, Outcome};
use crate::store::{
    Backend, CheckInWrite, CheckInWriter, Lease, Store, StoreError, StoredCheckIn, Written,
};

pub struct Pipeline {
    store: Store,
    /// Every check-in goes through it: commits shared under load.
    writer: CheckInWriter,
    sources: Sources,
    bindings: RwLock<HashMap<String, Arc<Binding>>>,
    live: Arc<LiveModel>,
    telemetry: Arc<Telemetry>,
    redactor: Redactor,
    clock: Arc<dyn Clock>,
    /// Identifies this process in schedule leases.
    holder: String,
    /// Fetched values waiting for the database.
    backlog: Mutex<Backlog>,
}

pub struct PipelineParts {
    pub store: Store,
    pub writer: CheckInWriter,
    pub sources: Sources,
    pub live: Arc<LiveModel>,
    pub telemetry: Arc<Telemetry>,
    pub redactor: Redactor,
    pub clock: Arc<dyn Clock>,
}

impl Pipeline {
    pub fn new(parts: PipelineParts) -> Arc<Pipeline> {
        let holder = format!("{}:{}", hostname(), std::process::id());
        Arc::new(Pipeline {
            writer: parts.writer,
            store: parts.store,
            sources: parts.sources,
            bindings: RwLock::new(HashMap::new()),
            live: parts.live,
            telemetry: parts.telemetry,
            redactor: parts.redactor,
            clock: parts.clock,
            holder,
            backlog: Mutex::new(Backlog::new(BACKLOG_CAPACITY)),
        })
    }

    pub fn set_bindings(&self, bindings: Vec<Arc<Binding>>) {
        let map = bindings
            .into_iter()
            .map(|b| (b.key_result.clone(), b))
            .collect();
        *self.bindings.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Records a check-in written by a person (with its audit record) and
    /// rolls it up. Runs to the end in a task of its own: a client that
    /// hangs up mid-request must not leave a committed check-in out of the
    /// engine. Returns the stored check-in and whether it is new.
    pub async fn record_check_in(
        self: &Arc<Self>,
        write: CheckInWrite,
    ) -> Result<(StoredCheckIn, bool), StoreError> {
        let pipeline = self.clone();
        let task = tokio::spawn(async move {
            let (value, at) = (write.check_in.value, write.check_in.observed_at);
            let kr = write.check_in.key_result.clone();
            let out = pipeline.writer.write(write).await?.into_stored();
            if out.1 {
                pipeline.live.apply_value(&kr, value, at);
            }
            Ok(out)
        });
        task.await
            .map_err(|e| StoreError::NotReady(format!("the check-in task failed: {e}")))?
    }

    /// The KRs bound to `source`, by id.
    pub fn bound_to(&self, source: &str) -> Vec<String> {
        let bindings = self.bindings.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = bindings
            .values()
            .filter(|b| b.source == source)
            .map(|b| b.key_result.clone())
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn binding(&self, kr: &str) -> Option<Arc<Binding>> {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kr)
            .cloned()
    }

    /// The configured sources by name.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Run one scheduled job. Never panics on bad input from a source.
    pub async fn run_job(&self, job: Job) -> Outcome {
        let Some(binding) = self.binding(&job.binding) else {
            return Outcome::Success;
        };
        let slot_ms = job.slot.timestamp_millis();
        match self.lease(&binding, slot_ms).await {
            Ok(Lease::Won) => {}
            // Another replica fetched this slot, or a later one.
            Ok(Lease::Done) => return Outcome::Success,
            // Another replica is on it: look again once its lease expires,
            // in case it died (a little later than the others, at random).
            Ok(Lease::HeldUntil(expires_ms)) => {
                let left = expires_ms.saturating_sub(self.clock.now().timestamp_millis());
                let retry_in = Duration::from_millis(left.max(0) as u64) + store_retry_delay();
                return Outcome::Deferred { retry_in };
            }
            Err(e) => {
                let retry_in = store_retry_delay();
                tracing::warn!(key_result = %binding.key_result, error = %e, ?retry_in, "cannot take the schedule lease: the database is away; the slot runs again soon");
                return Outcome::Deferred { retry_in };
            }
        }
        let started = Instant::now();
        let result = self.fetch(&binding).await;
        let took = started.elapsed();
        let now = self.clock.now();
        let outcome = match result {
            Ok(value) => {
                let pending = Pending {
                    verdict: self.judge(&binding, value),
                    binding: binding.clone(),
                    value,
                    observed_at: now,
                    slot_ms,
                    took,
                };
                self.record(pending).await;
                Outcome::Success
            }
            Err(err) => {
                FetchFailed {
                    source: &binding.source,
                    key_result: &binding.key_result,
                    error: &err,
                    took,
                    at: now,
                }
                .emit(&self.telemetry.sources);
                Outcome::Failure {
                    transient: err.reason.is_transient(),
                    retry_after: err.retry_after,
                }
            }
        };
        self.lease_done(&binding.key_result, slot_ms).await;
        outcome
    }

    /// Claims a slot of a KR for this process. Only replicas sharing a
    /// PostgreSQL database can contend; SQLite serves one process, so there
    /// every slot is this process's (the check-in's idempotency key still
    /// records a slot once). Not writing the lease there halves the fsynced
    /// commits per fetch, the bottleneck with 10,000 KRs a minute. The lease
    /// lasts the source's fetch deadline and a margin: a holder still alive
    /// then has given up on the fetch.
    async fn lease(&self, binding: &Binding, slot_ms: i64) -> Result<Lease, StoreError> {
        if self.store.backend() == Backend::Sqlite {
            return Ok(Lease::Won);
        }
        let deadline = self
            .sources
            .get(&binding.source)
            .map_or(Duration::from_secs(60), |s| s.fetch_deadline);
        self.store
            .try_lease(
                &binding.key_result,
                slot_ms,
                &self.holder,
                deadline + LEASE_MARGIN,
            )
            .await
    }

    /// This process is done with the slot, whatever came of it: no other
    /// replica takes it over. If the database is away the lease simply
    /// expires, and a replica that takes the slot over writes under the
    /// same idempotency key, so nothing is recorded twice.
    async fn lease_done(&self, key_result: &str, slot_ms: i64) {
        if self.store.backend() == Backend::Sqlite {
            return;
        }
        if let Err(e) = self
            .store
            .lease_done(key_result, slot_ms, &self.holder)
            .await
        {
            tracing::debug!(key_result, error = %e, "cannot mark the slot done; its lease will expire");
        }
    }

    /// Fetch and validate one value for a binding, writing nothing.
    pub async fn fetch(&self, binding: &Binding) -> Result<f64, FetchError> {
        let Some(source) = self.sources.get(&binding.source) else {
            return Err(FetchError::new(
                Reason::Parse,
                format!("source `{}` is not configured", binding.source),
            ));
        };
        fetch_value(source, binding, &self.redactor, self.clock.now()).await
    }

    /// Writes a fetched value; once written, rolls it up and counts the
    /// success. A value the database cannot take now waits in the backlog.
    async fn record(&self, p: Pending) {
        if self.repeats_held(&p) {
            self.telemetry.storage.skipped_unchanged.inc();
            return self.succeeded(&p);
        }
        match self.writer.write(check_in_write(&p)).await {
            Ok(written) => self.written(&p, &written).await,
            Err(e) if e.is_unavailable() => {
                tracing::warn!(key_result = %p.binding.key_result, error = %e, "cannot write the check-in now: the database is away; the value waits in memory and is written when it is back");
                self.keep(vec![p], false);
            }
            Err(e) => {
                tracing::error!(key_result = %p.binding.key_result, error = %e, "the database refused the check-in; the value is dropped");
            }
        }
    }

    /// The value is stored: the success counts, and the live model moves
    /// unless an earlier write stored this slot or the value is held. An
    /// unchanged value that the heartbeat did not store still moves the
    /// KR's update time, so the engine and `/metrics` see it fresh.
    async fn written(&self, p: &Pending, written: &Written) {
        match written {
            Written::New(stored) if p.verdict != Verdict::Inside => {
                self.after_held(p, stored).await;
                return self.succeeded(p);
            }
            Written::New(_) => {}
            Written::Existing(_) => return self.succeeded(p),
            Written::Unchanged(_) => self.telemetry.storage.skipped_unchanged.inc(),
        }
        self.live
            .apply_value(&p.binding.key_result, p.value, p.observed_at);
        self.after_counted(p).await;
        self.succeeded(p);
    }

    fn succeeded(&self, p: &Pending) {
        FetchSucceeded {
            source: &p.binding.source,
            key_result: &p.binding.key_result,
            took: p.took,
            at: p.observed_at,
        }
        .emit(&self.telemetry.sources);
    }

    /// Keeps values for a later write (`front`: they were taken from the
    /// backlog and go back in their place).
    fn keep(&self, values: Vec<Pending>, front: bool) {
        let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = if front {
            backlog.put_back(values)
        } else {
            values.into_iter().map(|p| backlog.push(p)).sum()
        };
        let t = &self.telemetry.backlog;
        t.waiting.set(backlog.len() as i64);
        if dropped > 0 {
            t.dropped.inc_by(dropped as u64);
            tracing::error!(
                dropped,
                waiting = backlog.len(),
                "the backlog of unwritten values is full; the oldest values of a KR are dropped"
            );
        }
    }

    /// Values fetched but not yet written.
    pub fn backlog_len(&self) -> usize {
        self.backlog.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Writes the backlog whenever the database takes it, every few
    /// seconds, until `stop`; then tries once more and says what is lost.
    pub async fn drain_backlog(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(store_retry_delay()) => {}
            }
            self.drain_once().await;
        }
        self.drain_once().await;
        let left = self.backlog_len();
        if left > 0 {
            tracing::error!(
                values = left,
                "stopping with fetched values the database never took; they are lost"
            );
        }
    }

    /// Writes what waits, oldest first, until done or the database fails
    /// again. Returns how many were written.
    pub async fn drain_once(&self) -> usize {
        let mut written = 0;
        loop {
            let batch = {
                let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
                let batch = backlog.take(DRAIN_BATCH);
                self.telemetry.backlog.waiting.set(backlog.len() as i64);
                batch
            };
            if batch.is_empty() {
                return written;
            }
            let writes = batch.iter().map(|p| self.writer.write(check_in_write(p)));
            let results = futures_util::future::join_all(writes).await;
            let mut again = Vec::new();
            for (p, result) in batch.into_iter().zip(results) {
                match result {
                    Ok(outcome) => {
                        self.written(&p, &outcome).await;
                        written += 1;
                    }
                    Err(e) if e.is_unavailable() => again.push(p),
                    Err(e) => {
                        tracing::error!(key_result = %p.binding.key_result, error = %e, "the database refused a waiting check-in; the value is dropped");
                    }
                }
            }
            if !again.is_empty() {
                self.keep(again, true);
                return written;
            }
            tracing::info!(
                written,
                waiting = self.backlog_len(),
                "waiting values written"
            );
        }
    }
}

/// How long a lease outlives its source's fetch deadline.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Waiting values written per round.
const DRAIN_BATCH: usize = 256;

/// How long to wait before asking the database again: 2–5 s, random per
/// call, so replicas that lost it together do not return in lockstep.
fn store_retry_delay() -> Duration {
    Duration::from_millis(rand::rng().random_range(2000..5000))
}

/// The check-in a fetched value becomes: one per KR and slot.
fn check_in_write(p: &Pending) -> CheckInWrite {
    CheckInWrite {
        check_in: CheckIn {
            key_result: p.binding.key_result.clone(),
            value: p.value,
            observed_at: p.observed_at,
            origin: Origin::source(&p.binding.source),
            note: None,
            confidence: None,
            idempotency_key: Some(format!("{}@{}", p.binding.key_result, p.slot_ms)),
        },
        is_override: false,
        hold: (p.verdict != Verdict::Inside).then_some(Hold::Held),
        audit: None,
        guard: None,
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "okrd".to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::*;
    use crate::live::SharedSnapshot;
    use crate::okr::rollup::RollupEngine;

    /// A pipeline over a fresh in-memory store holding one approved KR, `kr`.
    async fn pipeline_with_one_kr() -> Arc<Pipeline> {
        use crate::okr::file::parse_str;
        let okrs = r#"
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
id = "kr"
objective = "o"
team = "t"
owner = "o@x"
title = "KR"
kind = "increase"
start = 0
target = 10
"#;
        let (set, _, problems) = parse_str("okrs.toml", okrs);
        assert!(problems.is_empty(), "{problems:?}");
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        store
            .apply(&set, &crate::okr::Ownership::new())
            .await
            .unwrap();
        let (writer, _) = store.check_in_writer(
            tokio_util::sync::CancellationToken::new(),
            Duration::from_secs(3600),
        );
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let live = Arc::new(LiveModel::new(
            RollupEngine::new(&set),
            Arc::default(),
            SharedSnapshot::default(),
            clock.clone(),
        ));
        Pipeline::new(PipelineParts {
            store,
            writer,
            sources: HashMap::new(),
            live,
            telemetry: Arc::new(Telemetry::new()),
            redactor: Redactor::default(),
            clock,
        })
    }

    /// A client that hangs up while its check-in waits for the commit drops
    /// the request's future: the committed check-in must still count.
    #[tokio::test]
    async fn a_check_in_counts_even_when_its_caller_gives_up_waiting() {
        let pipeline = pipeline_with_one_kr().await;
        let check_in = CheckIn {
            key_result: "kr".into(),
            value: 7.0,
            observed_at: Utc::now(),
            origin: Origin::manual("dana"),
            note: None,
            confidence: None,
            idempotency_key: None,
        };
        let audit = crate::store::AuditEntry {
            actor: "dana".into(),
            action: "check_in.create".into(),
            entity_kind: "key_result",
            entity_id: "kr".into(),
            before: None,
            after: None,
        };
        let write = CheckInWrite {
            check_in,
            is_override: false,
            hold: None,
            audit: Some(audit),
            guard: None,
        };
        let mut pending = Box::pin(pipeline.record_check_in(write));
        // Started (queued at the writer), then abandoned.
        assert!(futures_util::poll!(&mut pending).is_pending());
        drop(pending);
        let value = || {
            pipeline
                .live
                .read(|engine, _| engine.key_result("kr").and_then(|k| k.value))
        };
        for _ in 0..200 {
            if value().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(value(), Some(7.0));
        assert_eq!(pipeline.store.latest_check_ins().await.unwrap().len(), 1);
    }
}

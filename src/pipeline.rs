//! One scheduled fetch, end to end: lease → fetch → validate → idempotent
//! check-in → rollup → snapshot. A failure never becomes a check-in: the KR
//! keeps its last good value and the failure is counted with its reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::okr::rollup::RollupEngine;
use crate::okr::{CheckIn, KrKind, Origin, Period};
use crate::scheduler::{Job, Outcome};
use crate::snapshot::{ModelIndex, SharedSnapshot, Snapshot};
use crate::sources::http::HttpClient;
use crate::sources::template::{TemplateContext, render_params};
use crate::sources::{Connector, FetchContext, FetchError, Params, Reason, Redactor, Trace};
use crate::store::{Backend, CheckInWrite, CheckInWriter, Store, StoreError, StoredCheckIn};
use crate::telemetry::SourceTelemetry;

/// A configured `[[sources]]` entry, secrets resolved.
pub struct SourceRuntime {
    pub name: String,
    pub connector_name: String,
    pub connector: Arc<dyn Connector>,
    pub params: Params,
    /// Bound of each request.
    pub timeout: Duration,
    /// Bound of a whole fetch: pages, retries and waits.
    pub fetch_deadline: Duration,
    pub schedule: Option<String>,
    /// The source's client: the shared pool with this source's gate
    /// (`Retry-After` pause, rate limit) and retries.
    pub http: HttpClient,
}

/// An approved KR bound to a source.
#[derive(Debug, Clone)]
pub struct BoundKr {
    pub key_result: String,
    pub kind: KrKind,
    pub source: String,
    pub params: Map<String, Value>,
    pub period: Period,
    pub schedule: String,
    /// The scheduler's time zone, for `{{ today }}`.
    pub timezone: chrono_tz::Tz,
}

/// The rollup engine and the model index it was built with, kept together
/// so a snapshot never pairs one model's states with another's index.
struct Live {
    engine: RollupEngine,
    index: Arc<ModelIndex>,
    /// Bumped on every change to either.
    generation: u64,
}

pub struct Pipeline {
    store: Store,
    /// Every check-in goes through it: commits shared under load.
    writer: CheckInWriter,
    sources: HashMap<String, Arc<SourceRuntime>>,
    bindings: RwLock<HashMap<String, Arc<BoundKr>>>,
    live: Mutex<Live>,
    /// `Live::generation`, readable without the lock.
    changed_generation: AtomicU64,
    /// The generation of the snapshot published last.
    published_generation: AtomicU64,
    /// Makes "is it newer, then store it" one step for racing publishers.
    publishing: Mutex<()>,
    snapshot: SharedSnapshot,
    changed: Notify,
    telemetry: Arc<SourceTelemetry>,
    redactor: Redactor,
    clock: Arc<dyn Clock>,
    /// Identifies this process in schedule leases.
    holder: String,
    /// The reason each binding failed with last, to log a failure once, not on every tick.
    last_failure: Mutex<HashMap<String, Reason>>,
}

pub struct PipelineParts {
    pub store: Store,
    pub writer: CheckInWriter,
    pub sources: HashMap<String, Arc<SourceRuntime>>,
    pub engine: RollupEngine,
    pub index: Arc<ModelIndex>,
    pub snapshot: SharedSnapshot,
    pub telemetry: Arc<SourceTelemetry>,
    pub redactor: Redactor,
    pub clock: Arc<dyn Clock>,
}

impl Pipeline {
    pub fn new(parts: PipelineParts) -> Arc<Pipeline> {
        let holder = format!("{}:{}", hostname(), std::process::id());
        let pipeline = Arc::new(Pipeline {
            writer: parts.writer,
            store: parts.store,
            sources: parts.sources,
            bindings: RwLock::new(HashMap::new()),
            live: Mutex::new(Live {
                engine: parts.engine,
                index: parts.index,
                generation: 1,
            }),
            changed_generation: AtomicU64::new(1),
            published_generation: AtomicU64::new(0),
            publishing: Mutex::new(()),
            snapshot: parts.snapshot,
            changed: Notify::new(),
            telemetry: parts.telemetry,
            redactor: parts.redactor,
            clock: parts.clock,
            holder,
            last_failure: Mutex::new(HashMap::new()),
        });
        pipeline.publish();
        pipeline
    }

    pub fn set_bindings(&self, bindings: Vec<BoundKr>) {
        let map = bindings
            .into_iter()
            .map(|b| (b.key_result.clone(), Arc::new(b)))
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
            let out = pipeline.writer.write(write).await?;
            if out.1 {
                pipeline.apply_value(&kr, value, at);
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

    pub fn binding(&self, kr: &str) -> Option<Arc<BoundKr>> {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kr)
            .cloned()
    }

    /// Run one scheduled job. Never panics on bad input from a source.
    pub async fn run_job(&self, job: Job) -> Outcome {
        let Some(binding) = self.binding(&job.binding) else {
            return Outcome::Success;
        };
        let slot_ms = job.slot.timestamp_millis();
        match self.lease(&binding.key_result, slot_ms).await {
            Ok(true) => {}
            // Another replica fetches this slot.
            Ok(false) => return Outcome::Success,
            Err(e) => {
                tracing::warn!(key_result = %binding.key_result, error = %e, "cannot take the schedule lease; will retry");
                return Outcome::Failure {
                    transient: true,
                    retry_after: None,
                };
            }
        }
        let started = Instant::now();
        let result = self.fetch(&binding).await;
        let took = started.elapsed();
        let now = self.clock.now();
        match result {
            Ok(value) => {
                self.telemetry.record_success(&binding.source, took, now);
                self.note_recovery(&binding);
                self.record(&binding, value, now, slot_ms).await
            }
            Err(err) => {
                self.telemetry
                    .record_failure(&binding.source, &err, took, now);
                self.note_failure(&binding, &err);
                Outcome::Failure {
                    transient: err.reason.is_transient(),
                    retry_after: err.retry_after,
                }
            }
        }
    }

    /// Claims a slot of a KR for this process. Only replicas sharing a
    /// PostgreSQL database can contend; SQLite serves one process, so there
    /// every slot is this process's (the check-in's idempotency key still
    /// records a slot once). Not writing the lease there halves the fsynced
    /// commits per fetch, the bottleneck with 10,000 KRs a minute.
    async fn lease(&self, key_result: &str, slot_ms: i64) -> Result<bool, StoreError> {
        if self.store.backend() == Backend::Sqlite {
            return Ok(true);
        }
        self.store
            .try_lease(key_result, slot_ms, &self.holder)
            .await
    }

    /// Fetch and validate one value for a binding, writing nothing.
    pub async fn fetch(&self, binding: &BoundKr) -> Result<f64, FetchError> {
        let Some(source) = self.sources.get(&binding.source) else {
            return Err(FetchError::new(
                Reason::Parse,
                format!("source `{}` is not configured", binding.source),
            ));
        };
        fetch_value(source, binding, &self.redactor, self.clock.now()).await
    }

    async fn record(
        &self,
        binding: &BoundKr,
        value: f64,
        now: DateTime<Utc>,
        slot_ms: i64,
    ) -> Outcome {
        let check_in = CheckIn {
            key_result: binding.key_result.clone(),
            value,
            observed_at: now,
            origin: Origin::source(&binding.source),
            note: None,
            confidence: None,
            idempotency_key: Some(format!("{}@{}", binding.key_result, slot_ms)),
        };
        let write = CheckInWrite {
            check_in,
            is_override: false,
            audit: None,
            guard: None,
        };
        match self.writer.write(write).await.map(|(_, new)| new) {
            Ok(true) => {
                self.apply_value(&binding.key_result, value, now);
                Outcome::Success
            }
            // This slot was already recorded (a restart or another replica).
            Ok(false) => Outcome::Success,
            Err(e) => {
                tracing::error!(key_result = %binding.key_result, error = %e, "cannot write check-in; the value is kept for the next try");
                Outcome::Failure {
                    transient: true,
                    retry_after: None,
                }
            }
        }
    }

    /// Roll a new value up and mark the snapshot stale.
    pub fn apply_value(&self, kr: &str, value: f64, at: DateTime<Utc>) {
        let mut live = self.lock_live();
        if live.engine.set_value(kr, value, at).is_ok() {
            self.bump(&mut live);
        }
    }

    /// Reads the engine and the model index as they are now, under the lock
    /// (keep `f` short: fetches wait for it).
    pub fn read_live<R>(&self, f: impl FnOnce(&RollupEngine, &ModelIndex) -> R) -> R {
        let live = self.lock_live();
        f(&live.engine, &live.index)
    }

    /// The snapshot with every change made so far: publishes first when the
    /// published one is behind. API reads use it so that a client sees its
    /// own writes; `/metrics` is fine with the coalesced one.
    pub fn fresh_snapshot(&self) -> Arc<Snapshot> {
        if self.changed_generation.load(Ordering::Acquire)
            > self.published_generation.load(Ordering::Acquire)
        {
            self.publish();
        }
        self.snapshot.load()
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a change under the lock and wakes the publisher.
    fn bump(&self, live: &mut Live) {
        live.generation += 1;
        self.changed_generation
            .store(live.generation, Ordering::Release);
        self.changed.notify_one();
    }

    /// Take in check-ins newer than what the engine holds: values written by
    /// other replicas sharing the database. Returns how many KRs moved.
    pub async fn refresh_values(&self) -> Result<usize, crate::store::StoreError> {
        let latest = self.store.latest_check_ins().await?;
        let mut live = self.lock_live();
        let moved = {
            let engine = &mut live.engine;
            let mut moved = 0;
            for c in &latest {
                let newer = engine
                    .key_result(&c.key_result)
                    .is_some_and(|k| k.last_update.is_none_or(|t| t < c.observed_at));
                if newer
                    && engine
                        .set_value(&c.key_result, c.value, c.observed_at)
                        .is_ok()
                {
                    moved += 1;
                }
            }
            moved
        };
        if moved > 0 {
            self.bump(&mut live);
        }
        Ok(moved)
    }

    /// Swap in a rebuilt model (OKRs changed in the database), its index and
    /// its bindings. Values the running engine took in after the new one was
    /// read from the database carry over.
    pub fn replace_model(
        &self,
        mut engine: RollupEngine,
        index: Arc<ModelIndex>,
        bindings: Vec<BoundKr>,
    ) {
        {
            let mut live = self.lock_live();
            carry_over_values(&live.engine, &mut engine);
            live.engine = engine;
            live.index = index;
            self.bump(&mut live);
        }
        self.set_bindings(bindings);
    }

    /// The configured sources by name.
    pub fn source_map(&self) -> &HashMap<String, Arc<SourceRuntime>> {
        &self.sources
    }

    /// Build and swap in a new snapshot now.
    pub fn publish(&self) {
        let (snapshot, generation) = {
            let live = self.lock_live();
            let snapshot = Snapshot::new(
                &live.engine,
                live.index.clone(),
                live.generation,
                self.clock.now(),
            );
            (snapshot, live.generation)
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
    pub async fn publish_loop(
        self: Arc<Self>,
        min_interval: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = self.changed.notified() => {}
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

    fn note_failure(&self, binding: &BoundKr, err: &FetchError) {
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        log_failure(&mut last, binding, err);
    }

    fn note_recovery(&self, binding: &BoundKr) {
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reason) = last.remove(&binding.key_result) {
            tracing::info!(source = %binding.source, key_result = %binding.key_result, after = %reason, "fetch recovered");
        }
    }
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

/// Log a failed fetch once per change of its reason (repeats go to debug):
/// auth failures at error level naming the source whose credentials to check.
fn log_failure(last: &mut HashMap<String, Reason>, binding: &BoundKr, err: &FetchError) {
    let repeated = last.insert(binding.key_result.clone(), err.reason) == Some(err.reason);
    if repeated {
        tracing::debug!(source = %binding.source, key_result = %binding.key_result, reason = %err.reason, error = %err.message, "fetch failed again");
    } else if err.reason == Reason::Auth {
        tracing::error!(
            source = %binding.source,
            key_result = %binding.key_result,
            reason = %err.reason,
            error = %err.message,
            "source `{0}` rejected our credentials (HTTP 401/403, not retried); check the credentials of source `{0}`",
            binding.source
        );
    } else {
        tracing::warn!(source = %binding.source, key_result = %binding.key_result, reason = %err.reason, error = %err.message, "fetch failed; keeping the last good value");
    }
}

/// Fetch one value for a KR from its source now: merge and template params,
/// run the connector with the source's client within its `fetch_deadline`,
/// validate. Writes nothing (`okrd source test` uses it too).
pub async fn fetch_value(
    source: &SourceRuntime,
    binding: &BoundKr,
    redactor: &Redactor,
    now: DateTime<Utc>,
) -> Result<f64, FetchError> {
    fetch_value_traced(source, binding, redactor, now, None).await
}

/// `fetch_value`, describing each request made into `trace` (`okrd source test`).
pub async fn fetch_value_traced(
    source: &SourceRuntime,
    binding: &BoundKr,
    redactor: &Redactor,
    now: DateTime<Utc>,
    trace: Option<&Trace>,
) -> Result<f64, FetchError> {
    let template = template_context(binding, now);
    let params = params_for(source, binding, redactor, &template)?;
    let deadline = tokio::time::Instant::now() + source.fetch_deadline;
    let http = source.http.with_deadline(deadline);
    let ctx = FetchContext {
        source: &source.name,
        key_result: &binding.key_result,
        params: &params,
        http: &http,
        timeout: source.timeout,
        redactor,
        template: &template,
        trace,
    };
    // The HTTP policy keeps every request within the deadline; this also
    // bounds connectors that do other work.
    let value = match tokio::time::timeout_at(deadline, source.connector.fetch(&ctx)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(FetchError::new(
                Reason::Timeout,
                format!(
                    "no complete fetch within the source's fetch_deadline ({:?})",
                    source.fetch_deadline
                ),
            ));
        }
    };
    validate_value(binding.kind, value)
}

/// What templates of one fetch of `binding` can refer to.
pub fn template_context(binding: &BoundKr, now: DateTime<Utc>) -> TemplateContext {
    TemplateContext {
        period_id: binding.period.id.clone(),
        period_start: binding.period.start,
        period_end: binding.period.end,
        now,
        timezone: binding.timezone,
        key_result: binding.key_result.clone(),
    }
}

/// A KR's params merged over its source's (the KR's win), templates rendered.
pub fn params_for(
    source: &SourceRuntime,
    binding: &BoundKr,
    redactor: &Redactor,
    template: &TemplateContext,
) -> Result<Params, FetchError> {
    let merged = source.params.merged_with(&binding.params);
    render_params(&merged, template, redactor)
        .map_err(|e| FetchError::new(Reason::Parse, redactor.redact(&e)))
}

/// A value must be finite, and plausible for its KR.
pub fn validate_value(kind: KrKind, value: f64) -> Result<f64, FetchError> {
    if !value.is_finite() {
        return Err(FetchError::new(
            Reason::InvalidValue,
            format!("value {value} is not a finite number"),
        ));
    }
    if kind == KrKind::Milestone && !(0.0..=1.0).contains(&value) {
        return Err(FetchError::new(
            Reason::InvalidValue,
            format!("milestone value must be 0 (not done) or 1 (done), got {value}"),
        ));
    }
    Ok(value)
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
    use super::*;

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
        let (writer, _) = store.check_in_writer(tokio_util::sync::CancellationToken::new());
        Pipeline::new(PipelineParts {
            store,
            writer,
            sources: HashMap::new(),
            engine: RollupEngine::new(&set),
            index: Arc::default(),
            snapshot: SharedSnapshot::default(),
            telemetry: Arc::new(SourceTelemetry::new()),
            redactor: Redactor::default(),
            clock: Arc::new(crate::clock::SystemClock),
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
            audit: Some(audit),
            guard: None,
        };
        let mut pending = Box::pin(pipeline.record_check_in(write));
        // Started (queued at the writer), then abandoned.
        assert!(futures_util::poll!(&mut pending).is_pending());
        drop(pending);
        let value =
            || pipeline.read_live(|engine, _| engine.key_result("kr").and_then(|k| k.value));
        for _ in 0..200 {
            if value().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(value(), Some(7.0));
        assert_eq!(pipeline.store.latest_check_ins().await.unwrap().len(), 1);
    }

    #[test]
    fn non_finite_values_are_rejected() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = validate_value(KrKind::Increase, v).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidValue);
        }
        assert_eq!(validate_value(KrKind::Decrease, -3.5), Ok(-3.5));
    }

    #[test]
    fn milestones_take_zero_or_one() {
        assert_eq!(validate_value(KrKind::Milestone, 1.0), Ok(1.0));
        assert!(validate_value(KrKind::Milestone, 2.0).is_err());
    }

    /// Log lines written while `f` runs, at `info` and above.
    fn logs(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn an_auth_failure_is_logged_once_as_an_error_naming_the_source() {
        let binding = BoundKr {
            key_result: "kr".into(),
            kind: KrKind::Increase,
            source: "billing".into(),
            params: Map::new(),
            period: Period::quarter_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            schedule: String::new(),
            timezone: chrono_tz::UTC,
        };
        let auth = FetchError::new(Reason::Auth, "GET http://x/: HTTP 401 Unauthorized");
        let mut last = HashMap::new();
        let first = logs(|| log_failure(&mut last, &binding, &auth));
        assert!(first.contains("ERROR"), "{first}");
        assert!(
            first.contains("check the credentials of source `billing`"),
            "{first}"
        );
        let again = logs(|| log_failure(&mut last, &binding, &auth));
        assert!(again.is_empty(), "{again}");
        let other = FetchError::new(Reason::Timeout, "slow");
        let changed = logs(|| log_failure(&mut last, &binding, &other));
        assert!(changed.contains("WARN"), "{changed}");
        let back = logs(|| log_failure(&mut last, &binding, &auth));
        assert!(back.contains("ERROR"), "{back}");
    }
}

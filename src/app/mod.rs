//! The daemon: store, OKR files, sources, rollup, scheduler and HTTP wired
//! together. `run` serves until `shutdown` is cancelled; tests call it with a
//! listener on port 0.

mod connection;
mod fd_limit;
mod listener;
pub mod memory;
mod server;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backfill::{Backfill, Backfiller};
use crate::binding::{self, BindingPlan};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::connectors::params::SystemSecrets;
use crate::live::{LiveModel, SharedSnapshot};
use crate::metrics::Telemetry;
use crate::okr::file::FileProblem;
use crate::pipeline::{Pipeline, PipelineParts};
use crate::reload::{self, Refresher, Reloader, ReloaderParts};
use crate::scheduler::cron::parse_timezone;
use crate::scheduler::{Runner, SchedulerConfig};
use crate::store::{CompactionPlan, Compactor, Store, StoreError};

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    #[error("invalid OKR files:\n{}", join_problems(.0))]
    OkrFiles(Vec<FileProblem>),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn join_problems(problems: &[FileProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// How often, at most, a new snapshot is published while values pour in.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// How long the check-in writer may take, at shutdown, to commit what it holds.
const WRITER_DRAIN: Duration = Duration::from_secs(5);

/// Connect to the database and run migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, AppError> {
    let store = Store::connect(
        settings.database.url.expose(),
        settings.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// Run the daemon until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    run_with_clock(settings, listener, shutdown, Arc::new(SystemClock)).await
}

pub async fn run_with_clock(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> Result<(), AppError> {
    start(settings, listener, shutdown, clock)
        .await?
        .wait()
        .await
}

/// A daemon that is serving: every task it spawned, and how to stop them.
pub struct Running {
    addr: std::net::SocketAddr,
    stopped: tokio::task::JoinHandle<Result<(), AppError>>,
    links: crate::web::SignInLinks,
}

impl Running {
    /// A one-time link that signs a browser in with `token` (a path and query).
    pub fn sign_in_link(&self, token: &str) -> String {
        self.links.issue(token)
    }

    /// Where it listens.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Waits until the daemon has stopped (after `shutdown` was cancelled):
    /// the server, the scheduler and its fetches, the background loops and
    /// the check-in writer have ended, and the store is closed.
    pub async fn wait(self) -> Result<(), AppError> {
        match self.stopped.await {
            Ok(result) => result,
            Err(e) => Err(AppError::Io(std::io::Error::other(format!(
                "the daemon's task failed: {e}"
            )))),
        }
    }
}

/// Start the daemon: check the input, migrate, apply the OKR files, load the
/// model and start serving. Returns once it is ready (what `/readyz` says
/// too); it stops when `shutdown` is cancelled.
pub async fn start(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> Result<Running, AppError> {
    // Everything that can be wrong with the input is checked before anything is written.
    let (sources, redactor) =
        binding::build_sources(&settings, &SystemSecrets).map_err(AppError::Config)?;
    let loaded = crate::reload::load_okr_files(&settings).map_err(AppError::OkrFiles)?;
    for w in loaded.iter().flat_map(|l| &l.warnings) {
        tracing::warn!("{w}");
    }
    if let Some(loaded) = &loaded {
        let problems = binding::file_binding_problems(loaded, &sources, &settings);
        if !problems.is_empty() {
            return Err(AppError::Config(problems));
        }
    }

    let store = open_store(&settings).await?;
    tracing::info!(database = %settings.database.url, backend = ?store.backend(), "database ready");
    // Taken by value: the parsed files are not needed once applied.
    if let Some(loaded) = loaded {
        let plan = store
            .apply_files(&loaded.set, &loaded.ownership, &loaded.files)
            .await?;
        tracing::info!(
            created = plan.created.len(),
            changed = plan.changed.len(),
            archived = plan.archived.len(),
            unchanged = plan.unchanged,
            "applied OKR files"
        );
    }

    // Read before the model: a change in between is picked up by the next refresh.
    let version = store.model_version().await?;
    let (
        engine,
        BindingPlan {
            bound, schedule, ..
        },
        index,
    ) = reload::load_model(&store, &sources, &settings, clock.now()).await?;

    // Every task spawned from here on is tracked and awaited at shutdown.
    let tasks = TaskTracker::new();
    let work = shutdown.child_token();
    // Stopped last, once nothing can hand it a check-in any more.
    let writer_stop = CancellationToken::new();
    let (writer, writer_task) =
        store.check_in_writer(writer_stop.clone(), settings.storage.heartbeat.0);

    let telemetry = Arc::new(Telemetry::new());
    for name in sources.keys() {
        telemetry.sources.register_source(name);
    }
    let engine_size = engine.key_results().len();
    let live = Arc::new(LiveModel::new(
        engine,
        Arc::new(index),
        SharedSnapshot::default(),
        clock.clone(),
    ));
    live.refresh_held(&store).await?;
    let backfill = Backfiller::new(Backfill {
        store: store.clone(),
        writer: writer.clone(),
        sources: sources.clone(),
        redactor: redactor.clone(),
        clock: clock.clone(),
        live: Some(live.clone()),
        telemetry: Some(telemetry.backfill.clone()),
    });
    let pipeline = Pipeline::new(PipelineParts {
        store: store.clone(),
        writer,
        sources,
        live: live.clone(),
        telemetry: telemetry.clone(),
        redactor,
        clock: clock.clone(),
    });
    tracing::info!(
        key_results = engine_size,
        bindings = bound.len(),
        "key results loaded"
    );
    // Every bound KR: days that have a check-in are skipped.
    backfill.update(&bound);
    pipeline.set_bindings(bound);

    let runner: Runner = {
        let pipeline = pipeline.clone();
        Arc::new(move |job| {
            let pipeline = pipeline.clone();
            Box::pin(async move { pipeline.run_job(job).await })
        })
    };
    let (scheduler, scheduler_task) = crate::scheduler::spawn(
        SchedulerConfig {
            max_concurrency: settings.scheduler.max_concurrency.max(1),
            jitter: settings.scheduler.jitter.0,
            backoff_base: settings.scheduler.backoff_base.0,
            backoff_max: settings.scheduler.backoff_max.0,
        },
        clock.clone(),
        runner,
        work.clone(),
        telemetry.scheduler.clone(),
    );
    scheduler.set_bindings(schedule);
    tasks.spawn(async move {
        let _ = scheduler_task.await;
    });
    tasks.spawn(live.clone().publish_loop(PUBLISH_INTERVAL, work.clone()));
    tasks.spawn(pipeline.clone().drain_backlog(work.clone()));
    tasks.spawn(backfill.clone().run(work.clone()));
    if let Some(compactor) = compactor(&settings, &store) {
        let compacted = telemetry.storage.compacted.clone();
        tasks.spawn(compactor.run_every(
            settings.storage.compaction_interval.0,
            clock.clone(),
            work.clone(),
            move |done| compacted.inc_by(done.removed),
        ));
    }
    memory::release_freed_memory();
    tasks.spawn(memory::trim_loop(work.clone()));
    let reloader = Arc::new(Reloader::new(ReloaderParts {
        store: store.clone(),
        settings: settings.clone(),
        live: live.clone(),
        pipeline: pipeline.clone(),
        scheduler: scheduler.clone(),
        backfill: Some(backfill),
        clock: clock.clone(),
        version,
    }));
    let every = settings.database.refresh_interval.0;
    if !every.is_zero() {
        let refresher = Refresher {
            reloader: reloader.clone(),
        };
        tasks.spawn(refresher.run(every, work.clone()));
    }

    let links = crate::web::SignInLinks::default();
    let parts = server::Parts {
        settings: &settings,
        store: store.clone(),
        live,
        telemetry,
        pipeline,
        scheduler,
        reloader,
        clock,
        links: links.clone(),
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz, the web app and the REST API");
    let server = server::serve(listener, parts, shutdown.clone());
    let stop = Stop {
        grace: settings.server.shutdown_grace.0,
        shutdown,
        work,
        tasks,
        writer: writer_task,
        writer_stop,
        store,
    };
    let stopped = tokio::spawn(stop.serve_until_stopped(server));
    Ok(Running {
        addr,
        stopped,
        links,
    })
}

/// The background compaction `[storage]` asks for; none when
/// `raw_retention` is 0.
fn compactor(settings: &Settings, store: &Store) -> Option<Compactor> {
    let storage = &settings.storage;
    if storage.raw_retention.0.is_zero() {
        return None;
    }
    let plan = CompactionPlan {
        retention: storage.raw_retention.0,
        batch: storage.compaction_batch,
        // Checked with the sources at startup.
        timezone: parse_timezone(&settings.scheduler.timezone).unwrap_or(chrono_tz::UTC),
    };
    Some(Compactor::new(store.clone(), plan))
}

/// What stopping the daemon takes, in order.
struct Stop {
    grace: Duration,
    shutdown: CancellationToken,
    work: CancellationToken,
    tasks: TaskTracker,
    writer: tokio::task::JoinHandle<()>,
    writer_stop: CancellationToken,
    store: Store,
}

impl Stop {
    /// Serves until `shutdown`, then stops everything within one grace
    /// period counted from the signal: the server, the scheduler (running
    /// fetches record their values), the background loops; then the
    /// check-in writer commits what it holds and the store closes.
    async fn serve_until_stopped(
        self,
        mut server: impl std::future::Future<Output = std::io::Result<()>> + Unpin,
    ) -> Result<(), AppError> {
        let served = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => None,
            served = &mut server => Some(served),
        };
        // One deadline for everything from the signal on: a client that never
        // finishes its request must not hold the daemon, nor delay the fetches'
        // share of the grace.
        self.work.cancel();
        let grace = self.grace;
        let deadline = tokio::time::Instant::now() + grace;
        let served = match served {
            Some(served) => Ok(served),
            None => tokio::time::timeout_at(deadline, server).await,
        };
        let served = match served {
            Ok(served) => served.map_err(AppError::Io),
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "a client did not finish its request within the grace; not waiting for it"
                );
                Ok(())
            }
        };
        self.tasks.close();
        if tokio::time::timeout_at(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "running fetches did not finish in time; stopping anyway"
            );
        }
        // Nothing hands the writer a check-in any more: it commits what it
        // holds and ends. A commit is short, so this waits past the grace.
        self.writer_stop.cancel();
        let _ = tokio::time::timeout(WRITER_DRAIN, self.writer).await;
        let store = self.store;
        store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// Cancel `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT: shutting down"),
            _ = term => tracing::info!("SIGTERM: shutting down"),
        }
        token.cancel();
    });
}

//! The daemon: store, OKR files, sources, rollup, scheduler and HTTP wired
//! together. `run` serves until `shutdown` is cancelled; tests call it with a
//! listener on port 0.

mod memory;
pub mod model;
mod refresh;
pub mod server;
pub mod sources;
pub mod status_page;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::okr::file::{LoadedOkrs, Problem, load_files};
use crate::okr::validate::{CheckContext, Limits};
use crate::pipeline::{Pipeline, PipelineParts};
use crate::scheduler::cron::{Schedule, parse_timezone};
use crate::scheduler::{Clock, Runner, SchedulerConfig, SystemClock};
use crate::snapshot::SharedSnapshot;
use crate::sources::params::SystemSecrets;
use crate::store::{Store, StoreError};
use crate::telemetry::SourceTelemetry;

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    #[error("invalid OKR files:\n{}", join_problems(.0))]
    OkrFiles(Vec<Problem>),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// How often, at most, a new snapshot is published while values pour in.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// The validation context for OKR files under these settings.
pub fn check_context(settings: &Settings) -> CheckContextOwned {
    CheckContextOwned {
        limits: Limits {
            max_krs_per_objective_per_team: settings.okrs.max_krs_per_objective_per_team,
            max_krs_per_owner_per_period: settings.okrs.max_krs_per_owner_per_period,
        },
        sources: settings.sources.iter().map(|s| s.name.clone()).collect(),
        timezone: settings.scheduler.timezone.clone(),
    }
}

/// Owns what a `CheckContext` borrows.
pub struct CheckContextOwned {
    pub limits: Limits,
    pub sources: std::collections::BTreeSet<String>,
    pub timezone: String,
}

impl CheckContextOwned {
    pub fn with<R>(&self, f: impl FnOnce(&CheckContext) -> R) -> R {
        let tz = parse_timezone(&self.timezone).unwrap_or(chrono_tz::UTC);
        let check_schedule = move |expr: &str| Schedule::parse(expr, tz).map(|_| ());
        let ctx = CheckContext {
            limits: self.limits,
            known_sources: Some(&self.sources),
            check_schedule: Some(&check_schedule),
        };
        f(&ctx)
    }
}

/// Read and validate OKR files under these settings' limits and sources.
pub fn load_okrs(settings: &Settings, files: &[PathBuf]) -> Result<LoadedOkrs, Vec<Problem>> {
    check_context(settings).with(|ctx| load_files(files, ctx))
}

/// Read and validate the OKR files named in the settings.
pub fn load_okr_files(settings: &Settings) -> Result<Option<LoadedOkrs>, AppError> {
    let files = settings.okr_files();
    if files.is_empty() {
        return Ok(None);
    }
    load_okrs(settings, &files)
        .map(Some)
        .map_err(AppError::OkrFiles)
}

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
    // Everything that can be wrong with the input is checked before anything is written.
    let (sources, redactor) =
        sources::build_sources(&settings, &SystemSecrets).map_err(AppError::Config)?;
    let loaded = load_okr_files(&settings)?;
    for w in loaded.iter().flat_map(|l| &l.warnings) {
        tracing::warn!("{w}");
    }
    if let Some(loaded) = &loaded {
        let problems = sources::file_binding_problems(loaded, &sources, &settings);
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
        sources::Bindings {
            bound, schedule, ..
        },
        index,
    ) = model::load_model(&store, &sources, &settings, clock.now()).await?;

    let telemetry = Arc::new(SourceTelemetry::new());
    for name in sources.keys() {
        telemetry.register_source(name);
    }
    let snapshot = SharedSnapshot::default();
    let engine_size = engine.key_results().len();
    let pipeline = Pipeline::new(PipelineParts {
        store: store.clone(),
        sources,
        engine,
        index: Arc::new(index),
        snapshot: snapshot.clone(),
        telemetry: telemetry.clone(),
        redactor,
        clock: clock.clone(),
    });
    tracing::info!(
        key_results = engine_size,
        bindings = bound.len(),
        "key results loaded"
    );
    pipeline.set_bindings(bound);

    let work = shutdown.child_token();
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
    );
    scheduler.set_bindings(schedule);
    let publisher = tokio::spawn(
        pipeline
            .clone()
            .publish_loop(PUBLISH_INTERVAL, work.clone()),
    );
    memory::release_freed_memory();
    tokio::spawn(memory::trim_loop(work.clone()));
    let model = Arc::new(model::ModelService::new(
        store.clone(),
        settings.clone(),
        pipeline.clone(),
        scheduler.clone(),
        clock.clone(),
        version,
    ));
    let every = settings.database.refresh_interval.0;
    if !every.is_zero() {
        let refresher = refresh::Refresher {
            model: model.clone(),
        };
        tokio::spawn(refresher.run(every, work.clone()));
    }

    let state = server::AppState {
        snapshot,
        telemetry,
        store,
        pipeline,
        scheduler,
        clock,
        model,
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz and the status page");
    let server_shutdown = shutdown.clone();
    let mut server = axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
        .into_future();
    let served = tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        served = &mut server => Some(served),
    };

    // One deadline for everything from the signal on: a client that never
    // finishes its request must not hold the daemon, nor delay the fetches'
    // share of the grace.
    work.cancel();
    let grace = settings.server.shutdown_grace.0;
    let deadline = tokio::time::Instant::now() + grace;
    let served = match served {
        Some(served) => Ok(served),
        None => tokio::time::timeout_at(deadline, server).await,
    };
    match served {
        Ok(served) => served?,
        Err(_) => tracing::warn!(
            ?grace,
            "a client did not finish its request within the grace; not waiting for it"
        ),
    }
    if tokio::time::timeout_at(deadline, async {
        let _ = scheduler_task.await;
        let _ = publisher.await;
    })
    .await
    .is_err()
    {
        tracing::warn!(
            ?grace,
            "running fetches did not finish in time; stopping anyway"
        );
    }
    tracing::info!("stopped");
    Ok(())
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

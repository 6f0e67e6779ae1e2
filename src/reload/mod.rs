//! Reloading the OKR model into the running daemon: after an API write (so
//! the writer reads what it wrote), and when another process changed it
//! (`okrd apply`, another replica; see `refresh`). One rebuild at a time;
//! each hands the new bindings to the pipeline, the scheduler and the
//! backfill (which fetches the past days of KRs new or rebound).
//! Also what the model is checked against (`rules`) and how OKR files are
//! read (`files`), shared by the daemon, the API and the commands.

mod files;
mod refresh;

use std::sync::Arc;

use tokio::sync::Mutex;

pub use files::{RuleContext, load_okr_files, load_okrs, rule_context};
pub use refresh::Refresher;

use crate::backfill::Backfiller;
use crate::binding::{self, BindingPlan, Sources};
use crate::clock::Clock;
use crate::config::Settings;
use crate::live::{LiveModel, SnapshotIndex, latest_values, refs_of};
use crate::okr::rollup::RollupEngine;
use crate::pipeline::Pipeline;
use crate::scheduler::SchedulerHandle;
use crate::scheduler::cron::parse_timezone;
use crate::store::{ModelVersion, Store, StoreError};

pub struct Reloader {
    pub store: Store,
    settings: Settings,
    pub live: Arc<LiveModel>,
    pipeline: Arc<Pipeline>,
    scheduler: SchedulerHandle,
    /// Told about every new binding set, to fetch the past days of KRs
    /// that are new or changed.
    backfill: Option<Arc<Backfiller>>,
    clock: Arc<dyn Clock>,
    /// The model version the running engine was built from.
    version: Mutex<ModelVersion>,
}

/// What a [`Reloader`] keeps up to date.
pub struct ReloaderParts {
    pub store: Store,
    pub settings: Settings,
    pub live: Arc<LiveModel>,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub backfill: Option<Arc<Backfiller>>,
    pub clock: Arc<dyn Clock>,
    /// The version the running model was read at.
    pub version: ModelVersion,
}

impl Reloader {
    pub fn new(parts: ReloaderParts) -> Reloader {
        Reloader {
            store: parts.store,
            settings: parts.settings,
            live: parts.live,
            pipeline: parts.pipeline,
            scheduler: parts.scheduler,
            backfill: parts.backfill,
            clock: parts.clock,
            version: Mutex::new(parts.version),
        }
    }

    /// Rebuilds from the database now. Returns once the pipeline, the
    /// scheduler and the next API read see the stored model.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut version = self.version.lock().await;
        self.rebuild(&mut version).await
    }

    /// Rebuilds when the stored model differs from the one running; true if it did.
    pub async fn reload_if_changed(&self) -> Result<bool, StoreError> {
        let mut version = self.version.lock().await;
        if self.store.model_version().await? == *version {
            return Ok(false);
        }
        self.rebuild(&mut version).await?;
        Ok(true)
    }

    async fn rebuild(&self, version: &mut ModelVersion) -> Result<(), StoreError> {
        // Read before the model: a change in between is picked up next time.
        let new_version = self.store.model_version().await?;
        let (engine, plan, index) = load_model(
            &self.store,
            self.pipeline.sources(),
            &self.settings,
            self.clock.now(),
        )
        .await?;
        tracing::debug!(
            key_results = engine.key_results().len(),
            bindings = plan.bound.len(),
            "model rebuilt from the database"
        );
        self.live.replace(engine, Arc::new(index));
        if let Some(backfill) = &self.backfill {
            backfill.update(&plan.bound);
        }
        self.pipeline.set_bindings(plan.bound);
        self.scheduler.set_bindings(plan.schedule);
        *version = new_version;
        Ok(())
    }
}

/// The rollup engine with every KR's latest value, the KRs to fetch, and the
/// snapshot index of the whole model for the API.
pub async fn load_model(
    store: &Store,
    sources: &Sources,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(RollupEngine, BindingPlan, SnapshotIndex), StoreError> {
    let current = store.load_current().await?;
    let set = refs_of(&current);
    let mut engine = RollupEngine::from_refs(&set)
        .with_timezone(parse_timezone(&settings.scheduler.timezone).unwrap_or(chrono_tz::UTC));
    // The history forecasts and sustain windows read: every counted value
    // since the earliest period starts (the latest values come next).
    // A day early: local days east of UTC start before the UTC one.
    if let Some(since) = set.periods.iter().map(|p| p.start_instant()).min() {
        let since = since - chrono::TimeDelta::days(1);
        let values = store.counted_values_since(since).await?;
        engine.load_history(
            values
                .iter()
                .map(|v| (v.key_result.as_str(), v.value, v.observed_at)),
        );
    }
    let latest = store.latest_check_ins().await?;
    engine.load_values(
        latest
            .iter()
            .map(|c| (c.key_result.as_str(), c.value, c.observed_at)),
    );
    let plan = binding::plan_refs(&set, sources, settings, Some(now));
    // KRs from files were checked before applying; these came from elsewhere
    // (an older config, a source removed since): skip them rather than
    // refuse to serve the rest.
    for p in &plan.problems {
        tracing::error!("{p}; it is not fetched until this is fixed");
    }
    let index = SnapshotIndex::new(current, &engine, latest_values(latest));
    Ok((engine, plan, index))
}

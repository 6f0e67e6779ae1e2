//! Rebuilding the in-memory model from the database: after an API write
//! (so the writer reads what it wrote), and when another process changed it
//! (`okrd apply`, another replica; see `refresh`). One rebuild at a time.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::AppError;
use super::sources::{self, Bindings, Sources};
use crate::clock::Clock;
use crate::config::Settings;
use crate::okr::rollup::RollupEngine;
use crate::pipeline::Pipeline;
use crate::scheduler::SchedulerHandle;
use crate::snapshot::ModelIndex;
use crate::snapshot::model::{latest_values, set_of};
use crate::store::{ModelVersion, Store};

pub struct ModelService {
    pub store: Store,
    pub settings: Settings,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub clock: Arc<dyn Clock>,
    /// The model version the running engine was built from.
    version: Mutex<ModelVersion>,
}

impl ModelService {
    pub fn new(
        store: Store,
        settings: Settings,
        pipeline: Arc<Pipeline>,
        scheduler: SchedulerHandle,
        clock: Arc<dyn Clock>,
        version: ModelVersion,
    ) -> ModelService {
        ModelService {
            store,
            settings,
            pipeline,
            scheduler,
            clock,
            version: Mutex::new(version),
        }
    }

    /// Rebuilds from the database now. Returns once the pipeline, the
    /// scheduler and the next API read see the stored model.
    pub async fn reload(&self) -> Result<(), AppError> {
        let mut version = self.version.lock().await;
        self.rebuild(&mut version).await
    }

    /// Rebuilds when the stored model differs from the one running; true if it did.
    pub async fn reload_if_changed(&self) -> Result<bool, AppError> {
        let mut version = self.version.lock().await;
        if self.store.model_version().await? == *version {
            return Ok(false);
        }
        self.rebuild(&mut version).await?;
        Ok(true)
    }

    async fn rebuild(&self, version: &mut ModelVersion) -> Result<(), AppError> {
        // Read before the model: a change in between is picked up next time.
        let new_version = self.store.model_version().await?;
        let (engine, bindings, index) = load_model(
            &self.store,
            self.pipeline.source_map(),
            &self.settings,
            self.clock.now(),
        )
        .await?;
        tracing::debug!(
            key_results = engine.key_results().len(),
            bindings = bindings.bound.len(),
            "model rebuilt from the database"
        );
        self.pipeline
            .replace_model(engine, Arc::new(index), bindings.bound);
        self.scheduler.set_bindings(bindings.schedule);
        *version = new_version;
        Ok(())
    }
}

/// The rollup engine with every KR's latest value, the KRs to fetch, and the
/// index of the whole model for the API.
pub async fn load_model(
    store: &Store,
    sources: &Sources,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(RollupEngine, Bindings, ModelIndex), AppError> {
    let current = store.load_current().await?;
    let set = set_of(&current);
    let mut engine = RollupEngine::new(&set);
    let latest = store.latest_check_ins().await?;
    engine.load_values(
        latest
            .iter()
            .map(|c| (c.key_result.as_str(), c.value, c.observed_at)),
    );
    let bindings = sources::bindings(&set, sources, settings, Some(now));
    // KRs from files were checked before applying; these came from elsewhere
    // (an older config, a source removed since): skip them rather than
    // refuse to serve the rest.
    for p in &bindings.problems {
        tracing::error!("{p}; it is not fetched until this is fixed");
    }
    let index = ModelIndex::new(current, &engine, latest_values(latest));
    Ok((engine, bindings, index))
}

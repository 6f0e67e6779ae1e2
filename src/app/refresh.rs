//! Picking up what other processes wrote to the database: OKRs changed by
//! `okrd apply` (or another replica's API), and values fetched by other
//! replicas. Polled, because neither SQLite nor the Any driver gives us
//! change notifications.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::pipeline::Pipeline;
use crate::scheduler::{Clock, SchedulerHandle};
use crate::store::{Backend, ModelVersion, Store};

pub struct Refresher {
    pub store: Store,
    pub settings: Settings,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: SchedulerHandle,
    pub clock: Arc<dyn Clock>,
    /// The model version the running engine was built from.
    pub version: ModelVersion,
}

impl Refresher {
    /// Every `every` until shutdown: rebuild the model if it changed, else
    /// take in newer values (PostgreSQL, where replicas share the database).
    pub async fn run(mut self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "cannot refresh from the database; will retry");
            }
        }
    }

    pub async fn tick(&mut self) -> Result<(), super::AppError> {
        let version = self.store.model_version().await?;
        if version == self.version {
            // On SQLite this process is the only writer of values: nothing to take in.
            if self.store.backend() != Backend::Postgres {
                return Ok(());
            }
            let moved = self.pipeline.refresh_values().await?;
            if moved > 0 {
                tracing::debug!(key_results = moved, "took in values written elsewhere");
            }
            return Ok(());
        }
        let (engine, bindings) = super::load_model(
            &self.store,
            self.pipeline.source_map(),
            &self.settings,
            self.clock.now(),
        )
        .await?;
        tracing::info!(
            key_results = engine.key_results().len(),
            bindings = bindings.bound.len(),
            "OKRs changed in the database; reloaded"
        );
        self.pipeline.replace_model(engine, bindings.bound);
        self.scheduler.set_bindings(bindings.schedule);
        self.version = version;
        Ok(())
    }
}

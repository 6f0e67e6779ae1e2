//! Picking up what other processes wrote to the database: OKRs changed by
//! `okrd apply` (or another replica's API), and values fetched by other
//! replicas. Polled, because neither SQLite nor the Any driver gives us
//! change notifications.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Reloader;
use crate::store::{Backend, StoreError};

pub struct Refresher {
    pub reloader: Arc<Reloader>,
}

impl Refresher {
    /// Every `every` until shutdown: rebuild the model if it changed, else
    /// take in newer values (PostgreSQL, where replicas share the database).
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
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

    pub async fn tick(&self) -> Result<(), StoreError> {
        if self.reloader.reload_if_changed().await? {
            tracing::info!("OKRs changed in the database; reloaded");
            return Ok(());
        }
        // On SQLite this process is the only writer of values: nothing to take in.
        let reloader = &self.reloader;
        if reloader.store.backend() != Backend::Postgres {
            return Ok(());
        }
        let moved = reloader.live.refresh_values(&reloader.store).await?;
        if moved > 0 {
            tracing::debug!(key_results = moved, "took in values written elsewhere");
        }
        Ok(())
    }
}

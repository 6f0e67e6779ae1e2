//! The in-memory view every reader renders from: KRs, objectives, teams with
//! their progress, and (for the REST API) the whole stored model (its index). Built from
//! the rollup engine and swapped atomically, so `/metrics` never touches the
//! database and never sees half an update.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use crate::okr::Period;
use crate::okr::chunked::Chunked;
use crate::okr::forecast::WeightedProgress;
use crate::okr::rollup::{KrState, ObjectiveState, RollupEngine, TeamState};
use crate::store::HeldValue;

use super::SnapshotIndex;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Approved KRs, in the engine's order (`index.kr_links` indexes them).
    /// Shared with the engine chunk by chunk: a publish copies pointers,
    /// and a value changed afterwards copies only its chunk.
    pub key_results: Chunked<KrState>,
    pub objectives: Chunked<ObjectiveState>,
    pub teams: Chunked<TeamState>,
    pub periods: HashMap<String, Period>,
    pub built_at: Option<DateTime<Utc>>,
    /// Every stored entity, built with the engine these states come from.
    pub index: Arc<SnapshotIndex>,
    /// Counts the changes folded in: a later snapshot has a greater one.
    pub version: u64,
    /// Each KR's newest held value (README "Held values").
    pub held: Arc<HashMap<String, HeldValue>>,
}

impl Snapshot {
    /// A snapshot of the engine alone (an empty index).
    pub fn from_engine(engine: &RollupEngine, now: DateTime<Utc>) -> Snapshot {
        Snapshot::new(engine, Arc::default(), 0, now)
    }

    pub fn new(
        engine: &RollupEngine,
        index: Arc<SnapshotIndex>,
        version: u64,
        now: DateTime<Utc>,
    ) -> Snapshot {
        Snapshot {
            index,
            version,
            key_results: engine.key_results().clone(),
            objectives: engine.objectives().clone(),
            teams: engine.teams().clone(),
            periods: engine
                .periods()
                .iter()
                .map(|p| (p.id.clone(), p.clone()))
                .collect(),
            built_at: Some(now),
            held: Arc::default(),
        }
    }
}

/// The current snapshot, replaced whole on every change.
impl Snapshot {
    /// The engine's state of an approved KR.
    pub fn key_result(&self, id: &str) -> Option<&KrState> {
        let i = self.index.kr_links.get(id)?.engine?;
        self.key_results.get(i)
    }

    /// The period a KR's objective belongs to.
    pub fn key_result_period(&self, id: &str) -> Option<&Period> {
        self.periods.get(&*self.index.kr_links.get(id)?.period)
    }

    /// Where an objective heads: the weighted mean (KR `weight`) of its KRs'
    /// forecast progress, over the KRs that have one.
    pub fn objective_forecast(&self, id: &str) -> Option<f64> {
        self.index
            .krs_of_objective
            .get(id)?
            .iter()
            .filter_map(|k| self.key_result(k))
            .map(|s| (s.weight, s.forecast.map(|f| f.progress)))
            .collect::<WeightedProgress>()
            .mean()
    }
}

#[derive(Clone, Default)]
pub struct SharedSnapshot(Arc<ArcSwap<Snapshot>>);

impl SharedSnapshot {
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub fn store(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }
}

//! The snapshot index: the whole stored model for the REST API: every period, team, objective
//! and KR in every workflow state, with its file and timestamps, indexed by
//! id and by relation. Rebuilt only when the model changes (an API write,
//! `okrd apply`, another replica); check-ins only move the engine's values.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::okr::rollup::RollupEngine;
use crate::okr::{Id, ModelRefs, OkrSet};
use crate::store::Current;

/// The latest value of a KR the rollup engine does not hold (not approved).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatestValue {
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// Ids in the index: shared with the engine's states where it holds the
/// entity, so 100,000 KRs are not spelled out once more per map.
pub type SharedId = Arc<str>;

#[derive(Debug, Default)]
pub struct SnapshotIndex {
    /// Everything stored, keyed (and ordered) by id.
    pub current: Current,
    /// Latest values of KRs outside the engine.
    pub latest: HashMap<Id, LatestValue>,
    /// What a KR's view needs besides its own fields, found with one lookup.
    pub kr_links: HashMap<SharedId, KrLinks>,
    /// Objective id → its position in the engine's `objectives`.
    pub engine_objectives: HashMap<SharedId, usize>,
    /// Objective → its KRs, by id.
    pub krs_of_objective: HashMap<SharedId, Vec<SharedId>>,
    /// Objective → its child objectives, by id.
    pub child_objectives: HashMap<SharedId, Vec<SharedId>>,
    /// Team → its child teams, by id.
    pub child_teams: HashMap<SharedId, Vec<SharedId>>,
}

#[derive(Debug, Default)]
pub struct KrLinks {
    /// The period of the KR's objective; empty when the objective is unknown.
    pub period: SharedId,
    /// Its position in the engine's (and the snapshot's) `key_results`, if approved.
    pub engine: Option<usize>,
    /// The KRs that name it as parent, by id.
    pub children: Vec<SharedId>,
}

/// The engine's `Arc<str>` for an id it holds, else one made once here.
struct Ids<'a> {
    known: HashMap<&'a str, SharedId>,
}

impl<'a> Ids<'a> {
    fn of(engine: &'a RollupEngine) -> Ids<'a> {
        let mut known = HashMap::new();
        for k in engine.key_results() {
            known.insert(&*k.id, k.id.clone());
            known.insert(&*k.period, k.period.clone());
        }
        for o in engine.objectives() {
            known.insert(&*o.id, o.id.clone());
        }
        for t in engine.teams() {
            known.insert(&*t.team, t.team.clone());
        }
        Ids { known }
    }

    fn get(&mut self, id: &str) -> SharedId {
        match self.known.get(id) {
            Some(shared) => shared.clone(),
            None => Arc::from(id),
        }
    }
}

impl SnapshotIndex {
    /// Indexes `current` against the engine built from it. `latest` holds
    /// every KR's latest check-in; those the engine holds are dropped here.
    pub fn new(
        current: Current,
        engine: &RollupEngine,
        latest: impl IntoIterator<Item = (Id, LatestValue)>,
    ) -> SnapshotIndex {
        let mut ids = Ids::of(engine);
        let engine_krs: HashMap<&str, usize> = engine
            .key_results()
            .iter()
            .enumerate()
            .map(|(i, k)| (&*k.id, i))
            .collect();
        let engine_objectives = engine
            .objectives()
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        let latest = latest
            .into_iter()
            .filter(|(id, _)| !engine_krs.contains_key(id.as_str()))
            .collect();
        let mut krs_of_objective: HashMap<SharedId, Vec<SharedId>> = HashMap::new();
        let mut kr_links: HashMap<SharedId, KrLinks> =
            HashMap::with_capacity(current.key_results.len());
        // BTreeMap order: every list below comes out sorted by id.
        for (id, kr) in &current.key_results {
            let shared = ids.get(id);
            krs_of_objective
                .entry(ids.get(&kr.item.objective))
                .or_default()
                .push(shared.clone());
            let period = match current.objectives.get(&kr.item.objective) {
                Some(o) => ids.get(&o.item.period),
                None => ids.get(""),
            };
            let links = kr_links.entry(shared.clone()).or_default();
            links.engine = engine_krs.get(id.as_str()).copied();
            links.period = period;
            if let Some(parent) = &kr.item.parent {
                kr_links
                    .entry(ids.get(parent))
                    .or_default()
                    .children
                    .push(shared);
            }
        }
        let mut child_objectives: HashMap<SharedId, Vec<SharedId>> = HashMap::new();
        for (id, o) in &current.objectives {
            if let Some(parent) = &o.item.parent {
                child_objectives
                    .entry(ids.get(parent))
                    .or_default()
                    .push(ids.get(id));
            }
        }
        let mut child_teams: HashMap<SharedId, Vec<SharedId>> = HashMap::new();
        for (id, t) in &current.teams {
            if let Some(parent) = &t.item.parent {
                child_teams
                    .entry(ids.get(parent))
                    .or_default()
                    .push(ids.get(id));
            }
        }
        drop(ids);
        SnapshotIndex {
            child_teams,
            current,
            latest,
            kr_links,
            engine_objectives,
            krs_of_objective,
            child_objectives,
        }
    }
}

/// The model as an `OkrSet` (for the engine, bindings and rule checks).
pub fn set_of(current: &Current) -> OkrSet {
    current.clone().into_set()
}

/// The model borrowed from the store's rows (no copy, unlike `set_of`).
pub fn refs_of(current: &Current) -> ModelRefs<'_> {
    ModelRefs {
        periods: current.periods.values().map(|s| &s.item).collect(),
        teams: current.teams.values().map(|s| &s.item).collect(),
        objectives: current.objectives.values().map(|s| &s.item).collect(),
        key_results: current.key_results.values().map(|s| &s.item).collect(),
    }
}

/// Latest values from the store's latest check-ins.
pub fn latest_values(
    latest: impl IntoIterator<Item = crate::okr::CheckIn>,
) -> impl Iterator<Item = (Id, LatestValue)> {
    latest.into_iter().map(|c| {
        (
            c.key_result,
            LatestValue {
                value: c.value,
                at: c.observed_at,
            },
        )
    })
}

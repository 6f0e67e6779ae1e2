//! The snapshot index: the whole stored model for the REST API: every period, team, objective
//! and KR in every workflow state, with its file and timestamps, indexed by
//! id and by relation. Rebuilt only when the model changes (an API write,
//! `okrd apply`, another replica); check-ins only move the engine's values.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::okr::rollup::RollupEngine;
use crate::okr::{Id, OkrSet};
use crate::store::Current;

/// The latest value of a KR the rollup engine does not hold (not approved).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatestValue {
    pub value: f64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct SnapshotIndex {
    /// Everything stored, keyed (and ordered) by id.
    pub current: Current,
    /// Latest values of KRs outside the engine.
    pub latest: HashMap<Id, LatestValue>,
    /// What a KR's view needs besides its own fields, found with one lookup.
    pub kr_links: HashMap<Id, KrLinks>,
    /// Objective id → its position in the engine's `objectives`.
    pub engine_objectives: HashMap<Id, usize>,
    /// Objective → its KRs, by id.
    pub krs_of_objective: HashMap<Id, Vec<Id>>,
    /// Objective → its child objectives, by id.
    pub child_objectives: HashMap<Id, Vec<Id>>,
    /// Team → its child teams, by id.
    pub child_teams: HashMap<Id, Vec<Id>>,
}

#[derive(Debug, Default)]
pub struct KrLinks {
    /// The period of the KR's objective; empty when the objective is unknown.
    pub period: Id,
    /// Its position in the engine's (and the snapshot's) `key_results`, if approved.
    pub engine: Option<usize>,
    /// The KRs that name it as parent, by id.
    pub children: Vec<Id>,
}

impl SnapshotIndex {
    /// Indexes `current` against the engine built from it. `latest` holds
    /// every KR's latest check-in; those the engine holds are dropped here.
    pub fn new(
        current: Current,
        engine: &RollupEngine,
        latest: impl IntoIterator<Item = (Id, LatestValue)>,
    ) -> SnapshotIndex {
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
            .map(|(i, o)| (o.id.to_string(), i))
            .collect();
        let latest = latest
            .into_iter()
            .filter(|(id, _)| !engine_krs.contains_key(id.as_str()))
            .collect();
        let mut krs_of_objective: HashMap<Id, Vec<Id>> = HashMap::new();
        let mut kr_links: HashMap<Id, KrLinks> = HashMap::with_capacity(current.key_results.len());
        // BTreeMap order: every list below comes out sorted by id.
        for (id, kr) in &current.key_results {
            krs_of_objective
                .entry(kr.item.objective.clone())
                .or_default()
                .push(id.clone());
            let links = kr_links.entry(id.clone()).or_default();
            links.engine = engine_krs.get(id.as_str()).copied();
            links.period = current
                .objectives
                .get(&kr.item.objective)
                .map(|o| o.item.period.clone())
                .unwrap_or_default();
            if let Some(parent) = &kr.item.parent {
                kr_links
                    .entry(parent.clone())
                    .or_default()
                    .children
                    .push(id.clone());
            }
        }
        let mut child_objectives: HashMap<Id, Vec<Id>> = HashMap::new();
        for (id, o) in &current.objectives {
            if let Some(parent) = &o.item.parent {
                child_objectives
                    .entry(parent.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
        let mut child_teams: HashMap<Id, Vec<Id>> = HashMap::new();
        for (id, t) in &current.teams {
            if let Some(parent) = &t.item.parent {
                child_teams
                    .entry(parent.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
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

//! What the API returns for each entity: its fields under the names of the
//! OKR file format, plus what okrd derives (progress, pace, status, workflow
//! state, the file that manages it). Built from a snapshot, never from the
//! database, except check-ins, reviews and the audit log.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::okr::progress::{self, expected_progress, pace_status};
use crate::okr::rollup::KrState;
use crate::okr::{
    KeyResult, KrKind, Objective, Period, Rollup, SourceBinding, Status, Team, WorkflowState,
};
use crate::snapshot::Snapshot;
use crate::store::{EntityMeta, Stored};

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub id: String,
    pub start: NaiveDate,
    /// The last day (inclusive).
    pub end: NaiveDate,
    /// Share of the period elapsed now, 0..1.
    pub expected_progress: f64,
    #[serde(flatten)]
    pub meta: MetaView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    /// Teams that name this one as parent.
    pub children: Vec<String>,
    #[serde(flatten)]
    pub meta: MetaView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveView {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub period: String,
    pub team: String,
    pub parent: Option<String>,
    pub archived: bool,
    /// Weighted mean of its approved KRs' progress and its child objectives' progress, 0..1.
    pub progress: f64,
    pub expected_progress: f64,
    /// Progress against the period's pace; `no_data` until one of its KRs has a value.
    pub status: Status,
    /// Its KRs (every workflow state), by id.
    pub key_results: Vec<String>,
    /// Objectives that name this one as parent.
    pub children: Vec<String>,
    #[serde(flatten)]
    pub meta: MetaView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResultView {
    pub id: String,
    pub objective: String,
    pub team: String,
    pub owner: String,
    pub title: String,
    pub description: Option<String>,
    pub kind: KrKind,
    pub start: Option<f64>,
    pub target: Option<f64>,
    pub due: Option<NaiveDate>,
    pub unit: Option<String>,
    pub weight: f64,
    pub parent: Option<String>,
    pub rollup: Option<Rollup>,
    /// Where its values come from (the KR's own params; never the source's secrets).
    pub source: Option<SourceBindingView>,
    pub state: WorkflowState,
    /// The period of its objective.
    pub period: String,
    /// The latest value: its latest check-in, or its children's rollup.
    pub value: Option<f64>,
    pub progress: f64,
    pub expected_progress: f64,
    pub status: Status,
    /// When `value` was observed.
    #[serde(serialize_with = "super::time::opt_ms")]
    pub last_update: Option<DateTime<Utc>>,
    /// True for a parent KR without a source of its own: its value comes from its children.
    pub derived: bool,
    /// KRs that name this one as parent.
    pub children: Vec<String>,
    #[serde(flatten)]
    pub meta: MetaView,
}

/// A KR's source binding, as in OKR files.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SourceBindingView {
    /// The `[[sources]]` name.
    #[serde(rename = "use")]
    pub source: String,
    pub schedule: Option<String>,
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl From<&SourceBinding> for SourceBindingView {
    fn from(b: &SourceBinding) -> Self {
        SourceBindingView {
            source: b.source.clone(),
            schedule: b.schedule.clone(),
            params: b.params.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetaView {
    /// The OKR file that manages it (it cannot be changed over the API); `null`: made over the API.
    pub managed_by: Option<String>,
    #[serde(serialize_with = "super::time::ms")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::time::ms")]
    pub updated_at: DateTime<Utc>,
}

impl From<&EntityMeta> for MetaView {
    fn from(m: &EntityMeta) -> Self {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        MetaView {
            managed_by: m.managed_by.clone(),
            created_at: at(m.created_at),
            updated_at: at(m.updated_at),
        }
    }
}

/// What okrd derives for a KR at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KrNumbers {
    pub value: Option<f64>,
    pub progress: f64,
    pub expected: f64,
    pub status: Status,
    pub last_update: Option<DateTime<Utc>>,
    pub derived: bool,
}

/// Renders views from one snapshot at one instant.
pub struct Views<'a> {
    pub snapshot: &'a Snapshot,
    pub now: DateTime<Utc>,
}

impl Views<'_> {
    pub fn period(&self, p: &Stored<Period>) -> PeriodView {
        PeriodView {
            id: p.item.id.clone(),
            start: p.item.start,
            end: p.item.end,
            expected_progress: expected_progress(&p.item, self.now),
            meta: (&p.meta).into(),
        }
    }

    pub fn team(&self, t: &Stored<Team>) -> TeamView {
        let children = self
            .snapshot
            .model
            .current
            .teams
            .values()
            .filter(|c| c.item.parent.as_deref() == Some(t.item.id.as_str()))
            .map(|c| c.item.id.clone())
            .collect();
        TeamView {
            id: t.item.id.clone(),
            name: t.item.name.clone(),
            parent: t.item.parent.clone(),
            children,
            meta: (&t.meta).into(),
        }
    }

    pub fn objective(&self, o: &Stored<Objective>) -> ObjectiveView {
        let model = &self.snapshot.model;
        let id = &o.item.id;
        let progress = model
            .engine_objectives
            .get(id)
            .map_or(0.0, |&i| self.snapshot.objectives[i].progress);
        let expected = self.expected(&o.item.period);
        let status = if self.objective_has_data(id, 0) {
            pace_status(progress, expected)
        } else {
            Status::NoData
        };
        ObjectiveView {
            id: id.clone(),
            title: o.item.title.clone(),
            description: o.item.description.clone(),
            period: o.item.period.clone(),
            team: o.item.team.clone(),
            parent: o.item.parent.clone(),
            archived: o.item.archived,
            progress,
            expected_progress: expected,
            status,
            key_results: model.krs_of_objective.get(id).cloned().unwrap_or_default(),
            children: model.child_objectives.get(id).cloned().unwrap_or_default(),
            meta: (&o.meta).into(),
        }
    }

    /// A KR's value, progress and status now: the engine's for an approved
    /// KR, else its latest check-in judged on its own.
    pub fn key_result_numbers(&self, kr: &KeyResult) -> KrNumbers {
        let model = &self.snapshot.model;
        let period = model
            .current
            .objectives
            .get(&kr.objective)
            .map(|o| o.item.period.as_str())
            .unwrap_or_default();
        let expected = self.expected(period);
        match self.engine_state(&kr.id) {
            Some(s) => KrNumbers {
                value: s.value,
                progress: s.progress,
                expected,
                status: s.status(expected, self.now),
                last_update: s.last_update,
                derived: s.derived,
            },
            None => {
                let latest = model.latest.get(&kr.id);
                let value = latest.map(|l| l.value);
                let p = progress::progress(kr.kind, value, kr.start, kr.target);
                KrNumbers {
                    value,
                    progress: p,
                    expected,
                    status: progress::status(
                        kr.kind,
                        value.is_some(),
                        p,
                        expected,
                        kr.due,
                        self.now,
                    ),
                    last_update: latest.map(|l| l.at),
                    derived: false,
                }
            }
        }
    }

    pub fn key_result(&self, k: &Stored<KeyResult>) -> KeyResultView {
        let model = &self.snapshot.model;
        let kr = &k.item;
        let period = model
            .current
            .objectives
            .get(&kr.objective)
            .map(|o| o.item.period.clone())
            .unwrap_or_default();
        let KrNumbers {
            value,
            progress,
            expected,
            status,
            last_update,
            derived,
        } = self.key_result_numbers(kr);
        KeyResultView {
            id: kr.id.clone(),
            objective: kr.objective.clone(),
            team: kr.team.clone(),
            owner: kr.owner.clone(),
            title: kr.title.clone(),
            description: kr.description.clone(),
            kind: kr.kind,
            start: kr.start,
            target: kr.target,
            due: kr.due,
            unit: kr.unit.clone(),
            weight: kr.weight,
            parent: kr.parent.clone(),
            rollup: kr.rollup,
            source: kr.source.as_ref().map(Into::into),
            state: kr.state,
            period,
            value,
            progress,
            expected_progress: expected,
            status,
            last_update,
            derived,
            children: model.child_krs.get(&kr.id).cloned().unwrap_or_default(),
            meta: (&k.meta).into(),
        }
    }

    /// The engine's state of an approved KR.
    pub fn engine_state(&self, id: &str) -> Option<&KrState> {
        self.snapshot
            .model
            .engine_krs
            .get(id)
            .and_then(|&i| self.snapshot.key_results.get(i))
    }

    fn expected(&self, period: &str) -> f64 {
        self.snapshot
            .model
            .current
            .periods
            .get(period)
            .map_or(0.0, |p| expected_progress(&p.item, self.now))
    }

    /// True when an approved KR of the objective or of a descendant has a value.
    fn objective_has_data(&self, id: &str, depth: usize) -> bool {
        let model = &self.snapshot.model;
        // Cycles are cut by the engine; this bound keeps a corrupt model from looping.
        if depth > model.current.objectives.len() {
            return false;
        }
        let own = model
            .krs_of_objective
            .get(id)
            .into_iter()
            .flatten()
            .any(|k| self.engine_state(k).is_some_and(|s| s.has_data));
        own || model
            .child_objectives
            .get(id)
            .into_iter()
            .flatten()
            .any(|c| self.objective_has_data(c, depth + 1))
    }
}

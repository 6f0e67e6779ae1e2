//! What the API returns for each entity: its fields under the names of the
//! OKR file format, plus what okrd derives (progress, pace, status, workflow
//! state, the file that manages it). Built from a snapshot, never from the
//! database, except check-ins, reviews and the audit log. Views borrow
//! from the snapshot instead of copying its strings: a page of KRs is the
//! API's hottest read.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::sustain::{SustainView, sustain_view};
use crate::live::Snapshot;
use crate::okr::forecast::Forecast;
use crate::okr::guard::Guard;
use crate::okr::progress::{self, expected_progress, pace_status};
use crate::okr::rollup::KrState;
use crate::okr::{
    KeyResult, KrKind, Objective, Period, Rollup, SourceRef, Status, Team, WorkflowState,
};
use crate::store::{EntityMeta, Stored};

const NONE: &[Arc<str>] = &[];

/// A list of shared ids as a JSON array of strings.
fn ids<S: serde::Serializer>(ids: &&[Arc<str>], out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(ids.iter().map(|id| &**id))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView<'a> {
    pub id: &'a str,
    pub start: NaiveDate,
    /// The last day (inclusive).
    pub end: NaiveDate,
    /// Share of the period elapsed now, 0..1.
    pub expected_progress: f64,
    #[serde(flatten)]
    pub meta: MetaView<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub parent: Option<&'a str>,
    /// Teams that name this one as parent.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "ids")]
    pub children: &'a [Arc<str>],
    #[serde(flatten)]
    pub meta: MetaView<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub period: &'a str,
    pub team: &'a str,
    pub parent: Option<&'a str>,
    pub archived: bool,
    /// Weighted mean of its approved KRs' progress and its child objectives' progress, 0..1.
    pub progress: f64,
    pub expected_progress: f64,
    /// Progress against the period's pace; `no_data` until one of its KRs has a value.
    pub status: Status,
    /// Weighted mean of its KRs' forecast progress, for KRs that have a
    /// forecast; `null` when none has.
    pub forecast_progress: Option<f64>,
    /// Its KRs (every workflow state), by id.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "ids")]
    pub key_results: &'a [Arc<str>],
    /// Objectives that name this one as parent.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "ids")]
    pub children: &'a [Arc<str>],
    #[serde(flatten)]
    pub meta: MetaView<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResultView<'a> {
    pub id: &'a str,
    pub objective: &'a str,
    pub team: &'a str,
    pub owner: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub kind: KrKind,
    pub start: Option<f64>,
    pub target: Option<f64>,
    pub due: Option<NaiveDate>,
    pub unit: Option<&'a str>,
    pub weight: f64,
    pub parent: Option<&'a str>,
    pub rollup: Option<Rollup>,
    /// Where its values come from (the KR's own params; never the source's secrets).
    pub source: Option<SourceBindingView<'a>>,
    pub state: WorkflowState,
    /// The period of its objective.
    pub period: &'a str,
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
    /// Where its history heads by the period's end; `null` for kinds other
    /// than increase/decrease and with fewer than 3 days of history.
    pub forecast: Option<ForecastView>,
    /// KRs that name this one as parent.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "ids")]
    pub children: &'a [Arc<str>],
    /// The newest fetched value held outside the KR's guard (README "Held
    /// values"), waiting to be confirmed, accepted or dismissed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldView>,
    /// Sustain KRs: the rule and the windows so far.
    #[serde(flatten)]
    pub sustain: SustainView,
    /// Bounds on believable fetched values (README "Held values").
    pub guard: Option<Guard>,
    #[serde(flatten)]
    pub meta: MetaView<'a>,
}

/// A held value: accept or dismiss it at
/// `/key-results/{id}/check-ins/{check_in}/accept | dismiss`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeldView {
    pub check_in: i64,
    pub value: f64,
    #[serde(serialize_with = "super::time::ms")]
    pub observed_at: DateTime<Utc>,
}

/// A KR's projected value at its period's end (README "Forecasts").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct ForecastView {
    /// The Theil–Sen trend of its daily values, carried to the period's end.
    pub value: f64,
    /// The 90% band around `value`.
    pub low: f64,
    pub high: f64,
    /// Progress of `value`, 0..1.
    pub progress: f64,
    /// The instant projected to: the period's end.
    #[serde(serialize_with = "super::time::ms")]
    pub at: DateTime<Utc>,
}

impl From<Forecast> for ForecastView {
    fn from(f: Forecast) -> Self {
        ForecastView {
            value: f.value,
            low: f.low,
            high: f.high,
            progress: f.progress,
            at: f.at,
        }
    }
}

/// A KR's source binding, as in OKR files.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SourceBindingView<'a> {
    /// The `[[sources]]` name.
    #[serde(rename = "use")]
    pub source: &'a str,
    pub schedule: Option<&'a str>,
    /// Credentials a KR's params hold (an `Authorization` header, a
    /// `password`) show as `***`.
    #[schema(value_type = Object)]
    pub params: Cow<'a, Map<String, Value>>,
}

impl<'a> From<&'a SourceRef> for SourceBindingView<'a> {
    fn from(b: &'a SourceRef) -> Self {
        SourceBindingView {
            source: &b.source,
            schedule: b.schedule.as_deref(),
            params: shown_params(&b.params),
        }
    }
}

/// `params` with what looks like a credential masked. A KR's params are
/// no place for secrets (those are the source's, from env or files), but an
/// OKR file may still carry a literal header; readers of the API must not see it.
fn shown_params(params: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    fn credential(name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        [
            "authorization",
            "cookie",
            "password",
            "secret",
            "token",
            "api_key",
            "apikey",
            "api-key",
        ]
        .iter()
        .any(|c| n.contains(c))
    }
    fn holds_one(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| credential(k) || holds_one(v)),
            Value::Array(a) => a.iter().any(holds_one),
            _ => false,
        }
    }
    fn mask(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if credential(k) {
                        *v = Value::String("***".into());
                    } else {
                        mask(v);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(mask),
            _ => {}
        }
    }
    if !params.iter().any(|(k, v)| credential(k) || holds_one(v)) {
        return Cow::Borrowed(params);
    }
    let mut masked = Value::Object(params.clone());
    mask(&mut masked);
    match masked {
        Value::Object(m) => Cow::Owned(m),
        _ => Cow::Borrowed(params),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetaView<'a> {
    /// The OKR file that manages it (it cannot be changed over the API); `null`: made over the API.
    pub managed_by: Option<&'a str>,
    #[serde(serialize_with = "super::time::ms")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::time::ms")]
    pub updated_at: DateTime<Utc>,
}

impl<'a> From<&'a EntityMeta> for MetaView<'a> {
    fn from(m: &'a EntityMeta) -> Self {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        MetaView {
            managed_by: m.managed_by.as_deref(),
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

impl<'a> Views<'a> {
    pub fn period(&self, p: &'a Stored<Period>) -> PeriodView<'a> {
        PeriodView {
            id: &p.item.id,
            start: p.item.start,
            end: p.item.end,
            expected_progress: expected_progress(&p.item, self.now),
            meta: (&p.meta).into(),
        }
    }

    pub fn team(&self, t: &'a Stored<Team>) -> TeamView<'a> {
        let children = self
            .snapshot
            .index
            .child_teams
            .get(t.item.id.as_str())
            .map_or(NONE, Vec::as_slice);
        TeamView {
            id: &t.item.id,
            name: &t.item.name,
            parent: t.item.parent.as_deref(),
            children,
            meta: (&t.meta).into(),
        }
    }

    pub fn objective(&self, o: &'a Stored<Objective>) -> ObjectiveView<'a> {
        let model = &self.snapshot.index;
        let id = &o.item.id;
        let progress = model
            .engine_objectives
            .get(id.as_str())
            .map_or(0.0, |&i| self.snapshot.objectives[i].progress);
        let expected = self.expected(&o.item.period);
        let status = if self.objective_has_data(id, 0) {
            pace_status(progress, expected)
        } else {
            Status::NoData
        };
        ObjectiveView {
            id,
            title: &o.item.title,
            description: o.item.description.as_deref(),
            period: &o.item.period,
            team: &o.item.team,
            parent: o.item.parent.as_deref(),
            archived: o.item.archived,
            progress,
            expected_progress: expected,
            status,
            forecast_progress: self.snapshot.objective_forecast(id),
            key_results: model
                .krs_of_objective
                .get(id.as_str())
                .map_or(NONE, Vec::as_slice),
            children: model
                .child_objectives
                .get(id.as_str())
                .map_or(NONE, Vec::as_slice),
            meta: (&o.meta).into(),
        }
    }

    /// A KR's value, progress and status now: the engine's for an approved
    /// KR, else its latest check-in judged on its own.
    pub fn key_result_numbers(&self, kr: &KeyResult) -> KrNumbers {
        let expected = self.expected(self.key_result_period(&kr.id));
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
                let latest = self.snapshot.index.latest.get(&kr.id);
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

    /// The period of a KR's objective ("" when it has none).
    pub fn key_result_period(&self, id: &str) -> &'a str {
        self.snapshot
            .index
            .kr_links
            .get(id)
            .map_or("", |l| &*l.period)
    }

    pub fn key_result(&self, k: &'a Stored<KeyResult>) -> KeyResultView<'a> {
        let kr = &k.item;
        let links = self.snapshot.index.kr_links.get(kr.id.as_str());
        let KrNumbers {
            value,
            progress,
            expected,
            status,
            last_update,
            derived,
        } = self.key_result_numbers(kr);
        KeyResultView {
            id: &kr.id,
            objective: &kr.objective,
            team: &kr.team,
            owner: &kr.owner,
            title: &kr.title,
            description: kr.description.as_deref(),
            kind: kr.kind,
            start: kr.start,
            target: kr.target,
            due: kr.due,
            unit: kr.unit.as_deref(),
            weight: kr.weight,
            parent: kr.parent.as_deref(),
            rollup: kr.rollup,
            source: kr.source.as_ref().map(Into::into),
            state: kr.state,
            period: links.map_or("", |l| &*l.period),
            value,
            progress,
            expected_progress: expected,
            status,
            last_update,
            derived,
            forecast: self
                .engine_state(&kr.id)
                .and_then(|s| s.forecast)
                .map(Into::into),
            children: links.map_or(NONE, |l| l.children.as_slice()),
            held: self.snapshot.held.get(&kr.id).map(|h| HeldView {
                check_in: h.check_in,
                value: h.value,
                observed_at: h.observed_at,
            }),
            sustain: sustain_view(kr, self.engine_state(&kr.id)),
            guard: kr.guard,
            meta: (&k.meta).into(),
        }
    }

    /// The engine's state of an approved KR.
    pub fn engine_state(&self, id: &str) -> Option<&'a KrState> {
        self.snapshot.key_result(id)
    }

    fn expected(&self, period: &str) -> f64 {
        self.snapshot
            .index
            .current
            .periods
            .get(period)
            .map_or(0.0, |p| expected_progress(&p.item, self.now))
    }

    /// True when an approved KR of the objective or of a descendant has a value.
    fn objective_has_data(&self, id: &str, depth: usize) -> bool {
        let model = &self.snapshot.index;
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

/// A JSON response, serialised now (views borrow the snapshot the handler holds).
pub fn json<T: Serialize>(value: &T) -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(value).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_krs_params_are_masked() {
        let params = serde_json::json!({
            "value": "$.visitors",
            "headers": {"Authorization": "Bearer abc", "Accept": "application/json"},
            "login": [{"password": "hunter2"}],
        });
        let shown = shown_params(params.as_object().unwrap());
        let shown = Value::Object(shown.into_owned());
        assert_eq!(shown["headers"]["Authorization"], "***");
        assert_eq!(shown["headers"]["Accept"], "application/json");
        assert_eq!(shown["login"][0]["password"], "***");
        assert_eq!(shown["value"], "$.visitors");
        let plain = serde_json::json!({"metric": "calls"});
        assert!(matches!(
            shown_params(plain.as_object().unwrap()),
            Cow::Borrowed(_)
        ));
    }
}

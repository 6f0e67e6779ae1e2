//! The OKR domain as plain data: periods, teams, objectives, key results.
//!
//! These types are what OKR files, the store and the rollup engine share. They
//! hold no behaviour beyond small derived facts (a period's instants).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::guard::Guard;
use super::sustain::Sustain;

pub type Id = String;

/// A time box, usually a quarter. `end` is the last day, inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub id: Id,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// 00:00 UTC of the first day.
    pub fn start_instant(&self) -> DateTime<Utc> {
        self.start.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The calendar quarter holding `day`, with an id like `2026-Q4`.
    pub fn quarter_of(day: NaiveDate) -> Period {
        use chrono::Datelike;
        let q = day.month0() / 3;
        let start = NaiveDate::from_ymd_opt(day.year(), q * 3 + 1, 1).unwrap_or(day);
        let next = if q == 3 {
            NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(day.year(), q * 3 + 4, 1)
        };
        Period {
            id: format!("{}-Q{}", day.year(), q + 1),
            start,
            end: next.and_then(|d| d.pred_opt()).unwrap_or(day),
        }
    }

    /// End of the last day: 00:00 UTC of the day after `end`.
    pub fn end_instant(&self) -> DateTime<Utc> {
        end_of_day(self.end)
    }
}

/// 00:00 UTC of the day after `day`; the end of time for the last day chrono knows.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.checked_add_days(chrono::Days::new(1))
        .map_or(DateTime::<Utc>::MAX_UTC, |next| {
            next.and_time(chrono::NaiveTime::MIN).and_utc()
        })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: Id,
    pub name: String,
    pub parent: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub id: Id,
    pub title: String,
    pub description: Option<String>,
    pub period: Id,
    pub team: Id,
    pub parent: Option<Id>,
    pub archived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KrKind {
    Increase,
    Decrease,
    AtLeast,
    AtMost,
    Milestone,
    /// Hold a level in enough windows of the period (README "Sustained key results").
    Sustain,
}

impl KrKind {
    pub const ALL: [KrKind; 6] = [
        KrKind::Increase,
        KrKind::Decrease,
        KrKind::AtLeast,
        KrKind::AtMost,
        KrKind::Milestone,
        KrKind::Sustain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KrKind::Increase => "increase",
            KrKind::Decrease => "decrease",
            KrKind::AtLeast => "at_least",
            KrKind::AtMost => "at_most",
            KrKind::Milestone => "milestone",
            KrKind::Sustain => "sustain",
        }
    }

    pub fn parse(s: &str) -> Option<KrKind> {
        KrKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a parent KR without a source of its own derives its value from its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rollup {
    Sum,
    Mean,
    Min,
    Max,
}

impl Rollup {
    pub const ALL: [Rollup; 4] = [Rollup::Sum, Rollup::Mean, Rollup::Min, Rollup::Max];

    pub fn as_str(self) -> &'static str {
        match self {
            Rollup::Sum => "sum",
            Rollup::Mean => "mean",
            Rollup::Min => "min",
            Rollup::Max => "max",
        }
    }

    pub fn parse(s: &str) -> Option<Rollup> {
        Rollup::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The bottom-up review workflow. Only `Approved` KRs are fetched and rolled up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    Draft,
    Proposed,
    ChangesRequested,
    Approved,
    Rejected,
    Archived,
}

impl WorkflowState {
    pub const ALL: [WorkflowState; 6] = [
        WorkflowState::Draft,
        WorkflowState::Proposed,
        WorkflowState::ChangesRequested,
        WorkflowState::Approved,
        WorkflowState::Rejected,
        WorkflowState::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Draft => "draft",
            WorkflowState::Proposed => "proposed",
            WorkflowState::ChangesRequested => "changes_requested",
            WorkflowState::Approved => "approved",
            WorkflowState::Rejected => "rejected",
            WorkflowState::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<WorkflowState> {
        WorkflowState::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A KR's health against its pace (README "Progress and status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NoData,
    OffTrack,
    AtRisk,
    OnTrack,
    Done,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::NoData,
        Status::OffTrack,
        Status::AtRisk,
        Status::OnTrack,
        Status::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NoData => "no_data",
            Status::OffTrack => "off_track",
            Status::AtRisk => "at_risk",
            Status::OnTrack => "on_track",
            Status::Done => "done",
        }
    }
}

/// Where a KR's values come from: a `[[sources]]` entry plus KR-specific params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The `[[sources]]` name (`use` in OKR files, and so in JSON).
    #[serde(rename = "use")]
    pub source: String,
    /// Overrides the source's schedule for this KR.
    pub schedule: Option<String>,
    /// Connector params merged over the source's params (the KR's win).
    pub params: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyResult {
    pub id: Id,
    pub objective: Id,
    pub team: Id,
    pub owner: String,
    pub title: String,
    pub description: Option<String>,
    pub kind: KrKind,
    /// Baseline for increase/decrease; unused by the other kinds.
    pub start: Option<f64>,
    /// Goal value; for milestones always 1 (done).
    pub target: Option<f64>,
    /// Milestone deadline.
    pub due: Option<NaiveDate>,
    pub unit: Option<String>,
    /// Weight in its objective's progress (default 1).
    pub weight: f64,
    pub parent: Option<Id>,
    pub rollup: Option<Rollup>,
    pub source: Option<SourceRef>,
    pub state: WorkflowState,
    /// The rule of a sustain KR; `None` for every other kind.
    pub sustain: Option<Sustain>,
    /// The KR's own guard against implausible fetched values (over its source's).
    pub guard: Option<Guard>,
}

/// A whole OKR model: what one or more OKR files declare, or what the store holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OkrSet {
    pub periods: Vec<Period>,
    pub teams: Vec<Team>,
    pub objectives: Vec<Objective>,
    pub key_results: Vec<KeyResult>,
}

/// An OKR model borrowed from wherever it is kept (an [`OkrSet`], the
/// store's rows): what the rollup engine and the binding plan read, so
/// 100,000 KRs need not be copied into a set first.
#[derive(Debug, Default)]
pub struct ModelRefs<'a> {
    pub periods: Vec<&'a Period>,
    pub teams: Vec<&'a Team>,
    pub objectives: Vec<&'a Objective>,
    pub key_results: Vec<&'a KeyResult>,
}

impl OkrSet {
    pub fn refs(&self) -> ModelRefs<'_> {
        ModelRefs {
            periods: self.periods.iter().collect(),
            teams: self.teams.iter().collect(),
            objectives: self.objectives.iter().collect(),
            key_results: self.key_results.iter().collect(),
        }
    }
}

/// Who wrote a check-in: a source fetch or a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin(pub String);

/// How the origin of a fetched check-in starts.
pub const SOURCE_PREFIX: &str = "source:";
/// How the origin of a backfilled check-in (a past day fetched later) starts.
pub const BACKFILL_PREFIX: &str = "backfill:";

impl Origin {
    pub fn source(name: &str) -> Origin {
        Origin(format!("{SOURCE_PREFIX}{name}"))
    }

    /// A past day's value fetched from `name` after the fact (`okrd backfill`).
    pub fn backfill(name: &str) -> Origin {
        Origin(format!("{BACKFILL_PREFIX}{name}"))
    }

    pub fn manual(who: &str) -> Origin {
        Origin(format!("manual:{who}"))
    }

    /// Fetched from a source (not written by a person or over the API).
    pub fn is_source(&self) -> bool {
        self.0.starts_with(SOURCE_PREFIX)
    }

    /// Fetched for a past day by a backfill.
    pub fn is_backfill(&self) -> bool {
        self.0.starts_with(BACKFILL_PREFIX)
    }
}

/// One observed value of a KR. Check-ins are append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub key_result: Id,
    pub value: f64,
    /// When the value was observed (for a scheduled fetch: the schedule slot).
    pub observed_at: DateTime<Utc>,
    pub origin: Origin,
    pub note: Option<String>,
    /// 0..1, how sure the author is that the KR will be met.
    pub confidence: Option<f64>,
    /// Makes the write idempotent: a second check-in with the same key is ignored.
    /// Scheduled fetches use `<kr>@<slot unix ms>`.
    pub idempotency_key: Option<String>,
}

/// The four kinds of things an OKR file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Period,
    Team,
    Objective,
    KeyResult,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Period => "period",
            EntityKind::Team => "team",
            EntityKind::Objective => "objective",
            EntityKind::KeyResult => "key_result",
        }
    }
}

/// Which OKR file manages each entity (`managed_by`); entities created over the API have none.
pub type Ownership = std::collections::HashMap<(EntityKind, Id), String>;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn quarters_hold_the_day() {
        let q = Period::quarter_of(d(2026, 11, 23));
        assert_eq!(
            (q.id.as_str(), q.start, q.end),
            ("2026-Q4", d(2026, 10, 1), d(2026, 12, 31))
        );
        let q = Period::quarter_of(d(2026, 6, 30));
        assert_eq!(
            (q.id.as_str(), q.start, q.end),
            ("2026-Q2", d(2026, 4, 1), d(2026, 6, 30))
        );
        let q = Period::quarter_of(d(2026, 1, 1));
        assert_eq!((q.start, q.end), (d(2026, 1, 1), d(2026, 3, 31)));
    }

    /// The name a value has in JSON (serde), which `as_str` must match:
    /// both reach users (API bodies, metric labels, OKR files, the store).
    fn wire<T: Serialize>(v: T) -> String {
        match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn names_match_json_and_parse_back() {
        for k in KrKind::ALL {
            assert_eq!(k.as_str(), wire(k));
            assert_eq!(KrKind::parse(k.as_str()), Some(k));
        }
        for r in Rollup::ALL {
            assert_eq!(r.as_str(), wire(r));
            assert_eq!(Rollup::parse(r.as_str()), Some(r));
        }
        for s in WorkflowState::ALL {
            assert_eq!(s.as_str(), wire(s));
            assert_eq!(WorkflowState::parse(s.as_str()), Some(s));
        }
        for s in Status::ALL {
            assert_eq!(s.as_str(), wire(s));
        }
        for e in [
            EntityKind::Period,
            EntityKind::Team,
            EntityKind::Objective,
            EntityKind::KeyResult,
        ] {
            assert_eq!(e.as_str(), wire(e));
        }
        // The names the README uses.
        assert_eq!(
            Status::ALL.map(Status::as_str),
            ["no_data", "off_track", "at_risk", "on_track", "done"]
        );
        assert_eq!(
            WorkflowState::ChangesRequested.as_str(),
            "changes_requested"
        );
        assert_eq!(KrKind::AtLeast.as_str(), "at_least");
        for unknown in ["", "Increase", "average", "approve", "xyzzy"] {
            assert_eq!(KrKind::parse(unknown), None, "{unknown}");
            assert_eq!(Rollup::parse(unknown), None, "{unknown}");
            assert_eq!(WorkflowState::parse(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn a_period_ends_at_the_end_of_its_last_day() {
        let q = Period::quarter_of(d(2026, 11, 23));
        assert_eq!(q.end_instant().to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}

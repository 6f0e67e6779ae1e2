//! What the API shows of a sustain KR beside its other fields: its rule
//! and, for an approved KR, the windows of its period that have started.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::okr::KeyResult;
use crate::okr::rollup::KrState;
use crate::okr::sustain::{Aggregate, Comparison, Window, WindowState};

/// A sustain KR's rule (README "Sustained key results"); `null` members on other kinds.
#[derive(Debug, Serialize, ToSchema)]
pub struct SustainView {
    pub comparison: Option<Comparison>,
    pub window: Option<Window>,
    /// Windows of the period that must hold the level.
    pub required: Option<u32>,
    pub aggregate: Option<Aggregate>,
    /// The windows that have started, oldest first: the closed ones, then
    /// the current one (shown, counted once it closes). `null` unless the
    /// KR is an approved sustain KR.
    pub windows: Option<Vec<WindowView>>,
}

/// One window: local days in the scheduler's time zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    pub start: NaiveDate,
    /// The last day (inclusive).
    pub end: NaiveDate,
    /// The window's value so far; `null` before the KR's first value.
    pub value: Option<f64>,
    /// The value is on the right side of the target.
    pub satisfied: bool,
    /// Its last day is over: it counts.
    pub closed: bool,
}

impl From<&WindowState> for WindowView {
    fn from(w: &WindowState) -> WindowView {
        WindowView {
            start: w.start,
            end: w.end,
            value: w.value,
            satisfied: w.satisfied,
            closed: w.closed,
        }
    }
}

/// `kr`'s rule, with its windows from `state` (its engine state, if approved).
pub fn sustain_view(kr: &KeyResult, state: Option<&KrState>) -> SustainView {
    let rule = kr.sustain;
    SustainView {
        comparison: rule.map(|r| r.comparison),
        window: rule.map(|r| r.window),
        required: rule.map(|r| r.required),
        aggregate: rule.map(|r| r.aggregate),
        windows: state
            .and_then(|s| s.sustain.as_ref())
            .map(|s| s.windows.iter().map(Into::into).collect()),
    }
}

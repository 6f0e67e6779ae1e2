//! The rollup engine: latest KR values in; progress of KRs, parent KRs,
//! objectives and teams out (README "Progress and status").
//!
//! Built once from an [`OkrSet`](super::model::OkrSet) into flat,
//! index-linked arrays. Every aggregate (a parent KR over its children, an
//! objective over its KRs and child objectives, a team over its KRs in a
//! period) is a fixed-shape tree in an arena (see `tree`), so [`RollupEngine::set_value`] touches only the
//! ancestors of one KR, costs O(log group size) per ancestor, allocates
//! nothing, and gives exactly what [`RollupEngine::recompute_all`] gives.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::chunked::Chunked;
use super::forecast::{Forecast, Forecaster};
use super::history::{History, local_day};
use super::model::{KrKind, Period, Rollup, Status};
use super::progress;
use super::sustain::SustainState;

mod build;
mod children;
mod forecasting;
mod graph;
mod sustained;
mod tree;

#[cfg(test)]
mod tests;

use children::{ChildAgg, EMPTY_AGG, Mode};
use graph::NONE;
use tree::{Arena, Group};

/// `set_value` for an id that is not an approved KR of a live objective.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key result `{0}`")]
pub struct UnknownKeyResult(pub String);

/// One approved KR with its current value and progress.
#[derive(Debug, Clone, PartialEq)]
pub struct KrState {
    pub id: Arc<str>,
    pub objective: Arc<str>,
    pub team: Arc<str>,
    /// The objective's period; empty when the objective is unknown.
    pub period: Arc<str>,
    pub owner: Arc<str>,
    pub title: Arc<str>,
    pub kind: KrKind,
    pub unit: Option<Arc<str>>,
    /// Name of the KR's own source, if it has one.
    pub source: Option<Arc<str>>,
    pub start: Option<f64>,
    pub target: Option<f64>,
    pub due: Option<NaiveDate>,
    pub weight: f64,
    /// The parent KR, when that link counts (an approved KR, not on a cycle).
    pub parent: Option<Arc<str>>,
    /// The configured rollup; it applies only when `derived`.
    pub rollup: Option<Rollup>,
    /// True for a parent KR without a source of its own: value and progress come from its children.
    pub derived: bool,
    pub value: Option<f64>,
    pub progress: f64,
    pub has_data: bool,
    pub last_update: Option<DateTime<Utc>>,
    /// A sustain KR's rule and windows at the engine's clock (`advance_to`);
    /// `None` for other kinds and for a sustain KR derived from children.
    pub sustain: Option<Arc<SustainState>>,
    /// Where its history heads by the period's end (`okr::forecast`).
    pub forecast: Option<Forecast>,
    period_ix: u32,
}

/// A non-archived objective and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveState {
    pub id: Arc<str>,
    pub title: Arc<str>,
    pub team: Arc<str>,
    pub period: Arc<str>,
    /// The parent objective, when that link counts (a live objective, not on a cycle).
    pub parent: Option<Arc<str>>,
    pub progress: f64,
}

/// Progress of one team in one period.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamState {
    pub team: Arc<str>,
    pub period: Arc<str>,
    pub progress: f64,
}

/// Where a KR sits in the aggregates.
#[derive(Debug, Clone, Copy)]
struct KrPlacement {
    /// Parent KR, or `NONE`.
    parent: u32,
    /// Slot in the parent's `children` group; `NONE` unless the parent is derived.
    parent_slot: u32,
    objective: u32,
    objective_slot: u32,
    team: u32,
    team_slot: u32,
    /// `Some` when the KR is derived from `children`.
    mode: Option<Mode>,
    children: Group,
    /// Weight in the objective; invalid weights count as 0.
    weight: f64,
}

/// A KR's own latest value (hidden on a derived KR, whose children win).
#[derive(Debug, Clone, Copy, Default)]
struct Own {
    value: Option<f64>,
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy)]
struct ObjLinks {
    parent: u32,
    parent_slot: u32,
    /// Members: the objective's KRs (weighted progress), then its child objectives.
    group: Group,
    total_weight: f64,
}

/// What never changes after [`RollupEngine::new`]: shared by every clone.
#[derive(Debug)]
struct Topology {
    periods: Vec<Period>,
    period_index: HashMap<String, u32>,
    kr_links: Vec<KrPlacement>,
    kr_order: Vec<u32>,
    kr_index: HashMap<Arc<str>, u32>,
    obj_links: Vec<ObjLinks>,
    obj_order: Vec<u32>,
    obj_index: HashMap<Arc<str>, u32>,
    team_groups: Vec<Group>,
    /// Some KR is judged by sustain windows: the clock can move progress.
    sustained: bool,
}

/// The in-memory rollup of one [`OkrSet`](super::model::OkrSet). Clone it to
/// take a snapshot: the structure is shared; states, values and aggregate
/// trees are copied.
#[derive(Debug, Clone)]
pub struct RollupEngine {
    topo: Arc<Topology>,
    krs: Chunked<KrState>,
    own: Vec<Own>,
    /// Each KR's counted values by local day (shared with snapshots until
    /// the next value of that KR copies it).
    history: Vec<Arc<History>>,
    /// Where days start and end for `history`: the scheduler's time zone.
    timezone: Tz,
    /// The local day sustain windows are judged on (`advance_to`); `None`
    /// until the engine is told the time: no window has started.
    today: Option<NaiveDate>,
    /// Scratch for the forecasts `history` is read into.
    forecaster: Forecaster,
    objectives: Chunked<ObjectiveState>,
    teams: Chunked<TeamState>,
    /// Objective and team trees (sums of weighted progress).
    sums: Arena<f64>,
    /// Derived KRs' trees.
    child_aggs: Arena<ChildAgg>,
    /// Scratch for `set_value`: objectives whose trees changed.
    touched: Vec<u32>,
}

fn add(a: f64, b: f64) -> f64 {
    a + b
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl KrState {
    /// Status at `now` given the expected progress of its period. A derived KR
    /// without `rollup` has no value of its own, so it is judged by progress and pace.
    pub fn status(&self, expected: f64, now: DateTime<Utc>) -> Status {
        if self.derived && self.rollup.is_none() {
            if self.has_data {
                progress::pace_status(self.progress, expected)
            } else {
                Status::NoData
            }
        } else if let Some(s) = &self.sustain {
            s.status(self.has_data)
        } else {
            progress::status(
                self.kind,
                self.has_data,
                self.progress,
                expected,
                self.due,
                now,
            )
        }
    }
}

impl RollupEngine {
    /// Days of the history (and so of forecasts and sustain windows) are
    /// days in `tz`. Set before any value is recorded.
    pub fn with_timezone(mut self, tz: Tz) -> RollupEngine {
        self.timezone = tz;
        self
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Records counted values (any order, older ones too) into the KRs'
    /// histories, then refreshes their forecasts; unknown ids are skipped. The current value is
    /// `load_values`' job.
    pub fn load_history<'a>(
        &mut self,
        values: impl IntoIterator<Item = (&'a str, f64, DateTime<Utc>)>,
    ) {
        for (id, value, at) in values {
            if let Some(&i) = self.topo.kr_index.get(id) {
                self.record_history(i as usize, value, at);
            }
        }
        self.refresh_forecasts();
    }

    /// A KR's counted values by day (empty for a KR with none yet).
    pub fn history(&self, kr: &str) -> Option<&History> {
        self.topo
            .kr_index
            .get(kr)
            .map(|&i| &*self.history[i as usize])
    }

    /// Records many latest values (unknown ids are skipped), then recomputes everything once.
    pub fn load_values<'a>(
        &mut self,
        values: impl IntoIterator<Item = (&'a str, f64, DateTime<Utc>)>,
    ) {
        for (id, value, at) in values {
            if let Some(&i) = self.topo.kr_index.get(id) {
                self.record(i as usize, value, at);
            }
        }
        self.recompute_all();
    }

    /// Recomputes every KR, objective and team from the recorded values.
    pub fn recompute_all(&mut self) {
        for k in 0..self.topo.kr_order.len() {
            let i = self.topo.kr_order[k] as usize;
            let l = self.topo.kr_links[i];
            if let Some(mode) = l.mode {
                self.child_aggs.build(l.children, |a, b| mode.combine(a, b));
            }
            self.refresh_kr(i);
            let kr = &self.krs[i];
            if l.parent_slot != NONE {
                let p = &self.topo.kr_links[l.parent as usize];
                if let Some(mode) = p.mode {
                    self.child_aggs
                        .set_leaf(p.children, l.parent_slot, mode.leaf(kr));
                }
            }
            if l.objective != NONE {
                let g = self.topo.obj_links[l.objective as usize].group;
                self.sums
                    .set_leaf(g, l.objective_slot, l.weight * kr.progress);
            }
            if l.team != NONE {
                let g = self.topo.team_groups[l.team as usize];
                self.sums.set_leaf(g, l.team_slot, kr.progress);
            }
        }
        for k in 0..self.topo.obj_order.len() {
            let o = self.topo.obj_order[k] as usize;
            let l = self.topo.obj_links[o];
            self.sums.build(l.group, add);
            self.refresh_objective(o);
            if l.parent != NONE {
                let g = self.topo.obj_links[l.parent as usize].group;
                self.sums
                    .set_leaf(g, l.parent_slot, self.objectives[o].progress);
            }
        }
        for t in 0..self.teams.len() {
            self.sums.build(self.topo.team_groups[t], add);
            self.refresh_team(t);
        }
    }

    /// Records the latest value of one KR and recomputes what depends on it:
    /// its parent-KR chain, the objectives (and ancestor objectives) of every
    /// KR on that chain, and their teams. A value observed before the KR's
    /// current one is ignored. On a derived KR the value is kept but its
    /// children's rollup still wins.
    pub fn set_value(
        &mut self,
        kr: &str,
        value: f64,
        at: DateTime<Utc>,
    ) -> Result<(), UnknownKeyResult> {
        let Some(&i) = self.topo.kr_index.get(kr) else {
            return Err(UnknownKeyResult(kr.to_owned()));
        };
        let i = i as usize;
        self.record_history(i, value, at);
        self.refresh_forecast(i);
        let newer = self.record(i, value, at);
        // An older value still changes a sustain KR's windows.
        let judged = newer || self.krs[i].sustain.is_some();
        if !judged || self.topo.kr_links[i].mode.is_some() {
            return Ok(());
        }
        self.touched.clear();
        let mut k = i;
        // The chain is acyclic (cycles are cut in `new`); the bound is a second guard.
        for _ in 0..self.krs.len() {
            self.refresh_kr(k);
            let l = self.topo.kr_links[k];
            let progress = self.krs[k].progress;
            if l.objective != NONE {
                let g = self.topo.obj_links[l.objective as usize].group;
                self.sums
                    .update(g, l.objective_slot, l.weight * progress, add);
                if !self.touched.contains(&l.objective) {
                    self.touched.push(l.objective);
                }
            }
            if l.team != NONE {
                let t = l.team as usize;
                self.sums
                    .update(self.topo.team_groups[t], l.team_slot, progress, add);
                self.refresh_team(t);
            }
            if l.parent_slot == NONE {
                break;
            }
            let p = l.parent as usize;
            let pl = &self.topo.kr_links[p];
            if let Some(mode) = pl.mode {
                let leaf = mode.leaf(&self.krs[k]);
                self.child_aggs
                    .update(pl.children, l.parent_slot, leaf, |a, b| mode.combine(a, b));
            }
            k = p;
        }
        for t in 0..self.touched.len() {
            let mut o = self.touched[t] as usize;
            for _ in 0..self.objectives.len() {
                self.refresh_objective(o);
                let l = self.topo.obj_links[o];
                if l.parent == NONE {
                    break;
                }
                let g = self.topo.obj_links[l.parent as usize].group;
                self.sums
                    .update(g, l.parent_slot, self.objectives[o].progress, add);
                o = l.parent as usize;
            }
        }
        Ok(())
    }

    pub fn key_results(&self) -> &Chunked<KrState> {
        &self.krs
    }

    pub fn key_result(&self, id: &str) -> Option<&KrState> {
        self.topo.kr_index.get(id).map(|&i| &self.krs[i as usize])
    }

    pub fn objectives(&self) -> &Chunked<ObjectiveState> {
        &self.objectives
    }

    pub fn objective(&self, id: &str) -> Option<&ObjectiveState> {
        self.topo
            .obj_index
            .get(id)
            .map(|&i| &self.objectives[i as usize])
    }

    /// One entry per (declared team, known period) with approved KRs.
    pub fn teams(&self) -> &Chunked<TeamState> {
        &self.teams
    }

    /// Linear in the number of team entries.
    pub fn team(&self, team: &str, period: &str) -> Option<&TeamState> {
        self.teams
            .iter()
            .find(|t| &*t.team == team && &*t.period == period)
    }

    pub fn periods(&self) -> &[Period] {
        &self.topo.periods
    }

    pub fn period(&self, id: &str) -> Option<&Period> {
        self.topo
            .period_index
            .get(id)
            .map(|&i| &self.topo.periods[i as usize])
    }

    /// Status of a KR at `now` against its period's pace (see `KrState::status`).
    /// A KR whose period is unknown is judged as if nothing were expected yet.
    pub fn status(&self, kr: &KrState, now: DateTime<Utc>) -> Status {
        let expected = self
            .topo
            .periods
            .get(kr.period_ix as usize)
            .map_or(0.0, |p| progress::expected_progress(p, now));
        kr.status(expected, now)
    }

    fn record_history(&mut self, i: usize, value: f64, at: DateTime<Utc>) {
        let day = local_day(self.timezone, at);
        Arc::make_mut(&mut self.history[i]).record(day, value, at);
    }

    /// Stores a KR's own value unless it is older than the current one.
    fn record(&mut self, i: usize, value: f64, at: DateTime<Utc>) -> bool {
        let own = &mut self.own[i];
        if own.at.is_some_and(|t| at < t) {
            return false;
        }
        *own = Own {
            value: Some(value),
            at: Some(at),
        };
        true
    }

    /// Recomputes a KR from its own value, or from its (already built) child tree.
    fn refresh_kr(&mut self, i: usize) {
        let l = self.topo.kr_links[i];
        let kr = &mut self.krs[i];
        match l.mode {
            None => {
                let own = self.own[i];
                kr.value = own.value;
                kr.has_data = own.value.is_some();
                kr.last_update = own.at;
                kr.progress = progress::progress(kr.kind, kr.value, kr.start, kr.target);
                if kr.sustain.is_some() {
                    self.refresh_sustain(i);
                }
            }
            Some(mode) => {
                let root = self.child_aggs.root(l.children).unwrap_or(EMPTY_AGG);
                kr.last_update = root.last;
                kr.has_data = root.n > 0;
                if mode == Mode::Progress {
                    kr.value = None;
                    kr.progress = clamp01(root.acc / f64::from(l.children.len()));
                } else {
                    kr.value = kr.has_data.then(|| match mode {
                        Mode::Mean => root.acc / f64::from(root.n),
                        _ => root.acc,
                    });
                    kr.progress = progress::progress(kr.kind, kr.value, kr.start, kr.target);
                }
            }
        }
    }

    fn refresh_objective(&mut self, o: usize) {
        let l = self.topo.obj_links[o];
        let sum = self.sums.root(l.group).unwrap_or(0.0);
        self.objectives[o].progress = if l.total_weight > 0.0 {
            clamp01(sum / l.total_weight)
        } else {
            0.0
        };
    }

    fn refresh_team(&mut self, t: usize) {
        let g = self.topo.team_groups[t];
        let sum = self.sums.root(g).unwrap_or(0.0);
        self.teams[t].progress = if g.len() > 0 {
            clamp01(sum / f64::from(g.len()))
        } else {
            0.0
        };
    }
}

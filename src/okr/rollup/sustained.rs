//! Sustain KRs in the engine: their windows judged on the engine's local
//! day, which `advance_to` moves. A window closes when a day ends, with or
//! without a new value, so the clock alone can move progress and status.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::RollupEngine;
use crate::okr::history::local_day;
use crate::okr::sustain::{SustainState, day_start, judge_on};

impl RollupEngine {
    /// Moves the engine's clock to `now`. When the local day changed and
    /// some KR is a sustain KR, every KR is judged again (windows may have
    /// closed) and true is returned. Otherwise it costs one time zone
    /// conversion: callers may call it on every read.
    pub fn advance_to(&mut self, now: DateTime<Utc>) -> bool {
        let today = local_day(self.timezone, now);
        if self.today == Some(today) {
            return false;
        }
        self.today = Some(today);
        if !self.topo.sustained {
            return false;
        }
        // Once a day: the whole model, so objectives and teams follow.
        self.recompute_all();
        true
    }

    /// When the engine's local day ends: the next instant `advance_to`
    /// may change something. `None` without sustain KRs or before the
    /// engine was told the time.
    pub fn next_change(&self) -> Option<DateTime<Utc>> {
        if !self.topo.sustained {
            return None;
        }
        let tomorrow = self.today?.succ_opt()?;
        Some(day_start(self.timezone, tomorrow))
    }

    /// Judges sustain KR `i` again from its history; its progress follows.
    pub(super) fn refresh_sustain(&mut self, i: usize) {
        let kr = &self.krs[i];
        let Some(rule) = kr.sustain.as_ref().map(|s| s.rule) else {
            return;
        };
        let state = match self.topo.periods.get(kr.period_ix as usize) {
            Some(period) => judge_on(rule, kr.target, period, &self.history[i], self.today),
            None => SustainState::pending(rule),
        };
        let kr = &mut self.krs[i];
        kr.progress = state.progress();
        kr.sustain = Some(Arc::new(state));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::okr::model::{
        KeyResult, KrKind, Objective, OkrSet, Period, Rollup, Status, Team, WorkflowState,
    };
    use crate::okr::sustain::{Aggregate, Comparison, Sustain, Window};

    fn at(m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap()
    }

    fn kr(id: &str, kind: KrKind) -> KeyResult {
        KeyResult {
            id: id.into(),
            objective: "o".into(),
            team: "t".into(),
            owner: "dana@acme.example".into(),
            title: id.into(),
            description: None,
            kind,
            start: None,
            target: Some(40.0),
            due: None,
            unit: None,
            weight: 1.0,
            parent: None,
            rollup: None,
            source: None,
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        }
    }

    /// `nps`: at least 40 in 2 weeks of Monday 5 to Sunday 18 October;
    /// `other`: at least 40; both on objective `o`, under `parent`, with
    /// `extra`. Days in New York.
    fn engine(parent: Option<&str>, extra: Vec<KeyResult>) -> RollupEngine {
        let nps = KeyResult {
            sustain: Some(Sustain {
                comparison: Comparison::AtLeast,
                window: Window::Week,
                required: 2,
                aggregate: Aggregate::Last,
            }),
            ..kr("nps", KrKind::Sustain)
        };
        let mut key_results = vec![nps, kr("other", KrKind::AtLeast)];
        for k in &mut key_results {
            k.parent = parent.map(Into::into);
        }
        key_results.extend(extra);
        let set = OkrSet {
            periods: vec![Period {
                id: "p".into(),
                start: NaiveDate::from_ymd_opt(2026, 10, 5).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 10, 18).unwrap(),
            }],
            teams: vec![Team {
                id: "t".into(),
                name: "T".into(),
                parent: None,
            }],
            objectives: vec![Objective {
                id: "o".into(),
                title: "Keep customers happy".into(),
                description: None,
                period: "p".into(),
                team: "t".into(),
                parent: None,
                archived: false,
            }],
            key_results,
        };
        RollupEngine::new(&set).with_timezone("America/New_York".parse().unwrap())
    }

    #[test]
    fn a_week_closing_moves_progress_without_a_new_value() {
        let mut e = engine(None, vec![]);
        assert!(
            e.key_result("nps")
                .unwrap()
                .sustain
                .as_ref()
                .unwrap()
                .windows
                .is_empty()
        );
        assert_eq!(e.next_change(), None, "no clock yet");
        // Wednesday 7 October.
        assert!(e.advance_to(at(10, 7, 12)));
        e.set_value("nps", 45.0, at(10, 7, 12)).unwrap();
        e.set_value("other", 45.0, at(10, 7, 12)).unwrap();
        let nps = e.key_result("nps").unwrap();
        assert_eq!(nps.progress, 0.0, "the current week does not count");
        // Both weeks must hold: at risk from the start.
        assert_eq!(e.status(nps, at(10, 7, 12)), Status::AtRisk);
        assert_eq!(e.objective("o").unwrap().progress, 0.5);
        // Later that day: nothing to do.
        assert!(!e.advance_to(at(10, 7, 23)));
        // Sunday 23:00 in New York is Monday 03:00 UTC: still the first week.
        assert!(e.advance_to(at(10, 12, 3)));
        assert_eq!(e.key_result("nps").unwrap().progress, 0.0);
        assert_eq!(e.next_change(), Some(at(10, 12, 4)), "EDT midnight");
        assert!(e.advance_to(at(10, 12, 4)));
        let nps = e.key_result("nps").unwrap();
        assert_eq!(nps.progress, 0.5);
        let windows = &nps.sustain.as_ref().unwrap().windows;
        assert_eq!(windows.len(), 2);
        assert!(windows[0].closed && windows[0].satisfied && !windows[1].closed);
        assert_eq!(e.objective("o").unwrap().progress, 0.75);
        assert_eq!(e.team("t", "p").unwrap().progress, 0.75);
        // After the period both weeks held.
        assert!(e.advance_to(at(10, 19, 4)));
        let nps = e.key_result("nps").unwrap();
        assert_eq!(
            (nps.progress, e.status(nps, at(10, 19, 4))),
            (1.0, Status::Done)
        );
    }

    #[test]
    fn an_older_value_rejudges_the_windows_it_falls_in() {
        let mut e = engine(None, vec![]);
        e.advance_to(at(10, 13, 12));
        e.set_value("nps", 30.0, at(10, 13, 12)).unwrap();
        let nps = e.key_result("nps").unwrap();
        assert_eq!(nps.sustain.as_ref().unwrap().windows[0].value, None);
        assert_eq!(e.status(nps, at(10, 13, 12)), Status::OffTrack);
        // A backfilled day of the first week: the KR's value stays 30.
        e.set_value("nps", 50.0, at(10, 6, 12)).unwrap();
        let nps = e.key_result("nps").unwrap();
        assert_eq!(nps.value, Some(30.0));
        assert_eq!(nps.sustain.as_ref().unwrap().windows[0].value, Some(50.0));
        assert_eq!(nps.progress, 0.5);
        assert_eq!(e.status(nps, at(10, 13, 12)), Status::AtRisk);
    }

    #[test]
    fn a_value_rollup_takes_a_sustain_child_s_latest_value() {
        let total = KeyResult {
            rollup: Some(Rollup::Sum),
            target: Some(100.0),
            ..kr("total", KrKind::AtLeast)
        };
        let mut e = engine(Some("total"), vec![total]);
        e.advance_to(at(10, 13, 12));
        e.set_value("nps", 50.0, at(10, 6, 12)).unwrap();
        e.set_value("nps", 30.0, at(10, 13, 12)).unwrap();
        e.set_value("other", 45.0, at(10, 13, 12)).unwrap();
        let total = e.key_result("total").unwrap();
        assert!(total.derived);
        assert_eq!(total.value, Some(75.0));
        // The child keeps its windows; the parent has none of its own.
        assert_eq!(e.key_result("nps").unwrap().progress, 0.5);
        assert!(total.sustain.is_none());
    }

    #[test]
    fn a_sustain_parent_judged_by_its_children_has_no_windows() {
        let child = KeyResult {
            parent: Some("nps".into()),
            ..kr("child", KrKind::AtLeast)
        };
        let mut e = engine(None, vec![child]);
        e.advance_to(at(10, 13, 12));
        e.set_value("child", 45.0, at(10, 13, 12)).unwrap();
        let nps = e.key_result("nps").unwrap();
        assert!(nps.derived && nps.sustain.is_none());
        assert_eq!(
            (nps.progress, e.status(nps, at(10, 13, 12))),
            (1.0, Status::Done)
        );
    }
}

//! Each KR's forecast (`okr::forecast`), refreshed from its history when
//! that history changes: one KR per new value, every KR after a bulk load.
//! Reads go to `KrState::forecast`, so renderers never project.
//!
//! A derived KR's history holds only values of its own (check-ins on the
//! parent itself, not its children's rollup): without them it has no forecast.

use super::RollupEngine;
use crate::okr::forecast::MIN_DAYS;

impl RollupEngine {
    pub(super) fn refresh_forecast(&mut self, i: usize) {
        let points = self.history[i].points();
        let kr = &self.krs[i];
        let forecast = match self.topo.periods.get(kr.period_ix as usize) {
            Some(period) if points.len() >= MIN_DAYS => self
                .forecaster
                .key_result(kr.kind, kr.start, kr.target, period, points),
            _ => None,
        };
        self.krs[i].forecast = forecast;
    }

    pub(super) fn refresh_forecasts(&mut self) {
        for i in 0..self.krs.len() {
            self.refresh_forecast(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};

    use crate::okr::model::*;
    use crate::okr::rollup::RollupEngine;

    fn kr(id: &str, kind: KrKind, parent: Option<&str>) -> KeyResult {
        KeyResult {
            id: id.into(),
            objective: "o".into(),
            team: "t".into(),
            owner: "a@b.c".into(),
            title: id.into(),
            description: None,
            kind,
            start: Some(0.0),
            target: Some(92.0),
            due: None,
            unit: None,
            weight: 1.0,
            parent: parent.map(Into::into),
            rollup: None,
            source: None,
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        }
    }

    fn engine() -> RollupEngine {
        RollupEngine::new(&OkrSet {
            periods: vec![Period {
                id: "q4".into(),
                start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            }],
            teams: vec![Team {
                id: "t".into(),
                name: "T".into(),
                parent: None,
            }],
            objectives: vec![Objective {
                id: "o".into(),
                title: "O".into(),
                description: None,
                period: "q4".into(),
                team: "t".into(),
                parent: None,
                archived: false,
            }],
            key_results: vec![
                kr("line", KrKind::Increase, None),
                kr("floor", KrKind::AtLeast, None),
                kr("parent", KrKind::Increase, None),
                kr("child", KrKind::Increase, Some("parent")),
            ],
        })
    }

    /// Noon UTC of day `d` (0-based) of 2026-Q4.
    fn day(d: u64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap() + Days::new(d)
    }

    fn forecast_of(e: &RollupEngine, id: &str) -> Option<f64> {
        e.key_result(id).unwrap().forecast.map(|f| f.value)
    }

    #[test]
    fn a_forecast_appears_on_the_third_day_and_follows_each_value() {
        let mut e = engine();
        // One a day: the quarter has 92 days, so the line ends at 92.
        for d in 0..2 {
            e.set_value("line", (d + 1) as f64, day(d)).unwrap();
            assert_eq!(forecast_of(&e, "line"), None, "day {d}");
        }
        e.set_value("line", 3.0, day(2)).unwrap();
        let f = e.key_result("line").unwrap().forecast.unwrap();
        assert!((f.value - 92.0).abs() < 1e-9, "{f:?}");
        assert!((f.progress - 1.0).abs() < 1e-9);
        // A backfilled older value moves the forecast too.
        e.set_value("line", 100.0, day(1) - Days::new(1)).unwrap();
        assert!(forecast_of(&e, "line").is_some_and(|v| v != 92.0));
    }

    #[test]
    fn kinds_without_a_trend_and_derived_krs_without_values_have_none() {
        let mut e = engine();
        for d in 0..5 {
            for id in ["floor", "child"] {
                e.set_value(id, d as f64, day(d)).unwrap();
            }
        }
        assert_eq!(forecast_of(&e, "floor"), None);
        assert!(forecast_of(&e, "child").is_some());
        // The parent's value is its child's, but that is no history of its own.
        assert!(e.key_result("parent").unwrap().derived);
        assert_eq!(forecast_of(&e, "parent"), None);
    }

    #[test]
    fn a_bulk_load_forecasts_every_kr() {
        let mut e = engine();
        let values: Vec<_> = (0..10).map(|d| ("line", 2.0 * d as f64, day(d))).collect();
        e.load_history(values.iter().copied());
        assert!((forecast_of(&e, "line").unwrap() - 182.0).abs() < 1e-9);
    }
}

//! The domain families rendered from the snapshot: every KR's value,
//! start, target, progress, expected pace, status, last update, forecast
//! and info, objective progress and forecast, team progress, and
//! `okr_build_info`. Written straight to text, a few items at a time
//! (`Domain::write`), so a scrape of 100,000 KRs (~1.5 million samples,
//! ~120 MB) never holds more than one chunk of it.

use std::ops::Deref;

use chrono::{DateTime, Utc};

use super::names;
use super::text::{header, push_all, push_float, push_label, sample};
use crate::live::Snapshot;
use crate::okr::Status;
use crate::okr::forecast::WeightedProgress;
use crate::okr::progress::expected_progress;
use crate::okr::rollup::{KrState, ObjectiveState};

/// The families in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    KrValue,
    KrStart,
    KrTarget,
    KrProgress,
    KrExpected,
    KrStatus,
    KrLastUpdate,
    KrForecastValue,
    KrForecastProgress,
    KrInfo,
    KrWindowsSatisfied,
    KrWindowsRequired,
    KrHeld,
    ObjectiveProgress,
    ObjectiveForecast,
    TeamProgress,
    BuildInfo,
}

const FAMILIES: [Family; 17] = [
    Family::KrValue,
    Family::KrStart,
    Family::KrTarget,
    Family::KrProgress,
    Family::KrExpected,
    Family::KrStatus,
    Family::KrLastUpdate,
    Family::KrForecastValue,
    Family::KrForecastProgress,
    Family::KrInfo,
    Family::KrWindowsSatisfied,
    Family::KrWindowsRequired,
    Family::KrHeld,
    Family::ObjectiveProgress,
    Family::ObjectiveForecast,
    Family::TeamProgress,
    Family::BuildInfo,
];

impl Family {
    fn name_and_help(self) -> (&'static str, &'static str) {
        match self {
            Family::KrValue => (
                names::KR_VALUE,
                "Current value of a key result (its latest check-in or rolled-up value).",
            ),
            Family::KrStart => (names::KR_START, "Baseline value of a key result."),
            Family::KrTarget => (names::KR_TARGET, "Target value of a key result."),
            Family::KrProgress => (
                names::KR_PROGRESS,
                "Progress of a key result towards its target, 0 to 1.",
            ),
            Family::KrExpected => (
                names::KR_EXPECTED,
                "Share of the period elapsed: the progress expected by now, 0 to 1.",
            ),
            Family::KrStatus => (
                names::KR_STATUS,
                "1 for the key result's current status, 0 for the others.",
            ),
            Family::KrLastUpdate => (
                names::KR_LAST_UPDATE,
                "Unix time of the key result's latest value.",
            ),
            Family::KrForecastValue => (
                names::KR_FORECAST_VALUE,
                "Projected value of a key result at its period's end; only with 3 days of history.",
            ),
            Family::KrForecastProgress => (
                names::KR_FORECAST_PROGRESS,
                "Progress of a key result's projected value at its period's end, 0 to 1.",
            ),
            Family::KrInfo => (
                names::KR_INFO,
                "Descriptive labels of a key result; always 1.",
            ),
            Family::KrWindowsSatisfied => (
                names::KR_WINDOWS_SATISFIED,
                "Closed windows of a sustain key result's period that held its level.",
            ),
            Family::KrWindowsRequired => (
                names::KR_WINDOWS_REQUIRED,
                "Windows of the period a sustain key result must hold its level in.",
            ),
            Family::KrHeld => (
                names::KR_HELD,
                "1 while a fetched value of the key result is held outside its guard, else 0 (KRs with a source).",
            ),
            Family::ObjectiveProgress => (
                names::OBJECTIVE_PROGRESS,
                "Progress of an objective: weighted mean of its key results and child objectives.",
            ),
            Family::ObjectiveForecast => (
                names::OBJECTIVE_FORECAST_PROGRESS,
                "Weighted mean of the forecast progress of an objective's key results that have one.",
            ),
            Family::TeamProgress => (
                names::TEAM_PROGRESS,
                "Mean progress of a team's approved key results in a period.",
            ),
            Family::BuildInfo => (names::BUILD_INFO, "Version of okrd; always 1."),
        }
    }

    /// How many items (KRs, objectives, teams) the family walks.
    fn items(self, s: &Snapshot) -> usize {
        match self {
            Family::ObjectiveProgress | Family::ObjectiveForecast => s.objectives.len(),
            Family::TeamProgress => s.teams.len(),
            Family::BuildInfo => 1,
            _ => s.key_results.len(),
        }
    }
}

/// The domain text of one snapshot at `now`, written on demand from where
/// the last call stopped.
pub(super) struct Domain<S> {
    snapshot: S,
    now: DateTime<Utc>,
    /// Index into `FAMILIES`; `FAMILIES.len()` once all is written.
    family: usize,
    /// 0 before the family's header, then 1 + the next item.
    position: usize,
    pace: Pace,
    /// Each objective's forecast progress, by position; filled when its
    /// family starts.
    objective_forecasts: Vec<Option<f64>>,
}

impl<S: Deref<Target = Snapshot>> Domain<S> {
    pub(super) fn new(snapshot: S, now: DateTime<Utc>) -> Domain<S> {
        Domain {
            snapshot,
            now,
            family: 0,
            position: 0,
            pace: Pace::default(),
            objective_forecasts: Vec::new(),
        }
    }

    /// Appends whole items until `out` holds `limit` bytes or more; false
    /// once everything is written.
    pub(super) fn write(&mut self, out: &mut Vec<u8>, limit: usize) -> bool {
        while out.len() < limit {
            let Some(&family) = FAMILIES.get(self.family) else {
                return false;
            };
            let items = family.items(&self.snapshot);
            if self.position == 0 {
                let (name, help) = family.name_and_help();
                header(out, name, help);
                if family == Family::ObjectiveForecast {
                    self.objective_forecasts = objective_forecasts(&self.snapshot);
                }
                self.position = 1;
            }
            while self.position <= items && out.len() < limit {
                self.item(family, self.position - 1, out);
                self.position += 1;
            }
            if self.position > items {
                self.family += 1;
                self.position = 0;
            }
        }
        self.family < FAMILIES.len()
    }

    fn item(&mut self, family: Family, i: usize, out: &mut Vec<u8>) {
        let s = &*self.snapshot;
        let name = family.name_and_help().0;
        let k = || &s.key_results[i];
        match family {
            Family::KrValue => {
                let k = k();
                if let Some(v) = k.value.filter(|_| k.has_data) {
                    kr_sample(out, name, k, v);
                }
            }
            Family::KrStart => {
                if let Some(v) = k().start {
                    kr_sample(out, name, k(), v);
                }
            }
            Family::KrTarget => {
                if let Some(v) = k().target {
                    kr_sample(out, name, k(), v);
                }
            }
            Family::KrProgress => kr_sample(out, name, k(), k().progress),
            Family::KrExpected => {
                let k = k();
                let (_, spelled) = self.pace.of(s, k, self.now);
                kr_line(out, name, k, "", spelled);
            }
            Family::KrStatus => {
                let k = k();
                let (expected, _) = self.pace.of(s, k, self.now);
                status_lines(out, k, k.status(expected, self.now));
            }
            Family::KrLastUpdate => {
                if let Some(t) = k().last_update {
                    kr_sample(out, name, k(), t.timestamp_millis() as f64 / 1000.0);
                }
            }
            Family::KrForecastValue => {
                if let Some(f) = k().forecast {
                    kr_sample(out, name, k(), f.value);
                }
            }
            Family::KrForecastProgress => {
                if let Some(f) = k().forecast {
                    kr_sample(out, name, k(), f.progress);
                }
            }
            Family::KrInfo => info_line(out, k()),
            Family::KrWindowsSatisfied => {
                if let Some(st) = &k().sustain {
                    kr_sample(out, name, k(), f64::from(st.satisfied));
                }
            }
            Family::KrWindowsRequired => {
                if let Some(st) = &k().sustain {
                    kr_sample(out, name, k(), f64::from(st.rule.required));
                }
            }
            Family::KrHeld => {
                let k = k();
                if k.source.is_some() {
                    let held = s.held.contains_key(&*k.id);
                    kr_sample(out, name, k, if held { 1.0 } else { 0.0 });
                }
            }
            Family::ObjectiveProgress => {
                let o = &s.objectives[i];
                objective_sample(out, name, o, o.progress);
            }
            Family::ObjectiveForecast => {
                if let Some(p) = self.objective_forecasts.get(i).copied().flatten() {
                    objective_sample(out, name, &s.objectives[i], p);
                }
            }
            Family::TeamProgress => {
                let t = &s.teams[i];
                let labels = [("team", &*t.team), ("period", &*t.period)];
                sample(out, name, &labels, t.progress);
            }
            Family::BuildInfo => push_all(
                out,
                &[name, "{version=\"", env!("CARGO_PKG_VERSION"), "\"} 1\n"],
            ),
        }
    }
}

/// The expected progress of the last period asked for, and its spelling:
/// KRs come grouped by objective, so most ask for the same period in a row.
#[derive(Default)]
struct Pace {
    period: Option<String>,
    expected: f64,
    spelled: Vec<u8>,
}

impl Pace {
    fn of(&mut self, s: &Snapshot, k: &KrState, now: DateTime<Utc>) -> (f64, &[u8]) {
        if self.period.as_deref() != Some(&*k.period) {
            self.expected = s
                .periods
                .get(&*k.period)
                .map_or(0.0, |p| expected_progress(p, now));
            self.spelled.clear();
            push_float(&mut self.spelled, self.expected);
            self.period = Some(String::from(&*k.period));
        }
        (self.expected, &self.spelled)
    }
}

/// `key_result="…",objective="…",team="…",period="…"`: every KR family's labels.
fn kr_labels(out: &mut Vec<u8>, k: &KrState) {
    push_label(out, "key_result", &k.id);
    out.push(b',');
    push_label(out, "objective", &k.objective);
    out.push(b',');
    push_label(out, "team", &k.team);
    out.push(b',');
    push_label(out, "period", &k.period);
}

fn kr_sample(out: &mut Vec<u8>, name: &str, k: &KrState, v: f64) {
    push_all(out, &[name, "{"]);
    kr_labels(out, k);
    out.extend_from_slice(b"} ");
    push_float(out, v);
    out.push(b'\n');
}

/// A KR's line with extra labels (`,name="value"…`) and a value already spelled.
fn kr_line(out: &mut Vec<u8>, name: &str, k: &KrState, extra: &str, value: &[u8]) {
    push_all(out, &[name, "{"]);
    kr_labels(out, k);
    push_all(out, &[extra, "} "]);
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// One line per status, 1 for the current one; the labels are written once
/// and copied for the other four.
fn status_lines(out: &mut Vec<u8>, k: &KrState, current: Status) {
    let start = out.len();
    push_all(out, &[names::KR_STATUS, "{"]);
    kr_labels(out, k);
    out.extend_from_slice(b",status=\"");
    let prefix = start..out.len();
    for (n, st) in Status::ALL.into_iter().enumerate() {
        if n > 0 {
            out.extend_from_within(prefix.clone());
        }
        let value = if st == current { "\"} 1\n" } else { "\"} 0\n" };
        push_all(out, &[st.as_str(), value]);
    }
}

fn info_line(out: &mut Vec<u8>, k: &KrState) {
    push_all(out, &[names::KR_INFO, "{"]);
    kr_labels(out, k);
    for (name, value) in [
        ("owner", &*k.owner),
        ("title", &*k.title),
        ("kind", k.kind.as_str()),
        ("unit", k.unit.as_deref().unwrap_or("")),
        ("source", k.source.as_deref().unwrap_or("")),
    ] {
        out.push(b',');
        push_label(out, name, value);
    }
    out.extend_from_slice(b"} 1\n");
}

fn objective_sample(out: &mut Vec<u8>, name: &str, o: &ObjectiveState, v: f64) {
    let labels = [
        ("objective", &*o.id),
        ("team", &*o.team),
        ("period", &*o.period),
    ];
    sample(out, name, &labels, v);
}

/// Each objective's weighted mean of its KRs' forecast progress, by the
/// objective's position, in one pass over the KRs.
fn objective_forecasts(s: &Snapshot) -> Vec<Option<f64>> {
    let mut by_objective: std::collections::HashMap<&str, WeightedProgress> =
        std::collections::HashMap::new();
    for k in s.key_results.iter().filter(|k| k.forecast.is_some()) {
        by_objective
            .entry(&*k.objective)
            .or_default()
            .add(k.weight, k.forecast.map(|f| f.progress));
    }
    s.objectives
        .iter()
        .map(|o| by_objective.get(&*o.id).and_then(|w| w.mean()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(s: &Snapshot, now: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        assert!(!Domain::new(s, now).write(&mut out, usize::MAX));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_empty_snapshot_has_every_header_and_the_build() {
        let out = render(&Snapshot::default(), Utc::now());
        assert_eq!(out.matches("# TYPE ").count(), FAMILIES.len());
        assert!(out.ends_with(&format!(
            "okr_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn forecasts_show_only_where_there_is_one() {
        use crate::okr::rollup::RollupEngine;
        use crate::okr::*;
        use chrono::{Days, NaiveDate, TimeZone};
        let kr = |id: &str, weight: f64| KeyResult {
            id: id.into(),
            objective: "o".into(),
            team: "t".into(),
            owner: "a@b.c".into(),
            title: id.into(),
            description: None,
            kind: KrKind::Increase,
            start: Some(0.0),
            target: Some(184.0),
            due: None,
            unit: None,
            weight,
            parent: None,
            rollup: None,
            source: None,
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        };
        let set = OkrSet {
            periods: vec![Period {
                id: "q".into(),
                start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            }],
            teams: vec![],
            objectives: vec![Objective {
                id: "o".into(),
                title: "O".into(),
                description: None,
                period: "q".into(),
                team: "t".into(),
                parent: None,
                archived: false,
            }],
            key_results: vec![kr("half", 1.0), kr("full", 3.0), kr("new", 1.0)],
        };
        let mut e = RollupEngine::new(&set);
        let noon = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap();
        for d in 0..5u64 {
            // `half` ends at 92 (progress 0.5), `full` at 184.
            e.set_value("half", (d + 1) as f64, noon + Days::new(d))
                .unwrap();
            e.set_value("full", 2.0 * (d + 1) as f64, noon + Days::new(d))
                .unwrap();
        }
        e.set_value("new", 1.0, noon).unwrap();
        let now = noon + Days::new(5);
        let out = render(&crate::live::Snapshot::from_engine(&e, now), now);
        let line = |prefix: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .map(String::from)
        };
        let l = r#"key_result="half",objective="o",team="t",period="q""#;
        assert_eq!(
            line(&format!("okr_key_result_forecast_value{{{l}}}")).unwrap(),
            format!("okr_key_result_forecast_value{{{l}}} 92")
        );
        assert!(
            line("okr_key_result_forecast_progress_ratio{key_result=\"half\"")
                .unwrap()
                .ends_with(" 0.5")
        );
        assert_eq!(
            line("okr_key_result_forecast_value{key_result=\"new\""),
            None
        );
        // (1 × 0.5 + 3 × 1) / 4
        assert!(
            line("okr_objective_forecast_progress_ratio{objective=\"o\"")
                .unwrap()
                .ends_with(" 0.875"),
            "{out}"
        );
    }
}

//! The domain families rendered from the snapshot: every KR's value,
//! start, target, progress, expected pace, status, last update, forecast
//! and info, objective progress and forecast, team progress, and
//! `okr_build_info`. Written straight to
//! text: 10,000 KRs make ~120,000 samples and building protobuf families for
//! them would dominate the scrape.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::names;
use crate::live::Snapshot;
use crate::okr::Status;
use crate::okr::forecast::WeightedProgress;
use crate::okr::progress::expected_progress;

/// The `okr_*` domain families and `okr_build_info`.
pub fn render_domain(s: &Snapshot, now: DateTime<Utc>, out: &mut String) {
    // The id labels of every KR, built once and reused by each family.
    let labels: Vec<String> = s
        .key_results
        .iter()
        .map(|k| {
            let mut l = String::with_capacity(96);
            push_label(&mut l, "key_result", &k.id);
            l.push(',');
            push_label(&mut l, "objective", &k.objective);
            l.push(',');
            push_label(&mut l, "team", &k.team);
            l.push(',');
            push_label(&mut l, "period", &k.period);
            l
        })
        .collect();
    let expected: Vec<f64> = s
        .key_results
        .iter()
        .map(|k| {
            s.periods
                .get(&*k.period)
                .map_or(0.0, |p| expected_progress(p, now))
        })
        .collect();

    header(
        out,
        names::KR_VALUE,
        "Current value of a key result (its latest check-in or rolled-up value).",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(v) = k.value.filter(|_| k.has_data) {
            sample(out, names::KR_VALUE, l, v);
        }
    }
    header(out, names::KR_START, "Baseline value of a key result.");
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(v) = k.start {
            sample(out, names::KR_START, l, v);
        }
    }
    header(out, names::KR_TARGET, "Target value of a key result.");
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(v) = k.target {
            sample(out, names::KR_TARGET, l, v);
        }
    }
    header(
        out,
        names::KR_PROGRESS,
        "Progress of a key result towards its target, 0 to 1.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        sample(out, names::KR_PROGRESS, l, k.progress);
    }
    header(
        out,
        names::KR_EXPECTED,
        "Share of the period elapsed: the progress expected by now, 0 to 1.",
    );
    for (e, l) in expected.iter().zip(&labels) {
        sample(out, names::KR_EXPECTED, l, *e);
    }
    header(
        out,
        names::KR_STATUS,
        "1 for the key result's current status, 0 for the others.",
    );
    for ((k, l), e) in s.key_results.iter().zip(&labels).zip(&expected) {
        let current = k.status(*e, now);
        for st in Status::ALL {
            let _ = write!(
                out,
                "{}{{{l},status=\"{}\"}} ",
                names::KR_STATUS,
                st.as_str()
            );
            out.push_str(if st == current { "1\n" } else { "0\n" });
        }
    }
    header(
        out,
        names::KR_LAST_UPDATE,
        "Unix time of the key result's latest value.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(t) = k.last_update {
            sample(
                out,
                names::KR_LAST_UPDATE,
                l,
                t.timestamp_millis() as f64 / 1000.0,
            );
        }
    }
    header(
        out,
        names::KR_FORECAST_VALUE,
        "Projected value of a key result at its period's end; only with 3 days of history.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(f) = k.forecast {
            sample(out, names::KR_FORECAST_VALUE, l, f.value);
        }
    }
    header(
        out,
        names::KR_FORECAST_PROGRESS,
        "Progress of a key result's projected value at its period's end, 0 to 1.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        if let Some(f) = k.forecast {
            sample(out, names::KR_FORECAST_PROGRESS, l, f.progress);
        }
    }
    header(
        out,
        names::KR_INFO,
        "Descriptive labels of a key result; always 1.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        let mut info = String::with_capacity(l.len() + 128);
        info.push_str(l);
        for (name, value) in [
            ("owner", &*k.owner),
            ("title", &*k.title),
            ("kind", k.kind.as_str()),
            ("unit", k.unit.as_deref().unwrap_or("")),
            ("source", k.source.as_deref().unwrap_or("")),
        ] {
            info.push(',');
            push_label(&mut info, name, value);
        }
        sample(out, names::KR_INFO, &info, 1.0);
    }
    sustain_families(s, &labels, out);
    header(
        out,
        names::KR_HELD,
        "1 while a fetched value of the key result is held outside its guard, else 0 (KRs with a source).",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        if k.source.is_some() {
            let held = s.held.contains_key(&*k.id);
            sample(out, names::KR_HELD, l, if held { 1.0 } else { 0.0 });
        }
    }
    header(
        out,
        names::OBJECTIVE_PROGRESS,
        "Progress of an objective: weighted mean of its key results and child objectives.",
    );
    let objective_labels: Vec<String> = s
        .objectives
        .iter()
        .map(|o| {
            let mut l = String::with_capacity(64);
            push_label(&mut l, "objective", &o.id);
            l.push(',');
            push_label(&mut l, "team", &o.team);
            l.push(',');
            push_label(&mut l, "period", &o.period);
            l
        })
        .collect();
    for (o, l) in s.objectives.iter().zip(&objective_labels) {
        sample(out, names::OBJECTIVE_PROGRESS, l, o.progress);
    }
    header(
        out,
        names::OBJECTIVE_FORECAST_PROGRESS,
        "Weighted mean of the forecast progress of an objective's key results that have one.",
    );
    let forecasts = objective_forecasts(s);
    for (o, l) in s.objectives.iter().zip(&objective_labels) {
        if let Some(p) = forecasts.get(&*o.id).and_then(|w| w.mean()) {
            sample(out, names::OBJECTIVE_FORECAST_PROGRESS, l, p);
        }
    }
    header(
        out,
        names::TEAM_PROGRESS,
        "Mean progress of a team's approved key results in a period.",
    );
    for t in &s.teams {
        let mut l = String::with_capacity(48);
        push_label(&mut l, "team", &t.team);
        l.push(',');
        push_label(&mut l, "period", &t.period);
        sample(out, names::TEAM_PROGRESS, &l, t.progress);
    }
    let _ = writeln!(
        out,
        "# HELP {} Version of okrd; always 1.",
        names::BUILD_INFO
    );
    let _ = writeln!(out, "# TYPE {} gauge", names::BUILD_INFO);
    let _ = writeln!(
        out,
        "{}{{version=\"{}\"}} 1",
        names::BUILD_INFO,
        env!("CARGO_PKG_VERSION")
    );
}

/// Sustain KRs only: closed windows that held the level, and how many must.
fn sustain_families(s: &Snapshot, labels: &[String], out: &mut String) {
    let sustained = || {
        s.key_results
            .iter()
            .zip(labels)
            .filter_map(|(k, l)| k.sustain.as_ref().map(|st| (st, l)))
    };
    header(
        out,
        names::KR_WINDOWS_SATISFIED,
        "Closed windows of a sustain key result's period that held its level.",
    );
    for (st, l) in sustained() {
        sample(out, names::KR_WINDOWS_SATISFIED, l, f64::from(st.satisfied));
    }
    header(
        out,
        names::KR_WINDOWS_REQUIRED,
        "Windows of the period a sustain key result must hold its level in.",
    );
    for (st, l) in sustained() {
        sample(
            out,
            names::KR_WINDOWS_REQUIRED,
            l,
            f64::from(st.rule.required),
        );
    }
}

/// Each objective's KRs as `(weight, forecast progress)`, in one pass.
fn objective_forecasts(s: &Snapshot) -> HashMap<&str, WeightedProgress> {
    let mut by_objective: HashMap<&str, WeightedProgress> = HashMap::new();
    for k in s.key_results.iter().filter(|k| k.forecast.is_some()) {
        by_objective
            .entry(&*k.objective)
            .or_default()
            .add(k.weight, k.forecast.map(|f| f.progress));
    }
    by_objective
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, labels: &str, v: f64) {
    let _ = write!(out, "{name}{{{labels}}} ");
    push_float(out, v);
    out.push('\n');
}

fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `name="value"` with the exposition format's escapes.
fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        push_label(&mut s, "title", "a \"quoted\" \\ path\nnext");
        assert_eq!(s, r#"title="a \"quoted\" \\ path\nnext""#);
    }

    #[test]
    fn floats_use_exposition_spelling() {
        let mut s = String::new();
        for v in [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2e6] {
            push_float(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "1.5 NaN +Inf -Inf 2000000 ");
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
        let mut out = String::new();
        let now = noon + Days::new(5);
        render_domain(&crate::live::Snapshot::from_engine(&e, now), now, &mut out);
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

//! The domain families rendered from the snapshot: every KR's value,
//! start, target, progress, expected pace, status, last update and info,
//! objective and team progress, and `okr_build_info`. Written straight to
//! text: 10,000 KRs make ~120,000 samples and building protobuf families for
//! them would dominate the scrape.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::names;
use crate::live::Snapshot;
use crate::okr::Status;
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
                .get(&k.period)
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
        names::KR_INFO,
        "Descriptive labels of a key result; always 1.",
    );
    for (k, l) in s.key_results.iter().zip(&labels) {
        let mut info = String::with_capacity(l.len() + 128);
        info.push_str(l);
        for (name, value) in [
            ("owner", k.owner.as_str()),
            ("title", k.title.as_str()),
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
            let held = s.held.contains_key(&k.id);
            sample(out, names::KR_HELD, l, if held { 1.0 } else { 0.0 });
        }
    }
    header(
        out,
        names::OBJECTIVE_PROGRESS,
        "Progress of an objective: weighted mean of its key results and child objectives.",
    );
    for o in &s.objectives {
        let mut l = String::with_capacity(64);
        push_label(&mut l, "objective", &o.id);
        l.push(',');
        push_label(&mut l, "team", &o.team);
        l.push(',');
        push_label(&mut l, "period", &o.period);
        sample(out, names::OBJECTIVE_PROGRESS, &l, o.progress);
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
}

//! `/`: the OKR tree with progress and status, for people. Plain HTML from
//! the snapshot, refreshed by the browser every 10 s. A failing source shows
//! its reason to every reader and what went wrong (the message, which may
//! quote a command's stderr or a database's error) to admins only, as the
//! API does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::live::Snapshot;
use crate::metrics::SourceHealth;
use crate::okr::Status;
use crate::okr::progress::expected_progress;
use crate::okr::rollup::{KrState, ObjectiveState};
use crate::scheduler::BindingStatus;

use super::html::{self, esc};

/// Who the page is rendered for.
pub struct Viewer<'a> {
    /// The signed-in reader's name and role; `None` for anonymous readers
    /// of a public page.
    pub signed_in: Option<(&'a str, &'a str)>,
    /// Failure messages, not only their reasons (admins).
    pub messages: bool,
}

pub fn render(
    s: &Snapshot,
    sources: &HashMap<String, SourceHealth>,
    schedule: &[BindingStatus],
    now: DateTime<Utc>,
    viewer: &Viewer<'_>,
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<h1>OKRs</h1><p class=muted>Updated {} · <a href=/metrics>/metrics</a>",
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    match viewer.signed_in {
        Some((name, role)) => {
            let _ = write!(
                out,
                " · signed in as {} ({}) <form class=inline method=post action=/sign-out>\
                 <button>Sign out</button></form></p>",
                esc(name),
                esc(role)
            );
        }
        None => out.push_str(" · <a href=/sign-in>Sign in</a></p>"),
    }
    let mut krs_by_objective: HashMap<&str, Vec<&KrState>> = HashMap::new();
    for k in &s.key_results {
        krs_by_objective.entry(&k.objective).or_default().push(k);
    }
    let mut children: HashMap<&str, Vec<&ObjectiveState>> = HashMap::new();
    let mut roots: BTreeMap<(&str, &str), &ObjectiveState> = BTreeMap::new();
    let shown: HashSet<&str> = s.objectives.iter().map(|o| o.id.as_str()).collect();
    for o in &s.objectives {
        match o.parent.as_deref().filter(|p| shown.contains(p)) {
            Some(p) => children.entry(p).or_default().push(o),
            None => {
                roots.insert((&o.period, &o.id), o);
            }
        }
    }
    if roots.is_empty() {
        out.push_str(
            "<p>No approved key results yet. Apply an OKR file with <code>okrd apply</code>.</p>",
        );
    }
    let mut period = "";
    for ((p, _), o) in &roots {
        if *p != period {
            period = p;
            let _ = write!(out, "<h2>Period {}</h2>", esc(p));
        }
        objective(&mut out, o, &children, &krs_by_objective, s, now, 0);
    }
    if !sources.is_empty() {
        out.push_str("<h2>Sources</h2><table><tr><th>source</th><th>last success</th><th>last failure</th></tr>");
        let mut names: Vec<_> = sources.keys().collect();
        names.sort();
        for name in names {
            let h = &sources[name];
            let ok = h
                .last_success
                .map_or("never".to_string(), |t| t.format("%H:%M:%S").to_string());
            let fail = h.last_failure.as_ref().map_or(String::new(), |f| {
                let at = f.at.format("%H:%M:%S");
                if viewer.messages {
                    format!("{at} {}: {}", f.reason, f.message)
                } else {
                    format!("{at} {}", f.reason)
                }
            });
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(&ok),
                esc(&fail)
            );
        }
        out.push_str("</table>");
    }
    let running = schedule.iter().filter(|b| b.running).count();
    let _ = write!(
        out,
        "<p class=muted>{} scheduled key results, {} fetching now.</p>",
        schedule.len(),
        running
    );
    html::document("okrd", &out, true)
}

fn objective(
    out: &mut String,
    o: &ObjectiveState,
    children: &HashMap<&str, Vec<&ObjectiveState>>,
    krs: &HashMap<&str, Vec<&KrState>>,
    s: &Snapshot,
    now: DateTime<Utc>,
    depth: usize,
) {
    let _ = write!(
        out,
        "<div class=obj><b>{}</b> <span class=muted>{} · {} · {:.0}%</span>",
        esc(&o.title),
        esc(&o.id),
        esc(&o.team),
        o.progress * 100.0
    );
    // Child KRs are shown under their parent KR when both belong here.
    let here: &[&KrState] = krs.get(o.id.as_str()).map_or(&[], Vec::as_slice);
    let is_here = |id: &str| here.iter().any(|k| k.id == id);
    for k in here
        .iter()
        .filter(|k| !k.parent.as_deref().is_some_and(is_here))
    {
        key_result(out, k, here, s, now, 0);
    }
    // Deep trees are shown to a sane depth; cycles are rejected before this.
    if depth < 16 {
        for c in children.get(o.id.as_str()).into_iter().flatten() {
            objective(out, c, children, krs, s, now, depth + 1);
        }
    }
    out.push_str("</div>");
}

fn key_result(
    out: &mut String,
    k: &KrState,
    siblings: &[&KrState],
    s: &Snapshot,
    now: DateTime<Utc>,
    depth: usize,
) {
    let expected = s
        .periods
        .get(&k.period)
        .map_or(0.0, |p| expected_progress(p, now));
    let st = k.status(expected, now);
    let value = match (k.value, k.target) {
        (Some(v), Some(t)) => format!(
            "{} / {} {}",
            num(v),
            num(t),
            k.unit.as_deref().unwrap_or("")
        ),
        (Some(v), None) => format!("{} {}", num(v), k.unit.as_deref().unwrap_or("")),
        (None, _) if st == Status::NoData => "no data yet".to_string(),
        (None, _) => "from children".to_string(),
    };
    // Sustain KRs: "3 of 10 weeks" held so far.
    let value = match &k.sustain {
        Some(w) => format!(
            "{value} · {} of {} {}",
            w.satisfied,
            w.rule.required,
            w.rule.window.plural()
        ),
        None => value,
    };
    // A fetched value waits outside the guard (README "Held values").
    let value = match s.held.get(&k.id) {
        Some(h) => format!("{} · held {}", value.trim_end(), num(h.value)),
        None => value,
    };
    // The projected end value and its band (README "Forecasts").
    let value = match k.forecast {
        Some(f) => format!(
            "{} · forecast {} ({}–{})",
            value.trim_end(),
            num(f.value),
            num(f.low),
            num(f.high)
        ),
        None => value,
    };
    let _ = write!(
        out,
        "<div class=kr style='padding-left:{}rem'><span>{} <span class=muted>{} · {}</span></span><span>{}</span>\
             <span class=bar title='{:.0}%'><span style='width:{:.1}%'></span></span>\
             <span class='st {}'>{}</span></div>",
        depth as f64 * 1.2,
        esc(&k.title),
        esc(&k.id),
        esc(&k.team),
        esc(&value),
        k.progress * 100.0,
        k.progress * 100.0,
        st.as_str(),
        st.as_str().replace('_', " ")
    );
    if depth < 16 {
        for child in siblings
            .iter()
            .filter(|c| c.parent.as_deref() == Some(k.id.as_str()))
        {
            key_result(out, child, siblings, s, now, depth + 1);
        }
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Reason;
    use crate::metrics::FailureRecord;
    use crate::okr::rollup::RollupEngine;
    use crate::okr::*;
    use chrono::{NaiveDate, TimeZone};

    fn kr(id: &str, parent: Option<&str>, title: &str) -> KeyResult {
        KeyResult {
            id: id.into(),
            objective: "o".into(),
            team: "t".into(),
            owner: "a@b.c".into(),
            title: title.into(),
            description: None,
            kind: KrKind::Increase,
            start: Some(0.0),
            target: Some(10.0),
            due: None,
            unit: None,
            weight: 1.0,
            parent: parent.map(Into::into),
            rollup: parent.is_none().then_some(Rollup::Sum),
            source: None,
            state: WorkflowState::Approved,
            sustain: None,
            guard: None,
        }
    }

    #[test]
    fn children_follow_their_parent_and_text_is_escaped() {
        let set = OkrSet {
            periods: vec![Period {
                id: "p".into(),
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
                title: "Grow <b>love</b>".into(),
                description: None,
                period: "p".into(),
                team: "t".into(),
                parent: None,
                archived: false,
            }],
            key_results: vec![
                kr("child", Some("parent"), "Child KR"),
                kr("other", None, "Other KR"),
                kr("parent", None, "Parent <script>"),
            ],
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut engine = RollupEngine::new(&set);
        engine.set_value("child", 4.0, now).unwrap();
        let anonymous = Viewer {
            signed_in: None,
            messages: false,
        };
        let page = render(
            &Snapshot::from_engine(&engine, now),
            &HashMap::new(),
            &[],
            now,
            &anonymous,
        );
        assert!(page.contains("Grow &lt;b&gt;love&lt;/b&gt;"));
        assert!(page.contains("Parent &lt;script&gt;") && !page.contains("<script>"));
        let (parent, child, other) = (
            page.find("Parent &lt;").unwrap(),
            page.find("Child KR").unwrap(),
            page.find("Other KR").unwrap(),
        );
        assert!(parent < child, "the child is listed under its parent");
        assert!(
            other < parent || child < other,
            "nothing between parent and child"
        );
        assert!(
            page.contains("4 / 10"),
            "the parent's rolled-up value is shown"
        );
        assert!(!page.contains("forecast"), "one day of history: none");
    }

    #[test]
    fn a_forecast_shows_beside_the_value() {
        let mut set = OkrSet::default();
        set.periods.push(Period {
            id: "p".into(),
            start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        });
        set.objectives.push(Objective {
            id: "o".into(),
            title: "O".into(),
            description: None,
            period: "p".into(),
            team: "t".into(),
            parent: None,
            archived: false,
        });
        set.key_results.push(KeyResult {
            target: Some(184.0),
            ..kr("line", None, "Line")
        });
        let mut engine = RollupEngine::new(&set);
        let noon = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap();
        for d in 0..4u64 {
            let v = 2.0 * (d + 1) as f64;
            engine
                .set_value("line", v, noon + chrono::Days::new(d))
                .unwrap();
        }
        let now = noon + chrono::Days::new(4);
        let viewer = Viewer {
            signed_in: None,
            messages: false,
        };
        let page = render(
            &Snapshot::from_engine(&engine, now),
            &HashMap::new(),
            &[],
            now,
            &viewer,
        );
        assert!(page.contains("8 / 184 · forecast 184 (184–184)"), "{page}");
        // A held value shows beside the counted one.
        let held = crate::store::HeldValue {
            check_in: 9,
            value: 0.0,
            observed_at: now,
        };
        let snapshot = Snapshot {
            held: std::sync::Arc::new(HashMap::from([("line".to_string(), held)])),
            ..Snapshot::from_engine(&engine, now)
        };
        let page = render(&snapshot, &HashMap::new(), &[], now, &viewer);
        assert!(page.contains("8 / 184 · held 0 · forecast"), "{page}");
    }

    #[test]
    fn failure_messages_are_for_admins_and_reasons_for_everyone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let health = HashMap::from([(
            "backlog".to_string(),
            SourceHealth {
                last_success: None,
                last_failure: Some(FailureRecord {
                    at: now,
                    reason: Reason::Http5xx,
                    message: "exit 1: ssh deploy@db01.internal: <denied>".into(),
                }),
            },
        )]);
        let engine = RollupEngine::new(&OkrSet::default());
        let snapshot = Snapshot::from_engine(&engine, now);
        let page = |viewer: &Viewer<'_>| render(&snapshot, &health, &[], now, viewer);

        let anonymous = page(&Viewer {
            signed_in: None,
            messages: false,
        });
        assert!(anonymous.contains("12:00:00 http_5xx"), "{anonymous}");
        assert!(!anonymous.contains("db01"), "{anonymous}");
        assert!(anonymous.contains("href=/sign-in"));

        let admin = page(&Viewer {
            signed_in: Some(("ada <admin>", "admin")),
            messages: true,
        });
        assert!(
            admin.contains("http_5xx: exit 1: ssh deploy@db01.internal: &lt;denied&gt;"),
            "{admin}"
        );
        assert!(admin.contains("signed in as ada &lt;admin&gt; (admin)"));
        assert!(admin.contains("action=/sign-out"));
    }
}

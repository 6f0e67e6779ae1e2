//! The charts through their public entry points: what the pages and the
//! browser tests rely on (escaping, ids, `circle.point`, the description,
//! well-formed output, size), and the sample pictures to look at.

use chrono::{Duration, TimeZone};

use super::*;

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// A quarter-long KR from 0 to 1000 visits, seen on Nov 15.
fn quarter(points: &[Point]) -> KrChart<'_> {
    KrChart {
        id: "kr-visits",
        title: "Visits",
        unit: Some("visits"),
        from: utc(2026, 10, 1),
        to: utc(2027, 1, 1),
        now: utc(2026, 11, 15),
        start: Some(0.0),
        target: Some(1000.0),
        pace_end: utc(2027, 1, 1),
        points,
        forecast: None,
        windows: &[],
    }
}

/// A forecast for the quarter's end.
fn band(value: f64, low: f64, high: f64) -> ForecastBand {
    ForecastBand {
        at: utc(2027, 1, 1),
        value,
        low,
        high,
    }
}

/// `n` counted values, one every `step_hours` from Oct 1.
fn series(n: usize, step_hours: i64) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            at: utc(2026, 10, 1) + Duration::hours(i as i64 * step_hours),
            value: i as f64,
            held: false,
        })
        .collect()
}

/// Well-formed enough for us: tags balance, attribute values are quoted
/// and hold no `<`, and every `&` starts one of the five entities.
fn well_formed(s: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open])?;
        let tag_end = tag_end(&rest[open..]).ok_or("unterminated tag")? + open;
        let tag = &rest[open + 1..tag_end];
        rest = &rest[tag_end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let name = tag.split([' ', '/']).next().unwrap_or("");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!("bad tag <{tag}>"));
        }
        check_text(tag)?;
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    check_text(rest)?;
    match stack.is_empty() {
        true => Ok(()),
        false => Err(format!("unclosed {stack:?}")),
    }
}

/// Where the tag starting at `s[0]` ends: the first `>` outside quotes.
fn tag_end(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if quoted => return None,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn check_text(t: &str) -> Result<(), String> {
    for (i, _) in t.match_indices('&') {
        let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"];
        if !entity.iter().any(|e| t[i..].starts_with(e)) {
            return Err(format!("bare & in {t:?}"));
        }
    }
    if t.contains('>') && !t.contains('=') {
        return Err(format!("bare > in {t:?}"));
    }
    Ok(())
}

fn count(s: &str, needle: &str) -> usize {
    s.matches(needle).count()
}

fn desc(s: &str) -> &str {
    let start = s.find("<desc").unwrap();
    let start = start + s[start..].find('>').unwrap() + 1;
    &s[start..start + s[start..].find("</desc>").unwrap()]
}

/// The numbers in attribute `attr` of the first element with `class`.
fn numbers(s: &str, class: &str, attr: &str) -> Vec<f64> {
    let el = &s[s.find(&format!("class=\"{class}\"")).unwrap()..];
    let el = &el[..el.find('>').unwrap()];
    let v = &el[el.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3..];
    v[..v.find('"').unwrap()]
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect()
}

fn line_y(s: &str, class: &str) -> (f64, f64) {
    let y1 = numbers(s, class, "y1")[0];
    (y1, numbers(s, class, "y2")[0])
}

#[test]
fn a_hostile_title_unit_and_id_are_escaped() {
    let points = series(5, 24);
    let hostile = "<script>alert('x')</script> & \"q\"";
    for unit in ["<b>&", "<&", "'\"calls</desc>"] {
        let mut c = quarter(&points);
        c.title = hostile;
        c.unit = Some(unit);
        c.id = "x\" onload=\"evil()";
        let s = kr_chart(&c);
        well_formed(&s).unwrap_or_else(|e| panic!("{e}\n{s}"));
        assert!(!s.contains("<script") && !s.contains("<b>") && !s.contains("onload=\""));
        assert!(s.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
        assert!(s.contains("id=\"xonloadevil-title\""), "{s}");
        assert_eq!(count(&s, "</desc>"), 1);
    }
    let s = progress_chart(&ProgressChart {
        id: "<o>",
        title: hostile,
        ..Default::default()
    });
    well_formed(&s).unwrap();
    assert!(!s.contains("<script") && s.contains("id=\"o-title\""));
}

#[test]
fn the_root_names_and_describes_itself() {
    let points = series(10, 24);
    let s = kr_chart(&quarter(&points));
    assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
    assert!(s.contains("role=\"img\" aria-labelledby=\"kr-visits-title kr-visits-desc\""));
    assert!(s.contains("<title id=\"kr-visits-title\">Visits</title>"));
    assert!(s.contains("clip-path=\"url(#kr-visits-plot)\""));
    assert!(s.ends_with("</svg>"));
    assert_eq!(
        desc(&s),
        "Visits: latest value 9 visits on Oct 10; target 1000 visits; expected 489 visits by now."
    );
    assert_eq!(s, kr_chart(&quarter(&points)), "deterministic");
}

#[test]
fn downsampling_keeps_held_and_last_points_and_caps_the_count() {
    // 5,000 values over the quarter; every 500th held; the last one held too.
    let mut points = series(5000, 0);
    for (i, p) in points.iter_mut().enumerate() {
        p.at = utc(2026, 10, 1) + Duration::minutes(i as i64 * 26);
        p.held = i % 500 == 250 || i == 4999;
    }
    let s = kr_chart(&quarter(&points));
    well_formed(&s).unwrap();
    let drawn = count(&s, "<circle class=\"point");
    assert!(drawn <= MAX_MARKERS && drawn > 100, "{drawn}");
    assert_eq!(count(&s, "<circle class=\"point held\""), 11);
    let last_counted = points.iter().rev().find(|p| !p.held).unwrap();
    for p in [&points[4999], last_counted] {
        let at = format!(
            "data-at=\"{}\"",
            svg::Stamp {
                at: p.at,
                data: true
            }
        );
        assert!(s.contains(&at), "{at} missing");
    }
    let vertices = numbers(&s, "value", "d").len() / 2;
    assert!(vertices <= MAX_VERTICES && vertices > 200, "{vertices}");
    assert!(s.len() < 32 * 1024, "{} bytes", s.len());
}

#[test]
fn three_hundred_points_stay_under_30_kb() {
    let mut points = series(300, 7);
    points[100].held = true;
    let c = KrChart {
        forecast: Some(band(900.0, 700.0, 1100.0)),
        ..quarter(&points)
    };
    let s = kr_chart(&c);
    assert!(s.len() < 30 * 1024, "{} bytes", s.len());
    assert!(count(&s, "<circle class=\"point") <= MAX_MARKERS);
}

#[test]
fn every_drawn_point_is_a_circle_point_with_its_tooltip() {
    let mut points = series(40, 24);
    for i in [3, 17, 30] {
        points[i].held = true;
    }
    points[5].value = 1234.5;
    let s = kr_chart(&quarter(&points));
    assert_eq!(count(&s, "<circle class=\"point"), 40);
    assert_eq!(count(&s, "<circle class=\"point held\""), 3);
    assert_eq!(count(&s, "<circle class=\"point\""), 37);
    assert!(s.contains(
        "data-at=\"2026-10-06T00:00:00Z\" data-value=\"1234.5\"><title>2026-10-06 00:00 UTC: 1234.5 visits</title>"
    ));
    assert!(s.contains("<title>2026-10-04 00:00 UTC: 3 visits (held)</title>"));
    assert!(desc(&s).contains("3 values held by the guard, not counted"));
    assert!(
        s.contains(">held (not counted)</text>"),
        "the legend names held values"
    );
}

#[test]
fn the_y_scale_includes_target_and_forecast_band() {
    let points = series(30, 24);
    let c = KrChart {
        forecast: Some(band(1200.0, 900.0, 1500.0)),
        ..quarter(&points)
    };
    let s = kr_chart(&c);
    well_formed(&s).unwrap();
    let (bottom, _) = line_y(&s, "axis");
    // The band's path: M x0 y0 L x1 y(low) x1 y(high) Z.
    let band = numbers(&s, "forecast band", "d");
    let (target, _) = line_y(&s, "target");
    for y in [band[1], band[3], band[5], target] {
        assert!(
            (20.0..=bottom).contains(&y),
            "{y} outside the plot (bottom {bottom})"
        );
    }
    assert!(
        band[5] < target,
        "the band's top lies above the target line"
    );
    assert!(
        desc(&s).contains("forecast 1200 visits by Jan 1 (90% between 900 and 1500 visits)"),
        "{}",
        desc(&s)
    );
    assert!(
        s.contains(">1400<") || s.contains(">1500<"),
        "ticks reach the band: {s}"
    );
}

#[test]
fn a_decreasing_kr_paces_downwards() {
    let points: Vec<Point> = (0..20)
        .map(|i| Point {
            at: utc(2026, 10, 1) + Duration::days(i),
            value: 100.0 - i as f64 * 2.0,
            held: false,
        })
        .collect();
    let c = KrChart {
        start: Some(100.0),
        target: Some(20.0),
        ..quarter(&points)
    };
    let s = kr_chart(&c);
    well_formed(&s).unwrap();
    let (y1, y2) = line_y(&s, "pace");
    assert!(y1 < y2, "starts high, ends low: {y1} {y2}");
    let (target, _) = line_y(&s, "target");
    assert!((target - y2).abs() < 0.2, "the pace ends on the target");
    assert!(desc(&s).contains(
        "latest value 62 visits on Oct 20; target 20 visits; expected 60.9 visits by now"
    ));
}

#[test]
fn negative_values_and_a_flat_range_draw() {
    let flat: Vec<Point> = (0..5)
        .map(|i| Point {
            at: utc(2026, 10, 2) + Duration::days(i),
            value: -7.0,
            held: false,
        })
        .collect();
    let c = KrChart {
        start: None,
        target: None,
        ..quarter(&flat)
    };
    let s = kr_chart(&c);
    well_formed(&s).unwrap();
    assert_eq!(count(&s, "<circle class=\"point\""), 5);
    assert!(
        s.contains(">-7 visits<") || s.contains(">-7.0 visits<") || s.contains(">-7"),
        "{s}"
    );
    assert!(!s.contains("class=\"pace\"") && !s.contains("class=\"target\""));
}

#[test]
fn without_values_the_chart_still_draws_pace_and_target() {
    let s = kr_chart(&quarter(&[]));
    well_formed(&s).unwrap();
    assert!(desc(&s).starts_with("Visits: no values yet; target 1000 visits"));
    assert!(s.contains("class=\"pace\"") && s.contains("class=\"target\""));
    assert_eq!(count(&s, "class=\"point"), 0);
    assert!(!s.contains("<path class=\"value\""));
    assert!(s.contains(">target 1000 visits</text>"));
}

#[test]
fn a_single_point_is_a_marker_without_a_line() {
    let points = series(1, 24);
    let s = kr_chart(&quarter(&points));
    well_formed(&s).unwrap();
    assert_eq!(count(&s, "<circle class=\"point\""), 1);
    assert!(!s.contains("<path class=\"value\""));
    assert!(desc(&s).starts_with("Visits: latest value 0 visits on Oct 1"));
}

#[test]
fn points_outside_the_period_are_not_drawn() {
    let mut points = series(10, 24 * 12);
    points.insert(
        0,
        Point {
            at: utc(2026, 9, 1),
            value: 5.0,
            held: true,
        },
    );
    let s = kr_chart(&quarter(&points));
    well_formed(&s).unwrap();
    // Oct 1 + 12-day steps: 8 inside the quarter, 2 after it, 1 before it.
    assert_eq!(count(&s, "<circle class=\"point"), 8);
    assert!(!s.contains("2026-09-01") && !s.contains("2027-01-06"));
    assert!(
        !s.contains("held"),
        "the held value before the period is not drawn"
    );
}

#[test]
fn non_finite_numbers_never_reach_the_output() {
    let mut points = series(20, 24);
    points[3].value = f64::NAN;
    points[4].value = f64::INFINITY;
    points[5].value = f64::NEG_INFINITY;
    let mut c = KrChart {
        start: Some(f64::NAN),
        target: Some(f64::INFINITY),
        forecast: Some(band(f64::NAN, 0.0, 1.0)),
        ..quarter(&points)
    };
    c.title = "t";
    let s = kr_chart(&c);
    well_formed(&s).unwrap();
    for bad in ["NaN", "inf", "e308"] {
        assert!(!s.contains(bad), "{bad} in {s}");
    }
    assert_eq!(count(&s, "<circle class=\"point\""), 17);
    assert!(!s.contains("class=\"pace\"") && !s.contains("forecast"));
    c.now = utc(2026, 10, 1);
    c.from = c.to; // an empty period
    let s = kr_chart(&c);
    assert!(!s.contains("NaN") && !s.contains("inf"));
    let progress = [(utc(2026, 10, 5), f64::NAN), (utc(2026, 10, 6), 0.5)];
    let s = progress_chart(&ProgressChart {
        id: "p",
        title: "t",
        from: utc(2026, 10, 1),
        to: utc(2027, 1, 1),
        now: utc(2026, 11, 1),
        points: &progress,
    });
    assert!(!s.contains("NaN") && !s.contains("inf"));
    assert_eq!(count(&s, "<circle class=\"point\""), 1);
}

#[test]
fn windows_are_bands_met_or_missed() {
    let week = |d: u32, satisfied, closed| Window {
        start: NaiveDate::from_ymd_opt(2026, 10, d).unwrap(),
        end: NaiveDate::from_ymd_opt(2026, 10, d + 6).unwrap(),
        satisfied,
        closed,
    };
    let windows = [
        week(1, true, true),
        week(8, false, true),
        week(15, true, true),
        week(22, true, false),
    ];
    let points = series(25, 24);
    let c = KrChart {
        windows: &windows,
        now: utc(2026, 10, 25),
        ..quarter(&points)
    };
    let s = kr_chart(&c);
    well_formed(&s).unwrap();
    assert_eq!(count(&s, "class=\"window ok\""), 2);
    assert_eq!(count(&s, "class=\"window miss\""), 1);
    assert_eq!(count(&s, "class=\"window ok open\""), 1);
    assert!(s.contains("<title>Oct 8 – Oct 14: missed</title>"));
    assert!(s.contains("<title>Oct 22 – Oct 28: met so far</title>"));
    assert!(desc(&s).ends_with("; 2 of 3 closed windows met; current window met so far."));
    assert!(s.contains(">window met</text>") && s.contains(">window missed</text>"));
    // A week from Oct 1 is 1/13 of the quarter's width.
    let x = numbers(&s, "window ok", "width")[0];
    let plot = numbers(&s, "axis", "x2")[0] - numbers(&s, "axis", "x1")[0];
    assert!((x + 1.0 - plot * 7.0 / 92.0).abs() < 1.0, "{x} of {plot}");
}

#[test]
fn the_legend_names_every_series() {
    let mut points = series(30, 24);
    points[10].held = true;
    let c = KrChart {
        forecast: Some(band(90.0, 80.0, 100.0)),
        ..quarter(&points)
    };
    let s = kr_chart(&c);
    for name in [
        "value",
        "held (not counted)",
        "expected pace",
        "target",
        "forecast (90% band)",
    ] {
        assert!(s.contains(&format!(">{name}</text>")), "{name}");
    }
    for class in ["value", "pace", "target", "forecast", "held"] {
        assert!(s.contains(&format!("class=\"{class}")), "{class}");
    }
}

#[test]
fn the_progress_chart_shows_percent_against_pace() {
    let points: Vec<(DateTime<Utc>, f64)> = (0..40)
        .map(|i| (utc(2026, 10, 1) + Duration::days(i), i as f64 / 100.0))
        .collect();
    let c = ProgressChart {
        id: "obj-growth",
        title: "Grow",
        from: utc(2026, 10, 1),
        to: utc(2027, 1, 1),
        now: utc(2026, 11, 16),
        points: &points,
    };
    let s = progress_chart(&c);
    well_formed(&s).unwrap();
    assert_eq!(count(&s, "<circle class=\"point\""), 40);
    assert!(s.contains(">100%<") && s.contains(">0%<"));
    assert!(s.contains("class=\"pace\"") && s.contains(">expected pace</text>"));
    assert!(s.contains("data-value=\"0.39\"><title>2026-11-09 00:00 UTC: 39%</title>"));
    assert_eq!(
        desc(&s),
        "Grow: progress 39% on Nov 9; expected 50% by now."
    );
    let empty = progress_chart(&ProgressChart { points: &[], ..c });
    well_formed(&empty).unwrap();
    assert!(desc(&empty).contains("no values yet"));
    assert_eq!(count(&empty, "class=\"point"), 0);
}

#[test]
fn the_well_formedness_check_catches_breakage() {
    assert!(well_formed("<svg><g></svg>").is_err());
    assert!(well_formed("<svg>a & b</svg>").is_err());
    assert!(well_formed("<svg><text x=\"<\">a</text></svg>").is_err());
    assert!(well_formed("<svg><g/><text>&amp;</text></svg>").is_ok());
}

/// Writes /tmp/chart-sample.svg, /tmp/chart-sustain.svg and
/// /tmp/chart-progress.svg to look at (`rsvg-convert` makes PNGs of them).
#[test]
#[ignore]
fn write_samples() {
    // 90 days of a value growing with noise (deterministic), one outlier held.
    let mut seed = 7u64;
    let mut noise = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        f64::from((seed >> 32) as u32) / f64::from(u32::MAX) - 0.5
    };
    let from = utc(2026, 10, 1);
    let mut points: Vec<Point> = (0..46 * 4)
        .map(|i| Point {
            at: from + Duration::hours(i * 6),
            value: 1200.0 + i as f64 * 9.5 + noise() * 260.0,
            held: false,
        })
        .collect();
    points[120].value = 5400.0;
    points[120].held = true;
    let c = KrChart {
        id: "kr-sample",
        title: "Weekly active users",
        unit: Some("users"),
        from,
        to: utc(2027, 1, 1),
        now: utc(2026, 11, 16),
        start: Some(1200.0),
        target: Some(4000.0),
        pace_end: utc(2027, 1, 1),
        points: &points,
        forecast: Some(band(3050.0, 2600.0, 3500.0)),
        windows: &[],
    };
    let t = std::time::Instant::now();
    let s = kr_chart(&c);
    println!("{} bytes in {:?}", s.len(), t.elapsed());
    std::fs::write("/tmp/chart-sample.svg", &s).unwrap();

    let days: Vec<Point> = (0..46)
        .map(|i| Point {
            at: from + Duration::days(i),
            value: 99.4 + noise() * 1.2,
            held: false,
        })
        .collect();
    let mut windows = Vec::new();
    let mut start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
    while start <= today {
        let end = start + Duration::days(6);
        let mean = days
            .iter()
            .filter(|p| (start..=end).contains(&p.at.date_naive()))
            .map(|p| p.value)
            .sum::<f64>()
            / 7.0;
        windows.push(Window {
            start,
            end,
            satisfied: mean >= 99.3,
            closed: end < today,
        });
        start = end + Duration::days(1);
    }
    let sustain = KrChart {
        id: "kr-uptime",
        title: "Uptime ≥ 99.3% every week",
        unit: Some("%"),
        start: None,
        target: Some(99.3),
        points: &days,
        forecast: None,
        windows: &windows,
        ..c
    };
    std::fs::write("/tmp/chart-sustain.svg", kr_chart(&sustain)).unwrap();

    let progress: Vec<(DateTime<Utc>, f64)> = (0..46)
        .map(|i| {
            (
                from + Duration::days(i),
                (i as f64 / 100.0 + noise() * 0.03).max(0.0),
            )
        })
        .collect();
    let p = ProgressChart {
        id: "obj-sample",
        title: "Grow the community",
        from,
        to: utc(2027, 1, 1),
        now: utc(2026, 11, 16),
        points: &progress,
    };
    std::fs::write("/tmp/chart-progress.svg", progress_chart(&p)).unwrap();

    // A decreasing KR early in its period, sparse values, a long unit.
    let open_tickets: Vec<Point> = (0..12)
        .map(|i| Point {
            at: from + Duration::days(i),
            value: 340.0 - i as f64 * 6.0 + noise() * 30.0,
            held: i == 7,
        })
        .collect();
    let decreasing = KrChart {
        id: "kr-tickets",
        title: "Open support tickets",
        unit: Some("tickets/week"),
        now: from + Duration::days(12),
        start: Some(340.0),
        target: Some(120.0),
        points: &open_tickets,
        forecast: Some(band(150.0, 90.0, 230.0)),
        ..c
    };
    std::fs::write("/tmp/chart-decreasing.svg", kr_chart(&decreasing)).unwrap();
    let empty = KrChart {
        points: &[],
        forecast: None,
        now: from + Duration::days(80),
        ..c
    };
    std::fs::write("/tmp/chart-empty.svg", kr_chart(&empty)).unwrap();
}

//! The progress chart: an objective's progress (a ratio, drawn as 0–100%)
//! over its period against the expected pace from 0% at the start to 100%
//! at the end.

use chrono::{DateTime, Utc};

use super::ProgressChart;
use super::frame::{self, Key, Layout, Mark, Swatch};
use super::kr::{MAX_MARKERS, MAX_VERTICES};
use super::palette;
use super::sample;
use super::scale::{self, Day, Human, Linear, TimeScale};
use super::svg::{Esc, Svg, sanitize_id};

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 200.0;
const PERCENT: Option<&str> = Some("%");

const KEYS: [Key; 2] = [
    Key {
        class: "value",
        label: "progress",
        swatch: Swatch::Line(palette::VALUE, ""),
    },
    Key {
        class: "pace",
        label: "expected pace",
        swatch: Swatch::Line(palette::PACE, "6 4"),
    },
];

/// The SVG of `c`; see [`super::progress_chart`].
pub fn render(c: &ProgressChart<'_>) -> String {
    let id = sanitize_id(c.id);
    let x_probe = TimeScale::new(c.from, c.to, 0.0, 1.0);
    let points: Vec<&(DateTime<Utc>, f64)> = c
        .points
        .iter()
        .filter(|(at, v)| v.is_finite() && x_probe.contains(*at))
        .collect();
    // Percent on the y axis and in words: "40%" reads better than "0.4".
    let (lo, hi) = scale::y_domain(points.iter().map(|p| p.1 * 100.0).chain([0.0, 100.0]));
    let ticks = scale::y_ticks(lo, hi, 4);
    let labels = frame::y_labels(&ticks, PERCENT);
    let l = Layout::new(WIDTH, HEIGHT, &labels, 1);
    let x = TimeScale::new(c.from, c.to, l.left, l.right);
    let y = Linear {
        d0: lo,
        d1: hi,
        r0: l.bottom,
        r1: l.top,
    };

    let mut svg = Svg::new(6 * 1024 + 160 * MAX_MARKERS);
    svg.open(&id, "progress-chart", (WIDTH, HEIGHT), c.title, |s| {
        s.w(format_args!("{}: ", Esc(c.title)));
        match points.last() {
            Some(&&(at, v)) => s.w(format_args!(
                "progress {} on {}",
                Human(v * 100.0, PERCENT),
                Day {
                    date: at.date_naive(),
                    year: false
                }
            )),
            None => s.s("no values yet"),
        }
        if x.contains(c.now) {
            let expected = (x.at(c.now) - l.left) / (l.right - l.left) * 100.0;
            s.w(format_args!(
                "; expected {} by now",
                Human(expected.round(), PERCENT)
            ));
        }
        s.s(".");
    });
    frame::clip(&mut svg, &id, &l);
    frame::axes(
        &mut svg,
        &l,
        (&x, &y),
        (&ticks, &labels),
        &scale::time_ticks(x.from, x.to, 5),
        PERCENT,
    );
    frame::now_marker(&mut svg, &l, &x, c.now);
    svg.w(format_args!("<g clip-path=\"url(#{id}-plot)\">"));
    svg.line(
        "pace",
        palette::PACE,
        (l.left, y.at(0.0), l.right, y.at(100.0)),
        " stroke-width=\"1.5\" stroke-dasharray=\"6 4\"",
    );
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|&&(at, v)| (x.at(at), y.at(v * 100.0)))
        .collect();
    let mut line = Vec::with_capacity(MAX_VERTICES);
    sample::lttb(&xy, MAX_VERTICES, &mut line);
    frame::series_line(&mut svg, ("value", palette::VALUE, "progress"), &xy, &line);
    svg.s("</g>");
    let marks = sample::spread(line.len(), MAX_MARKERS).map(|i| {
        let (at, v) = *points[line[i]];
        let (px, py) = xy[line[i]];
        Mark {
            x: px,
            y: py,
            at,
            value: v,
            shown: v * 100.0,
        }
    });
    frame::markers(&mut svg, marks, PERCENT, false);
    frame::legend(&mut svg, &l, &KEYS);
    svg.close();
    svg.out
}

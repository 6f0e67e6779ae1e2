//! The progress chart: an objective's progress (a ratio, drawn as 0–100%)
//! over its period against the expected pace from 0% at the start to 100%
//! at the end.

use chrono::{DateTime, Utc};

use super::ProgressChart;
use super::frame::{self, Key, Mark, Plot, Swatch};
use super::kr::{MAX_MARKERS, MAX_VERTICES};
use super::palette;
use super::sample;
use super::scale::{self, Day, Human};
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
    let points: Vec<&(DateTime<Utc>, f64)> = c
        .points
        .iter()
        .filter(|(at, v)| v.is_finite() && (c.from..=c.to).contains(at))
        .collect();
    // Percent on the y axis and in words: "40%" reads better than "0.4".
    let plot = Plot::new(
        (WIDTH, HEIGHT),
        (c.from, c.to),
        scale::y_domain(points.iter().map(|p| p.1 * 100.0).chain([0.0, 100.0])),
        4,
        PERCENT,
        &KEYS,
    );
    let Plot { l, x, y, .. } = &plot;

    let mut svg = Svg::new(8 * 1024 + 180 * MAX_MARKERS);
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
            let expected = x.fraction(c.now) * 100.0;
            s.w(format_args!(
                "; expected {} by now",
                Human(expected.round(), PERCENT)
            ));
        }
        s.s(".");
    });
    plot.axes(&mut svg, &id);
    frame::now_marker(&mut svg, l, x, c.now);
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
    if points.is_empty() {
        frame::no_values(&mut svg, l);
    }
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
    frame::legend(&mut svg, l, &KEYS);
    svg.close();
    svg.out
}

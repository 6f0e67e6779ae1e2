//! The KR chart: the period on x, the value on y; the expected pace, the
//! target, the values (downsampled, held ones hollow), the forecast cone
//! and a sustain KR's windows; and the one-sentence description that says
//! the same in words.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::frame::{self, Key, Layout, Mark, Plot, Swatch};
use super::palette;
use super::sample;
use super::scale::{self, Day, Human, Linear, TimeScale};
use super::svg::{Esc, N, Svg, sanitize_id};
use super::{ForecastBand, KrChart, Point, Window};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
/// Vertices of the value line at most: about two per horizontal pixel.
pub const MAX_VERTICES: usize = 300;
/// Markers at most, held ones included: one per 5 px of the plot, more
/// would only blur the line; and each carries a tooltip (~170 bytes), so
/// this keeps the chart under 30 KB however many values it has.
pub const MAX_MARKERS: usize = 120;
/// Held markers at most: the guard holds outliers, which are few; a
/// period of nothing but held values still leaves room for counted ones.
pub const MAX_HELD: usize = 30;

/// What the chart draws, once filtered: values inside the period, finite.
struct Data<'a> {
    counted: Vec<&'a Point>,
    held: Vec<&'a Point>,
    start: Option<f64>,
    target: Option<f64>,
    forecast: Option<ForecastBand>,
}

impl<'a> Data<'a> {
    fn of(c: &KrChart<'a>) -> Data<'a> {
        let finite = |v: &f64| v.is_finite();
        let (mut counted, mut held) = (Vec::new(), Vec::new());
        for p in c.points {
            // Outside the period a value has no place on the x axis.
            if p.value.is_finite() && c.from <= p.at && p.at <= c.to {
                if p.held {
                    held.push(p);
                } else {
                    counted.push(p);
                }
            }
        }
        Data {
            counted,
            held,
            start: c.start.filter(finite),
            target: c.target.filter(finite),
            forecast: c
                .forecast
                .filter(|f| [f.value, f.low, f.high].iter().all(finite)),
        }
    }

    fn y_values(&self) -> impl Iterator<Item = f64> + '_ {
        let band = self.forecast.iter().flat_map(|f| [f.value, f.low, f.high]);
        (self.counted.iter().chain(&self.held))
            .map(|p| p.value)
            .chain(self.start)
            .chain(self.target)
            .chain(band)
    }

    /// The expected pace as a segment of (instant, value), when drawn.
    fn pace(&self, c: &KrChart<'_>) -> Option<(f64, f64)> {
        (c.pace_end > c.from).then_some(())?;
        Some((self.start?, self.target?))
    }
}

/// The SVG of `c`; see [`super::kr_chart`].
pub fn render(c: &KrChart<'_>) -> String {
    let id = sanitize_id(c.id);
    let d = Data::of(c);
    let keys = keys(c, &d);
    let plot = Plot::new(
        (WIDTH, HEIGHT),
        (c.from, c.to),
        scale::y_domain(d.y_values()),
        5,
        c.unit,
        &keys,
    );
    let Plot { l, x, y, .. } = &plot;

    let mut svg = Svg::new(12 * 1024 + 180 * MAX_MARKERS);
    svg.open(&id, "kr-chart", (WIDTH, HEIGHT), c.title, |s| {
        describe(s, c, &d)
    });
    plot.axes(&mut svg, &id);
    windows(&mut svg, l, x, c.windows);
    frame::now_marker(&mut svg, l, x, c.now);

    svg.w(format_args!("<g clip-path=\"url(#{id}-plot)\">"));
    if let Some((start, target)) = d.pace(c) {
        let (t1, v1) = clip_end((c.from, start), (c.pace_end, target), x.to);
        svg.line(
            "pace",
            palette::PACE,
            (x.at(c.from), y.at(start), x.at(t1), y.at(v1)),
            " stroke-width=\"1.5\" stroke-dasharray=\"6 4\"",
        );
    }
    if let Some(t) = d.target {
        svg.line(
            "target",
            palette::TARGET,
            (l.left, y.at(t), l.right, y.at(t)),
            " stroke-width=\"1.5\"",
        );
    }
    if let Some(f) = &d.forecast {
        forecast(&mut svg, x, y, d.counted.last().copied(), f, c.unit);
    }
    let xy: Vec<(f64, f64)> = d
        .counted
        .iter()
        .map(|p| (x.at(p.at), y.at(p.value)))
        .collect();
    let mut line = Vec::with_capacity(MAX_VERTICES);
    sample::lttb(&xy, MAX_VERTICES, &mut line);
    frame::series_line(&mut svg, ("value", palette::VALUE, "value"), &xy, &line);
    svg.s("</g>");
    if d.counted.is_empty() && d.held.is_empty() {
        frame::no_values(&mut svg, l);
    }

    if let Some(t) = d.target {
        // Labelled at the right end: values fill the plot from the left
        // up to now, so the period's end is where the line is most alone.
        svg.text(
            "target",
            palette::TARGET,
            (l.right - 4.0, y.at(t) - 5.0),
            "end",
            format_args!("target {}", Human(t, c.unit)),
        );
    }
    let held = sample::spread(d.held.len(), MAX_HELD);
    let counted = sample::spread(line.len(), MAX_MARKERS - held.len());
    frame::markers(
        &mut svg,
        counted.map(|i| mark(d.counted[line[i]], x, y)),
        c.unit,
        false,
    );
    frame::markers(&mut svg, held.map(|i| mark(d.held[i], x, y)), c.unit, true);
    frame::legend(&mut svg, l, &keys);
    svg.close();
    svg.out
}

fn mark(p: &Point, x: &TimeScale, y: &Linear) -> Mark {
    Mark {
        x: x.at(p.at),
        y: y.at(p.value),
        at: p.at,
        value: p.value,
        shown: p.value,
    }
}

/// The segment from `a` to `b` ends at `to` when `b` lies after it: its
/// value there, so no coordinate runs far outside the picture.
fn clip_end(
    (t0, v0): (DateTime<Utc>, f64),
    (t1, v1): (DateTime<Utc>, f64),
    to: DateTime<Utc>,
) -> (DateTime<Utc>, f64) {
    if t1 <= to || t1 <= t0 {
        return (t1, v1);
    }
    let f = (to - t0).num_milliseconds() as f64 / (t1 - t0).num_milliseconds() as f64;
    (to, v0 + (v1 - v0) * f)
}

/// The forecast: a cone from the last counted value to the band at its
/// instant, the projected value dashed through it. Without a counted value
/// before it, a bar at its instant shows the band.
fn forecast(
    svg: &mut Svg,
    x: &TimeScale,
    y: &Linear,
    last: Option<&Point>,
    f: &ForecastBand,
    unit: Option<&str>,
) {
    svg.w(format_args!(
        "<g class=\"forecast\"><title>{}</title>",
        ForecastWords(f, unit)
    ));
    match last.filter(|p| p.at < f.at) {
        Some(p) => {
            let from = (p.at, p.value);
            let (t, lo) = clip_end(from, (f.at, f.low), x.to);
            let (_, hi) = clip_end(from, (f.at, f.high), x.to);
            let (_, mid) = clip_end(from, (f.at, f.value), x.to);
            let (x0, y0, x1) = (x.at(p.at), y.at(p.value), x.at(t));
            svg.w(format_args!(
                "<path class=\"forecast band\" d=\"M{} {}L{} {} {} {}Z\" fill=\"{}\" fill-opacity=\".14\"/>",
                N(x0),
                N(y0),
                N(x1),
                N(y.at(lo)),
                N(x1),
                N(y.at(hi)),
                palette::FORECAST
            ));
            svg.line(
                "forecast",
                palette::FORECAST,
                (x0, y0, x1, y.at(mid)),
                " stroke-width=\"2\" stroke-dasharray=\"5 4\"",
            );
        }
        None if x.contains(f.at) => {
            let px = x.at(f.at);
            svg.line(
                "forecast band",
                palette::FORECAST,
                (px, y.at(f.low), px, y.at(f.high)),
                " stroke-width=\"6\" stroke-opacity=\".3\"",
            );
            svg.line(
                "forecast",
                palette::FORECAST,
                (px - 6.0, y.at(f.value), px + 6.0, y.at(f.value)),
                " stroke-width=\"2\"",
            );
        }
        None => {}
    }
    svg.s("</g>");
}

/// "forecast 3050 users by Jan 1 (90% between 2600 and 3500 users)".
struct ForecastWords<'a>(&'a ForecastBand, Option<&'a str>);

impl fmt::Display for ForecastWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (band, unit) = (self.0, self.1);
        write!(
            f,
            "forecast {} by {} (90% between {} and {})",
            Human(band.value, unit),
            Day {
                date: band.at.date_naive(),
                year: false
            },
            Human(band.low, None),
            Human(band.high, unit)
        )
    }
}

/// Midnight UTC at the start of `day`. Windows are local days; as UTC
/// midnights they sit a few hours off at most, which a chart of weeks or
/// months cannot show, so the time zone is not worth carrying here.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// What a window's band says: met or missed, "so far" while it runs.
fn window_word(w: &Window) -> &'static str {
    match (w.satisfied, w.closed) {
        (true, true) => "met",
        (false, true) => "missed",
        (true, false) => "met so far",
        (false, false) => "not met so far",
    }
}

/// A sustain KR's windows as shaded bands the plot's height: green when
/// met, red when missed, fainter while open.
fn windows(svg: &mut Svg, l: &Layout, x: &TimeScale, windows: &[Window]) {
    if windows.is_empty() {
        return;
    }
    svg.s("<g class=\"windows\">");
    for w in windows {
        let after_end = w.end.succ_opt().unwrap_or(w.end);
        let x0 = x.at(midnight(w.start)).max(l.left);
        let x1 = x.at(midnight(after_end)).min(l.right);
        if x1 <= x0 {
            continue;
        }
        let (class, colour) = if w.satisfied {
            ("ok", palette::WINDOW_OK)
        } else {
            ("miss", palette::WINDOW_MISS)
        };
        let (open, opacity) = if w.closed {
            ("", ".11")
        } else {
            (" open", ".05")
        };
        let (start, end) = (
            Day {
                date: w.start,
                year: false,
            },
            Day {
                date: w.end,
                year: false,
            },
        );
        svg.w(format_args!(
            "<rect class=\"window {class}{open}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{colour}\" fill-opacity=\"{opacity}\"><title>{start} – {end}: {}</title></rect>",
            N(x0 + 0.5),
            N(l.top),
            N((x1 - x0 - 1.0).max(0.5)),
            N(l.bottom - l.top),
            window_word(w)
        ));
    }
    svg.s("</g>");
}

/// The legend: an entry for each series drawn.
fn keys(c: &KrChart<'_>, d: &Data<'_>) -> Vec<Key> {
    let mut keys = Vec::with_capacity(7);
    let mut add = |on: bool, class, label, swatch| {
        if on {
            keys.push(Key {
                class,
                label,
                swatch,
            });
        }
    };
    add(
        !d.counted.is_empty(),
        "value",
        "value",
        Swatch::Line(palette::VALUE, ""),
    );
    add(
        !d.held.is_empty(),
        "held",
        "held (not counted)",
        Swatch::Dot(palette::HELD, true),
    );
    add(
        d.pace(c).is_some(),
        "pace",
        "expected pace",
        Swatch::Line(palette::PACE, "6 4"),
    );
    add(
        d.target.is_some(),
        "target",
        "target",
        Swatch::Line(palette::TARGET, ""),
    );
    add(
        d.forecast.is_some(),
        "forecast",
        "forecast (90% band)",
        Swatch::Band(palette::FORECAST, ".2"),
    );
    add(
        c.windows.iter().any(|w| w.satisfied),
        "window ok",
        "window met",
        Swatch::Band(palette::WINDOW_OK, ".2"),
    );
    add(
        c.windows.iter().any(|w| !w.satisfied),
        "window miss",
        "window missed",
        Swatch::Band(palette::WINDOW_MISS, ".2"),
    );
    keys
}

/// The description: latest value, target, pace, forecast, held values
/// and windows in one sentence, for screen readers (and tests).
fn describe(svg: &mut Svg, c: &KrChart<'_>, d: &Data<'_>) {
    let unit = c.unit;
    svg.w(format_args!("{}: ", Esc(c.title)));
    match d.counted.last() {
        Some(p) => svg.w(format_args!(
            "latest value {} on {}",
            Human(p.value, unit),
            Day {
                date: p.at.date_naive(),
                year: false
            }
        )),
        None => svg.s("no values yet"),
    }
    if let Some(t) = d.target {
        svg.w(format_args!("; target {}", Human(t, unit)));
    }
    if let Some((start, target)) = d.pace(c).filter(|_| c.now >= c.from) {
        let span = (c.pace_end - c.from).num_milliseconds() as f64;
        let done = ((c.now - c.from).num_milliseconds() as f64 / span).clamp(0.0, 1.0);
        let expected = start + (target - start) * done;
        svg.w(format_args!(
            "; expected {} by now",
            Human(scale::approx(expected), unit)
        ));
    }
    if let Some(f) = &d.forecast {
        svg.w(format_args!("; {}", ForecastWords(f, unit)));
    }
    match d.held.len() {
        0 => {}
        1 => svg.s("; 1 value held by the guard, not counted"),
        n => svg.w(format_args!("; {n} values held by the guard, not counted")),
    }
    let closed = c.windows.iter().filter(|w| w.closed);
    let met = closed.clone().filter(|w| w.satisfied).count();
    match closed.count() {
        0 => {}
        n => svg.w(format_args!("; {met} of {n} closed windows met")),
    }
    if let Some(w) = c.windows.iter().find(|w| !w.closed) {
        svg.w(format_args!("; current window {}", window_word(w)));
    }
    svg.s(".");
}

//! What both charts draw the same way: the plot's layout, grid and axes,
//! the "now" marker, a series' line and its point markers, and the legend.
//! `kr.rs` and `progress.rs` only decide what goes on it.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::palette;
use super::scale::{
    self, Human, Linear, TickLabel, Ticks, TimeScale, TimeTick, text_width, unit_on_ticks,
};
use super::svg::{Esc, Exact, N, Stamp, Svg};

/// Legend rows and x labels are this tall.
const ROW: f64 = 18.0;

/// Where the plot sits in the picture.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// Where the y axis' caption (a long unit) ends; the plot's left without one.
    pub caption_end: f64,
}

impl Layout {
    /// A `width` × `height` picture whose plot leaves room for the y
    /// labels (as wide as the longest), the caption of a long `unit`, the
    /// x labels and `legend_rows`.
    pub fn new(
        (width, height): (f64, f64),
        y_labels: &[String],
        unit: Option<&str>,
        legend_rows: usize,
    ) -> Layout {
        let widest = y_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1);
        let left = (text_width(widest) + 16.0).max(32.0);
        Layout {
            width,
            left,
            caption_end: caption(unit).map_or(left, |u| CAPTION_X + text_width(u.chars().count())),
            right: width - 18.0,
            top: 24.0,
            bottom: height - ROW - 12.0 - ROW * legend_rows as f64,
        }
    }

    /// Where the legend's first row sits (its text's base line).
    fn legend_top(&self) -> f64 {
        self.bottom + ROW + 20.0
    }
}

/// The y axis' caption starts here, in the top margin.
const CAPTION_X: f64 = 4.0;

/// A unit too long for every tick label, written once above the y axis.
fn caption(unit: Option<&str>) -> Option<&str> {
    unit.filter(|u| !u.is_empty() && !unit_on_ticks(Some(u)))
}

/// A chart's plot: where it sits, its scales, its y ticks and their labels.
pub struct Plot<'a> {
    pub l: Layout,
    pub x: TimeScale,
    pub y: Linear,
    ticks: Ticks,
    labels: Vec<String>,
    unit: Option<&'a str>,
}

impl<'a> Plot<'a> {
    /// A `size` picture of `from..to` and the values `lo..hi` (about
    /// `y_ticks` ticks), with room for the legend of `keys`.
    pub fn new(
        size: (f64, f64),
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        (lo, hi): (f64, f64),
        y_ticks: usize,
        unit: Option<&'a str>,
        keys: &[Key],
    ) -> Plot<'a> {
        let ticks = scale::y_ticks(lo, hi, y_ticks);
        let labels = y_labels(&ticks, unit);
        let probe = Layout::new(size, &labels, unit, 1);
        let rows = legend_rows(keys, probe.right - probe.left);
        let l = Layout::new(size, &labels, unit, rows);
        Plot {
            x: TimeScale::new(from, to, l.left, l.right),
            y: Linear {
                d0: lo,
                d1: hi,
                r0: l.bottom,
                r1: l.top,
            },
            l,
            ticks,
            labels,
            unit,
        }
    }

    /// What lies under the series: the clip path `{id}-plot`, the grid,
    /// the axes' labels and, for a long unit, the y axis' caption.
    pub fn axes(&self, svg: &mut Svg, id: &str) {
        clip(svg, id, &self.l);
        let x_ticks = scale::time_ticks(self.x.from, self.x.to, 6);
        axes(
            svg,
            &self.l,
            (&self.x, &self.y),
            (&self.ticks, &self.labels),
            &x_ticks,
            self.unit,
        );
    }
}

/// The y tick labels, written out once: their width sets the left margin.
fn y_labels(ticks: &Ticks, unit: Option<&str>) -> Vec<String> {
    ticks
        .values
        .iter()
        .map(|&value| TickLabel { value, ticks, unit }.to_string())
        .collect()
}

/// A clip path named `{id}-plot` around the plot, for what may reach past
/// it (the pace line ends after the period, a forecast band may too).
fn clip(svg: &mut Svg, id: &str, l: &Layout) {
    svg.w(format_args!(
        "<defs><clipPath id=\"{id}-plot\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
        N(l.left),
        N(l.top - 4.0),
        N(l.right - l.left),
        N(l.bottom - l.top + 8.0)
    ));
}

/// Grid lines, tick labels, the base line and, for a long unit, the y
/// axis' caption.
fn axes(
    svg: &mut Svg,
    l: &Layout,
    (x, y): (&TimeScale, &Linear),
    (y_ticks, labels): (&Ticks, &[String]),
    x_ticks: &[TimeTick],
    unit: Option<&str>,
) {
    svg.w(format_args!(
        "<g class=\"grid\" stroke=\"{}\" stroke-width=\"1\">",
        palette::GRID
    ));
    for &v in &y_ticks.values {
        let py = y.at(v);
        svg.w(format_args!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            N(l.left),
            N(py),
            N(l.right),
            N(py)
        ));
    }
    for t in x_ticks {
        let px = x.at(t.at);
        svg.w(format_args!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            N(px),
            N(l.top),
            N(px),
            N(l.bottom)
        ));
    }
    svg.s("</g>");
    svg.line(
        "axis",
        palette::AXIS,
        (l.left, l.bottom, l.right, l.bottom),
        "",
    );
    svg.w(format_args!(
        "<g class=\"ticks\" fill=\"{}\" font-size=\"11\">",
        palette::TEXT
    ));
    for (&v, label) in y_ticks.values.iter().zip(labels) {
        svg.w(format_args!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>",
            N(l.left - 8.0),
            N(y.at(v) + 4.0)
        ));
    }
    for t in x_ticks {
        // Kept inside the picture: a tick on the period's edge would cut its label.
        let half = text_width(t.label.len()) / 2.0;
        let px = x.at(t.at).clamp(half + 2.0, l.width - half - 2.0);
        svg.w(format_args!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            N(px),
            N(l.bottom + ROW),
            t.label
        ));
    }
    svg.s("</g>");
    if let Some(u) = caption(unit) {
        svg.text(
            "unit",
            palette::TEXT,
            (CAPTION_X, l.top - 10.0),
            "start",
            Esc(u),
        );
    }
}

/// A vertical dashed line at `now` labelled "now", when inside the
/// period. The label sits in the top margin, where no series can run into
/// it, beside the caption rather than on it.
pub fn now_marker(svg: &mut Svg, l: &Layout, x: &TimeScale, now: DateTime<Utc>) {
    if !x.contains(now) {
        return;
    }
    let px = x.at(now);
    svg.line(
        "now",
        palette::NOW,
        (px, l.top - 16.0, px, l.bottom),
        " stroke-width=\"1\" stroke-dasharray=\"2 3\"",
    );
    let (tx, anchor) = if px > l.right - 40.0 {
        (px - 4.0, "end")
    } else {
        ((px + 4.0).max(l.caption_end + 12.0), "start")
    };
    svg.text("now", palette::NOW, (tx, l.top - 10.0), anchor, "now");
}

/// "no values yet" in the middle of an empty plot, so it does not read
/// as a rendering failure.
pub fn no_values(svg: &mut Svg, l: &Layout) {
    let centre = ((l.left + l.right) / 2.0, (l.top + l.bottom) / 2.0);
    svg.text("empty", palette::TEXT, centre, "middle", "no values yet");
}

/// A series' line through `xy` at `indices` (already downsampled).
pub fn series_line(
    svg: &mut Svg,
    (class, colour, name): (&str, &str, &str),
    xy: &[(f64, f64)],
    indices: &[usize],
) {
    if indices.len() < 2 {
        return;
    }
    svg.w(format_args!(
        "<path class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
         stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\""
    ));
    for (k, &i) in indices.iter().enumerate() {
        let (x, y) = xy[i];
        let cmd = match k {
            0 => "M",
            1 => "L",
            _ => " ",
        };
        let _ = write!(svg.out, "{cmd}{} {}", N(x), N(y));
    }
    svg.w(format_args!("\"><title>{name}</title></path>"));
}

/// One value to mark: where, when, the value as data and as shown (an
/// objective's ratio is data 0.42 and shown 42%).
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub at: DateTime<Utc>,
    pub value: f64,
    pub shown: f64,
}

/// Point markers, each a `circle.point` (`circle.point.held` and hollow
/// when `held`) whose tooltip says when and what.
pub fn markers(
    svg: &mut Svg,
    marks: impl ExactSizeIterator<Item = Mark>,
    unit: Option<&str>,
    held: bool,
) {
    if marks.len() == 0 {
        return;
    }
    // Dense markers shrink and lose their white ring, so they read as
    // part of the line rather than a string of beads.
    let dense = marks.len() > 40;
    let (group, class, fill, stroke, width, r, tail) = match (held, dense) {
        (true, _) => (
            "held",
            "point held",
            "#fff",
            palette::HELD,
            "1.5",
            "3.5",
            " (held)",
        ),
        (false, false) => ("points", "point", palette::VALUE, "#fff", "1", "3", ""),
        (false, true) => ("points", "point", palette::VALUE, "none", "0", "1.8", ""),
    };
    svg.w(format_args!(
        "<g class=\"{group}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\">"
    ));
    for m in marks {
        svg.w(format_args!(
            "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{r}\" data-at=\"{}\" data-value=\"{}\">\
             <title>{}: {}{tail}</title></circle>",
            N(m.x),
            N(m.y),
            Stamp { at: m.at, data: true },
            Exact(m.value),
            Stamp { at: m.at, data: false },
            Human(m.shown, unit)
        ));
    }
    svg.s("</g>");
}

/// How a legend entry looks.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    /// A line, dashed by `dash` (empty: solid).
    Line(&'static str, &'static str),
    /// A marker, hollow or filled.
    Dot(&'static str, bool),
    /// A shaded area of this colour and opacity.
    Band(&'static str, &'static str),
}

/// One legend entry: the series' class, its name, its look.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub class: &'static str,
    pub label: &'static str,
    pub swatch: Swatch,
}

const SWATCH: f64 = 20.0;
const KEY_GAP: f64 = 18.0;

fn key_width(k: &Key) -> f64 {
    SWATCH + 6.0 + text_width(k.label.len()) + KEY_GAP
}

/// How many rows `keys` take across `width`.
pub fn legend_rows(keys: &[Key], width: f64) -> usize {
    let (mut rows, mut x) = (1, 0.0);
    for k in keys {
        let w = key_width(k);
        if x > 0.0 && x + w > width {
            rows += 1;
            x = 0.0;
        }
        x += w;
    }
    rows
}

/// The legend under the plot, wrapping as `legend_rows` counted.
pub fn legend(svg: &mut Svg, l: &Layout, keys: &[Key]) {
    let width = l.right - l.left;
    svg.w(format_args!(
        "<g class=\"legend\" fill=\"{}\">",
        palette::TEXT
    ));
    let (mut x, mut y) = (0.0, l.legend_top());
    for k in keys {
        let w = key_width(k);
        if x > 0.0 && x + w > width {
            x = 0.0;
            y += ROW;
        }
        let (sx, sy) = (l.left + x, y - 4.0);
        match k.swatch {
            Swatch::Line(colour, dash) => svg.w(format_args!(
                "<line class=\"key {}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2\"{}{dash}{}/>",
                k.class,
                N(sx),
                N(sy),
                N(sx + SWATCH),
                N(sy),
                if dash.is_empty() { "" } else { " stroke-dasharray=\"" },
                if dash.is_empty() { "" } else { "\"" },
            )),
            Swatch::Dot(colour, hollow) => svg.w(format_args!(
                "<circle class=\"key {}\" cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
                k.class,
                N(sx + SWATCH / 2.0),
                N(sy),
                if hollow { "#fff" } else { colour },
            )),
            Swatch::Band(colour, opacity) => svg.w(format_args!(
                "<rect class=\"key {}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{colour}\" fill-opacity=\"{opacity}\" stroke=\"{colour}\" stroke-opacity=\".5\"/>",
                k.class,
                N(sx + 2.0),
                N(sy - 5.0),
                N(SWATCH - 4.0),
            )),
        }
        svg.w(format_args!(
            "<text x=\"{}\" y=\"{}\">{}</text>",
            N(sx + SWATCH + 6.0),
            N(y),
            Esc(k.label)
        ));
        x += w;
    }
    svg.s("</g>");
}

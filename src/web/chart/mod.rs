//! Server-rendered charts: plain data in, one self-contained inline `<svg>`
//! string out, no I/O and no script. The KR page shows [`kr_chart`] for the
//! KR's period; the objective page shows [`progress_chart`].
//!
//! Each SVG names itself (`<title>`) and says what it shows in one sentence
//! (`<desc>`), so screen readers and tests get the meaning without the
//! picture. Series carry both a CSS class (`value`, `pace`, `target`,
//! `forecast`, `held`, `window ok`, `window miss`) and inline colours, so
//! the SVG looks right standalone and in print, and a page may restyle it.
//! Every drawn value is a `circle.point` (`circle.point.held` when held)
//! with `data-at` (RFC 3339) and `data-value` and a tooltip.
//!
//! Element ids start with the chart's `id` (sanitized to `[A-Za-z0-9_-]`),
//! which must be unique on the page: `{id}`, `{id}-title`, `{id}-desc`,
//! `{id}-plot`.

mod frame;
mod kr;
mod palette;
mod progress;
mod sample;
mod scale;
mod svg;

#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, Utc};

pub use kr::{MAX_HELD, MAX_MARKERS, MAX_VERTICES};

/// One value on the chart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
    /// Held by the guard (not counted): drawn as a hollow marker.
    pub held: bool,
}

/// The 90% forecast band at the period's end, drawn as a shaded cone from
/// the last counted point to `at`, with the projected value as a dashed line.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ForecastBand {
    pub at: DateTime<Utc>,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// A sustain KR's window: local days `[start, end]` inclusive; `satisfied`
/// and `closed` as the domain says (`okr::sustain::WindowState`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub satisfied: bool,
    pub closed: bool,
}

/// What a KR's chart shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct KrChart<'a> {
    /// Prefix of the SVG's element ids; unique on the page (e.g. "kr-signups").
    pub id: &'a str,
    /// Accessible name, e.g. the KR's title.
    pub title: &'a str,
    pub unit: Option<&'a str>,
    /// The x axis: the period's start and end instants.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// "Now": a vertical marker when inside `[from, to]`.
    pub now: DateTime<Utc>,
    /// Expected pace: a straight line from `(from, start)` to
    /// `(pace_end, target)`, drawn when both are `Some`.
    pub start: Option<f64>,
    /// Also a horizontal line with a label.
    pub target: Option<f64>,
    pub pace_end: DateTime<Utc>,
    /// Sorted by `at`. Values outside `[from, to]` or not finite are not
    /// drawn; thousands are downsampled to at most [`MAX_VERTICES`] line
    /// vertices and [`MAX_MARKERS`] markers, keeping the last value and
    /// held ones (up to [`MAX_HELD`]).
    pub points: &'a [Point],
    pub forecast: Option<ForecastBand>,
    /// Sustain KRs: a shaded band per window, met or missed.
    pub windows: &'a [Window],
}

/// The KR chart as an `<svg>` element, ready to sit in a `<figure>`.
pub fn kr_chart(c: &KrChart<'_>) -> String {
    kr::render(c)
}

/// A small chart of a ratio 0..1 over time (an objective's progress), with
/// the expected pace from `(from, 0)` to `(to, 1)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgressChart<'a> {
    /// Prefix of the SVG's element ids; unique on the page (e.g. "obj-growth").
    pub id: &'a str,
    pub title: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// `(instant, ratio)`, sorted by instant.
    pub points: &'a [(DateTime<Utc>, f64)],
}

/// The progress chart as an `<svg>` element.
pub fn progress_chart(c: &ProgressChart<'_>) -> String {
    progress::render(c)
}

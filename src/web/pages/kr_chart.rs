//! The KR page's chart: the period's check-ins (held ones marked,
//! dismissed ones left out), the expected pace from start to target, the
//! target, the forecast band and a sustain KR's windows, drawn by `chart`.

use maud::{Markup, PreEscaped, html};

use super::super::chart::{ForecastBand, KrChart, Point, Window, kr_chart};
use super::rows::Context;
use crate::okr::KeyResult;
use crate::okr::guard::Hold;
use crate::okr::rollup::KrState;
use crate::store::StoredCheckIn;

/// `check_ins` newest first, as the store pages them.
pub fn figure(
    ctx: &Context<'_>,
    kr: &KeyResult,
    state: Option<&KrState>,
    check_ins: &[StoredCheckIn],
) -> Markup {
    let Some(period) = ctx.snapshot.key_result_period(&kr.id) else {
        return html! {};
    };
    let points: Vec<Point> = check_ins
        .iter()
        .rev()
        .filter(|c| c.hold != Some(Hold::Dismissed))
        .map(|c| Point {
            at: c.check_in.observed_at,
            value: c.check_in.value,
            held: matches!(c.hold, Some(Hold::Held | Hold::Superseded)),
        })
        .collect();
    let forecast = state.and_then(|s| s.forecast).map(|f| ForecastBand {
        at: f.at,
        value: f.value,
        low: f.low,
        high: f.high,
    });
    let windows: Vec<Window> = state
        .and_then(|s| s.sustain.as_ref())
        .map(|w| {
            w.windows
                .iter()
                .map(|x| Window {
                    start: x.start,
                    end: x.end,
                    satisfied: x.satisfied,
                    closed: x.closed,
                })
                .collect()
        })
        .unwrap_or_default();
    let pace_end = kr
        .due
        .and_then(|d| d.succ_opt()?.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_else(|| period.end_instant());
    let svg = kr_chart(&KrChart {
        id: &format!("kr-{}", kr.id),
        title: &kr.title,
        unit: kr.unit.as_deref(),
        from: period.start_instant(),
        to: period.end_instant(),
        now: ctx.now,
        start: kr.start,
        target: kr.target,
        pace_end,
        points: &points,
        forecast,
        windows: &windows,
    });
    html! {
        figure aria-labelledby={ "chart-caption-" (kr.id) } {
            (PreEscaped(svg))
            figcaption.muted #{ "chart-caption-" (kr.id) } {
                "The value over period " (period.id) " against the expected pace from start to target"
                @if forecast.is_some() { ", with where it is heading (the band holds 90% of likely outcomes)" }
                @if !windows.is_empty() { "; shaded windows held the level or missed it" }
                ". Hollow markers are held values that do not count."
            }
        }
    }
}

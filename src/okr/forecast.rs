//! Forecasts: where an `increase` or `decrease` KR is heading by the end of
//! its period, projected from its history (README "Forecasts").
//!
//! - **Series.** The last value of each day of the period, from the first
//!   day with a value (or the period's first day, when a value from before
//!   it carries in) to the latest day with one; a day without a check-in
//!   carries the day before's value. Day `d` of the period sits at
//!   `x = d + 1` (its end), so the period's end is `x = its length in days`.
//! - **Trend.** Theil–Sen: the slope is the median of the slopes between
//!   every pair of days, the intercept the median of `y − slope·x`. A glitch
//!   moves one value of many, so neither median moves.
//! - **Band.** A 90% band: the rank-based confidence interval of the
//!   Theil–Sen slope (Sen 1968, from the normal approximation of Kendall's
//!   S), pivoted at the series' middle day and carried to the period's end,
//!   combined in quadrature with the day-to-day noise (1.645 × the
//!   residuals' MAD scaled to a standard deviation). Both shrink as days
//!   accumulate: the slope's interval with more pairs, the lever arm as the
//!   end comes near.
//! - **Too little data.** Fewer than [`MIN_DAYS`] distinct days with a value
//!   in the period: no forecast.
//! - **Cost.** At most [`MAX_POINTS`] days enter (the latest and every k-th
//!   day before it), so at most 1,128 pairs; the buffers of a
//!   [`Forecaster`] are reused, so a forecast allocates nothing once warm.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::history::DayPoint;
use super::model::{KrKind, Period};
use super::progress;

pub mod backtest;

/// Distinct days with a value a forecast needs.
pub const MIN_DAYS: usize = 3;

/// Days that enter one forecast, at most (a quarter at half time: all).
pub const MAX_POINTS: usize = 48;

/// The two-sided 90% quantile of the standard normal.
const Z90: f64 = 1.644_853_6;

/// MAD → standard deviation, for normal noise.
const MAD_TO_SIGMA: f64 = 1.4826;

/// A KR's projected value at its period's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub value: f64,
    /// The 90% band around `value` (`low ≤ value ≤ high`).
    pub low: f64,
    pub high: f64,
    /// Progress of `value`, 0..1.
    pub progress: f64,
    /// The instant projected to: the period's end.
    pub at: DateTime<Utc>,
}

/// A trend carried to one instant, with its band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// A trend and the 90% interval of its slope.
struct Fit {
    projection: Projection,
    slope_lo: f64,
    slope_hi: f64,
}

/// Reusable buffers for forecasts (a clone starts empty: they are scratch).
#[derive(Debug, Default)]
pub struct Forecaster {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// 1 / the x distance of days `k` apart.
    per_distance: Vec<f64>,
    pairs: Vec<f64>,
}

impl Clone for Forecaster {
    fn clone(&self) -> Self {
        Forecaster::default()
    }
}

impl Forecaster {
    /// The forecast of a KR with these `points` (its history, oldest
    /// first) in `period`. `None` for kinds other than increase/decrease,
    /// without a measurable target, or with too little data.
    pub fn key_result(
        &mut self,
        kind: KrKind,
        start: Option<f64>,
        target: Option<f64>,
        period: &Period,
        points: &[DayPoint],
    ) -> Option<Forecast> {
        if !matches!(kind, KrKind::Increase | KrKind::Decrease) {
            return None;
        }
        let (s, t) = (start?, target?);
        if s == t || !s.is_finite() || !t.is_finite() {
            return None;
        }
        let p = self.project(points, period.start, period.end)?;
        Some(Forecast {
            value: p.value,
            low: p.low,
            high: p.high,
            progress: progress::progress(kind, Some(p.value), start, target),
            at: period.end_instant(),
        })
    }

    /// The daily series of `points` within `first..=last`, projected to the
    /// end of `last`; `None` with fewer than [`MIN_DAYS`] days in it.
    pub fn project(
        &mut self,
        points: &[DayPoint],
        first: NaiveDate,
        last: NaiveDate,
    ) -> Option<Projection> {
        let lo = points.partition_point(|p| p.day < first);
        let hi = points.partition_point(|p| p.day <= last);
        let own = points.get(lo..hi)?;
        if own.len() < MIN_DAYS {
            return None;
        }
        let carried = lo.checked_sub(1).map(|i| points[i].last);
        let from = if carried.is_some() { first } else { own[0].day };
        let to = own[own.len() - 1].day;
        let days = usize::try_from((to - from).num_days()).ok()? + 1;
        let stride = days.div_ceil(MAX_POINTS) as u64;
        self.xs.clear();
        self.ys.clear();
        // From the latest day back: the latest always enters.
        let (mut day, mut k) = (to, own.len());
        loop {
            while k > 0 && own[k - 1].day > day {
                k -= 1;
            }
            let y = match k {
                0 => carried?,
                _ => own[k - 1].last,
            };
            self.xs.push(((day - first).num_days() + 1) as f64);
            self.ys.push(y);
            match day.checked_sub_days(Days::new(stride)) {
                Some(d) if d >= from => day = d,
                _ => break,
            }
        }
        let end = ((last - first).num_days() + 1) as f64;
        let all = self.theil_sen(self.xs.len(), end);
        // `xs` runs latest first: its first third is the latest third,
        // which must hold days with a value of their own (not a carried one).
        let recent = self.xs.len().div_ceil(3);
        let recent_from = first + Days::new(self.xs[recent - 1] as u64 - 1);
        let own_recent = own.len() - own.partition_point(|p| p.day < recent_from);
        if own_recent >= MIN_DAYS {
            let latest = self.theil_sen(recent, end);
            if all.slope_hi < latest.slope_lo || latest.slope_hi < all.slope_lo {
                return Some(latest.projection);
            }
        }
        Some(all.projection)
    }

    /// Theil–Sen over the first `m` days of `xs`, `ys` (at least two),
    /// carried to `x_end`.
    fn theil_sen(&mut self, m: usize, x_end: f64) -> Fit {
        let (xs, ys) = (&self.xs[..m], &self.ys[..m]);
        // The days are evenly spaced, latest first: x_i − x_j = (j − i)·step,
        // so one division per distance serves every pair at it.
        let step = if m > 1 { xs[0] - xs[1] } else { 1.0 };
        self.per_distance.clear();
        self.per_distance
            .extend((0..m).map(|k| 1.0 / (k as f64 * step)));
        self.pairs.clear();
        for i in 0..m {
            for j in i + 1..m {
                self.pairs.push((ys[i] - ys[j]) * self.per_distance[j - i]);
            }
        }
        let n = self.pairs.len();
        let slope = median(&mut self.pairs);
        // Sen's interval: the slopes at ranks (N ∓ z·√Var S) / 2.
        let mf = m as f64;
        let c = Z90 * (mf * (mf - 1.0) * (2.0 * mf + 5.0) / 18.0).sqrt();
        let lo_rank = ((n as f64 - c) / 2.0).floor().max(0.0) as usize;
        let hi_rank = (((n as f64 + c) / 2.0).ceil() as usize).min(n - 1);
        // `median` left `pairs` partitioned around n / 2.
        let mid = n / 2;
        let slope_lo = nth(&mut self.pairs[..=mid], lo_rank.min(mid));
        let slope_hi = if hi_rank > mid {
            nth(&mut self.pairs[mid + 1..], hi_rank - mid - 1)
        } else {
            self.pairs[mid]
        };

        self.pairs.clear();
        self.pairs
            .extend(xs.iter().zip(ys).map(|(x, y)| y - slope * x));
        let intercept = median(&mut self.pairs);
        for r in &mut self.pairs {
            *r = (*r - intercept).abs();
        }
        // A day's noise, and the trend's level (its mean over m days).
        let sigma = MAD_TO_SIGMA * median(&mut self.pairs);
        let noise = Z90 * sigma * (1.0 + 1.0 / mf).sqrt();

        let value = intercept + slope * x_end;
        // The middle day is the mean of the ends.
        let lever = x_end - (xs[0] + xs[m - 1]) / 2.0;
        let down = ((slope - slope_lo) * lever).abs();
        let up = ((slope_hi - slope) * lever).abs();
        Fit {
            projection: Projection {
                value,
                low: value - down.hypot(noise),
                high: value + up.hypot(noise),
            },
            slope_lo,
            slope_hi,
        }
    }
}

/// An objective's forecast progress: the weighted mean of its KRs' forecast
/// progress, for KRs that have one. Weights that are not positive count as
/// 0, as in the objective's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightedProgress {
    sum: f64,
    weights: f64,
}

impl WeightedProgress {
    /// Adds a KR of weight `w` and forecast progress `p` (`None`: no forecast).
    pub fn add(&mut self, w: f64, p: Option<f64>) {
        if let Some(p) = p
            && w.is_finite()
            && w > 0.0
        {
            self.sum += w * p;
            self.weights += w;
        }
    }

    /// `None` when no KR with a weight had a forecast.
    pub fn mean(&self) -> Option<f64> {
        (self.weights > 0.0).then(|| (self.sum / self.weights).clamp(0.0, 1.0))
    }
}

impl FromIterator<(f64, Option<f64>)> for WeightedProgress {
    fn from_iter<I: IntoIterator<Item = (f64, Option<f64>)>>(krs: I) -> Self {
        let mut w = WeightedProgress::default();
        for (weight, p) in krs {
            w.add(weight, p);
        }
        w
    }
}

/// The median; leaves `v` partitioned around `v.len() / 2`. `v` is not empty.
fn median(v: &mut [f64]) -> f64 {
    let (len, mid) = (v.len(), v.len() / 2);
    let (left, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if len % 2 == 1 {
        return m;
    }
    let below = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (below + m) / 2.0
}

fn nth(v: &mut [f64], k: usize) -> f64 {
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::backtest::{self, DAYS, Shape};
    use super::*;

    const SEEDS: std::ops::Range<u64> = 0..200;

    fn summary(shape: Shape, fraction: f64) -> backtest::Summary {
        backtest::summary(shape, fraction, SEEDS).unwrap()
    }

    /// A clean line: day d ends at d + 1.
    fn line(days: usize) -> Vec<f64> {
        (0..days).map(|d| (d + 1) as f64).collect()
    }

    fn project(f: &mut Forecaster, series: &[f64], days: usize) -> Option<Projection> {
        let p = backtest::period();
        f.project(&backtest::points(series, days), p.start, p.end)
    }

    #[test]
    fn noisy_lines_at_half_the_period_miss_by_under_5_percent() {
        let s = summary(Shape::NoisyLine, 0.5);
        assert!(s.median_error < 0.05, "{s:?}");
        assert!(s.coverage > 0.75, "the band holds the end value: {s:?}");
    }

    #[test]
    fn one_spike_does_not_swing_the_forecast() {
        let mut series = line(DAYS);
        series[10] += 1000.0;
        let mut f = Forecaster::default();
        for days in [20, 45, 70] {
            let p = project(&mut f, &series, days).unwrap();
            assert!((p.value - DAYS as f64).abs() < 1e-9, "{days} days: {p:?}");
        }
        let s = summary(Shape::Spike, 0.5);
        assert!(s.median_error < 0.03, "{s:?}");
    }

    #[test]
    fn s_curves_are_followed_once_they_level_off() {
        // A straight trend cannot see the bend coming: early it lags, at
        // the steepest part it overshoots (README "Forecasts").
        let late = summary(Shape::SCurve, 0.75);
        assert!(late.median_error < 0.40, "{late:?}");
        assert!(summary(Shape::SCurve, 0.25).median_error > late.median_error);
    }

    #[test]
    fn a_rise_after_a_flat_start_takes_over_the_forecast() {
        // While flat, no rise is invented: the first 20 days are flat.
        let mut f = Forecaster::default();
        let mut early: Vec<f64> = SEEDS
            .map(|s| {
                project(&mut f, &Shape::FlatThenRising.series(s), 20)
                    .unwrap()
                    .value
                    .abs()
            })
            .collect();
        early.sort_by(f64::total_cmp);
        assert!(early[early.len() / 2] < 10.0, "{early:?}");
        // Once it rises, the latest third's trend wins.
        assert!(summary(Shape::FlatThenRising, 0.5).median_error < 0.10);
        assert!(summary(Shape::FlatThenRising, 0.75).median_error < 0.05);
    }

    #[test]
    fn fewer_than_three_days_make_no_forecast() {
        let series = line(DAYS);
        let mut f = Forecaster::default();
        assert_eq!(project(&mut f, &series, 0), None);
        assert_eq!(project(&mut f, &series, 2), None);
        assert!(project(&mut f, &series, 3).is_some());
        // A value from before the period carries in but is not a day of it.
        let p = backtest::period();
        let mut points = backtest::points(&series, 3);
        points[0].day = p.start - Days::new(1);
        assert_eq!(f.project(&points, p.start, p.end), None);
        // Days after the period's end are not its days either.
        let points = backtest::points(&series, 3);
        assert_eq!(f.project(&points, p.start + Days::new(1), p.end), None);
    }

    #[test]
    fn the_band_narrows_as_days_accumulate() {
        let widths: Vec<f64> = [0.25, 0.5, 0.75, 0.95]
            .map(|f| summary(Shape::NoisyLine, f).median_width)
            .into();
        assert!(widths.windows(2).all(|w| w[0] > w[1]), "{widths:?}");
        let mut f = Forecaster::default();
        let series = Shape::NoisyLine.series(7);
        for days in [3, 10, 45, 89] {
            let p = project(&mut f, &series, days).unwrap();
            assert!(p.low <= p.value && p.value <= p.high, "{days}: {p:?}");
        }
    }

    #[test]
    fn days_without_a_value_carry_the_one_before() {
        // Values on days 0, 10, 20 and 30: a staircase up by 10 every 10 days.
        let p = backtest::period();
        let points: Vec<DayPoint> = backtest::points(&line(31), 31)
            .into_iter()
            .filter(|d| (d.day - p.start).num_days() % 10 == 0)
            .collect();
        assert_eq!(points.len(), 4);
        let mut f = Forecaster::default();
        let proj = f.project(&points, p.start, p.end).unwrap();
        // About one a day, as the staircase climbs; not the 10 a day that
        // counting only the days with a value would give.
        let per_day = (proj.value - 31.0) / (DAYS as f64 - 31.0);
        assert!((0.5..1.5).contains(&per_day), "{proj:?}");
    }

    #[test]
    fn long_periods_use_at_most_max_points_days() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let period = Period {
            id: "year".into(),
            start,
            end: start + Days::new(364),
        };
        let points: Vec<DayPoint> = (0..300u64)
            .map(|d| DayPoint {
                day: start + Days::new(d),
                last: 2.0 * d as f64,
                last_at: 0,
            })
            .collect();
        let mut f = Forecaster::default();
        let p = f.project(&points, period.start, period.end).unwrap();
        assert!(f.xs.len() <= MAX_POINTS, "{}", f.xs.len());
        assert_eq!(f.xs[0], 300.0, "the latest day always enters");
        assert!((p.value - 2.0 * 364.0).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn only_increase_and_decrease_krs_with_a_target_get_one() {
        let p = backtest::period();
        // Calls from 1000 down to 500, falling 5 a day: 550 at the end.
        let points = backtest::points(
            &line(30)
                .iter()
                .map(|d| 1000.0 - 5.0 * d)
                .collect::<Vec<_>>(),
            30,
        );
        let mut f = Forecaster::default();
        let fc = f
            .key_result(KrKind::Decrease, Some(1000.0), Some(500.0), &p, &points)
            .unwrap();
        assert!((fc.value - 550.0).abs() < 1e-9, "{fc:?}");
        assert!((fc.progress - 0.9).abs() < 1e-9, "{fc:?}");
        assert_eq!(fc.at, p.end_instant());
        for kind in [KrKind::AtLeast, KrKind::AtMost, KrKind::Milestone] {
            assert_eq!(f.key_result(kind, Some(0.0), Some(1.0), &p, &points), None);
        }
        let none = [(None, Some(1.0)), (Some(1.0), None), (Some(1.0), Some(1.0))];
        for (start, target) in none {
            assert_eq!(
                f.key_result(KrKind::Increase, start, target, &p, &points),
                None
            );
        }
    }

    #[test]
    fn objectives_weigh_the_krs_that_have_a_forecast() {
        let mean =
            |krs: &[(f64, Option<f64>)]| krs.iter().copied().collect::<WeightedProgress>().mean();
        assert_eq!(mean(&[(1.0, None), (2.0, None)]), None);
        let m = mean(&[(1.0, Some(0.2)), (3.0, Some(0.6)), (5.0, None)]).unwrap();
        assert!((m - 0.5).abs() < 1e-12, "{m}");
        assert_eq!(mean(&[(0.0, Some(0.2)), (f64::NAN, Some(0.4))]), None);
    }
}

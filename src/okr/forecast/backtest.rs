//! Synthetic 90-day KR histories to backtest forecasts on: what
//! `bench/forecast.sh` measures and the forecast's unit tests assert on.
//! Seeded (splitmix64), so one seed is one series everywhere.
//!
//! Every series is a KR from 0 to 100 (so an error of 1 is 1% of
//! `|target − start|`), one value at the end of each day, ending wherever its
//! shape takes it (a KR may miss or beat its target):
//! - `noisy line`: a straight line to an end between 60 and 140, plus
//!   normal noise of σ = 4;
//! - `s-curve`: a logistic rise to 80..120 centred between days 35 and 55,
//!   σ = 2;
//! - `flat then rising`: flat at 0 until a day between 20 and 40, then a
//!   straight line to 80..120, σ = 2;
//! - `spike`: a straight line with σ = 2 and, on one day between 5 and 20,
//!   a glitch of +1,000 (ten times the range).

use chrono::{Days, NaiveDate, TimeZone, Utc};

use super::Forecaster;
use crate::okr::history::DayPoint;
use crate::okr::model::Period;

/// Days in the backtest period.
pub const DAYS: usize = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    NoisyLine,
    SCurve,
    FlatThenRising,
    Spike,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::NoisyLine,
        Shape::SCurve,
        Shape::FlatThenRising,
        Shape::Spike,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::NoisyLine => "noisy line",
            Shape::SCurve => "s-curve",
            Shape::FlatThenRising => "flat then rising",
            Shape::Spike => "spike",
        }
    }

    /// The value at the end of each of the `DAYS` days.
    pub fn series(self, seed: u64) -> Vec<f64> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self as u64);
        let end = rng.between(80.0, 120.0);
        let t = |d: usize| (d + 1) as f64;
        match self {
            Shape::NoisyLine => {
                let end = rng.between(60.0, 140.0);
                (0..DAYS)
                    .map(|d| end * t(d) / DAYS as f64 + 4.0 * rng.normal())
                    .collect()
            }
            Shape::SCurve => {
                let centre = rng.between(35.0, 55.0);
                let width = rng.between(6.0, 10.0);
                (0..DAYS)
                    .map(|d| end / (1.0 + (-(t(d) - centre) / width).exp()) + 2.0 * rng.normal())
                    .collect()
            }
            Shape::FlatThenRising => {
                let knee = rng.between(20.0, 40.0);
                (0..DAYS)
                    .map(|d| {
                        let rise = (t(d) - knee).max(0.0) / (DAYS as f64 - knee);
                        end * rise + 2.0 * rng.normal()
                    })
                    .collect()
            }
            Shape::Spike => {
                let glitch = rng.between(5.0, 20.0) as usize;
                (0..DAYS)
                    .map(|d| {
                        let v = end * t(d) / DAYS as f64 + 2.0 * rng.normal();
                        if d == glitch { v + 1000.0 } else { v }
                    })
                    .collect()
            }
        }
    }
}

/// The backtest period: `DAYS` days from 2026-01-01.
pub fn period() -> Period {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    Period {
        id: "backtest".into(),
        start,
        end: start + Days::new(DAYS as u64 - 1),
    }
}

/// The first `days` values of `series` as day points of `period()`.
pub fn points(series: &[f64], days: usize) -> Vec<DayPoint> {
    let p = period();
    series
        .iter()
        .take(days)
        .enumerate()
        .map(|(d, &last)| {
            let day = p.start + Days::new(d as u64);
            let at = Utc.from_utc_datetime(&day.and_hms_opt(23, 0, 0).unwrap_or_default());
            DayPoint {
                day,
                last,
                last_at: at.timestamp_millis(),
            }
        })
        .collect()
}

/// One backtest: the forecast from the first `fraction` of the days
/// against the series' last value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// |projected − actual end value| / |target − start|.
    pub error: f64,
    /// The band held the actual end value.
    pub covered: bool,
    /// The band's width / |target − start|.
    pub width: f64,
}

pub fn run(f: &mut Forecaster, series: &[f64], fraction: f64) -> Option<Outcome> {
    let p = period();
    let days = (fraction * DAYS as f64).round() as usize;
    let projected = f.project(&points(series, days), p.start, p.end)?;
    let actual = *series.last()?;
    Some(Outcome {
        error: (projected.value - actual).abs() / 100.0,
        covered: projected.low <= actual && actual <= projected.high,
        width: (projected.high - projected.low) / 100.0,
    })
}

/// Backtests of one shape over many seeds at one fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median_error: f64,
    /// Share of the seeds whose band held the actual end value.
    pub coverage: f64,
    pub median_width: f64,
}

pub fn summary(shape: Shape, fraction: f64, seeds: std::ops::Range<u64>) -> Option<Summary> {
    let mut f = Forecaster::default();
    let outcomes: Vec<Outcome> = seeds
        .filter_map(|s| run(&mut f, &shape.series(s), fraction))
        .collect();
    if outcomes.is_empty() {
        return None;
    }
    let middle = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let covered = outcomes.iter().filter(|o| o.covered).count();
    Some(Summary {
        median_error: middle(outcomes.iter().map(|o| o.error).collect()),
        coverage: covered as f64 / outcomes.len() as f64,
        median_width: middle(outcomes.iter().map(|o| o.width).collect()),
    })
}

/// splitmix64, with Box–Muller for normal draws: no crate, same numbers forever.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

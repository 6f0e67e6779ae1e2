//! Scales and axes' words: mapping values and instants to pixels, the
//! value range a chart shows, "nice" ticks (1, 2 or 5 times a power of ten
//! on y; hours, days, weeks, half months, months or years on x) and how
//! numbers and dates are written for people.

use std::fmt::{self, Display};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Timelike, Utc};

/// Values to pixels: `d0..d1` onto `r0..r1` (r1 < r0 for y, which grows up).
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Linear {
    pub fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Instants to pixels: `from..to` onto `r0..r1`.
#[derive(Debug, Clone, Copy)]
pub struct TimeScale {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub r0: f64,
    pub r1: f64,
}

impl TimeScale {
    /// An empty or inverted period gets one day, so the scale never divides by 0.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, r0: f64, r1: f64) -> TimeScale {
        let to = if to > from {
            to
        } else {
            from + chrono::Duration::days(1)
        };
        TimeScale { from, to, r0, r1 }
    }

    pub fn at(&self, t: DateTime<Utc>) -> f64 {
        self.r0 + self.fraction(t) * (self.r1 - self.r0)
    }

    /// How far into the period `t` is: 0 at `from`, 1 at `to`.
    pub fn fraction(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.to - self.from).num_milliseconds() as f64;
        (t - self.from).num_milliseconds() as f64 / span
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t <= self.to
    }
}

/// The value range to show: every finite value, 5% padding each side, not
/// below zero when nothing is (a padded axis starting at -50 for counts
/// reads as a bug), and a span of at least 1 (or 10% of the value) when
/// all values are equal. Nothing at all: 0..1.
pub fn y_domain(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if min > max {
        return (0.0, 1.0);
    }
    let (lo, hi) = if max - min <= max.abs().max(min.abs()) * 1e-9 {
        let half = (min.abs() * 0.1).max(0.5);
        (min - half, max + half)
    } else {
        (min, max)
    };
    let pad = (hi - lo) * 0.05;
    let lo = if min >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    let hi = if max <= 0.0 && min < 0.0 {
        (hi + pad).min(0.0)
    } else {
        hi + pad
    };
    (lo, hi)
}

/// Ticks on y: multiples of a nice step inside `lo..hi`, about `count` of them.
#[derive(Debug, Clone)]
pub struct Ticks {
    pub step: f64,
    pub values: Vec<f64>,
}

pub fn y_ticks(lo: f64, hi: f64, count: usize) -> Ticks {
    // d3's rule: the nice step nearest (geometrically) to the raw one.
    let raw = (hi - lo) / count.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let error = raw / mag;
    let step = mag
        * match error {
            e if e >= 50f64.sqrt() => 10.0,
            e if e >= 10f64.sqrt() => 5.0,
            e if e >= 2f64.sqrt() => 2.0,
            _ => 1.0,
        };
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Multiples of the step by index, so 0.1 * 3 stays a clean 0.3 in labels.
    let values = (first..=last.min(first + 20))
        .map(|k| k as f64 * step)
        .collect();
    Ticks { step, values }
}

/// Units this short go on every tick label ("50%", "3 ms"); longer ones
/// ("calls/week") once, as the axis' caption.
pub fn unit_on_ticks(unit: Option<&str>) -> bool {
    unit.is_some_and(|u| u.chars().count() <= 3)
}

/// A tick label: thousands as "k", millions "M", billions "B" once the
/// axis reaches 10,000, with as many decimals as the step needs.
pub struct TickLabel<'a> {
    pub value: f64,
    pub ticks: &'a Ticks,
    pub unit: Option<&'a str>,
}

impl Display for TickLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let top = self.ticks.values.iter().fold(0f64, |m, v| m.max(v.abs()));
        let (div, suffix) = match top {
            t if t >= 1e12 => (1e12, "T"),
            t if t >= 1e9 => (1e9, "B"),
            t if t >= 1e6 => (1e6, "M"),
            t if t >= 1e4 => (1e3, "k"),
            _ => (1.0, ""),
        };
        let decimals = (-(self.ticks.step / div).log10()).ceil().clamp(0.0, 9.0) as usize;
        // Zero is "0": no "-0", no "0k", no "0.0".
        if self.value.abs() < self.ticks.step * 1e-6 {
            f.write_str("0")?;
        } else {
            write!(f, "{:.*}{suffix}", decimals, self.value / div)?;
        }
        match self.unit {
            Some(u) if unit_on_ticks(Some(u)) => write!(f, "{}", WithUnit(u)),
            _ => Ok(()),
        }
    }
}

/// A unit after a number: "%" attaches, anything else after a space.
pub struct WithUnit<'a>(pub &'a str);

impl Display for WithUnit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.0;
        if u.is_empty() {
            Ok(())
        } else if u.starts_with('%') {
            write!(f, "{}", super::svg::Esc(u))
        } else {
            write!(f, " {}", super::svg::Esc(u))
        }
    }
}

/// `v` to three significant digits, whole numbers from 1,000: for values
/// worked out rather than measured ("expected 489 by now", not 489.13).
pub fn approx(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 || v.abs() >= 1000.0 {
        return v.round();
    }
    let scale = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// A value for people (descriptions, tooltips): six significant digits
/// (99.9992% must not read as 100%), no trailing zeros, the unit (escaped)
/// after it. Written digit by digit: no allocation per tooltip.
pub struct Human<'a>(pub f64, pub Option<&'a str>);

impl Display for Human<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        if v.abs() >= 1e15 {
            write!(f, "{v:.0}")?;
        } else {
            let digits = if v == 0.0 {
                1
            } else {
                v.abs().log10().floor() as i32 + 1
            };
            let mut decimals = (6 - digits).clamp(0, 9) as u32;
            let mut scaled = (v.abs() * 10f64.powi(decimals as i32)).round() as u64;
            while decimals > 0 && scaled.is_multiple_of(10) {
                scaled /= 10;
                decimals -= 1;
            }
            let sign = if v < 0.0 && scaled != 0 { "-" } else { "" };
            let p = 10u64.pow(decimals);
            write!(f, "{sign}{}", scaled / p)?;
            if decimals > 0 {
                write!(f, ".{:0w$}", scaled % p, w = decimals as usize)?;
            }
        }
        match self.1 {
            Some(u) => write!(f, "{}", WithUnit(u)),
            None => Ok(()),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "Oct 1", and the year after it when `year` ("Jan 1 2027").
pub struct Day {
    pub date: NaiveDate,
    pub year: bool,
}

impl Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date;
        write!(f, "{} {}", MONTHS[d.month0() as usize], d.day())?;
        if self.year {
            write!(f, " {}", d.year())?;
        }
        Ok(())
    }
}

/// Spacing of x ticks, finest first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Hours(u32),
    Days(u32),
    Week,
    HalfMonth,
    Months(u32),
    Years(i32),
}

const STEPS: [Step; 15] = [
    Step::Hours(1),
    Step::Hours(3),
    Step::Hours(6),
    Step::Hours(12),
    Step::Days(1),
    Step::Days(2),
    Step::Week,
    Step::HalfMonth,
    Step::Months(1),
    Step::Months(2),
    Step::Months(3),
    Step::Months(6),
    Step::Years(1),
    Step::Years(2),
    Step::Years(5),
];

impl Step {
    /// About how long one step is, to skip those that cannot fit.
    fn approx_hours(self) -> f64 {
        match self {
            Step::Hours(h) => f64::from(h),
            Step::Days(d) => f64::from(d) * 24.0,
            Step::Week => 168.0,
            Step::HalfMonth => 365.25,
            Step::Months(m) => f64::from(m) * 730.5,
            Step::Years(y) => f64::from(y) * 8766.0,
        }
    }

    /// The aligned boundary at or before `day` that ticks count from, so
    /// ticks fall on round dates whatever the period's start.
    fn floor(self, day: NaiveDate) -> NaiveDate {
        match self {
            Step::Hours(_) | Step::Days(1) => day,
            // Even days since the epoch, so ticks do not shift with `from`.
            Step::Days(d) => {
                let n = day.num_days_from_ce() as u32;
                day - Days::new(u64::from(n % d))
            }
            Step::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Step::HalfMonth => day
                .with_day(if day.day() >= 15 { 15 } else { 1 })
                .unwrap_or(day),
            Step::Months(m) => {
                let first = day.with_day(1).unwrap_or(day);
                first - Months::new(first.month0() % m)
            }
            Step::Years(y) => {
                NaiveDate::from_ymd_opt(day.year() - day.year().rem_euclid(y), 1, 1).unwrap_or(day)
            }
        }
    }

    fn next(self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Step::Hours(h) => t.checked_add_signed(chrono::Duration::hours(i64::from(h))),
            Step::Days(d) => t.checked_add_days(Days::new(u64::from(d))),
            Step::Week => t.checked_add_days(Days::new(7)),
            Step::HalfMonth if t.day() == 1 => t.with_day(15),
            Step::HalfMonth => t.with_day(1)?.checked_add_months(Months::new(1)),
            Step::Months(m) => t.checked_add_months(Months::new(m)),
            Step::Years(y) => t.with_year(t.year() + y),
        }
    }
}

/// One x tick: where, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeTick {
    pub at: DateTime<Utc>,
    pub label: String,
}

/// At most `max` x ticks inside `from..=to`, on the finest step that fits:
/// a quarter gets the 1st and 15th of each month. Labels are days ("Oct
/// 1"), hours ("06:00") within a day, or years; the year is added where
/// the period spans more than one.
pub fn time_ticks(from: DateTime<Utc>, to: DateTime<Utc>, max: usize) -> Vec<TimeTick> {
    let hours = (to - from).num_minutes() as f64 / 60.0;
    let mut ticks = Vec::with_capacity(max + 1);
    for step in STEPS {
        if hours / step.approx_hours() > max as f64 + 1.0 {
            continue;
        }
        ticks.clear();
        let mut t = step
            .floor(from.date_naive())
            .and_time(NaiveTime::MIN)
            .and_utc();
        // Not at `to`: the period's end is the plot's edge, and a quarter
        // ending on Jan 1 reads better with six ticks than seven.
        while t < to && ticks.len() <= max {
            if t >= from {
                ticks.push(t);
            }
            match step.next(t) {
                Some(n) if n > t => t = n,
                _ => break,
            }
        }
        if ticks.len() <= max {
            // A period ending at midnight on Jan 1 lies within one year.
            let years = from.year() != (to - chrono::Duration::seconds(1)).year();
            let mut last_year = None;
            return ticks
                .iter()
                .map(|&at| {
                    let label = match step {
                        Step::Years(_) => at.year().to_string(),
                        Step::Hours(_) if at.hour() != 0 => format!("{:02}:00", at.hour()),
                        _ => {
                            let year = years && last_year != Some(at.year());
                            last_year = Some(at.year());
                            Day {
                                date: at.date_naive(),
                                year,
                            }
                            .to_string()
                        }
                    };
                    TimeTick { at, label }
                })
                .collect();
        }
    }
    Vec::new()
}

/// About how wide `chars` characters of 12 px sans-serif are; for layout
/// (margins, legend rows, keeping labels inside the picture).
pub fn text_width(chars: usize) -> f64 {
    chars as f64 * 7.0
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn labels(ticks: &[TimeTick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn y_domain_pads_covers_and_handles_flat_and_empty() {
        assert_eq!(y_domain([].into_iter()), (0.0, 1.0));
        let (lo, hi) = y_domain([100.0, 200.0].into_iter());
        assert!(
            (0.0..100.0).contains(&lo) && (hi - 205.0).abs() < 1e-9,
            "{lo} {hi}"
        );
        let (lo, hi) = y_domain([7.0, 7.0, f64::NAN].into_iter());
        assert!(lo < 7.0 && hi > 7.0 && lo.is_finite());
        let (lo, hi) = y_domain([0.0].into_iter());
        assert!(lo == 0.0 && hi > 0.0);
        let (lo, hi) = y_domain([-10.0, -5.0].into_iter());
        assert!(lo < -10.0 && hi <= 0.0 && hi > -5.0 - 1e-9);
        let (lo, hi) = y_domain([0.0, 1.0].into_iter());
        assert_eq!(lo, 0.0, "a count axis does not go below zero");
        assert!(hi > 1.0);
    }

    #[test]
    fn y_ticks_are_nice_multiples_inside_the_range() {
        let t = y_ticks(0.0, 1050.0, 4);
        assert_eq!(t.values, vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        let t = y_ticks(0.27, 0.33, 4);
        assert!(t.values.iter().all(|v| (0.27..=0.33).contains(v)));
        assert!(!t.values.is_empty());
        let label = TickLabel {
            value: t.values[1],
            ticks: &t,
            unit: Some("%"),
        }
        .to_string();
        assert_eq!(label, "0.30%");
    }

    #[test]
    fn tick_labels_use_k_and_m_and_short_units() {
        let t = y_ticks(0.0, 25_000.0, 4);
        let all: Vec<String> = t
            .values
            .iter()
            .map(|&value| {
                TickLabel {
                    value,
                    ticks: &t,
                    unit: Some("€"),
                }
                .to_string()
            })
            .collect();
        assert_eq!(all, ["0 €", "5k €", "10k €", "15k €", "20k €", "25k €"]);
        let t = y_ticks(0.0, 1_300_000.0, 4);
        let l = TickLabel {
            value: 1_200_000.0,
            ticks: &t,
            unit: Some("calls/week"),
        }
        .to_string();
        assert_eq!(l, "1.2M", "long units are the caption's, not the ticks'");
        let t = y_ticks(-1.0, 1.0, 4);
        let zero = TickLabel {
            value: -1e-17,
            ticks: &t,
            unit: None,
        }
        .to_string();
        assert_eq!(zero, "0");
    }

    #[test]
    fn human_values() {
        assert_eq!(Human(1234.0, Some("visits")).to_string(), "1234 visits");
        assert_eq!(Human(12.5, Some("%")).to_string(), "12.5%");
        assert_eq!(Human(0.012_34, None).to_string(), "0.01234");
        assert_eq!(Human(99.999_235, Some("%")).to_string(), "99.9992%");
        assert_eq!(Human(-1_123.950_469, None).to_string(), "-1123.95");
        assert_eq!(Human(-0.000_000_000_1, None).to_string(), "0");
        assert_eq!(Human(2e15, None).to_string(), "2000000000000000");
        assert_eq!(Human(f64::NAN, None).to_string(), "0");
        assert_eq!(Human(1.0, Some("<b>")).to_string(), "1 &lt;b&gt;");
        assert_eq!(Human(approx(489.13), None).to_string(), "489");
        assert_eq!(Human(approx(60.87), None).to_string(), "60.9");
        assert_eq!(Human(approx(0.045_67), None).to_string(), "0.0457");
        assert_eq!(Human(approx(1234.7), None).to_string(), "1235");
    }

    #[test]
    fn a_quarter_gets_the_first_and_fifteenth() {
        let ticks = time_ticks(utc(2026, 10, 1), utc(2027, 1, 1), 6);
        assert_eq!(
            labels(&ticks),
            ["Oct 1", "Oct 15", "Nov 1", "Nov 15", "Dec 1", "Dec 15"]
        );
    }

    #[test]
    fn periods_of_other_lengths_get_4_to_6_ticks() {
        let cases = [
            (utc(2026, 10, 1), utc(2026, 10, 2)),
            (utc(2026, 10, 1), utc(2026, 10, 8)),
            (utc(2026, 10, 1), utc(2026, 11, 1)),
            (utc(2026, 1, 1), utc(2027, 1, 1)),
            (utc(2026, 7, 1), utc(2027, 7, 1)),
            (utc(2020, 1, 1), utc(2030, 1, 1)),
        ];
        for (from, to) in cases {
            let ticks = time_ticks(from, to, 6);
            assert!(
                (3..=6).contains(&ticks.len()),
                "{from}..{to}: {:?}",
                labels(&ticks)
            );
            assert!(ticks.iter().all(|t| from <= t.at && t.at <= to));
            assert!(ticks.windows(2).all(|w| w[0].at < w[1].at));
        }
        let across = time_ticks(utc(2026, 7, 1), utc(2027, 7, 1), 6);
        assert_eq!(
            labels(&across),
            [
                "Jul 1 2026",
                "Sep 1",
                "Nov 1",
                "Jan 1 2027",
                "Mar 1",
                "May 1"
            ]
        );
        let day = time_ticks(utc(2026, 10, 1), utc(2026, 10, 2), 6);
        assert_eq!(labels(&day)[1], "06:00");
    }
}

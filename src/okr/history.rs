//! A KR's values by local day: what forecasts and sustain windows read.
//!
//! One point per day that has a counted check-in (held values never enter),
//! holding the day's last value. Days without a check-in are not stored: a
//! KR keeps its value until the next one (the heartbeat skips unchanged
//! values), so readers carry the previous day's value forward
//! ([`History::daily`]).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The last value of one local day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayPoint {
    pub day: NaiveDate,
    pub last: f64,
    /// When `last` was observed (unix ms), so a late, older check-in
    /// (a backfill, another replica) never replaces a newer one.
    pub last_at: i64,
}

/// A KR's day points, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    points: Vec<DayPoint>,
}

/// The local day of `at` in `tz`.
pub fn local_day(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    tz.from_utc_datetime(&at.naive_utc()).date_naive()
}

impl History {
    /// Records a counted value observed at `at`, whose local day is `day`.
    pub fn record(&mut self, day: NaiveDate, value: f64, at: DateTime<Utc>) {
        let at = at.timestamp_millis();
        // Values nearly always arrive in order: look at the end first.
        match self.points.last_mut() {
            Some(p) if p.day == day => {
                if at >= p.last_at {
                    p.last = value;
                    p.last_at = at;
                }
                return;
            }
            Some(p) if p.day < day => {
                self.points.push(DayPoint {
                    day,
                    last: value,
                    last_at: at,
                });
                return;
            }
            None => {
                self.points.push(DayPoint {
                    day,
                    last: value,
                    last_at: at,
                });
                return;
            }
            Some(_) => {}
        }
        match self.points.binary_search_by_key(&day, |p| p.day) {
            Ok(i) => {
                let p = &mut self.points[i];
                if at >= p.last_at {
                    p.last = value;
                    p.last_at = at;
                }
            }
            Err(i) => self.points.insert(
                i,
                DayPoint {
                    day,
                    last: value,
                    last_at: at,
                },
            ),
        }
    }

    pub fn points(&self) -> &[DayPoint] {
        &self.points
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Each day's value from `from` to `to` (inclusive), the last known
    /// value carried over days without a check-in; days before the first
    /// point are skipped.
    pub fn daily(&self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, f64)> {
        let mut out = Vec::new();
        let start = self.points.partition_point(|p| p.day < from);
        // The value carried into `from` from before it.
        let mut carried = start.checked_sub(1).map(|i| self.points[i].last);
        let mut next = start;
        let mut day = from;
        while day <= to {
            if next < self.points.len() && self.points[next].day == day {
                carried = Some(self.points[next].last);
                next += 1;
            }
            if let Some(v) = carried {
                out.push((day, v));
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn at(m: u32, day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, day, h, 0, 0).unwrap()
    }

    #[test]
    fn keeps_the_last_value_of_each_day_whatever_the_order() {
        let mut h = History::default();
        h.record(d(10, 2), 5.0, at(10, 2, 9));
        h.record(d(10, 2), 7.0, at(10, 2, 18));
        // An older value of the same day arriving late does not win.
        h.record(d(10, 2), 1.0, at(10, 2, 1));
        // A backfilled earlier day goes before.
        h.record(d(10, 1), 3.0, at(10, 1, 23));
        h.record(d(10, 4), 9.0, at(10, 4, 12));
        let days: Vec<_> = h.points().iter().map(|p| (p.day, p.last)).collect();
        assert_eq!(
            days,
            vec![(d(10, 1), 3.0), (d(10, 2), 7.0), (d(10, 4), 9.0)]
        );
    }

    #[test]
    fn daily_carries_values_over_days_without_check_ins() {
        let mut h = History::default();
        h.record(d(10, 2), 5.0, at(10, 2, 9));
        h.record(d(10, 5), 8.0, at(10, 5, 9));
        assert_eq!(
            h.daily(d(10, 1), d(10, 6)),
            vec![
                (d(10, 2), 5.0),
                (d(10, 3), 5.0),
                (d(10, 4), 5.0),
                (d(10, 5), 8.0),
                (d(10, 6), 8.0)
            ]
        );
        // A window starting after the last point carries it in.
        assert_eq!(h.daily(d(10, 7), d(10, 7)), vec![(d(10, 7), 8.0)]);
        assert!(h.daily(d(9, 1), d(9, 30)).is_empty());
    }

    #[test]
    fn local_days_follow_the_time_zone() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 02:00 UTC on Oct 5 is still Oct 4 in New York.
        assert_eq!(local_day(tz, at(10, 5, 2)), d(10, 4));
        assert_eq!(local_day(chrono_tz::UTC, at(10, 5, 2)), d(10, 5));
    }
}

//! A sustain KR's windows: the period cut into local days, weeks (Monday to
//! Sunday) or calendar months, each judged from the KR's daily history.
//!
//! Dates are local days in the scheduler's time zone (the history's days).
//! A window cut by the period's start or end holds only its days inside
//! the period, and counts as a whole window: a quarter starting on a
//! Thursday has a first "week" of four days.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Aggregate, Sustain, Window};
use crate::okr::history::{History, local_day};
use crate::okr::model::{Period, Status};
use crate::okr::progress;

/// One window that has started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowState {
    /// First and last local day (inclusive), inside the period.
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The window's value so far (`last` or `mean` of its days); `None`
    /// before the KR's first value.
    pub value: Option<f64>,
    /// `value` is on the right side of the target. The current window's
    /// says how it stands so far; it counts only once the window closes.
    pub satisfied: bool,
    /// Its last day is over.
    pub closed: bool,
}

/// A sustain KR judged at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SustainState {
    pub rule: Sustain,
    /// The windows that have started, oldest first: the closed ones, then
    /// the current one while the period runs.
    pub windows: Vec<WindowState>,
    /// Windows in the whole period.
    pub total: u32,
    /// Closed windows that satisfied the rule: what counts.
    pub satisfied: u32,
    /// Windows not closed yet, the current one included.
    pub remaining: u32,
}

impl SustainState {
    /// Before it is judged: no window has started.
    pub fn pending(rule: Sustain) -> SustainState {
        SustainState {
            rule,
            windows: Vec::new(),
            total: 0,
            satisfied: 0,
            remaining: 0,
        }
    }

    /// Satisfied closed windows over `required`, at most 1.
    pub fn progress(&self) -> f64 {
        progress::sustain_progress(self.satisfied, self.rule.required)
    }

    /// `has_value`: the KR has a value (else `no_data`).
    pub fn status(&self, has_value: bool) -> Status {
        progress::sustain_status(
            has_value,
            self.satisfied,
            self.remaining,
            self.rule.required,
        )
    }
}

/// The last day of the window holding `day` (not cut by any period).
fn window_end(day: NaiveDate, window: Window) -> NaiveDate {
    let end = match window {
        Window::Day => Some(day),
        Window::Week => {
            let to_sunday = 6 - u64::from(day.weekday().num_days_from_monday());
            day.checked_add_days(Days::new(to_sunday))
        }
        Window::Month => day
            .with_day(1)
            .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
            .and_then(|next| next.pred_opt()),
    };
    // Only at the end of the calendar chrono knows.
    end.unwrap_or(NaiveDate::MAX)
}

/// The windows of `period` as (first day, last day), oldest first.
pub fn windows_of(period: &Period, window: Window) -> impl Iterator<Item = (NaiveDate, NaiveDate)> {
    let end = period.end;
    let mut next = (period.start <= end).then_some(period.start);
    std::iter::from_fn(move || {
        let start = next?;
        let last = window_end(start, window).min(end);
        next = last.succ_opt().filter(|d| *d <= end);
        Some((start, last))
    })
}

/// How many windows `period` holds, without listing them.
pub fn window_count(period: &Period, window: Window) -> u32 {
    let (start, end) = (period.start, period.end);
    if end < start {
        return 0;
    }
    let n = match window {
        Window::Day => (end - start).num_days() + 1,
        Window::Week => {
            let monday = |d: NaiveDate| {
                d - chrono::TimeDelta::days(i64::from(d.weekday().num_days_from_monday()))
            };
            (monday(end) - monday(start)).num_days() / 7 + 1
        }
        Window::Month => {
            let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
            months(end) - months(start) + 1
        }
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Judges a sustain KR at `now`: its windows that have started, each with
/// its value from `history`, and what counts. `tz` is where days start
/// (the scheduler's time zone, the history's days).
pub fn judge(
    rule: Sustain,
    target: Option<f64>,
    period: &Period,
    history: &History,
    tz: Tz,
    now: DateTime<Utc>,
) -> SustainState {
    judge_on(rule, target, period, history, Some(local_day(tz, now)))
}

/// [`judge`] with the local day of `now`; `None` (no clock yet): no
/// window has started.
pub fn judge_on(
    rule: Sustain,
    target: Option<f64>,
    period: &Period,
    history: &History,
    today: Option<NaiveDate>,
) -> SustainState {
    let mut windows = Vec::new();
    if let Some(today) = today {
        for (start, end) in windows_of(period, rule.window).take_while(|(s, _)| *s <= today) {
            let days = history.daily(start, end.min(today));
            let value = match rule.aggregate {
                Aggregate::Last => days.last().map(|(_, v)| *v),
                Aggregate::Mean => (!days.is_empty())
                    .then(|| days.iter().map(|(_, v)| v).sum::<f64>() / days.len() as f64),
            };
            windows.push(WindowState {
                start,
                end,
                value,
                satisfied: value
                    .zip(target)
                    .is_some_and(|(v, t)| rule.comparison.holds(v, t)),
                closed: end < today,
            });
        }
    }
    let total = window_count(period, rule.window);
    let closed = windows.iter().filter(|w| w.closed).count() as u32;
    let satisfied = windows.iter().filter(|w| w.closed && w.satisfied).count() as u32;
    SustainState {
        rule,
        windows,
        total,
        satisfied,
        remaining: total.saturating_sub(closed),
    }
}

/// The instant local `day` starts in `tz`. Where the clocks jump at
/// midnight, the day starts at its first local time that exists.
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    (0..=24 * 4)
        .map(|quarter| midnight + chrono::TimeDelta::minutes(15 * quarter))
        .find_map(|t| tz.from_local_datetime(&t).earliest())
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okr::sustain::Comparison;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, day, h, min, 0).unwrap()
    }

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    /// 2026-Q4: Thursday 1 October to Thursday 31 December.
    fn q4() -> Period {
        Period {
            id: "2026-Q4".into(),
            start: d(2026, 10, 1),
            end: d(2026, 12, 31),
        }
    }

    fn rule(window: Window, required: u32, aggregate: Aggregate) -> Sustain {
        Sustain {
            comparison: Comparison::AtLeast,
            window,
            required,
            aggregate,
        }
    }

    /// A history of (UTC instant, value), days taken in `zone`.
    fn history(zone: Tz, values: &[(DateTime<Utc>, f64)]) -> History {
        let mut h = History::default();
        for &(t, v) in values {
            h.record(local_day(zone, t), v, t);
        }
        h
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_the_period_cuts_the_first_and_last() {
        let weeks: Vec<_> = windows_of(&q4(), Window::Week).collect();
        assert_eq!(weeks.len(), 14);
        assert_eq!(weeks[0], (d(2026, 10, 1), d(2026, 10, 4)));
        assert_eq!(weeks[1], (d(2026, 10, 5), d(2026, 10, 11)));
        assert_eq!(weeks[13], (d(2026, 12, 28), d(2026, 12, 31)));
        for (start, end) in &weeks[1..13] {
            assert_eq!(start.weekday(), chrono::Weekday::Mon);
            assert_eq!(*end - *start, chrono::TimeDelta::days(6));
        }
        assert_eq!(window_count(&q4(), Window::Week), 14);
    }

    #[test]
    fn days_and_months_are_counted_as_listed() {
        let p = Period {
            id: "p".into(),
            start: d(2026, 10, 15),
            end: d(2027, 1, 10),
        };
        let months: Vec<_> = windows_of(&p, Window::Month).collect();
        assert_eq!(
            months,
            vec![
                (d(2026, 10, 15), d(2026, 10, 31)),
                (d(2026, 11, 1), d(2026, 11, 30)),
                (d(2026, 12, 1), d(2026, 12, 31)),
                (d(2027, 1, 1), d(2027, 1, 10)),
            ]
        );
        for (period, window) in [
            (&p, Window::Day),
            (&p, Window::Week),
            (&p, Window::Month),
            (&q4(), Window::Day),
            (&q4(), Window::Month),
        ] {
            assert_eq!(
                window_count(period, window) as usize,
                windows_of(period, window).count(),
                "{window:?} in {}",
                period.id
            );
        }
        assert_eq!(window_count(&q4(), Window::Day), 92);
        assert_eq!(window_count(&q4(), Window::Month), 3);
        let one_day = Period {
            id: "d".into(),
            start: d(2026, 10, 4),
            end: d(2026, 10, 4),
        };
        assert_eq!(window_count(&one_day, Window::Week), 1);
        let inverted = Period {
            id: "x".into(),
            start: d(2026, 10, 5),
            end: d(2026, 10, 4),
        };
        assert_eq!(window_count(&inverted, Window::Week), 0);
        assert_eq!(windows_of(&inverted, Window::Day).count(), 0);
    }

    #[test]
    fn a_new_york_week_closes_at_local_midnight_on_monday_not_utc() {
        let ny = tz("America/New_York");
        // Sunday 4 October 22:00 in New York is Monday 02:00 UTC: the
        // value belongs to the first (cut) week.
        let h = history(ny, &[(at(10, 5, 2, 0), 50.0)]);
        let r = rule(Window::Week, 10, Aggregate::Last);
        let sunday_night = judge(r, Some(40.0), &q4(), &h, ny, at(10, 5, 3, 59));
        assert_eq!(sunday_night.windows.len(), 1);
        let first = sunday_night.windows[0];
        assert_eq!((first.start, first.end), (d(2026, 10, 1), d(2026, 10, 4)));
        assert_eq!(first.value, Some(50.0));
        assert!(first.satisfied && !first.closed, "{first:?}");
        assert_eq!(sunday_night.satisfied, 0, "the current week does not count");
        // 00:00 EDT on Monday is 04:00 UTC.
        let monday = judge(r, Some(40.0), &q4(), &h, ny, at(10, 5, 4, 0));
        assert_eq!(monday.windows.len(), 2);
        assert!(monday.windows[0].closed);
        assert_eq!(monday.satisfied, 1);
        assert_eq!(monday.remaining, 13);
        // The same instants in UTC: the value is Monday's, the first week had none.
        let utc = history(chrono_tz::UTC, &[(at(10, 5, 2, 0), 50.0)]);
        let in_utc = judge(r, Some(40.0), &q4(), &utc, chrono_tz::UTC, at(10, 5, 4, 0));
        assert_eq!(in_utc.windows[0].value, None);
        assert_eq!(in_utc.satisfied, 0);
        assert_eq!(day_start(ny, d(2026, 10, 5)), at(10, 5, 4, 0));
    }

    #[test]
    fn a_tokyo_week_starts_on_sunday_afternoon_utc() {
        let tokyo = tz("Asia/Tokyo");
        // Sunday 4 October 16:00 UTC is Monday 01:00 in Tokyo.
        let h = history(tokyo, &[(at(10, 3, 12, 0), 10.0), (at(10, 4, 16, 0), 90.0)]);
        let r = rule(Window::Week, 1, Aggregate::Last);
        let s = judge(r, Some(50.0), &q4(), &h, tokyo, at(10, 4, 16, 0));
        assert_eq!(s.windows.len(), 2);
        assert_eq!(s.windows[0].value, Some(10.0));
        assert!(s.windows[0].closed && !s.windows[0].satisfied);
        assert_eq!(s.windows[1].value, Some(90.0));
        assert_eq!(day_start(tokyo, d(2026, 10, 5)), at(10, 4, 15, 0));
    }

    #[test]
    fn last_takes_the_last_day_and_mean_every_carried_day() {
        let utc = chrono_tz::UTC;
        // Monday 5 October 10, Wednesday 7 October 40 (carried to Sunday).
        let h = history(utc, &[(at(10, 5, 9, 0), 10.0), (at(10, 7, 9, 0), 40.0)]);
        let after_the_week = at(10, 12, 12, 0);
        let last = judge(
            rule(Window::Week, 1, Aggregate::Last),
            Some(35.0),
            &q4(),
            &h,
            utc,
            after_the_week,
        );
        let mean = judge(
            rule(Window::Week, 1, Aggregate::Mean),
            Some(35.0),
            &q4(),
            &h,
            utc,
            after_the_week,
        );
        assert_eq!(last.windows[1].value, Some(40.0));
        let expected_mean = (10.0 + 10.0 + 40.0 * 5.0) / 7.0;
        assert!((mean.windows[1].value.unwrap() - expected_mean).abs() < 1e-12);
        assert!(last.windows[1].satisfied && !mean.windows[1].satisfied);
        // Before the first value there is nothing to judge.
        assert_eq!(last.windows[0].value, None);
        assert!(!last.windows[0].satisfied);
        // The next week inherits 40 without a check-in.
        assert_eq!(last.windows[2].value, Some(40.0));
        // Mid-week, the current window's mean covers the days so far.
        let wednesday = judge(
            rule(Window::Week, 1, Aggregate::Mean),
            Some(35.0),
            &q4(),
            &h,
            utc,
            at(10, 7, 12, 0),
        );
        assert_eq!(wednesday.windows[1].value, Some(20.0));
        assert!(!wednesday.windows[1].closed);
    }

    #[test]
    fn status_moves_from_on_track_to_at_risk_to_off_track_or_done() {
        let utc = chrono_tz::UTC;
        // Four whole weeks, three of which must hold 40 or more.
        let p = Period {
            id: "oct".into(),
            start: d(2026, 10, 5),
            end: d(2026, 11, 1),
        };
        let r = rule(Window::Week, 3, Aggregate::Last);
        let judged = |values: &[(DateTime<Utc>, f64)], now| {
            let s = judge(r, Some(40.0), &p, &history(utc, values), utc, now);
            (
                s.status(!values.is_empty()),
                s.satisfied,
                s.remaining,
                s.progress(),
            )
        };
        assert_eq!(judged(&[], at(10, 6, 0, 0)), (Status::NoData, 0, 4, 0.0));
        let good = [(at(10, 5, 9, 0), 45.0)];
        assert_eq!(judged(&good, at(10, 6, 0, 0)), (Status::OnTrack, 0, 4, 0.0));
        // Week 1 held: 1 of 3, three weeks left.
        let (status, satisfied, remaining, progress) = judged(&good, at(10, 12, 0, 0));
        assert_eq!((status, satisfied, remaining), (Status::OnTrack, 1, 3));
        assert!((progress - 1.0 / 3.0).abs() < 1e-12);
        // Week 2 missed: both remaining weeks must hold.
        let missed = [(at(10, 5, 9, 0), 45.0), (at(10, 12, 9, 0), 30.0)];
        assert_eq!(judged(&missed, at(10, 19, 0, 0)).0, Status::AtRisk);
        // Week 3 missed too: out of reach.
        assert_eq!(judged(&missed, at(10, 26, 0, 0)).0, Status::OffTrack);
        // Three held weeks: done with a week to spare.
        let held = [(at(10, 5, 9, 0), 45.0)];
        let done = judged(&held, at(10, 26, 0, 0));
        assert_eq!((done.0, done.1, done.3), (Status::Done, 3, 1.0));
        // After the period every window is closed.
        let after = judge(
            r,
            Some(40.0),
            &p,
            &history(utc, &missed),
            utc,
            at(12, 1, 0, 0),
        );
        assert_eq!((after.windows.len(), after.remaining), (4, 0));
        assert!(after.windows.iter().all(|w| w.closed));
        // Before it, none has started.
        let before = judge(
            r,
            Some(40.0),
            &p,
            &history(utc, &good),
            utc,
            at(10, 1, 0, 0),
        );
        assert!(before.windows.is_empty());
        assert_eq!(
            (before.remaining, before.status(true)),
            (4, Status::OnTrack)
        );
        assert!(
            judge_on(r, Some(40.0), &p, &History::default(), None)
                .windows
                .is_empty()
        );
    }

    #[test]
    fn at_most_rules_and_a_missing_target_are_judged_too() {
        let utc = chrono_tz::UTC;
        let h = history(utc, &[(at(10, 1, 9, 0), 3.0)]);
        let r = Sustain {
            comparison: Comparison::AtMost,
            ..rule(Window::Day, 1, Aggregate::Last)
        };
        let s = judge(r, Some(5.0), &q4(), &h, utc, at(10, 2, 1, 0));
        assert_eq!(s.satisfied, 1);
        assert_eq!(s.status(true), Status::Done);
        let no_target = judge(r, None, &q4(), &h, utc, at(10, 2, 1, 0));
        assert_eq!(no_target.satisfied, 0);
    }

    #[test]
    fn a_day_whose_midnight_does_not_exist_starts_at_its_first_local_time() {
        let santiago = tz("America/Santiago");
        let gap = (0..365)
            .map(|i| d(2026, 1, 1) + chrono::TimeDelta::days(i))
            .find(|day| {
                santiago
                    .from_local_datetime(&day.and_time(NaiveTime::MIN))
                    .earliest()
                    .is_none()
            })
            .expect("Chile moves its clocks at midnight");
        let start = day_start(santiago, gap);
        assert_eq!(local_day(santiago, start), gap);
        assert_eq!(
            start.with_timezone(&santiago).time(),
            NaiveTime::from_hms_opt(1, 0, 0).unwrap()
        );
    }
}

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

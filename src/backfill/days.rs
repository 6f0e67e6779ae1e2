//! Which days a backfill fetches, and the moment each is fetched as of.
//! Days are local days in `[scheduler] timezone`, as `{{ today }}` is.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::okr::Period;
use crate::store::DaySpan;

/// The most days one backfill of a KR covers: the last year before
/// today. A period set over the API may span decades; fetching each of
/// its days would spend a source's whole rate limit for nothing.
pub const MAX_DAYS: u64 = 366;

/// The days of `period` before `today` (today is not over: the schedule
/// covers it), from `from` on, at most the last `MAX_DAYS`, oldest first.
pub fn past_days(
    period: &Period,
    tz: Tz,
    today: NaiveDate,
    from: Option<NaiveDate>,
) -> Vec<DaySpan> {
    let Some(yesterday) = today.pred_opt() else {
        return Vec::new();
    };
    let last = period.end.min(yesterday);
    let earliest = last
        .checked_sub_days(Days::new(MAX_DAYS - 1))
        .unwrap_or(NaiveDate::MIN);
    let mut day = period.start.max(from.unwrap_or(period.start)).max(earliest);
    let mut out = Vec::new();
    while day <= last {
        let Some(next) = day.succ_opt() else { break };
        out.push(DaySpan {
            day,
            start: day_start(tz, day),
            end: day_start(tz, next),
        });
        day = next;
    }
    out
}

/// The moment a past day is fetched as of, and its check-in observed at:
/// the day's last second, so `today` is that day and `now` its end.
pub fn as_of(span: &DaySpan) -> DateTime<Utc> {
    span.end - TimeDelta::seconds(1)
}

/// The first instant of `day` in `tz`: its midnight, or the first hour
/// that exists where a daylight-saving change skips midnight.
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    for hour in 0..4 {
        let local = day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No time zone skips four hours; UTC midnight keeps the day's order.
    day.and_time(NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn q4() -> Period {
        Period {
            id: "2026-Q4".into(),
            start: d(10, 1),
            end: d(12, 31),
        }
    }

    #[test]
    fn every_day_of_the_period_before_today() {
        let days = past_days(&q4(), chrono_tz::UTC, d(10, 5), None);
        let list: Vec<_> = days.iter().map(|s| s.day).collect();
        assert_eq!(list, vec![d(10, 1), d(10, 2), d(10, 3), d(10, 4)]);
        assert_eq!(
            as_of(&days[0]),
            Utc.with_ymd_and_hms(2026, 10, 1, 23, 59, 59).unwrap()
        );
        // From a date on; none on the period's first day or before it.
        let from = past_days(&q4(), chrono_tz::UTC, d(10, 5), Some(d(10, 3)));
        assert_eq!(from.len(), 2);
        assert!(past_days(&q4(), chrono_tz::UTC, d(10, 1), None).is_empty());
        assert!(past_days(&q4(), chrono_tz::UTC, d(9, 1), None).is_empty());
        // An ended period: up to its last day.
        let ended = past_days(&q4(), chrono_tz::UTC, d(12, 31).succ_opt().unwrap(), None);
        assert_eq!(ended.len(), 92);
        assert_eq!(ended[91].day, d(12, 31));
    }

    #[test]
    fn days_are_local_days() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let days = past_days(&q4(), tz, d(10, 27), Some(d(10, 24)));
        // CEST is UTC+2 until the last Sunday of October (the 25th), 25 hours long.
        assert_eq!(
            days[0].start,
            Utc.with_ymd_and_hms(2026, 10, 23, 22, 0, 0).unwrap()
        );
        assert_eq!(days[1].end - days[1].start, TimeDelta::hours(25));
        assert_eq!(
            as_of(&days[2]),
            Utc.with_ymd_and_hms(2026, 10, 26, 22, 59, 59).unwrap()
        );
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_hour() {
        // Chile moves 00:00 to 01:00 on the first Sunday of September.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let start = day_start(tz, d(9, 6));
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap());
    }

    #[test]
    fn a_period_of_decades_is_cut_to_the_last_year() {
        let long = Period {
            id: "all".into(),
            start: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            end: d(12, 31),
        };
        let days = past_days(&long, chrono_tz::UTC, d(10, 1), None);
        assert_eq!(days.len() as u64, MAX_DAYS);
        assert_eq!(days.last().unwrap().day, d(9, 30));
    }
}

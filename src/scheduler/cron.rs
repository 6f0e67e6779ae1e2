//! Cron schedules: crontab syntax (via `croner`) evaluated in a time zone.
//!
//! Syntax is vixie-cron: five fields `minute hour day-of-month month
//! day-of-week`, or six with a leading seconds field; weekday 0 and 7 are
//! Sunday and `1-5` is Monday to Friday; when both day fields are restricted a
//! day matching either one fires (vixie OR); `@hourly`-style nicknames work.
//! Fire times are computed on the zone's wall clock, so `0 9 * * *` stays at
//! 09:00 local across DST changes (a time skipped by spring-forward fires at
//! the first instant after the gap, a time repeated by fall-back fires once).

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// What a valid expression looks like, appended to every syntax error.
const EXPECTED_FORM: &str = "expected `minute hour day-of-month month day-of-week`, e.g. `*/15 * * * *` \
     (optionally with leading seconds, e.g. `30 */15 * * * *`), or @hourly/@daily/@weekly/@monthly/@yearly";

const NICKNAMES: [&str; 6] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@hourly",
];

/// A parsed cron expression bound to the time zone it is evaluated in.
#[derive(Clone)]
pub struct Schedule {
    expr: String,
    tz: Tz,
    cron: Cron,
}

impl Schedule {
    /// Parses `expr` (crontab syntax, see the module doc) to be evaluated in `tz`.
    ///
    /// Errors name the offending field and show the expected form.
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, String> {
        let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
        let cron = parse_cron(&expr)?;
        let schedule = Schedule { expr, tz, cron };
        // Reject expressions that can never fire (e.g. `0 0 30 2 *`): a
        // binding on them would silently never run. Leap days are found
        // because croner searches several years ahead.
        let probe = DateTime::<Utc>::UNIX_EPOCH;
        if schedule.next_after(probe).is_none() {
            return Err(format!(
                "cron expression `{}` never fires (no matching date)",
                schedule.expr
            ));
        }
        Ok(schedule)
    }

    /// The expression as written (whitespace normalised).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The zone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `t`, or `None` if there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t.with_timezone(&self.tz);
        // croner steps from whole seconds; a sub-second `t` could in theory
        // yield a time not after it, so step on (bounded) until it is.
        for _ in 0..3 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if next.with_timezone(&Utc) > t {
                return Some(next.with_timezone(&Utc));
            }
            from = next;
        }
        None
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr && self.tz == other.tz
    }
}

impl Eq for Schedule {}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("expr", &self.expr)
            .field("tz", &self.tz.name())
            .finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expr, self.tz.name())
    }
}

/// Parses an IANA time zone name such as `UTC` or `Europe/Berlin`.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone `{name}`: expected an IANA name such as `UTC` or `Europe/Berlin`"
        )
    })
}

/// Checks that `expr` is a valid cron expression (for config validation).
pub fn validate(expr: &str) -> Result<(), String> {
    Schedule::parse(expr, Tz::UTC).map(|_| ())
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Parses with croner after checking the shape ourselves, so errors say which
/// field is wrong instead of croner's internal wording alone.
fn parse_cron(expr: &str) -> Result<Cron, String> {
    if expr.is_empty() {
        return Err(format!("empty cron expression: {EXPECTED_FORM}"));
    }
    if expr.starts_with('@') {
        if !NICKNAMES.iter().any(|n| n.eq_ignore_ascii_case(expr)) {
            return Err(format!("unknown cron nickname `{expr}`: {EXPECTED_FORM}"));
        }
    } else {
        let fields: Vec<&str> = expr.split(' ').collect();
        let names: &[(&str, &str)] = match fields.len() {
            5 => &FIELDS[1..],
            6 => &FIELDS[..],
            n => {
                return Err(format!(
                    "cron expression `{expr}` has {n} field{}: {EXPECTED_FORM}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        };
        for (i, ((name, allowed), value)) in names.iter().zip(&fields).enumerate() {
            // Parse this field alone (every other field `*`) to blame it precisely.
            let mut probe = vec!["*"; fields.len()];
            probe[i] = value;
            if let Err(e) = parser().parse(&probe.join(" ")) {
                return Err(format!(
                    "cron expression `{expr}`: invalid {name} field `{value}`: {} (allowed: {allowed}); {EXPECTED_FORM}",
                    croner_detail(&e)
                ));
            }
        }
    }
    parser().parse(expr).map_err(|e| {
        format!(
            "cron expression `{expr}`: {}; {EXPECTED_FORM}",
            croner_detail(&e)
        )
    })
}

/// Field names and allowed values, in order, seconds first.
const FIELDS: [(&str, &str); 6] = [
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L, W"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, 0 and 7 are Sunday, # and L"),
];

/// croner's message without its type prefix, in lower case like ours.
fn croner_detail(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let detail = match e {
        CronError::IllegalCharacters(_) => return "unexpected characters".to_string(),
        CronError::ComponentError(msg) | CronError::InvalidPattern(msg) => msg.clone(),
        other => other.to_string(),
    };
    let detail = detail.trim_end_matches('.');
    let mut chars = detail.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn next_n(s: &Schedule, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            t = s.next_after(t).expect("schedule has a next fire time");
            out.push(t);
        }
        out
    }

    #[test]
    fn five_fields_every_fifteen_minutes() {
        let s = Schedule::parse("*/15 * * * *", Tz::UTC).unwrap();
        assert_eq!(
            next_n(&s, utc(2026, 1, 5, 10, 7, 3), 3),
            vec![
                utc(2026, 1, 5, 10, 15, 0),
                utc(2026, 1, 5, 10, 30, 0),
                utc(2026, 1, 5, 10, 45, 0)
            ]
        );
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = Schedule::parse("0 * * * *", Tz::UTC).unwrap();
        let t = utc(2026, 1, 5, 10, 0, 0);
        assert_eq!(s.next_after(t), Some(utc(2026, 1, 5, 11, 0, 0)));
        let just_after = t + chrono::TimeDelta::milliseconds(1);
        assert_eq!(s.next_after(just_after), Some(utc(2026, 1, 5, 11, 0, 0)));
        let just_before = t - chrono::TimeDelta::milliseconds(1);
        assert_eq!(s.next_after(just_before), Some(t));
    }

    #[test]
    fn six_fields_have_leading_seconds() {
        let s = Schedule::parse("*/20 * * * * *", Tz::UTC).unwrap();
        assert_eq!(
            next_n(&s, utc(2026, 1, 5, 10, 0, 5), 3),
            vec![
                utc(2026, 1, 5, 10, 0, 20),
                utc(2026, 1, 5, 10, 0, 40),
                utc(2026, 1, 5, 10, 1, 0)
            ]
        );
        let s = Schedule::parse("30 0 9 * * *", Tz::UTC).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 5, 0, 0, 0)),
            Some(utc(2026, 1, 5, 9, 0, 30))
        );
    }

    #[test]
    fn weekday_zero_and_seven_are_sunday() {
        // 2026-01-05 is a Monday; the next Sunday is 2026-01-11.
        let from = utc(2026, 1, 5, 12, 0, 0);
        for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let s = Schedule::parse(expr, Tz::UTC).unwrap();
            let next = s.next_after(from).unwrap();
            assert_eq!(next, utc(2026, 1, 11, 9, 0, 0), "{expr}");
            assert_eq!(next.weekday(), Weekday::Sun, "{expr}");
        }
    }

    #[test]
    fn one_to_five_is_monday_to_friday() {
        let s = Schedule::parse("0 9 * * 1-5", Tz::UTC).unwrap();
        // From Saturday 2026-01-03: Mon 5th .. Fri 9th, then Mon 12th.
        let got = next_n(&s, utc(2026, 1, 3, 0, 0, 0), 6);
        let days: Vec<(u32, Weekday)> = got.iter().map(|t| (t.day(), t.weekday())).collect();
        assert_eq!(
            days,
            vec![
                (5, Weekday::Mon),
                (6, Weekday::Tue),
                (7, Weekday::Wed),
                (8, Weekday::Thu),
                (9, Weekday::Fri),
                (12, Weekday::Mon)
            ]
        );
        assert!(got.iter().all(|t| t.hour_is(9)));
    }

    trait HourIs {
        fn hour_is(&self, h: u32) -> bool;
    }
    impl HourIs for DateTime<Utc> {
        fn hour_is(&self, h: u32) -> bool {
            chrono::Timelike::hour(self) == h
        }
    }

    #[test]
    fn day_of_month_and_day_of_week_are_ored() {
        // vixie cron: the 13th of the month OR any Friday.
        let s = Schedule::parse("0 0 13 * 5", Tz::UTC).unwrap();
        let got = next_n(&s, utc(2026, 1, 5, 0, 0, 0), 3);
        // Fri 9th, Tue 13th, Fri 16th.
        assert_eq!(
            got,
            vec![
                utc(2026, 1, 9, 0, 0, 0),
                utc(2026, 1, 13, 0, 0, 0),
                utc(2026, 1, 16, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn nicknames() {
        let s = Schedule::parse("@hourly", Tz::UTC).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 5, 10, 30, 0)),
            Some(utc(2026, 1, 5, 11, 0, 0))
        );
        let s = Schedule::parse("@daily", Tz::UTC).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 5, 10, 30, 0)),
            Some(utc(2026, 1, 6, 0, 0, 0))
        );
    }

    #[test]
    fn evaluated_in_the_schedule_time_zone() {
        let tz = parse_timezone("America/New_York").unwrap();
        let s = Schedule::parse("0 9 * * *", tz).unwrap();
        // 09:00 EST = 14:00 UTC in January.
        assert_eq!(
            s.next_after(utc(2026, 1, 5, 0, 0, 0)),
            Some(utc(2026, 1, 5, 14, 0, 0))
        );
        // 09:00 EDT = 13:00 UTC in July.
        assert_eq!(
            s.next_after(utc(2026, 7, 6, 0, 0, 0)),
            Some(utc(2026, 7, 6, 13, 0, 0))
        );
        let tokyo = Schedule::parse("0 9 * * *", parse_timezone("Asia/Tokyo").unwrap()).unwrap();
        // 09:00 JST = 00:00 UTC the same day.
        assert_eq!(
            tokyo.next_after(utc(2026, 1, 4, 12, 0, 0)),
            Some(utc(2026, 1, 5, 0, 0, 0))
        );
    }

    #[test]
    fn berlin_spring_forward() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let daily = Schedule::parse("0 9 * * *", berlin).unwrap();
        assert_eq!(
            next_n(&daily, utc(2026, 3, 28, 0, 0, 0), 2),
            vec![utc(2026, 3, 28, 8, 0, 0), utc(2026, 3, 29, 7, 0, 0)]
        );
        let hourly = Schedule::parse("0 * * * *", berlin).unwrap();
        // 01:00 CET = 00:00 UTC, then 03:00 CEST = 01:00 UTC: no 02:00.
        assert_eq!(
            next_n(&hourly, utc(2026, 3, 28, 23, 30, 0), 3),
            vec![
                utc(2026, 3, 29, 0, 0, 0),
                utc(2026, 3, 29, 1, 0, 0),
                utc(2026, 3, 29, 2, 0, 0)
            ]
        );
        // 02:30 does not exist that day: it fires once, right after the gap.
        let in_gap = Schedule::parse("30 2 * * *", berlin).unwrap();
        let got = next_n(&in_gap, utc(2026, 3, 28, 12, 0, 0), 2);
        assert_eq!(got[0], utc(2026, 3, 29, 1, 0, 0));
        assert_eq!(got[1], utc(2026, 3, 30, 0, 30, 0));
    }

    #[test]
    fn berlin_fall_back() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC).
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        // A fixed time in the repeated hour fires once.
        let fixed = Schedule::parse("30 2 * * *", berlin).unwrap();
        assert_eq!(
            next_n(&fixed, utc(2026, 10, 24, 12, 0, 0), 2),
            vec![utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)]
        );
        // An interval fires in both passes of the repeated hour.
        let every_30 = Schedule::parse("*/30 * * * *", berlin).unwrap();
        assert_eq!(
            next_n(&every_30, utc(2026, 10, 24, 23, 45, 0), 5),
            vec![
                utc(2026, 10, 25, 0, 0, 0),
                utc(2026, 10, 25, 0, 30, 0),
                utc(2026, 10, 25, 1, 0, 0),
                utc(2026, 10, 25, 1, 30, 0),
                utc(2026, 10, 25, 2, 0, 0)
            ]
        );
        let daily = Schedule::parse("0 9 * * *", berlin).unwrap();
        assert_eq!(
            next_n(&daily, utc(2026, 10, 24, 12, 0, 0), 1),
            vec![utc(2026, 10, 25, 8, 0, 0)]
        );
    }

    #[test]
    fn leap_day_is_found() {
        let s = Schedule::parse("0 0 29 2 *", Tz::UTC).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 1, 0, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0, 0))
        );
    }

    fn err(expr: &str) -> String {
        Schedule::parse(expr, Tz::UTC).expect_err(expr)
    }

    #[test]
    fn invalid_expressions_say_what_is_wrong() {
        let e = err("* * * *");
        assert!(e.contains("4 fields"), "{e}");
        assert!(
            e.contains("minute hour day-of-month month day-of-week"),
            "{e}"
        );
        assert!(e.contains("`*/15 * * * *`"), "{e}");

        let e = err("61 * * * *");
        assert!(
            e.contains("invalid minute field `61`: number out of bounds (allowed: 0-59)"),
            "{e}"
        );

        let e = err("0 25 * * *");
        assert!(e.contains("hour field `25`"), "{e}");

        let e = err("0 0 * * 8");
        assert!(e.contains("day-of-week field `8`"), "{e}");

        let e = err("61 0 * * * *");
        assert!(e.contains("second field `61`"), "{e}");

        let e = err("hello world");
        assert!(e.contains("2 fields"), "{e}");

        let e = err("a b c d e");
        assert!(e.contains("minute field `a`: unexpected characters"), "{e}");

        let e = err("* * * * * * *");
        assert!(e.contains("7 fields"), "{e}");

        let e = err("");
        assert!(e.contains("empty"), "{e}");

        let e = err("@fortnightly");
        assert!(e.contains("nickname"), "{e}");

        let e = err("0 0 30 2 *");
        assert!(e.contains("never fires"), "{e}");
    }

    #[test]
    fn validate_and_timezones() {
        assert!(validate("*/15 * * * *").is_ok());
        assert!(validate("0 */5 * * * *").is_ok());
        assert!(validate("*/15 * * *").is_err());
        assert_eq!(parse_timezone("Europe/Berlin").unwrap(), Tz::Europe__Berlin);
        assert_eq!(parse_timezone(" UTC ").unwrap(), Tz::UTC);
        let e = parse_timezone("Mars/Olympus").unwrap_err();
        assert!(
            e.contains("Mars/Olympus") && e.contains("Europe/Berlin"),
            "{e}"
        );
    }

    #[test]
    fn equality_is_expression_and_zone() {
        let a = Schedule::parse("*/15  * * * *", Tz::UTC).unwrap();
        let b = Schedule::parse("*/15 * * * *", Tz::UTC).unwrap();
        let c = Schedule::parse("*/15 * * * *", Tz::Europe__Berlin).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.expr(), "*/15 * * * *");
    }
}

//! Instants in API responses: RFC 3339 in UTC to the millisecond
//! (`2026-11-16T08:30:00.000Z`, what the store keeps), written as one
//! string. chrono's own `Serialize` writes them a character at a time,
//! which was a fifth of the CPU of a page of KRs.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

pub fn ms<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 24];
    match format(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

pub fn opt_ms<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ms(t, s),
        None => s.serialize_none(),
    }
}

/// `None` for years outside 0..=9999, which take a longer form.
fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 24]) -> Option<&'b str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let millis = t.timestamp_subsec_millis().min(999);
    let fields = [
        (0, 4, year),
        (5, 2, t.month()),
        (8, 2, t.day()),
        (11, 2, t.hour()),
        (14, 2, t.minute()),
        (17, 2, t.second().min(59)),
        (20, 3, millis),
    ];
    *buf = *b"0000-00-00T00:00:00.000Z";
    for (at, width, mut n) in fields {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    std::str::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn json(t: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        ms(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn instants_read_back_as_they_were_to_the_millisecond() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::TimeDelta::milliseconds(67);
        assert_eq!(json(t), "\"2026-01-02T03:04:05.067Z\"");
        let back: DateTime<Utc> = serde_json::from_str(&json(t)).unwrap();
        assert_eq!(back, t);
        let far = Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(json(far), "\"+12026-01-01T00:00:00.000Z\"");
    }
}

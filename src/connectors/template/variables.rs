//! The variables a param template sees: their values for one fetch, and
//! the most bytes each can take, for the size bound.

use chrono::{NaiveDate, SecondsFormat};

use super::TemplateContext;
use super::bound::{Env, Shape};
use crate::okr::validate::MAX_ID_LEN;

/// Every variable a template may use, for error messages.
pub const VARIABLES: &[&str] = &[
    "period.id",
    "period.start",
    "period.end",
    "today",
    "now",
    "key_result.id",
];

/// A date as `YYYY-MM-DD` (a year past 9999 takes more, and a sign).
const DATE_BYTES: u64 = 16;

/// An RFC 3339 time in whole seconds, UTC (`2026-11-05T09:30:15Z`, with room
/// for a long year).
const TIME_BYTES: u64 = 32;

/// Ids are ASCII.
const ID_BYTES: u64 = MAX_ID_LEN as u64;

/// The variables' values for one fetch.
pub fn values(ctx: &TemplateContext) -> minijinja::Value {
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    minijinja::context! {
        period => minijinja::context! {
            id => ctx.period_id.clone(),
            start => date(ctx.period_start),
            end => date(ctx.period_end),
        },
        today => date(ctx.now.with_timezone(&ctx.timezone).date_naive()),
        now => ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        key_result => minijinja::context! { id => ctx.key_result.clone() },
    }
}

/// The most each variable can be, whatever the fetch.
pub fn shapes() -> Env {
    Env::from([
        (
            "period".to_string(),
            Shape::object([
                ("id", Shape::text(ID_BYTES)),
                ("start", Shape::text(DATE_BYTES)),
                ("end", Shape::text(DATE_BYTES)),
            ]),
        ),
        ("today".to_string(), Shape::text(DATE_BYTES)),
        ("now".to_string(), Shape::text(TIME_BYTES)),
        (
            "key_result".to_string(),
            Shape::object([("id", Shape::text(ID_BYTES))]),
        ),
    ])
}

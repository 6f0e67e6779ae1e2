//! The filters a param template may use, each with what its output can be
//! given its input and arguments. A filter not listed here is refused: its
//! output (`indent`, `center`, `wordwrap`, `list` of a long range…) could
//! not be bounded.

use super::shape::Shape;

/// The listed filters' names, for the error message.
pub const ALLOWED: &[&str] = &[
    "after",
    "b64",
    "before",
    "capitalize",
    "count",
    "d",
    "default",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "replace",
    "string",
    "title",
    "trim",
    "unix",
    "unix_ms",
    "upper",
    "urlencode",
];

/// The largest magnitude `unix_ms` can return.
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Unicode case mapping can turn one byte into three (`ß` → `SS` is two
/// for two, but `ŉ` → `ʼN` is three for two; `ΐ` takes six for two).
const CASE_FACTOR: u64 = 3;

/// What `name` makes of `input` with `args` (positional and keyword alike:
/// the rules use the largest argument, so their order does not matter).
/// `None`: the filter is not allowed.
pub fn apply(name: &str, input: &Shape, args: &[Shape]) -> Option<Shape> {
    let arg = args.iter().map(|a| a.size).max().unwrap_or(0);
    let x = input.size;
    Some(match name {
        "unix" | "unix_ms" => Shape::int(MAX_TIMESTAMP),
        "before" | "after" | "trim" | "string" => Shape::text(x),
        "urlencode" => Shape::text(x.saturating_mul(3)),
        "b64" => Shape::text(x.div_ceil(3).saturating_mul(4)),
        "upper" | "lower" | "capitalize" | "title" => Shape::text(x.saturating_mul(CASE_FACTOR)),
        "default" | "d" => args
            .first()
            .map_or_else(|| input.clone(), |d| super::shape::join(input, d)),
        "length" | "count" => Shape::int(input.items().0),
        "int" => Shape::number(),
        "float" => Shape::number(),
        "first" | "last" => input.items().1,
        "join" => {
            let (count, item) = input.items();
            let per_item = item.size.saturating_add(arg);
            Shape::text(count.saturating_mul(per_item))
        }
        // An empty pattern matches between every two characters.
        "replace" => Shape::text(x.saturating_add(x.saturating_add(1).saturating_mul(arg))),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_filter_has_a_rule_and_others_have_none() {
        for name in ALLOWED {
            assert!(apply(name, &Shape::text(10), &[]).is_some(), "{name}");
        }
        for name in ["indent", "center", "wordwrap", "list", "tojson", "format"] {
            assert!(apply(name, &Shape::text(10), &[]).is_none(), "{name}");
        }
    }

    #[test]
    fn growing_filters_grow_the_bound() {
        let x = Shape::text(100);
        assert_eq!(apply("urlencode", &x, &[]).unwrap().size, 300);
        assert_eq!(apply("b64", &x, &[]).unwrap().size, 136);
        let r = apply("replace", &x, &[Shape::text(1), Shape::text(10)]).unwrap();
        assert_eq!(r.size, 100 + 101 * 10);
        let seq = Shape::seq(1000, Shape::int(999));
        assert_eq!(
            apply("join", &seq, &[Shape::text(2)]).unwrap().size,
            1000 * 6
        );
    }
}

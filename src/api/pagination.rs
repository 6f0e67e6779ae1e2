//! Cursor pagination. A cursor is opaque to clients: base64url of the sort
//! key of the last item served. A page says where the next one starts, or
//! `null` when nothing follows.

use std::collections::BTreeMap;
use std::ops::Bound;

use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// The page size asked for: 1 to `MAX_LIMIT`, `DEFAULT_LIMIT` when absent.
pub fn limit(asked: Option<u32>) -> ApiResult<u32> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}, not {n}"
        ))),
    }
}

pub fn encode(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub fn decode(cursor: &str) -> ApiResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_cursor)
}

/// A cursor holding a sort key that `parse` reads from the decoded text.
pub fn decode_with<T>(cursor: &str, parse: impl FnOnce(&str) -> Option<T>) -> ApiResult<T> {
    parse(&decode(cursor)?).ok_or_else(invalid_cursor)
}

fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid cursor: pass the `next_cursor` of the previous page as it is")
}

/// The entries of `map` after `cursor` that pass `keep`, at most `limit`, as views.
pub fn page_by_id<'m, V, T>(
    map: &'m BTreeMap<String, V>,
    cursor: Option<&str>,
    limit: u32,
    keep: impl Fn(&V) -> bool,
    view: impl Fn(&'m V) -> T,
) -> ApiResult<Page<T>> {
    let after = cursor.map(decode).transpose()?;
    let start = match &after {
        Some(id) => Bound::Excluded(id.as_str()),
        None => Bound::Unbounded,
    };
    let mut items = Vec::new();
    let mut next_cursor = None;
    let mut last: Option<&str> = None;
    for (id, v) in map
        .range::<str, _>((start, Bound::Unbounded))
        .filter(|(_, v)| keep(v))
    {
        if items.len() == limit as usize {
            next_cursor = last.map(encode);
            break;
        }
        items.push(view(v));
        last = Some(id);
    }
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let map: BTreeMap<String, u32> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let even = |v: &u32| v.is_multiple_of(2);
        let first = page_by_id(&map, None, 2, even, |v| *v).unwrap();
        assert_eq!(first.items, [0, 2]);
        let second = page_by_id(&map, first.next_cursor.as_deref(), 2, even, |v| *v).unwrap();
        assert_eq!(second.items, [4, 6]);
        assert_eq!(second.next_cursor, None);
    }

    #[test]
    fn bad_cursors_and_limits_are_refused() {
        assert!(decode("%%%").is_err());
        assert_eq!(decode(&encode("kr-1")).unwrap(), "kr-1");
        assert!(limit(Some(0)).is_err() && limit(Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
    }
}

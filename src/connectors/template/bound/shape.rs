//! What the size analysis knows about one value a template can hold: an
//! upper bound of its size, and what it needs to bound what is built from
//! it (an integer's magnitude for `*` and `range`, a sequence's length and
//! item, an object's attributes).

use std::collections::BTreeMap;

/// Bytes an integer of magnitude `m` takes as text, with its sign.
fn digits(m: u64) -> u64 {
    u64::from(m.checked_ilog10().unwrap_or(0)) + 2
}

/// Bytes any number can take as text: a float's `Display` of `1e300` spells
/// every digit.
const ANY_NUMBER: u64 = 400;

/// Bytes per item a sequence's text adds beyond the item (quotes, `, `)
/// and its heap footprint per item (a minijinja `Value`).
const PER_ITEM: u64 = 32;

/// A string item in a sequence's text is escaped (`\u{1b}` for one byte).
const ESCAPE_FACTOR: u64 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Most bytes its text (and its heap footprint) can take.
    pub size: u64,
    /// Largest magnitude, when it is certainly an integer of known bound.
    pub int: Option<u64>,
    /// Certainly a number (int or float).
    pub num: bool,
    /// Certainly a string (iterating yields characters).
    pub text: bool,
    /// At most this many items, each like the item, when iterated.
    pub seq: Option<Box<(u64, Shape)>>,
    /// Known attributes (the context's objects, `loop`).
    pub attrs: Option<BTreeMap<String, Shape>>,
}

impl Shape {
    /// Anything of at most `size` bytes.
    pub fn any(size: u64) -> Shape {
        Shape {
            size,
            int: None,
            num: false,
            text: false,
            seq: None,
            attrs: None,
        }
    }

    /// A string of at most `size` bytes.
    pub fn text(size: u64) -> Shape {
        Shape {
            text: true,
            ..Shape::any(size)
        }
    }

    /// An undefined value: renders as nothing (or fails, in strict mode).
    pub fn undefined() -> Shape {
        Shape::any(0)
    }

    /// An integer of magnitude at most `m`.
    pub fn int(m: u64) -> Shape {
        Shape {
            int: Some(m),
            num: true,
            ..Shape::any(digits(m))
        }
    }

    /// A number whose magnitude nothing bounds (a float, a parsed string).
    pub fn number() -> Shape {
        Shape {
            num: true,
            ..Shape::any(ANY_NUMBER)
        }
    }

    pub fn bool() -> Shape {
        Shape::int(1)
    }

    /// A sequence of at most `count` items like `item`.
    pub fn seq(count: u64, item: Shape) -> Shape {
        let per_item = item
            .size
            .saturating_mul(ESCAPE_FACTOR)
            .saturating_add(PER_ITEM);
        Shape {
            seq: Some(Box::new((count, item))),
            ..Shape::any(count.saturating_mul(per_item).saturating_add(2))
        }
    }

    /// An object with these attributes.
    pub fn object(attrs: impl IntoIterator<Item = (&'static str, Shape)>) -> Shape {
        let attrs: BTreeMap<String, Shape> =
            attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let size = attrs
            .iter()
            .map(|(k, v)| (k.len() as u64 + v.size).saturating_mul(ESCAPE_FACTOR) + PER_ITEM)
            .fold(2u64, u64::saturating_add);
        Shape {
            attrs: Some(attrs),
            ..Shape::any(size)
        }
    }

    /// The items iterating it yields: at most as many as its bytes.
    pub fn items(&self) -> (u64, Shape) {
        match &self.seq {
            Some(s) => (s.0, s.1.clone()),
            None if self.text => (self.size, Shape::text(4.min(self.size))),
            None => (self.size, Shape::any(self.size)),
        }
    }

    /// An attribute or item of it: known for the context's objects, else
    /// part of it.
    pub fn attr(&self, name: &str) -> Shape {
        match &self.attrs {
            Some(a) => a.get(name).cloned().unwrap_or_else(Shape::undefined),
            None => self.part(),
        }
    }

    /// Some part of it (an item, a slice, a character).
    pub fn part(&self) -> Shape {
        let (_, item) = self.items();
        if self.text {
            Shape::text(self.size)
        } else {
            join(&item, &Shape::any(self.size))
        }
    }
}

/// A shape covering both: what a value is after `if`/`else`.
pub fn join(a: &Shape, b: &Shape) -> Shape {
    if a == b {
        return a.clone();
    }
    let seq = if a.seq.is_none() && b.seq.is_none() {
        None
    } else {
        let (ca, ia) = a.items();
        let (cb, ib) = b.items();
        Some(Box::new((ca.max(cb), join(&ia, &ib))))
    };
    let attrs = match (&a.attrs, &b.attrs) {
        (Some(x), Some(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = out.get(k).map_or_else(|| v.clone(), |old| join(old, v));
                out.insert(k.clone(), merged);
            }
            Some(out)
        }
        _ => None,
    };
    Shape {
        size: a.size.max(b.size),
        int: a.int.zip(b.int).map(|(x, y)| x.max(y)),
        num: a.num && b.num,
        text: a.text && b.text,
        seq,
        attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_their_digits_and_a_sign() {
        assert_eq!(Shape::int(0).size, 2);
        assert_eq!(Shape::int(9).size, 2);
        assert_eq!(Shape::int(10).size, 3);
        assert_eq!(Shape::int(u64::MAX).size, 21);
    }

    #[test]
    fn a_join_covers_both_sides() {
        let j = join(&Shape::text(3), &Shape::int(7));
        assert_eq!(j.size, 3);
        assert_eq!(j.int, None);
        assert!(!j.text && !j.num);
        let (n, item) = j.items();
        assert_eq!(n, 3);
        assert!(item.size >= 3);
    }
}

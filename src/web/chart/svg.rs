//! Writing SVG text: the one output buffer, escaping for every string that
//! reaches it, numbers in one compact deterministic form, and the few
//! elements every chart repeats. Titles and units come from OKR files and
//! the API, so nothing is interpolated into the output but through `Esc`;
//! coordinates go through `N`, so a NaN can never become an attribute.

use std::fmt::{self, Display, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

/// `s` escaped for XML text and attribute values. Control characters XML
/// forbids are dropped: an SVG with one is not well-formed.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let special = |c: char| {
            matches!(c, '&' | '<' | '>' | '"' | '\'' | '\u{FFFE}' | '\u{FFFF}')
                || (c.is_control() && !matches!(c, '\t' | '\n' | '\r') && c < '\u{7f}')
        };
        let mut rest = self.0;
        while let Some(i) = rest.find(special) {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or(' ');
            f.write_str(match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => "",
            })?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A coordinate or length: one decimal, without a trailing ".0" or a "-0",
/// so output is small and the same for the same input. A non-finite number
/// is written as 0; callers skip such values before they get here.
#[derive(Clone, Copy)]
pub struct N(pub f64);

impl Display for N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tenths as an integer: exact, and far outside any viewBox is clamped.
        let tenths = if self.0.is_finite() {
            (self.0 * 10.0).round().clamp(-1e9, 1e9) as i64
        } else {
            0
        };
        let sign = if tenths < 0 { "-" } else { "" };
        let (whole, tenth) = (tenths.abs() / 10, tenths.abs() % 10);
        if tenth == 0 {
            write!(f, "{sign}{whole}")
        } else {
            write!(f, "{sign}{whole}.{tenth}")
        }
    }
}

/// A value as data (`data-value`): the shortest form that reads back the
/// same, in exponent form where plain digits would run long.
pub struct Exact(pub f64);

impl Display for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        if v == 0.0 || (1e-6..1e15).contains(&v.abs()) {
            write!(f, "{v}")
        } else {
            write!(f, "{v:e}")
        }
    }
}

/// An instant in UTC to the minute: as data (`data-at`, RFC 3339,
/// "2026-10-03T14:00:00Z") or for people (a tooltip, "2026-10-03 14:00 UTC").
pub struct Stamp {
    pub at: DateTime<Utc>,
    pub data: bool,
}

impl Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at;
        let (y, mo, d, h, mi) = (t.year(), t.month(), t.day(), t.hour(), t.minute());
        if self.data {
            write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{:02}Z", t.second())
        } else {
            write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
        }
    }
}

/// The output being written. Writing to a `String` cannot fail, so the
/// methods swallow `fmt::Result` once here instead of at every call.
pub struct Svg {
    pub out: String,
}

impl Svg {
    /// The buffer, sized for a typical chart so it rarely grows.
    pub fn new(capacity: usize) -> Svg {
        Svg {
            out: String::with_capacity(capacity),
        }
    }

    pub fn w(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(args);
    }

    pub fn s(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// The root element with its accessible name (`<title>`) and
    /// description (`<desc>`), which `desc` writes escaped through `Esc`.
    pub fn open(
        &mut self,
        id: &str,
        class: &str,
        (width, height): (f64, f64),
        title: &str,
        desc: impl FnOnce(&mut Svg),
    ) {
        self.w(format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" \
             aria-labelledby=\"{id}-title {id}-desc\" id=\"{id}\" class=\"chart {class}\" \
             font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\" font-size=\"12\">\
             <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">",
            N(width),
            N(height),
            Esc(title)
        ));
        desc(self);
        self.s("</desc>");
    }

    pub fn close(&mut self) {
        self.s("</svg>");
    }

    /// A straight line; `extra` holds further fixed attributes (dashes).
    pub fn line(
        &mut self,
        class: &str,
        colour: &str,
        (x1, y1, x2, y2): (f64, f64, f64, f64),
        extra: &str,
    ) {
        self.w(format_args!(
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\"{extra}/>",
            N(x1),
            N(y1),
            N(x2),
            N(y2)
        ));
    }

    /// Text with a white halo, so it stays readable over lines and bands.
    pub fn text(
        &mut self,
        class: &str,
        colour: &str,
        (x, y): (f64, f64),
        anchor: &str,
        s: impl Display,
    ) {
        self.w(format_args!(
            "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{colour}\" \
             stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">{s}</text>",
            N(x),
            N(y)
        ));
    }
}

/// `id` cut down to `[A-Za-z0-9_-]`, starting with a letter (an XML name),
/// so it is safe in attributes and in `aria-labelledby`.
pub fn sanitize_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 1);
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            if out.is_empty() && !c.is_ascii_alphabetic() {
                out.push('c');
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("chart");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_the_five_and_drops_forbidden_controls() {
        let s = Esc("<a href='x'>\"&\u{0}\u{1b}é\t</a>").to_string();
        assert_eq!(s, "&lt;a href=&#39;x&#39;&gt;&quot;&amp;é\t&lt;/a&gt;");
    }

    #[test]
    fn numbers_are_compact_and_never_non_finite() {
        let cases = [
            (1.0, "1"),
            (1.25, "1.3"),
            (-0.04, "0"),
            (-2.5, "-2.5"),
            (f64::NAN, "0"),
            (f64::INFINITY, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(N(v).to_string(), want, "{v}");
        }
        assert_eq!(Exact(1234.5).to_string(), "1234.5");
        assert_eq!(Exact(1e300).to_string(), "1e300");
        assert_eq!(Exact(f64::NAN).to_string(), "0");
    }

    #[test]
    fn ids_are_sanitized() {
        assert_eq!(sanitize_id("kr-1 \"><x"), "kr-1x");
        assert_eq!(sanitize_id("9lives"), "c9lives");
        assert_eq!(sanitize_id("<>"), "chart");
    }
}

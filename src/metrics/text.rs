//! The text exposition format's spelling, written into a byte buffer:
//! `# HELP`/`# TYPE` lines, `name="value"` pairs with their escapes, and
//! sample values spelled as Rust's `Display` spells an `f64` (the text
//! dashboards have always seen). A scrape of 100,000 KRs writes ~1.5 million
//! lines through these, so they append slices instead of going through
//! `write!`.

use std::io::Write as _;

/// `# HELP` and `# TYPE ... gauge` of one family.
pub(super) fn header(out: &mut Vec<u8>, name: &str, help: &str) {
    push_all(
        out,
        &["# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n"],
    );
}

/// One line: `name{label="value",…} v`.
pub(super) fn sample(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], v: f64) {
    push_all(out, &[name, "{"]);
    for (n, (label, value)) in labels.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_label(out, label, value);
    }
    out.extend_from_slice(b"} ");
    push_float(out, v);
    out.push(b'\n');
}

pub(super) fn push_all(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

/// `v` as `format!("{v}")` spells it, with the format's NaN and ±Inf.
pub(super) fn push_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        // Whole numbers (progress 0 and 1, counts, most values) are most
        // samples; `Display` spells them without a fraction, like an integer.
        push_integer(out, v as i64);
    } else {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
}

fn push_integer(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// `name="value"` with the exposition format's escapes.
pub(super) fn push_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    // The three escaped characters are ASCII, so a byte scan finds them
    // and never splits a UTF-8 sequence.
    let bytes = value.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(escaped);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            text(|o| push_label(o, "title", "a \"quoted\" \\ path\nnext, ünï")),
            r#"title="a \"quoted\" \\ path\nnext, ünï""#
        );
    }

    #[test]
    fn floats_use_exposition_spelling() {
        let spelled = text(|o| {
            for v in [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2e6] {
                push_float(o, v);
                o.push(b' ');
            }
        });
        assert_eq!(spelled, "1.5 NaN +Inf -Inf 2000000 ");
    }

    #[test]
    fn floats_are_spelled_as_display_spells_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            7.0,
            10.0,
            -912.5,
            0.1,
            0.30000000000000004,
            1e-7,
            123_456_789.0,
            -987_654_321_012.0,
            999_999_999_999_999.0,
            1e15,
            -1e15,
            4_503_599_627_370_497.0,
            1e21,
            f64::MAX,
            f64::MIN_POSITIVE,
            1_794_832_496.789,
        ] {
            assert_eq!(text(|o| push_float(o, v)), format!("{v}"), "{v:e}");
        }
    }

    #[test]
    fn a_sample_is_one_line() {
        let line = text(|o| sample(o, "m", &[("a", "b"), ("c", "d")], 0.25));
        assert_eq!(line, "m{a=\"b\",c=\"d\"} 0.25\n");
    }
}

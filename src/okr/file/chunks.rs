//! Reading a large OKR file a piece at a time: the text is cut before
//! `[[periods]]`, `[[teams]]`, `[[objectives]]` and `[[key_results]]` lines,
//! so only one piece's TOML tree is held at once (the whole tree of a file
//! with 100,000 KRs takes several hundred MiB).
//!
//! A piece read alone means the same as within the file when it parses
//! without error and each of its top-level keys is one of those arrays of
//! tables: its entries then append to the file's arrays in order. A cut
//! inside a multi-line string leaves that string unterminated, an error.
//! Anything else (an error, a `[table]` at the top level, text before the
//! first cut) is read from the whole file, so messages stay the same.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::entities::TOP_KEYS;

/// About this much text per piece.
const PIECE: usize = 1 << 20;

/// Where to cut `text`, or `None` when it is small or does not start with
/// one of the headers (after blank and comment lines).
pub(super) fn pieces(text: &str) -> Option<Vec<Range<usize>>> {
    if text.len() < 2 * PIECE {
        return None;
    }
    let mut cuts = Vec::new();
    let mut offset = 0;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        let bare = line.trim_end();
        if is_header(bare) {
            if cuts.is_empty() {
                cuts.push(here);
            } else if here - start >= PIECE {
                cuts.push(here);
                start = here;
            }
        } else if cuts.is_empty()
            && !(bare.trim_start().is_empty() || bare.trim_start().starts_with('#'))
        {
            return None;
        }
    }
    // The first piece keeps the blank and comment lines before its header.
    let first = cuts.first_mut()?;
    *first = 0;
    cuts.push(text.len());
    Some(cuts.windows(2).map(|w| w[0]..w[1]).collect())
}

fn is_header(line: &str) -> bool {
    line.strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .is_some_and(|name| TOP_KEYS.contains(&name))
}

/// Whether a piece means alone what it means within the file (see above).
pub(super) fn stands_alone(doc: &DeTable<'_>) -> bool {
    doc.iter().all(|(key, value)| {
        TOP_KEYS.contains(&key.get_ref().as_ref()) && matches!(value.get_ref(), DeValue::Array(_))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(entry: &str, head: &str) -> String {
        let mut text = head.to_string();
        while text.len() < 3 * PIECE {
            text.push_str(entry);
        }
        text
    }

    #[test]
    fn cuts_before_headers_into_pieces_of_about_the_size() {
        let text = big("[[teams]]\nid = \"t\"\nname = \"T\"\n", "# teams\n\n");
        let ranges = pieces(&text).unwrap();
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, text.len());
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert!(ranges.len() >= 3, "{}", ranges.len());
        for r in &ranges[1..] {
            assert!(text[r.clone()].starts_with("[[teams]]\n"));
        }
    }

    #[test]
    fn small_files_and_files_with_a_preamble_are_read_whole() {
        assert_eq!(pieces("[[teams]]\nid = \"t\"\n"), None);
        let text = big("[[teams]]\nid = \"t\"\nname = \"T\"\n", "teams = []\n");
        assert_eq!(pieces(&text), None);
    }

    #[test]
    fn only_arrays_of_the_four_kinds_stand_alone() {
        let alone = |t: &str| stands_alone(DeTable::parse(t).unwrap().get_ref());
        assert!(alone(
            "[[teams]]\nid = \"t\"\n[[key_results]]\n[key_results.source]\nuse = \"x\"\n"
        ));
        assert!(!alone("[key_results.source]\nuse = \"x\"\n"));
        assert!(!alone("[[teams]]\nid = \"t\"\n[periods]\nid = \"p\"\n"));
        assert!(!alone("[[teams]]\n[[other]]\n"));
    }
}

//! The spanned TOML walker: one file's text into a [`Parsed`], line numbers for
//! spans, the top-level arrays, tables split into known and unknown keys, and
//! the bookkeeping of each `[[kind]]` entry (missing keys, locations, broken ids).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::chunks::{pieces, stands_alone};
use super::entities::{SOURCE_KEYS, TOP_KEYS};
use super::fields::describe;
use super::locations::EntityLocation;
use super::{FileProblem, Located, Locations};
use crate::okr::model::{EntityKind, OkrSet};
use crate::okr::validate::{Severity, closest, kind_label};

/// One file's parse, with what [`load_files`](super::load_files) needs beyond [`parse_str`](super::parse_str)'s answer.
#[derive(Default)]
pub(super) struct Parsed {
    pub(super) set: OkrSet,
    pub(super) locations: Locations,
    pub(super) problems: Vec<FileProblem>,
    /// Entities declared with an id but left out for their problems.
    pub(super) broken: BTreeSet<(EntityKind, String)>,
    pub(super) syntax_error: bool,
}

pub(super) fn parse_file(path: &str, text: &str) -> Parsed {
    let mut p = Parser {
        file: path,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        base: 0,
        out: Parsed::default(),
    };
    if let Some(pieces) = pieces(text)
        && pieces
            .into_iter()
            .all(|r| p.piece(&text[r.clone()], r.start))
    {
        p.out.problems.sort_by_key(|p| p.line);
        return p.out;
    }
    // Read whole: what the pieces found is dropped and found again.
    p.base = 0;
    p.out = Parsed::default();
    let (doc, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        p.document(doc.get_ref());
    } else {
        p.out.syntax_error = true;
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            let message = syntax_message(e.message(), text.get(span.clone()).unwrap_or(""));
            p.error(&span, message);
        }
    }
    p.out.problems.sort_by_key(|p| p.line);
    p.out
}

fn syntax_message(message: &str, snippet: &str) -> String {
    if message == "duplicate key" && !snippet.is_empty() {
        return format!("TOML syntax error: `{snippet}` is set twice in the same table; keep one");
    }
    format!("TOML syntax error: {message}")
}

/// The keys of one table that are known, with their key spans.
pub(super) type Fields<'d, 'i> = BTreeMap<&'d str, (Range<usize>, &'d Spanned<DeValue<'i>>)>;

/// One `[[kind]]` entry being read.
pub(super) struct Entry<'d, 'i> {
    pub(super) kind: EntityKind,
    pub(super) span: Range<usize>,
    pub(super) fields: Fields<'d, 'i>,
    /// No problem so far: the entity goes into the set.
    pub(super) ok: bool,
    pub(super) missing: Vec<&'static str>,
    /// Field → line, recorded in [`Locations`].
    pub(super) lines: BTreeMap<String, usize>,
}

pub(super) struct Parser<'a> {
    pub(super) file: &'a str,
    pub(super) line_starts: Vec<usize>,
    /// Where in the file the text being read starts (see `chunks`).
    pub(super) base: usize,
    pub(super) out: Parsed,
}

impl<'a> Parser<'a> {
    /// The 1-based line of an offset into the text being read.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&s| s <= offset + self.base)
    }

    /// Reads one piece of the file starting at `base`; false when it does
    /// not stand alone (and the file must be read whole).
    fn piece(&mut self, text: &str, base: usize) -> bool {
        let (doc, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() || !stands_alone(doc.get_ref()) {
            return false;
        }
        self.base = base;
        self.document(doc.get_ref());
        true
    }

    pub(super) fn error(&mut self, span: &Range<usize>, message: String) {
        let line = self.line(span.start);
        self.out.problems.push(FileProblem {
            file: self.file.to_string(),
            line,
            message,
            severity: Severity::Error,
        });
    }

    fn document(&mut self, doc: &DeTable<'_>) {
        for (key, value) in doc.iter() {
            let name = key.get_ref().as_ref();
            let (kind, header): (EntityKind, &str) = match name {
                "periods" => (EntityKind::Period, "periods"),
                "teams" => (EntityKind::Team, "teams"),
                "objectives" => (EntityKind::Objective, "objectives"),
                "key_results" => (EntityKind::KeyResult, "key_results"),
                _ => {
                    let msg = unknown_key_message(name, "at the top level", TOP_KEYS);
                    self.error(&key.span(), msg);
                    continue;
                }
            };
            let DeValue::Array(items) = value.get_ref() else {
                let msg = format!(
                    "`{header}` must be an array of tables, found {}; write each entry under [[{header}]]",
                    describe(value.get_ref())
                );
                self.error(&value.span(), msg);
                continue;
            };
            for item in items.iter() {
                let DeValue::Table(table) = item.get_ref() else {
                    let msg = format!(
                        "each entry of `{header}` must be a table, found {}; write it under [[{header}]]",
                        describe(item.get_ref())
                    );
                    self.error(&item.span(), msg);
                    continue;
                };
                match kind {
                    EntityKind::Period => self.period(table, item.span()),
                    EntityKind::Team => self.team(table, item.span()),
                    EntityKind::Objective => self.objective(table, item.span()),
                    EntityKind::KeyResult => self.key_result(table, item.span()),
                }
            }
        }
    }

    /// Splits a table into its known keys, reporting the unknown ones.
    pub(super) fn fields<'d, 'i>(
        &mut self,
        table: &'d DeTable<'i>,
        context: &str,
        known: &[&'static str],
    ) -> Fields<'d, 'i> {
        let mut fields = BTreeMap::new();
        for (key, value) in table.iter() {
            let name: &'d str = key.get_ref().as_ref();
            if known.contains(&name) {
                fields.insert(name, (key.span(), value));
            } else {
                let msg = if context == "in [[key_results]]" && SOURCE_KEYS.contains(&name) {
                    format!(
                        "unknown key `{name}` {context}; `{name}` belongs to the KR's source: \
                         write it under [key_results.source]"
                    )
                } else {
                    unknown_key_message(name, context, known)
                };
                self.error(&key.span(), msg);
            }
        }
        fields
    }

    pub(super) fn entry<'d, 'i>(
        &mut self,
        kind: EntityKind,
        table: &'d DeTable<'i>,
        span: Range<usize>,
        known: &[&'static str],
    ) -> Entry<'d, 'i> {
        let context = format!("in [[{}]]", plural(kind));
        let fields = self.fields(table, &context, known);
        let lines = fields
            .iter()
            .map(|(name, (key_span, _))| (name.to_string(), self.line(key_span.start)))
            .collect();
        Entry {
            kind,
            span,
            fields,
            ok: true,
            missing: Vec::new(),
            lines,
        }
    }

    /// Reports missing keys; records the entity's location when it is complete.
    pub(super) fn finish(&mut self, e: Entry<'_, '_>, id: Option<&str>) -> bool {
        if !e.missing.is_empty() {
            let keys = e
                .missing
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let plural_s = if e.missing.len() > 1 { "s" } else { "" };
            let msg = match id {
                Some(id) => format!(
                    "{} `{id}` is missing required key{plural_s} {keys}",
                    kind_label(e.kind)
                ),
                None => format!(
                    "[[{}]] entry is missing required key{plural_s} {keys}",
                    plural(e.kind)
                ),
            };
            self.error(&e.span, msg);
        }
        let ok = e.ok && e.missing.is_empty();
        match (ok, id) {
            (true, Some(id)) => {
                let file = self.file.to_string();
                let at = Located {
                    file: file.clone(),
                    line: self.line(e.span.start),
                };
                let fields = e
                    .lines
                    .into_iter()
                    .map(|(f, line)| {
                        (
                            f,
                            Located {
                                file: file.clone(),
                                line,
                            },
                        )
                    })
                    .collect();
                self.out.locations.push(
                    e.kind,
                    EntityLocation {
                        id: id.to_string(),
                        at,
                        fields,
                    },
                );
            }
            (false, Some(id)) => {
                self.out.broken.insert((e.kind, id.to_string()));
            }
            _ => {}
        }
        ok
    }
}

fn plural(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Period => "periods",
        EntityKind::Team => "teams",
        EntityKind::Objective => "objectives",
        EntityKind::KeyResult => "key_results",
    }
}

fn unknown_key_message(name: &str, context: &str, known: &[&str]) -> String {
    match closest(name, known.iter().copied()) {
        Some(c) => format!("unknown key `{name}` {context}; did you mean `{c}`?"),
        None => format!(
            "unknown key `{name}` {context}; known keys: {}",
            known.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_are_one_based_and_follow_newlines() {
        let p = Parser {
            file: "f",
            line_starts: vec![0, 4, 9],
            base: 0,
            out: parse_file("f", ""),
        };
        assert_eq!(p.line(0), 1);
        assert_eq!(p.line(3), 1);
        assert_eq!(p.line(4), 2);
        assert_eq!(p.line(9), 3);
        assert_eq!(p.line(100), 3);
    }
}

//! OKR files (DESIGN §3, "OKR file"): TOML parsed into an [`OkrSet`], with every
//! problem reported as `file:line: message`.
//!
//! This module owns syntax, keys and types; the rules about values and about
//! how entities fit together live in [`super::validate`], which [`load_files`]
//! runs over the union of all files. The spanned TOML tree is walked by hand so
//! each message points at the line of the key (or of the table) at fault, and
//! nothing stops at the first problem.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use chrono::NaiveDate;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::model::{
    EntityKind, KeyResult, KrKind, Objective, OkrSet, Ownership, Period, Rollup, SourceBinding,
    Team, WorkflowState,
};
use super::validate::{self, CheckContext, Finding, closest, kind_label};

pub use super::validate::Severity;

/// One problem in an OKR file. `line` is 1-based; 0 means the file as a whole
/// (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `file:line: message`, `file:line: warning: message`; `file: message` for line 0.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if self.severity == Severity::Warning {
            write!(f, ": warning")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Where each entity was declared, for messages from later checks.
///
/// Entities are kept per kind in the order of the [`OkrSet`] lists they were
/// parsed into, so `index` in [`Locations::at`] is the index in that list
/// (and [`Finding::index`]). Fields of a KR's source are named `source.use`,
/// `source.schedule` and `source.params`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locations {
    kinds: BTreeMap<EntityKind, Vec<EntityLocation>>,
}

#[derive(Debug, Clone, PartialEq)]
struct EntityLocation {
    id: String,
    at: Located,
    fields: BTreeMap<String, Located>,
}

impl Locations {
    /// Where the first entity with this id was declared.
    pub fn of(&self, kind: EntityKind, id: &str) -> Option<&Located> {
        self.first(kind, id).map(|e| &e.at)
    }

    /// Where a field of the first entity with this id was set.
    pub fn field(&self, kind: EntityKind, id: &str, field: &str) -> Option<&Located> {
        self.first(kind, id).and_then(|e| e.fields.get(field))
    }

    /// Where the entity at `index` of its kind's list was declared.
    pub fn at(&self, kind: EntityKind, index: usize) -> Option<&Located> {
        self.entry(kind, index).map(|e| &e.at)
    }

    /// Where a field of the entity at `index` was set.
    pub fn field_at(&self, kind: EntityKind, index: usize, field: &str) -> Option<&Located> {
        self.entry(kind, index).and_then(|e| e.fields.get(field))
    }

    /// Appends another file's locations, as its entities are appended to the set.
    pub fn extend(&mut self, other: Locations) {
        for (kind, list) in other.kinds {
            self.kinds.entry(kind).or_default().extend(list);
        }
    }

    fn first(&self, kind: EntityKind, id: &str) -> Option<&EntityLocation> {
        self.kinds.get(&kind)?.iter().find(|e| e.id == id)
    }

    fn entry(&self, kind: EntityKind, index: usize) -> Option<&EntityLocation> {
        self.kinds.get(&kind)?.get(index)
    }

    fn push(&mut self, kind: EntityKind, entity: EntityLocation) {
        self.kinds.entry(kind).or_default().push(entity);
    }
}

/// The OKRs of a set of files that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedOkrs {
    pub set: OkrSet,
    /// Entity → the canonical path of the file that declares it, so
    /// `okrs.toml` and `./okrs.toml` manage the same entities.
    pub ownership: Ownership,
    /// Canonical paths of every file loaded, also those declaring nothing
    /// (applying such a file archives what it used to manage).
    pub files: Vec<String>,
    pub locations: Locations,
    pub warnings: Vec<Problem>,
}

/// Parse one file's text (`path` only used in messages).
///
/// Reports syntax, unknown keys, wrong types and missing required keys; an
/// entity with any of those is left out of the set. Value rules (id format,
/// finite numbers, references...) are [`validate::check`]'s, run by [`load_files`].
pub fn parse_str(path: &str, text: &str) -> (OkrSet, Locations, Vec<Problem>) {
    let parsed = parse_file(path, text);
    (parsed.set, parsed.locations, parsed.problems)
}

/// How a file is named as the owner of what it declares: its canonical path,
/// the same however the path was spelled on the command line or in config.
fn owner_name(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Read, parse and merge several files, then run [`validate::check`] over the union.
///
/// Any error → `Err` with every problem, warnings included, sorted by file (in
/// the order given) then line. Otherwise `Ok` with the warnings. When a file
/// cannot be read or has a TOML syntax error, the semantic checks are skipped:
/// without all declarations they would report references as unknown.
pub fn load_files(paths: &[PathBuf], ctx: &CheckContext) -> Result<LoadedOkrs, Vec<Problem>> {
    let mut set = OkrSet::default();
    let mut locations = Locations::default();
    let mut ownership = Ownership::new();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut broken = BTreeSet::new();
    let mut complete = true;

    for path in paths {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem {
                    file: name,
                    line: 0,
                    message: format!("cannot read the OKR file: {e}"),
                    severity: Severity::Error,
                });
                complete = false;
                continue;
            }
        };
        let parsed = parse_file(&name, &text);
        complete &= !parsed.syntax_error;
        let owner = owner_name(path);
        files.push(owner.clone());
        let owned = parsed
            .set
            .periods
            .iter()
            .map(|p| (EntityKind::Period, &p.id))
            .chain(parsed.set.teams.iter().map(|t| (EntityKind::Team, &t.id)))
            .chain(
                parsed
                    .set
                    .objectives
                    .iter()
                    .map(|o| (EntityKind::Objective, &o.id)),
            )
            .chain(
                parsed
                    .set
                    .key_results
                    .iter()
                    .map(|k| (EntityKind::KeyResult, &k.id)),
            );
        for (kind, id) in owned {
            ownership
                .entry((kind, id.clone()))
                .or_insert_with(|| owner.clone());
        }
        set.periods.extend(parsed.set.periods);
        set.teams.extend(parsed.set.teams);
        set.objectives.extend(parsed.set.objectives);
        set.key_results.extend(parsed.set.key_results);
        locations.extend(parsed.locations);
        problems.extend(parsed.problems);
        broken.extend(parsed.broken);
    }

    if complete {
        for finding in validate::check(&set, ctx) {
            if refers_to_broken(&set, &finding, &broken) {
                continue;
            }
            problems.push(problem_from_finding(&finding, &locations));
        }
    }

    let order: HashMap<String, usize> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.display().to_string(), i))
        .rev()
        .collect();
    problems.sort_by_key(|p| (order.get(&p.file).copied().unwrap_or(usize::MAX), p.line));

    if problems.iter().any(Problem::is_error) {
        return Err(problems);
    }
    Ok(LoadedOkrs {
        set,
        ownership,
        files,
        locations,
        warnings: problems,
    })
}

/// Places a finding at the line of its field, else of its entity.
fn problem_from_finding(finding: &Finding, locations: &Locations) -> Problem {
    let (kind, _) = finding.entity;
    let at = finding
        .field
        .and_then(|f| locations.field_at(kind, finding.index, f))
        .or_else(|| locations.at(kind, finding.index));
    let mut message = finding.message.clone();
    if let Some(first) = finding.duplicate_of.and_then(|i| locations.at(kind, i)) {
        message.push_str(&format!(" (first declared at {first})"));
    }
    Problem {
        file: at.map(|l| l.file.clone()).unwrap_or_default(),
        line: at.map(|l| l.line).unwrap_or(0),
        message,
        severity: finding.severity,
    }
}

/// Whether a finding is about a reference to an entity that was declared but
/// left out for its own problems (already reported): "does not exist" would be wrong.
fn refers_to_broken(
    set: &OkrSet,
    finding: &Finding,
    broken: &BTreeSet<(EntityKind, String)>,
) -> bool {
    let i = finding.index;
    let target = match (finding.entity.0, finding.field) {
        (EntityKind::Team, Some("parent")) => set
            .teams
            .get(i)
            .and_then(|t| t.parent.clone())
            .map(|p| (EntityKind::Team, p)),
        (EntityKind::Objective, Some("period")) => set
            .objectives
            .get(i)
            .map(|o| (EntityKind::Period, o.period.clone())),
        (EntityKind::Objective, Some("team")) => set
            .objectives
            .get(i)
            .map(|o| (EntityKind::Team, o.team.clone())),
        (EntityKind::Objective, Some("parent")) => set
            .objectives
            .get(i)
            .and_then(|o| o.parent.clone())
            .map(|p| (EntityKind::Objective, p)),
        (EntityKind::KeyResult, Some("objective")) => set
            .key_results
            .get(i)
            .map(|k| (EntityKind::Objective, k.objective.clone())),
        (EntityKind::KeyResult, Some("team")) => set
            .key_results
            .get(i)
            .map(|k| (EntityKind::Team, k.team.clone())),
        (EntityKind::KeyResult, Some("parent")) => set
            .key_results
            .get(i)
            .and_then(|k| k.parent.clone())
            .map(|p| (EntityKind::KeyResult, p)),
        _ => None,
    };
    target.is_some_and(|t| broken.contains(&t))
}

const TOP_KEYS: &[&str] = &["periods", "teams", "objectives", "key_results"];
const PERIOD_KEYS: &[&str] = &["id", "start", "end"];
const TEAM_KEYS: &[&str] = &["id", "name", "parent"];
const OBJECTIVE_KEYS: &[&str] = &["id", "title", "description", "period", "team", "parent"];
const KR_KEYS: &[&str] = &[
    "id",
    "objective",
    "team",
    "owner",
    "title",
    "description",
    "kind",
    "start",
    "target",
    "due",
    "unit",
    "weight",
    "parent",
    "rollup",
    "source",
];
const SOURCE_KEYS: &[&str] = &["use", "schedule", "params"];

/// One file's parse, with what [`load_files`] needs beyond [`parse_str`]'s answer.
struct Parsed {
    set: OkrSet,
    locations: Locations,
    problems: Vec<Problem>,
    /// Entities declared with an id but left out for their problems.
    broken: BTreeSet<(EntityKind, String)>,
    syntax_error: bool,
}

fn parse_file(path: &str, text: &str) -> Parsed {
    let mut p = Parser {
        file: path,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        out: Parsed {
            set: OkrSet::default(),
            locations: Locations::default(),
            problems: Vec::new(),
            broken: BTreeSet::new(),
            syntax_error: false,
        },
    };
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
type Fields<'d, 'i> = BTreeMap<&'d str, (Range<usize>, &'d Spanned<DeValue<'i>>)>;

/// One `[[kind]]` entry being read.
struct Entry<'d, 'i> {
    kind: EntityKind,
    span: Range<usize>,
    fields: Fields<'d, 'i>,
    /// No problem so far: the entity goes into the set.
    ok: bool,
    missing: Vec<&'static str>,
    /// Field → line, recorded in [`Locations`].
    lines: BTreeMap<String, usize>,
}

struct Parser<'a> {
    file: &'a str,
    line_starts: Vec<usize>,
    out: Parsed,
}

impl<'a> Parser<'a> {
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    fn error(&mut self, span: &Range<usize>, message: String) {
        let line = self.line(span.start);
        self.out.problems.push(Problem {
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
    fn fields<'d, 'i>(
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

    fn entry<'d, 'i>(
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
    fn finish(&mut self, e: Entry<'_, '_>, id: Option<&str>) -> bool {
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

    fn value<'d, 'i>(&self, e: &Entry<'d, 'i>, key: &str) -> Option<&'d Spanned<DeValue<'i>>> {
        e.fields.get(key).map(|(_, v)| *v)
    }

    fn required<T>(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &'static str,
        got: Option<T>,
    ) -> Option<T> {
        if got.is_none() && !e.fields.contains_key(key) {
            e.missing.push(key);
        }
        got
    }

    fn type_error(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        expected: &str,
    ) {
        e.ok = false;
        let mut msg = format!(
            "`{key}` must be {expected}, found {}",
            describe(v.get_ref())
        );
        if expected.starts_with("a number")
            && let DeValue::String(s) = v.get_ref()
            && s.trim().parse::<f64>().is_ok()
        {
            msg.push_str("; remove the quotes");
        }
        self.error(&v.span(), msg);
    }

    fn string(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<String> {
        let v = self.value(e, key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(e, key, v, "a string");
                None
            }
        }
    }

    fn req_string(&mut self, e: &mut Entry<'_, '_>, key: &'static str) -> Option<String> {
        let got = self.string(e, key);
        self.required(e, key, got)
    }

    fn number(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<f64> {
        let v = self.value(e, key)?;
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n as f64),
                Err(_) => {
                    e.ok = false;
                    self.error(
                        &v.span(),
                        format!("`{key}` is out of range for a 64-bit integer"),
                    );
                    None
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Some(x),
                Err(_) => {
                    e.ok = false;
                    self.error(&v.span(), format!("`{key}` is not a valid number"));
                    None
                }
            },
            _ => {
                self.type_error(e, key, v, "a number");
                None
            }
        }
    }

    fn date(&mut self, e: &mut Entry<'_, '_>, key: &str) -> Option<NaiveDate> {
        let v = self.value(e, key)?;
        let parsed = match v.get_ref() {
            DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                }
                _ => {
                    e.ok = false;
                    let msg =
                        format!("`{key}` must be a date (YYYY-MM-DD) without a time, found `{dt}`");
                    self.error(&v.span(), msg);
                    return None;
                }
            },
            DeValue::String(s) => {
                let s = s.as_ref();
                if s.len() == 10 {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
                } else {
                    None
                }
            }
            _ => {
                self.type_error(e, key, v, "a date (YYYY-MM-DD)");
                return None;
            }
        };
        if parsed.is_none() {
            e.ok = false;
            let shown = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Datetime(dt) => dt.to_string(),
                _ => String::new(),
            };
            let msg = format!("`{key}` is not a valid date: `{shown}`; write it as YYYY-MM-DD");
            self.error(&v.span(), msg);
        }
        parsed
    }

    /// A string that must be one of `allowed`, parsed by `parse`.
    fn choice<T>(
        &mut self,
        e: &mut Entry<'_, '_>,
        key: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.value(e, key)?;
        let s = self.string(e, key)?;
        if let Some(t) = parse(&s) {
            return Some(t);
        }
        e.ok = false;
        let hint = match closest(&s, allowed.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? "),
            None => String::new(),
        };
        let msg = format!(
            "unknown {key} `{s}`; {hint}expected one of: {}",
            allowed.join(", ")
        );
        self.error(&v.span(), msg);
        None
    }

    fn period(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Period, table, span, PERIOD_KEYS);
        let id = self.req_string(&mut e, "id");
        let start = self.date(&mut e, "start");
        let start = self.required(&mut e, "start", start);
        let end = self.date(&mut e, "end");
        let end = self.required(&mut e, "end", end);
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(start), Some(end)) = (id, start, end)
        {
            self.out.set.periods.push(Period { id, start, end });
        }
    }

    fn team(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Team, table, span, TEAM_KEYS);
        let id = self.req_string(&mut e, "id");
        let name = self.req_string(&mut e, "name");
        let parent = self.string(&mut e, "parent");
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(name)) = (id, name)
        {
            self.out.set.teams.push(Team { id, name, parent });
        }
    }

    fn objective(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Objective, table, span, OBJECTIVE_KEYS);
        let id = self.req_string(&mut e, "id");
        let title = self.req_string(&mut e, "title");
        let description = self.string(&mut e, "description");
        let period = self.req_string(&mut e, "period");
        let team = self.req_string(&mut e, "team");
        let parent = self.string(&mut e, "parent");
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(title), Some(period), Some(team)) = (id, title, period, team)
        {
            self.out.set.objectives.push(Objective {
                id,
                title,
                description,
                period,
                team,
                parent,
                archived: false,
            });
        }
    }

    fn key_result(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::KeyResult, table, span, KR_KEYS);
        let id = self.req_string(&mut e, "id");
        let objective = self.req_string(&mut e, "objective");
        let team = self.req_string(&mut e, "team");
        let owner = self.req_string(&mut e, "owner");
        let title = self.req_string(&mut e, "title");
        let description = self.string(&mut e, "description");
        let kinds: Vec<&str> = KrKind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = self.choice(&mut e, "kind", &kinds, KrKind::parse);
        let kind = self.required(&mut e, "kind", kind);
        let start = self.number(&mut e, "start");
        let target = self.number(&mut e, "target");
        let due = self.date(&mut e, "due");
        let unit = self.string(&mut e, "unit");
        let weight = self.number(&mut e, "weight").unwrap_or(1.0);
        let parent = self.string(&mut e, "parent");
        let rollups: Vec<&str> = Rollup::ALL.iter().map(|r| r.as_str()).collect();
        let rollup = self.choice(&mut e, "rollup", &rollups, Rollup::parse);
        let source = self.source(&mut e);
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(objective), Some(team), Some(owner), Some(title), Some(kind)) =
                (id, objective, team, owner, title, kind)
        {
            self.out.set.key_results.push(KeyResult {
                id,
                objective,
                team,
                owner,
                title,
                description,
                kind,
                start,
                target,
                due,
                unit,
                weight,
                parent,
                rollup,
                source,
                state: WorkflowState::Approved,
            });
        }
    }

    /// `source = { use, schedule?, params? }`, either inline or as `[key_results.source]`.
    fn source(&mut self, e: &mut Entry<'_, '_>) -> Option<SourceBinding> {
        let v = self.value(e, "source")?;
        let DeValue::Table(table) = v.get_ref() else {
            e.ok = false;
            let msg = format!(
                "`source` must be a table, found {}; write source = {{ use = \"<source name>\" }} \
                 or a [key_results.source] table",
                describe(v.get_ref())
            );
            self.error(&v.span(), msg);
            return None;
        };
        let fields = self.fields(table, "in [key_results.source]", SOURCE_KEYS);
        for (name, (key_span, _)) in &fields {
            let line = self.line(key_span.start);
            e.lines.insert(format!("source.{name}"), line);
        }
        let mut ok = true;
        let mut field_str = |p: &mut Self, key: &str| -> Option<String> {
            let (_, v) = fields.get(key)?;
            match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                other => {
                    ok = false;
                    let msg = format!("`source.{key}` must be a string, found {}", describe(other));
                    p.error(&v.span(), msg);
                    None
                }
            }
        };
        let source = field_str(self, "use");
        let schedule = field_str(self, "schedule");
        if source.is_none() && !fields.contains_key("use") {
            ok = false;
            let msg = "`source` is missing required key `use` (the name of a [[sources]] entry)"
                .to_string();
            self.error(&v.span(), msg);
        }
        let params = match fields.get("params") {
            None => Some(serde_json::Map::new()),
            Some((_, pv)) => match pv.get_ref() {
                DeValue::Table(t) => self.json_table(t, "source.params"),
                other => {
                    let msg = format!("`source.params` must be a table, found {}", describe(other));
                    self.error(&pv.span(), msg);
                    None
                }
            },
        };
        if !ok || params.is_none() {
            e.ok = false;
            return None;
        }
        Some(SourceBinding {
            source: source?,
            schedule,
            params: params?,
        })
    }

    fn json_table(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut map = serde_json::Map::new();
        let mut ok = true;
        for (k, v) in t.iter() {
            let key = k.get_ref().to_string();
            match self.json_value(v, &format!("{path}.{key}")) {
                Some(j) => {
                    map.insert(key, j);
                }
                None => ok = false,
            }
        }
        ok.then_some(map)
    }

    /// Any TOML value as JSON; dates and times become their TOML text (RFC 3339).
    fn json_value(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        match v.get_ref() {
            DeValue::String(s) => Some(J::String(s.to_string())),
            DeValue::Boolean(b) => Some(J::Bool(*b)),
            DeValue::Datetime(dt) => Some(J::String(dt.to_string())),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(J::from(n)),
                Err(_) => {
                    self.error(
                        &v.span(),
                        format!("`{path}` is out of range for a 64-bit integer"),
                    );
                    None
                }
            },
            DeValue::Float(f) => {
                match f
                    .as_str()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(n) => Some(J::Number(n)),
                    None => {
                        self.error(&v.span(), format!("`{path}` must be a finite number"));
                        None
                    }
                }
            }
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.json_value(item, &format!("{path}[{i}]")) {
                        Some(j) => out.push(j),
                        None => ok = false,
                    }
                }
                ok.then_some(J::Array(out))
            }
            DeValue::Table(t) => self.json_table(t, path).map(J::Object),
        }
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

/// "a string (\"x\")", "an integer", ...: what was found where another type was expected.
fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let shown: String = s.chars().take(40).collect();
            format!("a string ({shown:?})")
        }
        DeValue::Integer(_) => "an integer".into(),
        DeValue::Float(_) => "a float".into(),
        DeValue::Boolean(_) => "a boolean".into(),
        DeValue::Datetime(dt) => match (dt.date, dt.time) {
            (Some(_), None) => "a date".into(),
            (None, Some(_)) => "a time".into(),
            _ => "a date-time".into(),
        },
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
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
            out: parse_file("f", ""),
        };
        assert_eq!(p.line(0), 1);
        assert_eq!(p.line(3), 1);
        assert_eq!(p.line(4), 2);
        assert_eq!(p.line(9), 3);
        assert_eq!(p.line(100), 3);
    }

    #[test]
    fn problem_display() {
        let mut p = Problem {
            file: "a.toml".into(),
            line: 3,
            message: "bad".into(),
            severity: Severity::Error,
        };
        assert_eq!(p.to_string(), "a.toml:3: bad");
        p.severity = Severity::Warning;
        assert_eq!(p.to_string(), "a.toml:3: warning: bad");
        p.line = 0;
        assert_eq!(p.to_string(), "a.toml: warning: bad");
    }
}

//! OKR files (README "OKR files"): TOML parsed into an [`OkrSet`], with every
//! problem reported as `file:line: message`.
//!
//! This module owns syntax, keys and types; the rules about values and about
//! how entities fit together live in [`super::validate`], which [`load_files`]
//! runs over the union of all files. The spanned TOML tree is walked by hand so
//! each message points at the line of the key (or of the table) at fault, and
//! nothing stops at the first problem.

mod chunks;
mod entities;
mod fields;
mod findings;
mod guard;
mod locations;
mod reader;
mod source;
mod sustain;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use super::model::{EntityKind, OkrSet, Ownership};
use super::validate::{self, CheckContext};
use findings::{problem_from_finding, refers_to_broken};
use reader::parse_file;

pub use super::validate::Severity;
pub use locations::{Located, Locations};

/// One problem in an OKR file. `line` is 1-based; 0 means the file as a whole
/// (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub severity: Severity,
}

impl FileProblem {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `file:line: message`, `file:line: warning: message`; `file: message` for line 0.
impl fmt::Display for FileProblem {
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
    pub warnings: Vec<FileProblem>,
}

/// Parse one file's text (`path` only used in messages).
///
/// Reports syntax, unknown keys, wrong types and missing required keys; an
/// entity with any of those is left out of the set. Value rules (id format,
/// finite numbers, references...) are [`validate::check`]'s, run by [`load_files`].
pub fn parse_str(path: &str, text: &str) -> (OkrSet, Locations, Vec<FileProblem>) {
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
pub fn load_files(paths: &[PathBuf], ctx: &CheckContext) -> Result<LoadedOkrs, Vec<FileProblem>> {
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
                problems.push(FileProblem {
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

    if problems.iter().any(FileProblem::is_error) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display() {
        let mut p = FileProblem {
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

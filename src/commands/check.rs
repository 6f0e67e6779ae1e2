//! `okrd check [FILE...]`: validate the config and OKR files without touching
//! the database. Every problem is listed as `file:line: message`; exit 1 if
//! any is an error. Secrets that are not set here are warnings, so the check
//! can run in CI without production secrets.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::app::{self, sources};
use crate::config::Settings;
use crate::okr::EntityKind;
use crate::okr::file::load_files;

pub fn run(settings: &Settings, files: &[PathBuf]) -> ExitCode {
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    let unset = RefCell::new(Vec::new());
    let lookup = |name: &str| {
        std::env::var(name).ok().or_else(|| {
            unset.borrow_mut().push(name.to_string());
            Some("unset-secret-placeholder".to_string())
        })
    };
    let built = sources::build_sources(settings, &lookup);
    for name in unset.into_inner() {
        warnings.push(format!(
            "warning: environment variable {name} is not set here; `okrd serve` needs it"
        ));
    }
    let sources = match built {
        Ok((s, _)) => Some(s),
        Err(problems) => {
            errors.extend(problems);
            None
        }
    };

    let files: Vec<PathBuf> = if files.is_empty() {
        settings.okr_files()
    } else {
        files.to_vec()
    };
    let mut key_results = 0;
    if !files.is_empty() {
        match app::check_context(settings).with(|ctx| load_files(&files, ctx)) {
            Ok(loaded) => {
                key_results = loaded.set.key_results.len();
                warnings.extend(loaded.warnings.iter().map(ToString::to_string));
                if let Some(sources) = &sources
                    && let Err(problems) = sources::bindings(&loaded.set, sources, settings, None)
                {
                    for p in problems {
                        let at = loaded.locations.of(EntityKind::KeyResult, &p.key_result);
                        errors.push(match at {
                            Some(l) => format!("{}:{}: {p}", l.file, l.line),
                            None => p.to_string(),
                        });
                    }
                }
            }
            Err(problems) => {
                for p in problems {
                    match p.severity {
                        crate::okr::file::Severity::Error => errors.push(p.to_string()),
                        crate::okr::file::Severity::Warning => warnings.push(p.to_string()),
                    }
                }
            }
        }
    }

    for w in &warnings {
        eprintln!("{w}");
    }
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        println!(
            "ok: config with {} sources, {} OKR files with {} key results",
            settings.sources.len(),
            files.len(),
            key_results
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problems found", errors.len());
        ExitCode::FAILURE
    }
}

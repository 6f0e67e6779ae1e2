//! `okrd check [FILE...]`: validate the config and OKR files without touching
//! okrd's database. Every problem is listed as `file:line: message`; exit 1 if
//! any is an error. Secrets that are not set here are warnings, so the check
//! can run in CI without production secrets. The one connection it makes is
//! to each `sql` source, to warn about a database user that can write.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::binding as sources;
use crate::config::Settings;
use crate::connectors::native::sql::user_rights as sql_rights;
use crate::reload;

pub async fn run(settings: &Settings, files: &[PathBuf]) -> ExitCode {
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    let (built, unset) = sources::build_sources_unchecked_secrets(settings);
    for what in unset {
        warnings.push(format!("warning: {what}; `okrd serve` needs it"));
    }
    let sources = match built {
        Ok((s, _)) => Some(s),
        Err(problems) => {
            errors.extend(problems);
            None
        }
    };
    if let Some(sources) = &sources {
        warnings.extend(sql_user_warnings(sources).await);
    }

    let files: Vec<PathBuf> = if files.is_empty() {
        settings.okr_files()
    } else {
        files.to_vec()
    };
    let mut key_results = 0;
    if !files.is_empty() {
        match reload::load_okrs(settings, &files) {
            Ok(loaded) => {
                key_results = loaded.set.key_results.len();
                warnings.extend(loaded.warnings.iter().map(ToString::to_string));
                if let Some(sources) = &sources {
                    errors.extend(sources::file_binding_problems(&loaded, sources, settings));
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

/// What each `sql` source's database user may do beyond reading.
async fn sql_user_warnings(sources: &sources::Sources) -> Vec<String> {
    let mut sql: Vec<_> = sources
        .values()
        .filter(|s| s.connector_name == "sql")
        .collect();
    sql.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for source in sql {
        let found = sql_rights::database_user_warnings(&source.params, source.timeout).await;
        out.extend(
            found
                .into_iter()
                .map(|w| format!("warning: source `{}`: {w}", source.name)),
        );
    }
    out
}

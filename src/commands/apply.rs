//! `okrd apply FILE... [--dry-run]`: validate, then write in one transaction.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::app;
use crate::binding as sources;
use crate::config::Settings;
use crate::reload;
use crate::store::{ApplyPlan, Change};

pub async fn run(settings: Settings, files: &[PathBuf], dry_run: bool) -> ExitCode {
    let loaded = match reload::load_okrs(&settings, files) {
        Ok(l) => l,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("nothing applied: fix the problems above");
            return ExitCode::FAILURE;
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    // KRs must bind to configured sources with valid params before anything is written.
    let binding_problems = match sources::build_sources_unchecked_secrets(&settings) {
        (Ok((sources, _)), _) => sources::file_binding_problems(&loaded, &sources, &settings),
        (Err(problems), _) => problems,
    };
    if !binding_problems.is_empty() {
        for p in &binding_problems {
            eprintln!("{p}");
        }
        eprintln!("nothing applied: fix the problems above");
        return ExitCode::FAILURE;
    }
    let store = match app::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if dry_run {
        store
            .plan_apply_files(&loaded.set, &loaded.ownership, &loaded.files)
            .await
    } else {
        store
            .apply_files(&loaded.set, &loaded.ownership, &loaded.files)
            .await
    };
    match result {
        Ok(plan) => {
            print!("{}", describe(&plan, dry_run));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nothing applied: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line per change, then a summary.
pub fn describe(plan: &ApplyPlan, dry_run: bool) -> String {
    let (create, change, archive) = if dry_run {
        ("would create", "would change", "would archive")
    } else {
        ("created", "changed", "archived")
    };
    let mut out = String::new();
    let line = |out: &mut String, verb: &str, c: &Change| {
        out.push_str(&format!("{verb} {} {}", c.kind.as_str(), c.id));
        if !c.fields.is_empty() {
            out.push_str(&format!(" ({})", c.fields.join(", ")));
        }
        out.push('\n');
    };
    for c in &plan.created {
        line(&mut out, create, c);
    }
    for c in &plan.changed {
        line(&mut out, change, c);
    }
    for c in &plan.archived {
        line(&mut out, archive, c);
    }
    out.push_str(&format!(
        "{}: {} created, {} changed, {} archived, {} unchanged\n",
        if dry_run {
            "dry run, nothing written"
        } else {
            "applied"
        },
        plan.created.len(),
        plan.changed.len(),
        plan.archived.len(),
        plan.unchanged
    ));
    out
}

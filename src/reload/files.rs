//! OKR files read and checked under the daemon's settings, and the rule
//! context the API checks writes against.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::Settings;
use crate::okr::file::{FileProblem, LoadedOkrs, load_files};
use crate::okr::validate::{CheckContext, Limits};
use crate::scheduler::cron::{Schedule, parse_timezone};

/// The validation context for OKR files under these settings.
pub fn rule_context(settings: &Settings) -> RuleContext {
    RuleContext {
        limits: Limits {
            max_krs_per_objective_per_team: settings.okrs.max_krs_per_objective_per_team,
            max_krs_per_owner_per_period: settings.okrs.max_krs_per_owner_per_period,
        },
        sources: settings.sources.iter().map(|s| s.name.clone()).collect(),
        timezone: settings.scheduler.timezone.clone(),
    }
}

/// The rules OKRs are checked against under some settings: the limits,
/// the configured sources and the time zone schedules are read in. Owns
/// what a `CheckContext` borrows.
pub struct RuleContext {
    pub limits: Limits,
    pub sources: BTreeSet<String>,
    pub timezone: String,
}

impl RuleContext {
    pub fn with<R>(&self, f: impl FnOnce(&CheckContext) -> R) -> R {
        let tz = parse_timezone(&self.timezone).unwrap_or(chrono_tz::UTC);
        let check_schedule = move |expr: &str| Schedule::parse(expr, tz).map(|_| ());
        let ctx = CheckContext {
            limits: self.limits,
            known_sources: Some(&self.sources),
            check_schedule: Some(&check_schedule),
        };
        f(&ctx)
    }
}

/// Read and validate OKR files under these settings' limits and sources.
pub fn load_okrs(settings: &Settings, files: &[PathBuf]) -> Result<LoadedOkrs, Vec<FileProblem>> {
    rule_context(settings).with(|ctx| load_files(files, ctx))
}

/// Read and validate the OKR files named in the settings, if any.
pub fn load_okr_files(settings: &Settings) -> Result<Option<LoadedOkrs>, Vec<FileProblem>> {
    let files = settings.okr_files();
    if files.is_empty() {
        return Ok(None);
    }
    load_okrs(settings, &files).map(Some)
}

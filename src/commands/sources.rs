//! What the subcommands that fetch (`backfill`, `source test`) share: the
//! configured sources, with every problem printed for people.

use crate::binding::{self, Sources};
use crate::config::Settings;
use crate::connectors::Redactor;
use crate::connectors::params::SystemSecrets;

/// The configured sources and their redactor, or `None` once every
/// problem is printed.
pub fn built_or_report(settings: &Settings) -> Option<(Sources, Redactor)> {
    match binding::build_sources(settings, &SystemSecrets) {
        Ok(s) => Some(s),
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            None
        }
    }
}

/// Prints that `name` is no configured source, naming those that are.
pub fn report_unknown(name: &str, sources: &Sources) {
    let mut names: Vec<_> = sources.keys().cloned().collect();
    names.sort();
    eprintln!(
        "no source named `{name}` (configured: {})",
        names.join(", ")
    );
}

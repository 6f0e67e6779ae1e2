//! `okrd backfill [--kr ID] [--source NAME] [--from DATE]`: fetch the past
//! days of approved, bound KRs that have no check-in yet, on the database
//! directly (a running daemon reads them at its next reload or restart).
//! Ctrl-C stops after the day being fetched; run it again to go on.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use super::progress_bar::ProgressBar;
use crate::app;
use crate::backfill::{Backfill, KrOutcome, StopSignals, Stopped};
use crate::binding::{self, Binding};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::store::Store;

pub async fn run(
    settings: Settings,
    kr: Option<&str>,
    source: Option<&str>,
    from: Option<NaiveDate>,
) -> ExitCode {
    let Some((sources, redactor)) = super::sources::built_or_report(&settings) else {
        return ExitCode::FAILURE;
    };
    if let Some(name) = source
        && !sources.contains_key(name)
    {
        super::sources::report_unknown(name, &sources);
        return ExitCode::FAILURE;
    }
    let store = match app::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let bindings = match chosen(&store, &sources, &settings, kr, source).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            store.close().await;
            return ExitCode::FAILURE;
        }
    };
    let writer_stop = CancellationToken::new();
    let (writer, writer_task) =
        store.check_in_writer(writer_stop.clone(), settings.storage.heartbeat.0);
    let engine = Backfill {
        store: store.clone(),
        writer,
        sources,
        redactor,
        clock: Arc::new(SystemClock),
        live: None,
        telemetry: None,
    };
    let stop = StopSignals::default();
    stop_on_ctrl_c(stop.after_day.clone());
    let code = backfill_all(&engine, &bindings, from, &stop).await;
    // The writer ends once every clone is dropped and what it holds is committed.
    drop(engine);
    writer_stop.cancel();
    let _ = writer_task.await;
    store.close().await;
    code
}

/// The bindings to backfill: every approved KR with a source (its period
/// over or not), or the one `--kr` names, or those of `--source`.
async fn chosen(
    store: &Store,
    sources: &binding::Sources,
    settings: &Settings,
    kr: Option<&str>,
    source: Option<&str>,
) -> Result<Vec<Binding>, String> {
    let set = store.load_okrs().await.map_err(|e| e.to_string())?;
    let plan = binding::plan(&set, sources, settings, None);
    let mut bound: Vec<Binding> = plan
        .bound
        .into_iter()
        .filter(|b| kr.is_none_or(|k| b.key_result == k))
        .filter(|b| source.is_none_or(|s| b.source == s))
        .map(Arc::unwrap_or_clone)
        .collect();
    bound.sort_by(|a, b| a.key_result.cmp(&b.key_result));
    if let Some(id) = kr
        && bound.is_empty()
    {
        return Err(why_not_bound(&set, &plan.problems, id, source));
    }
    Ok(bound)
}

/// Why `--kr id` (with `--source`, if given) names no binding.
fn why_not_bound(
    set: &crate::okr::OkrSet,
    problems: &[binding::BindingProblem],
    id: &str,
    source: Option<&str>,
) -> String {
    if let Some(p) = problems.iter().find(|p| p.key_result == id) {
        return format!("{p}; not backfilled");
    }
    let Some(k) = set.key_results.iter().find(|k| k.id == id) else {
        return format!("no key result `{id}` in the database");
    };
    match (&k.source, source) {
        (None, _) => format!("key result `{id}` has no source"),
        (Some(b), Some(s)) if b.source != s => {
            format!(
                "key result `{id}` is bound to source `{}`, not `{s}`",
                b.source
            )
        }
        _ => format!(
            "key result `{id}` is {}: only approved key results are fetched",
            k.state.as_str()
        ),
    }
}

/// Each KR in turn, a line for each; the exit code says whether every
/// past day now has a value.
async fn backfill_all(
    engine: &Backfill,
    bindings: &[Binding],
    from: Option<NaiveDate>,
    stop: &StopSignals,
) -> ExitCode {
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal(), bindings.len());
    let (mut written, mut failed, mut skipped, mut incomplete) = (0, 0, 0, 0);
    for b in bindings {
        if stop.after_day.is_cancelled() {
            break;
        }
        bar.next_key_result();
        let name = format!("{} ({})", b.key_result, b.source);
        match engine.key_result(b, from, stop, &mut bar).await {
            Ok(KrOutcome::Skipped(why)) => {
                skipped += 1;
                bar.line(&format!("{name}: not backfilled: {why}"));
            }
            Ok(KrOutcome::Ran(report)) => {
                written += report.fetched;
                failed += report.failed;
                if !report.complete() && report.stopped != Some(Stopped::Interrupted) {
                    incomplete += 1;
                }
                bar.line(&format!("{name}: {report}"));
            }
            Err(e) => {
                bar.line(&format!("{name}: stopped: database: {e}"));
                incomplete += 1;
                break;
            }
        }
    }
    bar.clear();
    println!(
        "backfill: {} key results, {written} values written, {failed} days failed, \
         {skipped} not backfilled",
        bindings.len()
    );
    if written > 0 {
        println!("a running daemon shows these values after its next reload or restart");
    }
    if stop.after_day.is_cancelled() {
        println!("interrupted: what was written stays; run `okrd backfill` again to go on");
        return ExitCode::from(130);
    }
    if failed > 0 || incomplete > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The first Ctrl-C stops after the day being fetched; a second one at once.
fn stop_on_ctrl_c(after_day: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("\nstopping after the day being fetched (Ctrl-C again to stop now)");
        after_day.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

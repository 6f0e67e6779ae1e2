//! `okrd serve`.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::Settings;

pub async fn run(settings: Settings) -> ExitCode {
    crate::logging::init_tracing(&settings);
    let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", settings.server.listen);
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    app::cancel_on_signals(shutdown.clone());
    match app::run(settings, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

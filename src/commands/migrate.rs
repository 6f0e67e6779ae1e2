//! `okrd migrate`.

use std::process::ExitCode;

use crate::app;
use crate::config::Settings;

pub async fn run(settings: Settings) -> ExitCode {
    match app::open_store(&settings).await {
        Ok(_) => {
            println!("database {} is up to date", settings.database.url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

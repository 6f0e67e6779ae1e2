//! One file per subcommand. Each returns an exit code; errors are printed for people.

mod apply;
mod backfill;
mod check;
mod migrate;
mod progress_bar;
mod serve;
mod source_test;
mod sources;
mod token;

use std::process::ExitCode;

use crate::cli::{Cli, Command, SourceCommand, TokenCommand};
use crate::config;

pub async fn dispatch(cli: Cli) -> ExitCode {
    let config_path = config::config_path(cli.config.as_deref());
    match cli.command {
        Command::Demo { listen } => crate::demo::run(listen).await,
        command => {
            let settings = match config::load(config_path.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match command {
                Command::Serve => serve::run(settings).await,
                Command::Apply { files, dry_run } => apply::run(settings, &files, dry_run).await,
                Command::Check { files } => check::run(&settings, &files).await,
                Command::Backfill { kr, source, from } => {
                    backfill::run(settings, kr.as_deref(), source.as_deref(), from).await
                }
                Command::Migrate => migrate::run(settings).await,
                Command::Source {
                    command: SourceCommand::Test { name, kr },
                } => source_test::run(settings, &name, kr.as_deref()).await,
                Command::Token { command } => match command {
                    TokenCommand::Create { role, team, name } => {
                        token::create(settings, &role, team, name).await
                    }
                    TokenCommand::List => token::list(settings).await,
                    TokenCommand::Revoke { id } => token::revoke(settings, &id).await,
                },
                Command::Demo { .. } => unreachable!("handled above"),
            }
        }
    }
}

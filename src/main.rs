//! The `okrd` binary: parse the command line and hand over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

fn main() -> ExitCode {
    okrd::app::memory::limit_arenas();
    let cli = okrd::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(okrd::commands::dispatch(cli));
    // Blocking work still running (a DNS lookup that hangs) must not hold
    // the process once the command is done: shutdown_grace already bounded
    // what matters.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

//! The command line (README "Commands").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "okrd",
    version,
    about = "Keeps OKR key results up to date from metric sources"
)]
pub struct Cli {
    /// Config file [default: $OKRD_CONFIG, else ./okrd.toml if present, else built-in defaults]
    #[arg(long, global = true, env = "OKRD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: fetch on schedule, serve /metrics, the web app and the REST API
    Serve,
    /// Self-contained demo: temporary database, example OKRs, simulated sources
    Demo {
        /// Where the demo daemon listens
        #[arg(long, default_value = "127.0.0.1:9785", value_name = "ADDR")]
        listen: SocketAddr,
    },
    /// Load OKR files into the database (idempotent, all or nothing)
    Apply {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print what would be created, changed and archived; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the config and OKR files; list every problem as file:line
    Check {
        /// OKR files [default: the config's okrs.files]
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Fetch the past days of bound key results' periods that have no value yet
    Backfill {
        /// Only this key result
        #[arg(long, value_name = "ID")]
        kr: Option<String>,
        /// Only key results bound to this `[[sources]]` name
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Only days from this one on (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        from: Option<chrono::NaiveDate>,
    },
    /// Run database migrations
    Migrate,
    /// Work with configured sources
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Manage REST API tokens
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (only it) on stdout; it is shown this once
    Create {
        /// admin | leader | member | viewer
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The team a member acts for (members only, required for them)
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// Who holds the token: the author of their check-ins [default: <role>-<token id>]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List tokens: id, role, team, name, created, revoked (never the tokens themselves)
    List,
    /// Revoke a token by its id (the part after `okrd_`, as `token list` shows it)
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Fetch once now and print the value; writes nothing
    Test {
        /// The `[[sources]]` name
        name: String,
        /// A key result bound to the source, for its params and period
        #[arg(long, value_name = "ID")]
        kr: Option<String>,
    },
}

//! okrd: keeps OKR key results up to date from metric sources.
//!
//! The binary (`main.rs`) only parses the command line; everything else lives
//! here so integration tests can start the daemon in-process on port 0
//! (`app::run`).

pub mod access;
pub mod api;
pub mod app;
pub mod backfill;
pub mod binding;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod duration;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod okr;
pub mod pipeline;
pub mod reload;
pub mod scheduler;
pub mod store;
pub mod web;

pub use app::run;

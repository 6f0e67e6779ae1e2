//! okrd: keeps OKR key results up to date from metric sources.
//!
//! The binary (`main.rs`) only parses the command line; everything else lives
//! here so integration tests can start the daemon in-process on port 0.

pub mod okr;
pub mod scheduler;
pub mod sources;
pub mod store;

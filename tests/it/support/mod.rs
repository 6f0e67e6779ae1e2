//! What the integration tests share.
//!
//! - `backends`: a fresh database per test on every backend the machine
//!   offers (SQLite always, PostgreSQL and MySQL/MariaDB when configured).
//! - `daemon`: the one way to start a daemon, in-process or as the binary.
//! - `api`: a daemon with OKRs and tokens for every role, and a REST client.
#![allow(dead_code)]

pub mod api;
pub mod backends;
pub mod daemon;

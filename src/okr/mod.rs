//! The OKR domain: the model, progress math, validation rules, OKR files and the rollup engine.

pub mod chunked;
pub mod file;
pub mod forecast;
pub mod guard;
pub mod history;
pub mod model;
pub mod progress;
pub mod rollup;
pub mod sustain;
pub mod validate;
pub mod value;
pub mod workflow;

pub use model::*;

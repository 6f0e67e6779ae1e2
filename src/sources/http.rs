//! Placeholder: being written.
pub struct HttpClient;

//! Test-side support for GitBlixt: servers that stand in for remote git hosts, and benchmarks.

pub mod gitcli;
pub mod http_backend;

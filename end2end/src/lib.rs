//! Test-side support for GitBlixt: servers that stand in for remote git hosts, and benchmarks.

pub mod github;
pub mod gitcli;
pub mod http_backend;
pub mod postgres;
pub mod sshcli;

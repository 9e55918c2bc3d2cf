//! Test-side support for GitBlixt: servers that stand in for remote git hosts, and benchmarks.

pub mod github;
pub mod gitcli;
pub mod http_backend;
pub mod postgres;
pub mod sshcli;

/// A port on 127.0.0.1 that nothing listens on now (the OS's pick), for a server started after.
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

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

/// `TCP_NODELAY` on an accepted connection, as GitHub's servers and every production web server
/// send: without it a response written in pieces (git's streamed output) waits for the client's
/// delayed acknowledgement, 40 ms on Linux, before each small piece — a stall GitHub does not have.
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
    }
}

//! Mirror transfer errors, classified so the sync queue can act on them: auth and
//! permission/not-found problems wait for a person, network trouble and 5xx are retried.

/// Why a transfer failed. Messages are for people; none ever contains a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// 401: the credentials were missing, wrong, expired or revoked.
    #[error("Authentication failed (HTTP 401): the remote refused the credentials; reconnect the account or use a valid token.")]
    Authentication,
    /// 403: authenticated, but not allowed.
    #[error("Permission denied (HTTP 403): ensure the account has push access to the remote repository.")]
    Permission,
    /// 404: no such repository (or not visible to these credentials).
    #[error("Repository not found (HTTP 404): verify the owner/repo name is correct and the repository exists.")]
    NotFound,
    /// The remote answered with a server error (retryable).
    #[error("The remote had a server error (HTTP {status}); the transfer will be retried.")]
    Server { status: u16 },
    /// The connection failed or broke (retryable).
    #[error("Network error talking to the remote: {detail}")]
    Network { detail: String },
    /// No bytes for too long, or the whole run took too long (retryable).
    #[error("Timed out: {detail}")]
    Timeout { detail: String },
    /// The run was cancelled.
    #[error("The transfer was cancelled.")]
    Interrupted,
    /// The remote refused the whole push (e.g. the pack could not be unpacked).
    #[error("The remote refused the push: {detail}")]
    Refused { detail: String },
    /// The remote spoke something we don't understand.
    #[error("Unexpected answer from the remote: {detail}")]
    Protocol { detail: String },
    /// The local repository could not be read or written.
    #[error("Problem with the local repository: {detail}")]
    Local { detail: String },
    /// The remote URL is not usable.
    #[error("The GitHub repository has no branches or tags, so nothing was fetched and nothing here was deleted. Push to the GitHub repository, or pause or remove this pull mirror.")]
    EmptyRemote,

    /// The fetched pack is larger than the instance allows (`GITBLIXT_MAX_FETCH_MB`).
    #[error("The GitHub repository is larger than this instance allows ({}).", app::ssr::quotas::size_text(*limit_bytes))]
    TooLarge { limit_bytes: u64 },

    #[error("Invalid remote URL: {detail}")]
    InvalidUrl { detail: String },
    /// A branch or tag moved locally while the sync ran (a push): nothing was changed (retryable).
    #[error("A branch or tag changed in GitBlixt while the sync ran, so nothing was overwritten; the sync will be retried.")]
    RefsMoved,
}

impl MirrorError {
    /// Whether trying again later, unchanged, can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MirrorError::Server { .. } | MirrorError::Network { .. } | MirrorError::Timeout { .. } | MirrorError::RefsMoved)
    }

    /// A stable short name for logs, JSON and the database.
    pub fn kind(&self) -> &'static str {
        match self {
            MirrorError::Authentication => "authentication",
            MirrorError::Permission => "permission",
            MirrorError::NotFound => "not_found",
            MirrorError::Server { .. } => "server",
            MirrorError::Network { .. } => "network",
            MirrorError::Timeout { .. } => "timeout",
            MirrorError::Interrupted => "interrupted",
            MirrorError::Refused { .. } => "refused",
            MirrorError::Protocol { .. } => "protocol",
            MirrorError::Local { .. } => "local",
            MirrorError::InvalidUrl { .. } => "invalid_url",
            MirrorError::EmptyRemote => "empty_remote",
            MirrorError::RefsMoved => "refs_moved",
            MirrorError::TooLarge { .. } => "quota",
        }
    }
}

/// Removes every occurrence of the secret, and the password of any `scheme://user:password@`.
pub fn scrub(text: &str, secret: Option<&str>) -> String {
    let text = match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let authority_end = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            match rest[..at].split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***@");
                }
                None => {
                    out.push_str(&rest[..at]);
                    out.push('@');
                }
            }
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Classifies an error chain from gix (transport, protocol, I/O) into a [`MirrorError`].
pub fn classify(err: &(dyn std::error::Error + 'static), secret: Option<&str>) -> MirrorError {
    let mut chain = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::PermissionDenied if format!("{io}").contains("403") => return MirrorError::Permission,
                std::io::ErrorKind::PermissionDenied => return MirrorError::Authentication,
                std::io::ErrorKind::TimedOut => return MirrorError::Timeout { detail: scrub(&io.to_string(), secret) },
                _ => {}
            }
        }
        chain.push(e.to_string());
        cur = e.source();
    }
    let text = chain.join(": ");
    classify_text(&text, secret)
}

/// Classification by the words of an error chain (what gix renders for HTTP statuses etc.).
pub fn classify_text(text: &str, secret: Option<&str>) -> MirrorError {
    let lower = text.to_ascii_lowercase();
    let status = lower
        .find("received http status ")
        .and_then(|i| lower[i + 21..].get(..3))
        .and_then(|s| s.parse::<u16>().ok());
    let detail = scrub(text, secret);
    match status {
        Some(401) => return MirrorError::Authentication,
        Some(403) => return MirrorError::Permission,
        Some(404) => return MirrorError::NotFound,
        Some(s) if s >= 500 => return MirrorError::Server { status: s },
        Some(_) => return MirrorError::Protocol { detail },
        None => {}
    }
    if (lower.contains("authentication") && (lower.contains("required") || lower.contains("failed")))
        || lower.contains("no credentials were returned")
        || lower.contains("were not accepted by the remote")
    {
        MirrorError::Authentication
    } else if lower.contains("interrupt") {
        MirrorError::Interrupted
    } else if lower.contains("timed out") || lower.contains("timeout") || lower.contains("low speed") {
        MirrorError::Timeout { detail }
    } else if lower.contains("does not appear to be a git repository")
        || lower.contains("repository not found")
        || lower.contains("not found")
    {
        MirrorError::NotFound
    } else if lower.contains("connection")
        || lower.contains("connect")
        || lower.contains("broken pipe")
        || lower.contains("unexpected eof")
        || lower.contains("early eof")
        || lower.contains("failed to fill whole buffer")
        || lower.contains("connection reset")
        || lower.contains("error sending request")
        || lower.contains("error decoding response body")
        || lower.contains("dns")
    {
        MirrorError::Network { detail }
    } else {
        MirrorError::Protocol { detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_secrets_and_url_credentials() {
        let t = "failed https://x-access-token:ghp_SECRET@github.com/o/r.git and ghp_SECRET again";
        let s = scrub(t, Some("ghp_SECRET"));
        assert!(!s.contains("ghp_SECRET"), "{s}");
        let s = scrub("see http://u:pw@host/x and http://host/y", None);
        assert_eq!(s, "see http://u:***@host/x and http://host/y");
    }

    #[test]
    fn classifies_http_statuses() {
        assert_eq!(classify_text("Received HTTP status 404", None), MirrorError::NotFound);
        assert_eq!(classify_text("x: Received HTTP status 403", None), MirrorError::Permission);
        assert_eq!(classify_text("Received HTTP status 502", None), MirrorError::Server { status: 502 });
        assert!(classify_text("Received HTTP status 503", None).is_retryable());
        assert!(!MirrorError::Authentication.is_retryable());
        assert_eq!(
            classify_text("handshake with remote failed: No credentials were returned at all", None),
            MirrorError::Authentication
        );
    }
}

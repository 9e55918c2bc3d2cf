//! Which remote URLs the engine talks to, and with what credentials.

use super::MirrorError;

/// Checks a remote URL before anything connects: `https://` anywhere, `http://` only on loopback when a
/// token would be sent (no credentials in clear text over a network), `file://` for local remotes;
/// never credentials inside the URL.
pub fn check_url(raw: &str, sends_token: bool) -> Result<(), MirrorError> {
    let url = gix::url::Url::try_from(raw).map_err(|_| MirrorError::InvalidUrl {
        detail: "expected an http(s):// or file:// URL".into(),
    })?;
    if url.user().is_some() || url.password().is_some() {
        return Err(MirrorError::InvalidUrl {
            detail: "credentials must not be part of the URL; pass the token separately".into(),
        });
    }
    match url.scheme {
        gix::url::Scheme::Https | gix::url::Scheme::File => Ok(()),
        gix::url::Scheme::Http => {
            let host = url.host().unwrap_or("");
            let loopback = host == "localhost"
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
            if sends_token && !loopback {
                Err(MirrorError::InvalidUrl { detail: "a token is only sent over https:// (or http:// on this machine)".into() })
            } else {
                Ok(())
            }
        }
        _ => Err(MirrorError::InvalidUrl { detail: "expected an http(s):// or file:// URL".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://github.com/o/r.git", true).is_ok());
        assert!(check_url("http://127.0.0.1:8080/o/r.git", true).is_ok());
        assert!(check_url("http://example.com/o/r.git", false).is_ok());
        assert!(check_url("http://example.com/o/r.git", true).is_err());
        assert!(check_url("https://u:p@github.com/o/r.git", true).is_err());
        assert!(check_url("ssh://git@github.com/o/r.git", false).is_err());
        assert!(check_url("file:///tmp/x.git", false).is_ok());
    }
}

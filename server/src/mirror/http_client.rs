//! The HTTP client configuration every mirror transfer's reqwest client gets: the stall and
//! connect timeouts, and one TLS configuration shared by the whole process.
//!
//! reqwest builds a TLS configuration for every client it builds, and with the platform verifier
//! that means reading and parsing the system's root certificates each time (tens of milliseconds
//! of CPU). gix builds a client for every transfer, so every push, pull and fetch paid that, even
//! over plain HTTP. The configuration is built once instead, the same way reqwest builds it (the
//! platform's verifier, aws-lc-rs, TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 offered), and only when
//! the first client needs it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The process's TLS configuration, or why it could not be made.
static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();

fn tls() -> Result<rustls::ClientConfig, String> {
    TLS.get_or_init(|| {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| format!("the system's root certificates: {e}"))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    })
    .clone()
}

/// `builder` with GitBlixt's timeouts and the shared TLS configuration.
///
/// reqwest's blocking client applies `timeout` to getting the response headers and then to each
/// body read, so `stall` bounds a silent remote without cutting a long transfer.
pub(super) fn configure(
    builder: reqwest::blocking::ClientBuilder,
    stall: Duration,
    connect: Duration,
) -> reqwest::blocking::ClientBuilder {
    let builder = builder.timeout(stall).connect_timeout(connect);
    match tls() {
        Ok(config) => builder.tls_backend_preconfigured(config),
        Err(error) => {
            // reqwest's own configuration then fails with this error too, and says so.
            tracing::warn!(%error, "the shared TLS configuration could not be made");
            builder
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tls_configuration_is_made_once_and_offers_http2_and_http1() {
        let first = super::tls().unwrap();
        assert_eq!(first.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(super::TLS.get().is_some_and(|kept| kept.is_ok()), "the configuration was not kept for the next client");
    }
}

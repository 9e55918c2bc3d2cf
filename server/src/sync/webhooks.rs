//! Posting queued webhook deliveries (see [`app::ssr::webhooks`]): JSON bodies signed with
//! HMAC-SHA256 of the webhook's secret in `X-GitBlixt-Signature-256: sha256=<hex>` (GitHub's
//! scheme), a 10 s timeout, no redirects; a non-2xx answer or a network error is retried with
//! backoff (the base, ×4 per attempt, at most an hour) up to [`webhooks::MAX_ATTEMPTS`] attempts.
//! Runs beside the sync workers and never holds one up.

use app::ssr::AppState;
use app::ssr::db::now;
use app::ssr::webhooks::{self, Due};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::time::Duration;

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn deliver_forever(state: AppState, retry_base: Duration) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).redirect(reqwest::redirect::Policy::none()).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "webhook client could not be built; webhooks are not delivered"),
    };
    loop {
        match webhooks::due(&state.db, &state.cipher, 20).await {
            Ok(due) => {
                for d in due {
                    attempt(&state, &client, d, retry_base).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "reading webhook deliveries failed"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn attempt(state: &AppState, client: &reqwest::Client, d: Due, retry_base: Duration) {
    let body = d.payload.into_bytes();
    let result = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("GitBlixt-Hookshot/", env!("CARGO_PKG_VERSION")))
        .header("x-gitblixt-event", &d.event)
        .header("x-gitblixt-delivery", d.id.to_string())
        .header("x-gitblixt-signature-256", signature(d.secret.expose_secret(), &body))
        .body(body)
        .send()
        .await;
    let (code, error) = match &result {
        Ok(res) if res.status().is_success() => (Some(res.status().as_u16()), None),
        Ok(res) => (Some(res.status().as_u16()), Some(format!("answered HTTP {}", res.status().as_u16()))),
        Err(e) if e.is_timeout() => (None, Some("no answer within 10 s".to_string())),
        Err(e) if e.is_connect() => (None, Some("could not connect".to_string())),
        Err(_) => (None, Some("the request failed".to_string())),
    };
    let delivered = error.is_none();
    let attempts = d.attempts + 1;
    let retry_at = (!delivered && attempts < webhooks::MAX_ATTEMPTS).then(|| {
        let delay = retry_base.as_secs().max(1).saturating_mul(4u64.saturating_pow((attempts - 1) as u32)).min(3600);
        now() + delay as i64
    });
    crate::metrics::webhook_attempt(if delivered { "delivered" } else if retry_at.is_some() { "retrying" } else { "failed" });
    if !delivered {
        tracing::warn!(delivery = d.id, event = %d.event, code, error = ?error, retry = retry_at.is_some(), "webhook delivery failed");
    }
    if let Err(e) = webhooks::record_attempt(&state.db, d.id, code, error.as_deref(), delivered, retry_at).await {
        tracing::error!(error = %e, delivery = d.id, "could not record a webhook delivery");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_githubs_hmac_sha256() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
        assert_eq!(
            super::signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}

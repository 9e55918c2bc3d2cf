//! Notification e-mail over SMTP with lettre (`GITBLIXT_SMTP_URL`: `smtp://host:port` plain,
//! `smtp://…?tls=required` STARTTLS, `smtps://user:password@host` TLS; `GITBLIXT_MAIL_FROM`).
//! Sent in the background: a slow or broken mail server never holds up a sync.

use crate::config::{ConfigError, MailConfig};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::sync::Arc;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The instance's public URL, for links in mail.
    public_url: Arc<str>,
}

impl Mailer {
    /// Checks the configuration (at start, so a bad value stops the server with a message).
    pub fn new(config: &MailConfig) -> Result<Self, ConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose_secret()).map_err(|_| ConfigError::BadSmtpUrl)?.build();
        let from = config.from.parse::<Mailbox>().map_err(|_| ConfigError::BadMailFrom(config.from.clone()))?;
        Ok(Mailer { transport, from, public_url: Arc::from("") })
    }

    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = Arc::from(public_url.trim_end_matches('/'));
        self
    }

    /// Sends `subject` and `body` (plus a link to `path` of this instance) to `to`, in the background.
    pub fn send(&self, to: &str, subject: &str, body: &str, path: &str) {
        let Ok(to) = to.parse::<Mailbox>() else {
            tracing::warn!("a notification e-mail address is not valid; nothing sent");
            return;
        };
        let text = format!("{body}\n\n{}{path}\n\n— GitBlixt\n", self.public_url);
        let message = match Message::builder().from(self.from.clone()).to(to).subject(subject).body(text) {
            Ok(m) => m,
            Err(e) => return tracing::warn!(error = %e, "a notification e-mail could not be built"),
        };
        let transport = self.transport.clone();
        tokio::spawn(async move {
            if let Err(e) = transport.send(message).await {
                tracing::warn!(error = %e, "a notification e-mail could not be sent");
            }
        });
    }
}

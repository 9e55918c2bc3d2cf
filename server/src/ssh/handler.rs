//! One SSH connection: public-key authentication against the keys users added, then session
//! channels (each handed to [`super::session`]). Everything else SSH can do — passwords, PTYs,
//! port forwarding, agent forwarding, subsystems such as sftp — is refused.

use super::{ConnectionState, MAX_CHANNELS, Shared};
use app::ssr::accounts::User;
use app::ssr::ssh_keys;
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
}

pub struct Connection {
    shared: Arc<Shared>,
    ip: IpAddr,
    state: Arc<ConnectionState>,
    user: Option<User>,
    channels: usize,
}

impl Connection {
    pub fn new(shared: Arc<Shared>, ip: IpAddr, state: Arc<ConnectionState>) -> Self {
        Connection { shared, ip, state, user: None, channels: 0 }
    }

    /// "Try a public key": the only method there is.
    fn reject() -> Auth {
        Auth::Reject { proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])), partial_success: false }
    }

    /// The account of `key` if `login` is the SSH user name and the address is not locked out.
    async fn account_of(&self, login: &str, key: &russh::keys::PublicKey) -> Option<(i64, User)> {
        self.state.attempted.store(true, Ordering::SeqCst);
        if login != self.shared.login {
            return None;
        }
        if self.shared.git.app.guard.check(Some(self.ip), None).is_err() {
            tracing::info!(ip = %self.ip, "SSH sign-in refused: too many failed sign-ins from this address");
            return None;
        }
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        match ssh_keys::owner_of(&self.shared.git.app.db, &fingerprint).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "looking up an SSH key");
                None
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = SshError;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        // Unknown keys are turned away before the client signs anything.
        Ok(if self.account_of(user, offer.public_key).await.is_some() { Auth::Accept } else { Self::reject() })
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let Some((key_id, account)) = self.account_of(user, key.public_key).await else { return Ok(Self::reject()) };
        if let Err(e) = ssh_keys::mark_used(&self.shared.git.app.db, key_id).await {
            tracing::warn!(error = %e, "could not record an SSH key's use");
        }
        tracing::debug!(user = %account.name, ip = %self.ip, "SSH sign-in");
        self.user = Some(account);
        self.state.authenticated.store(true, Ordering::SeqCst);
        Ok(Auth::Accept)
    }

    async fn channel_open_session(&mut self, channel: Channel<Msg>, reply: ChannelOpenHandle, _session: &mut Session) -> Result<(), Self::Error> {
        let Some(user) = self.user.clone() else { return Ok(()) };
        if self.channels >= MAX_CHANNELS {
            reply.reject(russh::ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels += 1;
        reply.accept().await;
        tokio::spawn(super::session::run(self.shared.clone(), user, channel));
        Ok(())
    }

    /// Only `GIT_PROTOCOL` (protocol v2) is taken; the channel's task reads it.
    async fn env_request(&mut self, channel: ChannelId, name: &str, value: &str, session: &mut Session) -> Result<(), Self::Error> {
        if name == "GIT_PROTOCOL" && crate::git_service::git_protocol(value).is_some() {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    /// The command is checked by the channel's task, which answers on stderr when it refuses.
    async fn exec_request(&mut self, channel: ChannelId, _data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    /// Answered with the greeting by the channel's task.
    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // As GitHub: "PTY allocation request failed", then the greeting.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(&mut self, channel: ChannelId, _name: &str, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

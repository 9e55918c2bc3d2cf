-- A user's connected GitHub account. Tokens are AES-256-GCM ciphertexts (see app::ssr::crypto).
CREATE TABLE github_connections (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    github_login TEXT NOT NULL,
    github_id BIGINT NOT NULL,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    refresh_expires_at BIGINT,
    connected_at BIGINT NOT NULL,
    refreshed_at BIGINT
);

-- Pending OAuth authorizations: the state is single use and expires; the PKCE verifier is encrypted.
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires_at ON oauth_states(expires_at);

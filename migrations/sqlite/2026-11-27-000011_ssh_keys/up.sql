-- Public keys for git over SSH (Settings → SSH Keys). A key belongs to one account: its
-- fingerprint is unique across the instance.
CREATE TABLE ssh_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_id);

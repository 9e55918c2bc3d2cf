-- Repository webhooks for mirror events, with their delivery history (DESIGN.md "Never silent").
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- AES-256-GCM ciphertext (see app::ssr::crypto); the HMAC key of X-GitBlixt-Signature-256
    secret TEXT NOT NULL,
    -- comma-separated: mirror.failed, mirror.recovered, mirror.synced
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_repository ON webhooks(repository_id);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- pending, delivered, failed (gave up)
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    response_code BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

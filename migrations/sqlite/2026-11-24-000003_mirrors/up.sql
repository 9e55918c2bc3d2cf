-- Push and pull mirrors of a repository, with their durable sync queue state (DESIGN.md "Sync queue").
CREATE TABLE mirrors (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    -- whose GitHub connection the mirror uses
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    remote_owner TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    -- lower-case owner/name: one mirror per direction and GitHub repository
    remote_key TEXT NOT NULL,
    interval_minutes BIGINT,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL,
    last_error TEXT,
    last_sync_at BIGINT,
    last_success_at BIGINT,
    next_sync_at BIGINT,
    -- a sync is wanted (set idempotently; cleared only by the run that served it)
    sync_requested_at BIGINT,
    requested_trigger TEXT,
    -- incremented by every request; a run clears the request only if no newer one arrived
    request_seq BIGINT NOT NULL DEFAULT 0,
    leased_by TEXT,
    leased_until BIGINT,
    failure_count BIGINT NOT NULL DEFAULT 0,
    retry_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (repository_id, direction, remote_key)
);
CREATE INDEX mirrors_requested ON mirrors(sync_requested_at);
CREATE INDEX mirrors_next_sync ON mirrors(next_sync_at);

-- One row per run (a one-time fetch is a run without a mirror).
CREATE TABLE mirror_syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mirror_id BIGINT REFERENCES mirrors(id) ON DELETE CASCADE,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    remote TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT NOT NULL,
    error TEXT,
    refs TEXT NOT NULL DEFAULT '[]',
    objects BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mirror_syncs_mirror ON mirror_syncs(mirror_id, started_at);
CREATE INDEX mirror_syncs_repository ON mirror_syncs(repository_id, started_at);

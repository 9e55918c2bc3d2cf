-- Imports from GitHub: the repository created for it, and the one-time fetch (a mirrors row of
-- direction 'fetch') that brings its branches and tags through the sync queue.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    repository_id BIGINT NOT NULL UNIQUE REFERENCES repositories(id) ON DELETE CASCADE,
    -- who imported it: whose GitHub connection is used
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mirror_id BIGINT REFERENCES mirrors(id) ON DELETE SET NULL,
    remote_owner TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    -- lower-case owner/name
    remote_key TEXT NOT NULL,
    -- Keep in sync: the pull mirror's interval, created when the import is done
    mirror_interval_minutes BIGINT,
    -- queued, importing, done, failed
    state TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
-- One import of a GitHub repository at a time per user: a second one joins the first.
CREATE UNIQUE INDEX imports_running ON imports(user_id, remote_key) WHERE state IN ('queued', 'importing');
CREATE INDEX imports_user ON imports(user_id, created_at);

-- Nothing lost (DESIGN.md): a pull mirror or fetch may overwrite diverged branches only when the
-- owner says so; runs (and what they kept) outlive a removed mirror.
ALTER TABLE mirrors ADD COLUMN overwrite_diverged BOOLEAN NOT NULL DEFAULT FALSE;

-- SQLite cannot change a foreign key: rebuild mirror_syncs with ON DELETE SET NULL.
CREATE TABLE mirror_syncs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mirror_id BIGINT REFERENCES mirrors(id) ON DELETE SET NULL,
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
INSERT INTO mirror_syncs_new (id, mirror_id, repository_id, direction, remote, trigger, started_at, finished_at, outcome, error, refs, objects, bytes)
    SELECT id, mirror_id, repository_id, direction, remote, trigger, started_at, finished_at, outcome, error, refs, objects, bytes FROM mirror_syncs;
DROP TABLE mirror_syncs;
ALTER TABLE mirror_syncs_new RENAME TO mirror_syncs;
CREATE INDEX mirror_syncs_mirror ON mirror_syncs(mirror_id, started_at);
CREATE INDEX mirror_syncs_repository ON mirror_syncs(repository_id, started_at);

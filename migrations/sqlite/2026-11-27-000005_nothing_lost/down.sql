DELETE FROM mirror_syncs WHERE mirror_id IS NULL;
CREATE TABLE mirror_syncs_old (
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
INSERT INTO mirror_syncs_old SELECT id, mirror_id, repository_id, direction, remote, trigger, started_at, finished_at, outcome, error, refs, objects, bytes FROM mirror_syncs;
DROP TABLE mirror_syncs;
ALTER TABLE mirror_syncs_old RENAME TO mirror_syncs;
CREATE INDEX mirror_syncs_mirror ON mirror_syncs(mirror_id, started_at);
CREATE INDEX mirror_syncs_repository ON mirror_syncs(repository_id, started_at);
ALTER TABLE mirrors DROP COLUMN overwrite_diverged;

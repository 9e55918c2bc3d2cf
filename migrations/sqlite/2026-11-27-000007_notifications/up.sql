-- Owners hear when a mirror breaks, recovers or is paused by GitBlixt (DESIGN.md "Never silent").
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repositories(id) ON DELETE CASCADE,
    mirror_id BIGINT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications(user_id, id);
-- A mirror whose GitHub repository answers 404, or whose connection is gone, since when; past a
-- configured time GitBlixt pauses it and says why.
ALTER TABLE mirrors ADD COLUMN dead_since BIGINT;
ALTER TABLE mirrors ADD COLUMN paused_reason TEXT;

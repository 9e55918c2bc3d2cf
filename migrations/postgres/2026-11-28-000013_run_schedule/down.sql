ALTER TABLE mirror_syncs DROP COLUMN scheduled_at;

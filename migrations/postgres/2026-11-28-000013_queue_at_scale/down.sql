DROP INDEX mirrors_leased;
DROP INDEX mirrors_pending;
ALTER TABLE mirror_syncs DROP COLUMN scheduled_at;

DELETE FROM mirror_syncs WHERE mirror_id IS NULL;
ALTER TABLE mirror_syncs DROP CONSTRAINT mirror_syncs_mirror_id_fkey;
ALTER TABLE mirror_syncs ADD CONSTRAINT mirror_syncs_mirror_id_fkey FOREIGN KEY (mirror_id) REFERENCES mirrors(id) ON DELETE CASCADE;
ALTER TABLE mirrors DROP COLUMN overwrite_diverged;

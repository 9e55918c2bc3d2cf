-- Nothing lost (DESIGN.md): a pull mirror or fetch may overwrite diverged branches only when the
-- owner says so; runs (and what they kept) outlive a removed mirror.
ALTER TABLE mirrors ADD COLUMN overwrite_diverged BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mirror_syncs DROP CONSTRAINT mirror_syncs_mirror_id_fkey;
ALTER TABLE mirror_syncs ADD CONSTRAINT mirror_syncs_mirror_id_fkey FOREIGN KEY (mirror_id) REFERENCES mirrors(id) ON DELETE SET NULL;

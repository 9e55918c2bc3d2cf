-- Never silent (DESIGN.md): what a push mirror last pushed (a digest of the heads and tags GitHub
-- equalled after its last successful run, compared by the convergence sweep), when that was, and
-- a fencing token that every write of a run checks (a run that lost its lease writes nothing).
ALTER TABLE mirrors ADD COLUMN pushed_digest TEXT;
ALTER TABLE mirrors ADD COLUMN in_sync_at BIGINT;
ALTER TABLE mirrors ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;

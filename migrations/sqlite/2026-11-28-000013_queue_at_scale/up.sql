-- When a scheduled pull's run was due (seconds): its lateness is started_at - scheduled_at.
ALTER TABLE mirror_syncs ADD COLUMN scheduled_at BIGINT;
-- Every claim looks at the mirrors with a request pending and at the leases held: a few among
-- thousands. Without these, each claim scanned every mirror (75 ms at 11,000 mirrors in SQLite).
CREATE INDEX mirrors_pending ON mirrors(sync_requested_at) WHERE sync_requested_at IS NOT NULL;
CREATE INDEX mirrors_leased ON mirrors(leased_until) WHERE leased_until IS NOT NULL;

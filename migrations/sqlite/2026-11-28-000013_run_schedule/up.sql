-- When a scheduled pull's run was due (seconds): its lateness is started_at - scheduled_at.
ALTER TABLE mirror_syncs ADD COLUMN scheduled_at BIGINT;

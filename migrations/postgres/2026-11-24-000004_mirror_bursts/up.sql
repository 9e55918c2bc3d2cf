-- Push bursts coalesce (DESIGN.md "Sync queue"): a push arriving while its mirror is running or
-- just ran waits for a quiet moment (bounded) instead of starting a run per push. Milliseconds.
ALTER TABLE mirrors ADD COLUMN pending_since_ms BIGINT;
ALTER TABLE mirrors ADD COLUMN debounce_until_ms BIGINT;
ALTER TABLE mirrors ADD COLUMN last_finished_ms BIGINT;

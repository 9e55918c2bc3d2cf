ALTER TABLE mirrors DROP COLUMN last_finished_ms;
ALTER TABLE mirrors DROP COLUMN debounce_until_ms;
ALTER TABLE mirrors DROP COLUMN pending_since_ms;

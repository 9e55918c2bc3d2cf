ALTER TABLE mirrors DROP COLUMN lease_token;
ALTER TABLE mirrors DROP COLUMN in_sync_at;
ALTER TABLE mirrors DROP COLUMN pushed_digest;

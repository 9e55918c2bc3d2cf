ALTER TABLE mirrors DROP COLUMN paused_reason;
ALTER TABLE mirrors DROP COLUMN dead_since;
DROP TABLE notifications;

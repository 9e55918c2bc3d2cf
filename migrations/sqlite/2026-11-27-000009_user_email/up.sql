-- Where GitBlixt e-mails a user's notifications (when the instance has SMTP).
ALTER TABLE users ADD COLUMN email TEXT;

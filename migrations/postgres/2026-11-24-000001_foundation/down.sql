DROP TABLE repositories;
DROP TABLE personal_access_tokens;
DROP TABLE sessions;
DROP TABLE users;

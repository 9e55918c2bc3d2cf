DROP TABLE oauth_states;
DROP TABLE github_connections;

DROP TABLE mirror_syncs;
DROP TABLE mirrors;

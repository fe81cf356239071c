-- +goose Up
-- PostgreSQL partitions the audit log and the raw monitoring samples by time (DESIGN §10);
-- SQLite has no partitions, and these tables stay as they are. The migration keeps the two
-- dialects' versions in step.
SELECT 1;

-- +goose Down
SELECT 1;

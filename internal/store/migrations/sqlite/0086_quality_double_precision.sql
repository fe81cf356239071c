-- +goose Up
-- PostgreSQL only (its REAL is single precision); SQLite's REAL is already 8 bytes. The file
-- keeps both folders' numbering the same.
SELECT 1;

-- +goose Down
SELECT 1;

-- +goose Up
-- zhsj_today() is a function the application registers with the SQLite driver
-- (internal/quality/sqlfuncs.go); PostgreSQL creates it in its 0087. The file keeps both
-- folders' numbering the same.
SELECT 1;

-- +goose Down
SELECT 1;

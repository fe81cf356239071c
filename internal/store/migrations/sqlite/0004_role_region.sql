-- +goose Up
-- A custom role belongs to the jurisdiction of its creator: only administrators whose
-- jurisdiction contains it may change or delete it.
ALTER TABLE roles ADD COLUMN region_code TEXT NOT NULL DEFAULT '610000';
ALTER TABLE roles ADD COLUMN created_by INTEGER;

-- +goose Down
ALTER TABLE roles DROP COLUMN created_by;
ALTER TABLE roles DROP COLUMN region_code;

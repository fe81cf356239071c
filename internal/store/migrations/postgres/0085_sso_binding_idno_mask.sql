-- +goose Up
-- The masked citizen ID number a partner platform sent with a binding request, so that the
-- security administrator reviewing a pending binding can compare it with the local account's.
ALTER TABLE sso_bindings ADD COLUMN id_no_mask TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sso_bindings DROP COLUMN id_no_mask;

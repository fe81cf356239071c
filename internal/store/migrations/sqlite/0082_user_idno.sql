-- +goose Up
-- Citizen ID number (身份证号) of a user, kept like the phone: SM4-GCM sealed, an HMAC-SM3
-- blind index for exact lookup (partner-platform binding by ID number), and a mask for display.
-- The plain number is never stored.
ALTER TABLE users ADD COLUMN id_no_enc BLOB;
ALTER TABLE users ADD COLUMN id_no_idx TEXT;
ALTER TABLE users ADD COLUMN id_no_mask TEXT NOT NULL DEFAULT '';
CREATE INDEX users_id_no_idx ON users(id_no_idx);

-- +goose Down
DROP INDEX users_id_no_idx;
ALTER TABLE users DROP COLUMN id_no_mask;
ALTER TABLE users DROP COLUMN id_no_idx;
ALTER TABLE users DROP COLUMN id_no_enc;

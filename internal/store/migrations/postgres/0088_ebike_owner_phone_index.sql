-- +goose Up
-- The record search finds an e-bike by its owner's whole mobile number through the blind
-- index, as it finds ID numbers (ds_ebike_owner, ds_enterprise_legal_rep_id).
CREATE INDEX ds_ebike_owner_phone ON ds_ebike(owner_phone_idx);

-- +goose Down
DROP INDEX ds_ebike_owner_phone;

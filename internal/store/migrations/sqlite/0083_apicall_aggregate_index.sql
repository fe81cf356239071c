-- +goose Up
-- The data-asset indicators group 10 million API calls by region, day and system: this index
-- covers those queries (read in order, no sort, no table access) and replaces the plain
-- region index, which is its prefix.
CREATE INDEX ds_apicall_agg ON ds_apicall(region_code, call_date, system, success);
DROP INDEX IF EXISTS ds_apicall_region;

-- +goose Down
CREATE INDEX ds_apicall_region ON ds_apicall(region_code);
DROP INDEX ds_apicall_agg;

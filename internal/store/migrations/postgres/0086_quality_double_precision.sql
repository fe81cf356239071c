-- +goose Up
-- Thresholds, pass rates, scores and metrics were single-precision (REAL is float4 on
-- PostgreSQL): a threshold of 99.9 came back as 99.9000015 and scores computed from stored
-- pass rates were off in the last digits. Double precision, as REAL already is on SQLite; the
-- stored values are rounded to the precision the engine writes them with.
ALTER TABLE quality_rules ALTER COLUMN threshold TYPE DOUBLE PRECISION USING round(threshold::numeric, 4)::double precision;
ALTER TABLE quality_runs ALTER COLUMN score TYPE DOUBLE PRECISION USING round(score::numeric, 2)::double precision;
ALTER TABLE quality_results ALTER COLUMN threshold TYPE DOUBLE PRECISION USING round(threshold::numeric, 4)::double precision;
ALTER TABLE quality_results ALTER COLUMN pass_rate TYPE DOUBLE PRECISION USING round(pass_rate::numeric, 4)::double precision;
ALTER TABLE quality_results ALTER COLUMN metric TYPE DOUBLE PRECISION USING round(metric::numeric, 4)::double precision;

-- +goose Down
ALTER TABLE quality_rules ALTER COLUMN threshold TYPE REAL;
ALTER TABLE quality_runs ALTER COLUMN score TYPE REAL;
ALTER TABLE quality_results ALTER COLUMN threshold TYPE REAL;
ALTER TABLE quality_results ALTER COLUMN pass_rate TYPE REAL;
ALTER TABLE quality_results ALTER COLUMN metric TYPE REAL;

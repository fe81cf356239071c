-- +goose Up
-- What a running ingestion does after its last batch (rebuilding the indexes a bulk load
-- deferred, refreshing planner statistics), shown on its page and by the CLI: on a large
-- table these steps take a while after the progress has reached 100 %. Empty otherwise.
ALTER TABLE ds_ingest_runs ADD COLUMN phase TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE ds_ingest_runs DROP COLUMN phase;

-- +goose Up
-- The unqualified-products tracking list (result = '不合格', newest first, by period) and its
-- count: read in index order and counted from the index instead of sorting every unqualified
-- batch.
CREATE INDEX ds_sampling_result_date ON ds_sampling(result, sampling_date, id);

-- +goose Down
DROP INDEX ds_sampling_result_date;

-- +goose Up
-- The unqualified-products tracking list (result = '不合格', newest first, by period) and its
-- count: read in index order and counted from the index instead of sorting every unqualified
-- batch. SQLite keeps the rowid (id) at the end of each entry, so ORDER BY sampling_date, id
-- follows the index too.
CREATE INDEX ds_sampling_result_date ON ds_sampling(result, sampling_date);

-- +goose Down
DROP INDEX ds_sampling_result_date;

package dataset

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/store"
)

// Bulk loads into an empty table (the first load of a million-row register) defer the
// table's secondary indexes: they are dropped in the transaction that writes the first batch
// and built again, one by one, when the data is in: one sort per index at the end costs much
// less than maintaining eight B-trees row by row (2.5× the rows per second measured on a
// 100,000-row load, rebuild included).
//
// Crash safety: the transaction that drops the indexes also stores their definitions (as the
// database itself reports them, so they are exactly the migration's) in the settings row
// deferredKey(table); each rebuild creates one index with CREATE INDEX IF NOT EXISTS and
// removes it from that row in the same transaction. Whatever happens in between (an error,
// a cancelled run, kill -9, power loss), the row names exactly the indexes still missing, and
// they are built again by the end of the run, by the next run of the dataset, or at the next
// start (Module.Init) once the run that deferred them is no longer alive. The unique key
// index is never dropped: the upsert and the one-row-per-key guarantee rest on it.

// deferredPrefix starts the settings keys of deferred indexes.
const deferredPrefix = "dataset.deferred_indexes."

// bulkMinRows is the least number of good rows of a first batch that makes deferring the
// indexes worth it; the batch must also be full (more follows, and fast).
const bulkMinRows = 200

// analyzeMinRows is the number of rows a run must write before the table's planner
// statistics are refreshed (store.DB.Analyze); the run must also have written a tenth of the
// rows the statistics counted, as PostgreSQL's autovacuum would, so that daily loads into a
// table of millions do not read the whole table each time.
const analyzeMinRows = 10000

func deferredKey(table string) string { return deferredPrefix + table }

// deferredIndexes is the value of a deferredKey settings row.
type deferredIndexes struct {
	RunID   int64         `json:"run_id"`
	Table   string        `json:"table"`
	Indexes []indexDefSQL `json:"indexes"`
}

type indexDefSQL struct {
	Name string `json:"name"`
	SQL  string `json:"sql"`
}

// secondaryIndexes lists the non-unique indexes of table with their definitions.
func secondaryIndexes(ctx context.Context, q store.Q, table string) ([]indexDefSQL, error) {
	var rows []struct {
		Name string `db:"name"`
		SQL  string `db:"sql"`
	}
	var err error
	if q.Dialect() == store.Postgres {
		err = q.Select(ctx, &rows, `SELECT indexname AS name, indexdef AS sql FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = ? AND indexdef NOT LIKE 'CREATE UNIQUE %' ORDER BY indexname`, table)
	} else {
		err = q.Select(ctx, &rows, `SELECT name, sql FROM sqlite_master
			WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE %' ORDER BY name`, table)
	}
	if err != nil {
		return nil, err
	}
	out := make([]indexDefSQL, 0, len(rows))
	for _, r := range rows {
		out = append(out, indexDefSQL{Name: r.Name, SQL: r.SQL})
	}
	return out, nil
}

// ifNotExists turns "CREATE INDEX name …" into "CREATE INDEX IF NOT EXISTS name …".
func ifNotExists(def string) (string, error) {
	const p = "CREATE INDEX "
	if len(def) < len(p) || !strings.EqualFold(def[:len(p)], p) {
		return "", fmt.Errorf("unexpected index definition %q", def)
	}
	rest := strings.TrimSpace(def[len(p):])
	if len(rest) >= 14 && strings.EqualFold(rest[:14], "IF NOT EXISTS ") {
		return def, nil
	}
	return p + "IF NOT EXISTS " + rest, nil
}

func loadDeferred(ctx context.Context, q store.Q, table string) (*deferredIndexes, error) {
	var raw string
	err := q.Get(ctx, &raw, `SELECT value FROM settings WHERE key = ?`, deferredKey(table))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d deferredIndexes
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return nil, fmt.Errorf("settings %s: %w", deferredKey(table), err)
	}
	return &d, nil
}

// deferIndexes drops the secondary indexes of the run's table inside tx when the table is
// empty, recording them for the rebuild. It reports whether it did.
func (rs *runState) deferIndexes(ctx context.Context, tx *store.Tx) (bool, error) {
	table := rs.ds.Table
	if d, err := loadDeferred(ctx, tx, table); err != nil || d != nil {
		return false, err // another load's deferral is pending: leave it to that one
	}
	var one int
	err := tx.Get(ctx, &one, `SELECT 1 FROM `+table+` LIMIT 1`)
	if err == nil {
		return false, nil // not empty
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	defs, err := secondaryIndexes(ctx, tx, table)
	if err != nil || len(defs) == 0 {
		return false, err
	}
	for _, d := range defs {
		if _, err := ifNotExists(d.SQL); err != nil {
			return false, nil // a definition we could not rebuild: keep the indexes
		}
	}
	val, _ := json.Marshal(deferredIndexes{RunID: rs.o.RunID, Table: table, Indexes: defs})
	if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, deferredKey(table), string(val), rs.m.now()); err != nil {
		return false, err
	}
	for _, d := range defs {
		if _, err := tx.Exec(ctx, `DROP INDEX `+quoteIdent(d.Name)); err != nil {
			return false, err
		}
	}
	return true, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// rebuildIndexes builds the deferred indexes of table again, one transaction per index, when
// keep (if not nil) does not claim them for a live run. runID, when not 0, gets a heartbeat
// per index (a rebuild of a large table takes a while); phase, when not nil, is told which
// index of how many is being built.
func (m *Module) rebuildIndexes(ctx context.Context, table string, runID int64, keep func(*deferredIndexes) bool, phase func(string)) error {
	first, err := loadDeferred(ctx, m.db, table)
	if err != nil || first == nil {
		return err // nothing deferred (the usual case): no write transaction
	}
	for i := 1; ; i++ {
		if phase != nil && i <= len(first.Indexes) {
			phase(fmt.Sprintf("数据已全部写入，正在重建索引（第 %d 个，共 %d 个）", i, len(first.Indexes)))
		}
		done := false
		err := m.db.InTx(ctx, func(tx *store.Tx) error {
			d, err := loadDeferred(ctx, tx, table)
			if err != nil || d == nil || (keep != nil && keep(d)) {
				done = true
				return err
			}
			if len(d.Indexes) == 0 {
				done = true
				_, err := tx.Exec(ctx, `DELETE FROM settings WHERE key = ?`, deferredKey(table))
				return err
			}
			ix := d.Indexes[0]
			def, err := ifNotExists(ix.SQL)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, def); err != nil {
				return fmt.Errorf("重建索引 %s 失败: %w", ix.Name, err)
			}
			d.Indexes = d.Indexes[1:]
			if len(d.Indexes) == 0 {
				done = true
				_, err = tx.Exec(ctx, `DELETE FROM settings WHERE key = ?`, deferredKey(table))
			} else {
				val, _ := json.Marshal(d)
				_, err = tx.Exec(ctx, `UPDATE settings SET value = ?, updated_at = ? WHERE key = ?`, string(val), m.now(), deferredKey(table))
			}
			if err == nil && runID != 0 {
				_, err = tx.Exec(ctx, `UPDATE ds_ingest_runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'`, m.now(), runID)
			}
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// ownerAlive reports whether the run that deferred d is still running (its heartbeat is
// fresh), so its indexes are left to it.
func (m *Module) ownerAlive(ctx context.Context, d *deferredIndexes) bool {
	var n int
	err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM ds_ingest_runs WHERE id = ? AND status = 'running' AND heartbeat_at >= ?`,
		d.RunID, m.now().Add(-staleAfter))
	return err == nil && n > 0
}

// RecoverIndexes builds again the indexes that a bulk load deferred and could not rebuild
// (the process was killed), unless that load is still running. It runs at every start
// (Init) and before every run of a dataset.
func (m *Module) RecoverIndexes(ctx context.Context) error {
	var keys []string
	if err := m.db.Select(ctx, &keys, `SELECT key FROM settings WHERE key LIKE ?`, deferredPrefix+"%"); err != nil {
		return err
	}
	for _, k := range keys {
		if err := m.recoverTable(ctx, strings.TrimPrefix(k, deferredPrefix)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) recoverTable(ctx context.Context, table string) error {
	alive := func(d *deferredIndexes) bool { return m.ownerAlive(ctx, d) }
	return m.rebuildIndexes(ctx, table, 0, alive, nil)
}

// bulkPragmas sets the SQLite writer up for a load (a larger page cache, statement journals
// and sort space in memory) and returns what restores the previous settings. Durability is
// unchanged: WAL with synchronous=NORMAL, every batch a committed transaction.
func (m *Module) bulkPragmas(ctx context.Context) func() {
	if m.db.Dialect() != store.SQLite {
		return func() {}
	}
	w := m.db.Writer()
	var cache, temp, ckpt int64
	if err := w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
		return func() {}
	}
	if err := w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&ckpt); err != nil {
		return func() {}
	}
	if err := w.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp); err != nil {
		return func() {}
	}
	w.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, bulkCacheKiB))
	w.ExecContext(ctx, `PRAGMA temp_store = MEMORY`)
	w.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, bulkCheckpointPages))
	return func() {
		ctx := context.WithoutCancel(ctx)
		w.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, cache))
		w.ExecContext(ctx, fmt.Sprintf(`PRAGMA temp_store = %d`, temp))
		w.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, ckpt))
	}
}

// bulkCheckpointPages is the WAL size (pages) that triggers a checkpoint during a load: far
// fewer checkpoints (each one syncs the database file) than the default 1000 pages.
const bulkCheckpointPages = 65536

// bulkCacheKiB is the writer's page cache during a load (negative: KiB).
const bulkCacheKiB = -65536

// On PostgreSQL a batch is written by one statement whose rows come from arrays, one text[]
// parameter per column (unnest), instead of multi-row VALUES with a parameter per value:
// one round trip and one small plan per batch, and the server parses the values in bulk.

// loadPGCols reads the column types of the dataset table once per run (PostgreSQL only).
func (rs *runState) loadPGCols(ctx context.Context) error {
	if rs.pgCols != nil || rs.m.db.Dialect() != store.Postgres {
		return nil
	}
	var rows []struct {
		Name string `db:"column_name"`
		Type string `db:"udt_name"`
	}
	if err := rs.m.db.Select(ctx, &rows, `SELECT column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, rs.ds.Table); err != nil {
		return err
	}
	types := map[string]string{}
	for _, r := range rows {
		types[r.Name] = r.Type
	}
	cols := append(rs.ds.columns(), ColRowHash)
	out := make([]string, len(cols))
	for i, c := range cols {
		t, ok := types[c]
		if !ok {
			return fmt.Errorf("column %s.%s not found", rs.ds.Table, c)
		}
		out[i] = t
	}
	rs.pgCols = out
	return nil
}

// pgUpsertSQL is the PostgreSQL upsert of a batch: the same columns, conflict target and
// change test as upsertSQL.
func (rs *runState) pgUpsertSQL() string {
	if rs.pgSQL != "" {
		return rs.pgSQL
	}
	ds := rs.ds
	rowCols := append(ds.columns(), ColRowHash)
	cols := append(slices.Clone(rowCols), ColSource, ColFirstSeen, ColLastUpdated, ColLastRun)
	var arrays, names, exprs []string
	for i := range rowCols {
		n := fmt.Sprintf("c%d", i+1)
		arrays = append(arrays, fmt.Sprintf("$%d::text[]", i+1))
		names = append(names, n)
		switch t := rs.pgCols[i]; t {
		case "text", "varchar":
			exprs = append(exprs, "u."+n)
		case "bytea":
			exprs = append(exprs, "decode(u."+n+", 'hex')")
		default:
			exprs = append(exprs, "u."+n+"::"+t)
		}
	}
	k := len(rowCols)
	exprs = append(exprs, fmt.Sprintf("$%d::text", k+1), fmt.Sprintf("$%d::timestamptz", k+2), fmt.Sprintf("$%d::timestamptz", k+2), fmt.Sprintf("$%d::bigint", k+3))
	var b strings.Builder
	b.WriteString("INSERT INTO " + ds.Table + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(exprs, ", ") +
		" FROM unnest(" + strings.Join(arrays, ", ") + ") AS u(" + strings.Join(names, ", ") + ")")
	b.WriteString(onConflict(ds, cols))
	rs.pgSQL = b.String()
	return rs.pgSQL
}

// pgUpsertArgs are the arguments of pgUpsertSQL: one text array per column (NULL elements
// for empty values), then the run's source, time and id.
func (rs *runState) pgUpsertArgs(rows []goodRow) []any {
	n := len(rs.pgCols)
	cols := make([][]*string, n)
	for i := range cols {
		cols[i] = make([]*string, len(rows))
	}
	texts := make([]string, len(rows)*n) // one allocation for every value's text
	for r, g := range rows {
		for i := 0; i < n; i++ {
			v := g.vals[i]
			if v == nil {
				continue
			}
			t := &texts[r*n+i]
			switch x := v.(type) {
			case string:
				*t = x
			case []byte:
				*t = hex.EncodeToString(x)
			case int64:
				*t = strconv.FormatInt(x, 10)
			case bool:
				*t = strconv.FormatBool(x)
			case time.Time:
				*t = x.UTC().Format(time.RFC3339Nano)
			default:
				*t = fmt.Sprint(x)
			}
			cols[i][r] = t
		}
	}
	args := make([]any, 0, n+3)
	for _, c := range cols {
		args = append(args, c)
	}
	return append(args, rs.o.SourceName, rs.now, rs.o.RunID)
}

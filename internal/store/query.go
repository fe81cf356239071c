package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Q is what both *DB and *Tx offer: hand-written SQL with `?` placeholders, rebound for the
// dialect, with time arguments normalised to UTC so that stored times compare correctly.
type Q interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Get(ctx context.Context, dest any, query string, args ...any) error
	Select(ctx context.Context, dest any, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Rebind turns `?` placeholders into the dialect's form.
func (d Dialect) Rebind(q string) string {
	if d == Postgres {
		return sqlx.Rebind(sqlx.DOLLAR, q)
	}
	return q
}

func utcArgs(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			args[i] = v.UTC()
		case *time.Time:
			if v != nil {
				t := v.UTC()
				args[i] = t
			}
		}
	}
	return args
}

func get(ctx context.Context, e execer, d Dialect, dest any, q string, args []any) error {
	err := e.GetContext(ctx, dest, d.Rebind(q), utcArgs(args)...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Dialect returns the database flavour.
func (db *DB) Dialect() Dialect { return db.dialect }

// Analyze refreshes the planner's statistics of table after a large change (a bulk load).
// Without them SQLite picks an index by its shape alone: it can prefer a region index that
// matches half the rows over a date index that matches a few hundred, or a status index for
// the two statuses most rows have. SQLite reads every row (about 1 s per million market
// entities); with analysis_limit it would sample the first rows of each index, which for a
// status index all share one value, and the statistics would mislead it the other way.
// PostgreSQL samples a fixed number of rows and does not block writers; there it is VACUUM
// (ANALYZE), which also marks the loaded pages all-visible: until then no index-only scan can
// serve a count (a Xi'an user's dataset catalogue over 1,000,000 freshly loaded market
// entities read 419,010 heap blocks, 1.37 s, then 0.07 s), and autovacuum may be off or come
// minutes later.
func (db *DB) Analyze(ctx context.Context, table string) error {
	if db.dialect != SQLite {
		_, err := db.w.ExecContext(ctx, "VACUUM (ANALYZE) "+table)
		return err
	}
	// Other SQLite connections load statistics with the schema: a schema change in the same
	// transaction makes the readers reload it, and re-prepare their cached statements, at
	// their next statement.
	return db.InTx(ctx, func(tx *Tx) error {
		for _, q := range []string{"ANALYZE " + table, "CREATE TABLE zhsj_reload_schema (x INTEGER)", "DROP TABLE zhsj_reload_schema"} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// AnalyzedRows is the row count of table when its statistics were last taken; false when
// it has none.
func (db *DB) AnalyzedRows(ctx context.Context, table string) (int64, bool) {
	if db.dialect != SQLite {
		var n float64
		err := db.w.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&n)
		return int64(n), err == nil && n >= 0
	}
	var stat string
	if err := db.w.QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1`, table).Scan(&stat); err != nil {
		return 0, false // no statistics table yet, or none for this table
	}
	first, _, _ := strings.Cut(stat, " ")
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// Exec runs a statement on the writer.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.w.ExecContext(ctx, db.dialect.Rebind(q), utcArgs(args)...)
}

// Get scans one row into dest from the reader pool; ErrNotFound when there is none.
func (db *DB) Get(ctx context.Context, dest any, q string, args ...any) error {
	if st := db.stmt(ctx, q); st != nil {
		err := st.GetContext(ctx, dest, utcArgs(args)...)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}
	return get(ctx, db.r, db.dialect, dest, q, args)
}

// Select scans all rows into the slice dest from the reader pool.
func (db *DB) Select(ctx context.Context, dest any, q string, args ...any) error {
	if st := db.stmt(ctx, q); st != nil {
		return st.SelectContext(ctx, dest, utcArgs(args)...)
	}
	return db.r.SelectContext(ctx, dest, db.dialect.Rebind(q), utcArgs(args)...)
}

// maxStmts bounds the prepared-statement cache; queries beyond it run unprepared.
const maxStmts = 512

// stmt returns a cached prepared statement for a read query, so that hot queries (session
// lookup, dashboards) are parsed once per connection instead of on every request.
func (db *DB) stmt(ctx context.Context, q string) *sqlx.Stmt {
	db.stmtMu.RLock()
	st, ok := db.stmts[q]
	db.stmtMu.RUnlock()
	if ok {
		return st
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.stmts[q]; ok {
		return st
	}
	if len(db.stmts) >= maxStmts {
		return nil
	}
	st, err := db.r.PreparexContext(context.WithoutCancel(ctx), db.dialect.Rebind(q))
	if err != nil {
		return nil // the unprepared path reports the error
	}
	if db.stmts == nil {
		db.stmts = map[string]*sqlx.Stmt{}
	}
	db.stmts[q] = st
	return st
}

// Query runs a query on the reader pool.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(ctx, db.dialect.Rebind(q), utcArgs(args)...)
}

// QueryRow runs a one-row query on the reader pool (prepared once, like Get).
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.stmt(ctx, q); st != nil {
		return st.Stmt.QueryRowContext(ctx, utcArgs(args)...)
	}
	return db.r.QueryRowContext(ctx, db.dialect.Rebind(q), utcArgs(args)...)
}

// Tx is a transaction on the writer.
type Tx struct {
	tx      *sqlx.Tx
	dialect Dialect
	after   []func()
}

// Dialect returns the database flavour.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Exec runs a statement inside the transaction.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.dialect.Rebind(q), utcArgs(args)...)
}

// Get scans one row; ErrNotFound when there is none.
func (tx *Tx) Get(ctx context.Context, dest any, q string, args ...any) error {
	return get(ctx, tx.tx, tx.dialect, dest, q, args)
}

// Select scans all rows into the slice dest.
func (tx *Tx) Select(ctx context.Context, dest any, q string, args ...any) error {
	return tx.tx.SelectContext(ctx, dest, tx.dialect.Rebind(q), utcArgs(args)...)
}

// Query runs a query inside the transaction.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.dialect.Rebind(q), utcArgs(args)...)
}

// QueryRow runs a one-row query inside the transaction.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.dialect.Rebind(q), utcArgs(args)...)
}

// Stmt returns s bound to the transaction. Prepare s once with DB.Writer().PrepareContext
// (placeholders rebound with Dialect().Rebind) for a statement executed in many transactions,
// such as a bulk load's multi-row insert.
func (tx *Tx) Stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt { return tx.tx.StmtContext(ctx, s) }

// AfterCommit registers f to run once the transaction has committed (e.g. waking subscribers).
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// InsertID inserts a row and returns its generated id column, on both dialects.
func InsertID(ctx context.Context, q Q, query string, args ...any) (int64, error) {
	var id int64
	query = strings.TrimRight(query, "; \n") + " RETURNING id"
	if db, ok := q.(*DB); ok {
		// An insert is a write: the writer, not the read pool that QueryRow uses.
		err := db.w.QueryRowContext(ctx, db.dialect.Rebind(query), utcArgs(args)...).Scan(&id)
		return id, err
	}
	err := q.QueryRow(ctx, query, args...).Scan(&id)
	return id, err
}

// InTx runs f in a transaction on the writer, committing when it returns nil and rolling
// back otherwise (also on panic).
func (db *DB) InTx(ctx context.Context, f func(tx *Tx) error) (err error) {
	stx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &Tx{tx: stx, dialect: db.dialect}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
	}()
	if err := f(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return err
	}
	for _, a := range tx.after {
		a()
	}
	return nil
}

// China is the bureau's time zone (China Standard Time, UTC+8 all year: a fixed zone needs
// no tzdata): of cron schedules, calendar months and days, file names and report dates.
var China = time.FixedZone("CST", 8*3600)

// Now is the database's idea of now for stored timestamps: UTC, millisecond precision, so
// values round-trip identically through both drivers.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

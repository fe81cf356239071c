package ops

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/gm"
	"zhsj/internal/store"
)

// TableStat is the row count and content checksum of one table.
type TableStat struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
	// SM3 is the sum modulo 2^256 of the SM3 digests of the table's rows: it does not depend
	// on row order (no ORDER BY over column types that may not sort) and changes with any
	// changed, added or removed row.
	SM3 string `json:"sm3"`
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listTables names the tables of the database (SQLite's own tables excluded), sorted. A
// partitioned PostgreSQL table is one table: its partitions are not listed, its rows are.
func listTables(ctx context.Context, q querier, d store.Dialect) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if d == store.Postgres {
		query = `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// tableStats counts and checksums every table. Run it inside one snapshot (a transaction on
// PostgreSQL, a file nobody writes on SQLite) so that the figures describe one moment.
func tableStats(ctx context.Context, q querier, d store.Dialect) ([]TableStat, error) {
	names, err := listTables(ctx, q, d)
	if err != nil {
		return nil, err
	}
	var cols map[string][]string
	if d == store.Postgres {
		// Name the columns: pgx caches statements by their text, and "SELECT *" of a table
		// that a migration has since altered would meet its stale cached plan.
		if cols, err = columnNames(ctx, q); err != nil {
			return nil, err
		}
	}
	out := make([]TableStat, 0, len(names))
	for _, n := range names {
		sel := "*"
		if cols != nil {
			if len(cols[n]) == 0 {
				return nil, fmt.Errorf("表 %s 没有列", n)
			}
			sel = strings.Join(cols[n], ", ")
		}
		st, err := tableStat(ctx, q, n, sel)
		if err != nil {
			return nil, fmt.Errorf("表 %s: %w", n, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func tableStat(ctx context.Context, q querier, name, cols string) (TableStat, error) {
	st := TableStat{Name: name}
	rows, err := q.QueryContext(ctx, "SELECT "+cols+" FROM "+quoteIdent(name))
	if err != nil {
		return st, err
	}
	defer rows.Close()
	rcols, err := rows.Columns()
	if err != nil {
		return st, err
	}
	vals := make([]any, len(rcols))
	ptrs := make([]any, len(rcols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sum [32]byte
	h := gm.NewSM3()
	buf := make([]byte, 0, 256)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return st, err
		}
		h.Reset()
		for _, v := range vals {
			buf = appendValue(buf[:0], v)
			h.Write(buf)
		}
		add256(&sum, h)
		st.Rows++
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	st.SM3 = hex.EncodeToString(sum[:])
	return st, nil
}

// columnNames returns the quoted column names of every table of the current PostgreSQL
// schema, in column order, with one catalogue query.
func columnNames(ctx context.Context, q querier) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.relname, a.attname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], quoteIdent(c))
	}
	return out, rows.Err()
}

// appendValue encodes one column value unambiguously: a type tag, a length and the bytes.
func appendValue(b []byte, v any) []byte {
	var tag byte
	var s []byte
	switch x := v.(type) {
	case nil:
		return append(b, 'n')
	case int64:
		tag, s = 'i', strconv.AppendInt(nil, x, 10)
	case int32:
		tag, s = 'i', strconv.AppendInt(nil, int64(x), 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			tag, s = 'f', strconv.AppendInt(nil, int64(x), 10)
		} else {
			tag, s = 'f', strconv.AppendFloat(nil, x, 'g', -1, 64)
		}
	case bool:
		tag, s = 'b', strconv.AppendBool(nil, x)
	case []byte:
		tag, s = 'x', x
	case string:
		tag, s = 's', []byte(x)
	case time.Time:
		tag, s = 't', []byte(x.UTC().Format(time.RFC3339Nano))
	default:
		tag, s = 'v', fmt.Append(nil, x)
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// add256 adds the digest of h to sum modulo 2^256.
func add256(sum *[32]byte, h hash.Hash) {
	d := h.Sum(nil)
	var carry uint16
	for i := 31; i >= 0; i-- {
		t := uint16(sum[i]) + uint16(d[i]) + carry
		sum[i] = byte(t)
		carry = t >> 8
	}
}

// compareStats lists the differences between the expected and the actual tables.
func compareStats(want, got []TableStat) []string {
	g := map[string]TableStat{}
	for _, s := range got {
		g[s.Name] = s
	}
	var diffs []string
	for _, w := range want {
		a, ok := g[w.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("表 %s 缺失", w.Name))
		case a.Rows != w.Rows:
			diffs = append(diffs, fmt.Sprintf("表 %s 行数 %d，应为 %d", w.Name, a.Rows, w.Rows))
		case w.SM3 != "" && a.SM3 != w.SM3:
			diffs = append(diffs, fmt.Sprintf("表 %s 内容校验值不符", w.Name))
		}
		delete(g, w.Name)
	}
	for n := range g {
		diffs = append(diffs, fmt.Sprintf("多出表 %s", n))
	}
	return diffs
}

// TableStats counts and checksums the tables of an open database (tests and checks).
func TableStats(ctx context.Context, db *store.DB) ([]TableStat, error) {
	if db.Dialect() == store.Postgres {
		tx, err := db.Writer().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		return tableStats(ctx, tx, db.Dialect())
	}
	// One connection inside one read transaction: every table from the same snapshot.
	conn, err := db.Reader().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return tableStats(ctx, conn, db.Dialect())
}

package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

var ctx = context.Background()

func newModule(t testing.TB, db *store.DB) *Module {
	t.Helper()
	keys, err := gm.NewSoftKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := iam.LoadRegions(ctx, db); err != nil {
		t.Fatal(err)
	}
	m := New(Deps{DB: db, Keys: keys, Audit: audit.New(db, keys), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// ingest runs a file through the pipeline and fails the test on an unexpected error.
func ingest(t testing.TB, m *Module, name, dataset, content string, o ...Options) *Result {
	t.Helper()
	var opt Options
	if len(o) > 0 {
		opt = o[0]
	}
	opt.Dataset, opt.SourceName = dataset, name
	res, err := m.Ingest(ctx, strings.NewReader(content), opt)
	if err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return res
}

// tableRows returns the dataset table as sorted "key|hash" lines plus the chosen columns.
func tableRows(t testing.TB, db *store.DB, ds *Dataset, cols ...string) []string {
	t.Helper()
	sel := append(append([]string{}, ds.Key...), "row_hash")
	sel = append(sel, cols...)
	rows, err := db.Query(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+ds.Table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]any, len(sel))
		ptrs := make([]any, len(sel))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out
}

func count(t testing.TB, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(ctx, &n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// lastEvent returns the payload of the newest event with the name.
func lastEvent(t testing.TB, db *store.DB, name string, v any) {
	t.Helper()
	var payload string
	if err := db.Get(ctx, &payload, `SELECT payload FROM events WHERE name = ? ORDER BY id DESC LIMIT 1`, name); err != nil {
		t.Fatalf("event %s: %v", name, err)
	}
	if err := json.Unmarshal([]byte(payload), v); err != nil {
		t.Fatal(err)
	}
}

// principal builds a principal with full scope in a region (path from the regions table).
func principal(t testing.TB, db *store.DB, account, region string) *iam.Principal {
	t.Helper()
	path, err := iam.RegionPath(ctx, db, region)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	db.Get(ctx, &name, `SELECT name FROM regions WHERE code = ?`, region)
	return &iam.Principal{Account: account, UserID: 0, Region: region, RegionPath: path, RegionName: name,
		Scopes: []iam.RoleScope{{Kind: iam.ScopeAll}}, Perms: map[string]bool{}}
}

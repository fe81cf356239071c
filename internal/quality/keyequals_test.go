package quality

import (
	"context"
	"strings"
	"testing"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestKeyEqualsUsesTheKeyIndex: the failed-record view looks a row up by its text key with
// the key's unique index (not a scan of the whole dataset), and still finds rows whose key
// column is not text.
func TestKeyEqualsUsesTheKeyIndex(t *testing.T) {
	t.Parallel()
	ds := &Dataset{Name: "kq", Table: "kq_rows", Columns: []Column{{Name: "code", Type: TypeText}, {Name: "n", Type: TypeInt}}}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, q := range []string{`CREATE TABLE kq_rows (code TEXT NOT NULL, n INTEGER NOT NULL, name TEXT)`,
			`CREATE UNIQUE INDEX kq_rows_code ON kq_rows(code)`, `CREATE UNIQUE INDEX kq_rows_n ON kq_rows(n)`,
			`INSERT INTO kq_rows (code, n, name) VALUES ('A1', 42, '甲'), ('B2', 7, '乙')`} {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct{ key, arg, want string }{{"code", "B2", "B2"}, {"n", "42", "A1"}} {
			var got string
			if err := db.Get(ctx, &got, `SELECT code FROM kq_rows t WHERE `+ds.keyEquals("t", c.key), c.arg); err != nil || got != c.want {
				t.Errorf("key %s = %s: got %q, %v", c.key, c.arg, got, err)
			}
		}
		if db.Dialect() != store.SQLite {
			return
		}
		var plan []struct {
			ID, Parent, NotUsed int
			Detail              string
		}
		if err := db.Select(ctx, &plan, `EXPLAIN QUERY PLAN SELECT code, name FROM kq_rows t WHERE `+ds.keyEquals("t", "code"), "B2"); err != nil {
			t.Fatal(err)
		}
		if len(plan) == 0 || !strings.Contains(plan[0].Detail, "INDEX kq_rows_code (code=?)") {
			t.Errorf("text key lookup plan: %+v", plan)
		}
	})
}

package quality

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

func TestCheckSQL(t *testing.T) {
	t.Parallel()
	cat := &fixtureCatalog
	ok := []struct {
		mode sqlMode
		sql  string
	}{
		{sqlCondition, "employees > 1000"},
		{sqlCondition, "t.status = '注销' AND cancel IS NULL"},
		{sqlCondition, "NOT EXISTS (SELECT 1 FROM qt_lic l WHERE l.holder_uscc = t.uscc)"},
		{sqlCondition, "EXTRACT(YEAR FROM establish_date) > 2000 OR SUBSTRING(name FROM 1 FOR 2) = '陕西'"},
		{sqlCondition, "CAST(capital AS NUMERIC(18, 2)) > 0 AND length(TRIM(name)) < 2"},
		{sqlCondition, "name LIKE '%;DROP TABLE x%' -- a comment\n"},
		{sqlCondition, "status IN ('a', 'b') AND zhsj_uscc_valid(uscc)"},
		{sqlQuery, "SELECT uscc FROM qt_ent WHERE establish_date < '2000-01-01'"},
		{sqlQuery, "SELECT e.uscc FROM qt_ent e JOIN qt_lic l ON l.holder_uscc = e.uscc, qt_codes c WHERE c.code = e.ent_type"},
		{sqlQuery, "SELECT uscc FROM (SELECT uscc, COUNT(*) n FROM qt_ent GROUP BY uscc) s WHERE n > 1"},
		{sqlQuery, "SELECT uscc FROM qt_ent UNION SELECT holder_uscc FROM qt_lic"},
	}
	for _, c := range ok {
		if err := checkSQL(c.sql, c.mode, cat); err != nil {
			t.Errorf("rejected %q: %v", c.sql, err)
		}
	}
	bad := []struct {
		mode sqlMode
		sql  string
		msg  string
	}{
		{sqlCondition, "1=1; DELETE FROM qt_ent", "分号"},
		{sqlQuery, "DELETE FROM qt_ent RETURNING uscc", "SELECT"},
		{sqlQuery, "WITH d AS (DELETE FROM qt_ent RETURNING uscc) SELECT uscc FROM d", "SELECT"},
		{sqlQuery, "SELECT uscc FROM qt_ent WHERE uscc IN (WITH d AS (DELETE FROM qt_ent RETURNING uscc) SELECT uscc FROM d)", "WITH"},
		{sqlCondition, "uscc IN (UPDATE qt_ent SET name = 'x' RETURNING uscc)", "UPDATE"},
		{sqlQuery, "SELECT uscc INTO evil FROM qt_ent", "INTO"},
		{sqlQuery, "SELECT account FROM users", "只能引用数据集表"},
		{sqlCondition, "EXISTS (SELECT 1 FROM sessions)", "只能引用数据集表"},
		{sqlCondition, "EXISTS (SELECT 1 FROM qt_ent, users)", "只能引用数据集表"},
		{sqlCondition, "EXISTS (SELECT 1 FROM qt_ent JOIN audit_log ON 1=1)", "只能引用数据集表"},
		{sqlQuery, "SELECT uscc FROM public.qt_ent", "其他模式"},
		{sqlQuery, `SELECT uscc FROM "users"`, "只能引用数据集表"},
		{sqlCondition, "EXISTS (SELECT 1 FROM pg_class)", "系统对象"},
		{sqlCondition, "EXISTS (SELECT 1 FROM sqlite_master)", "系统对象"},
		{sqlCondition, "pg_sleep(10) IS NULL", "系统对象"},
		{sqlCondition, "length(query_to_xml('select * from users', true, true, '')) > 0", "不允许调用函数"},
		{sqlCondition, "load_extension('x') IS NULL", "不允许调用函数"},
		{sqlCondition, `"set_config"('a', 'b', true) IS NULL`, "不允许调用函数"},
		{sqlQuery, "SELECT uscc FROM generate_series(1, 10) g", "只能引用数据集表"},
		{sqlCondition, "name = ?", "占位符"},
		{sqlCondition, "name = $1", "占位符"},
		{sqlCondition, "name = $$x$$", "占位符"},
		{sqlCondition, "name = E'\\''", "前缀"},
		{sqlCondition, "name = 'unterminated", "引号"},
		{sqlQuery, "SELECT uscc FROM qt_ent FOR UPDATE", "加锁"},
		{sqlCondition, "ATTACH DATABASE 'x' AS y", "ATTACH"},
		{sqlCondition, "status = 'a' /* unterminated", "注释"},
		{sqlCondition, "名称 = 'x'", "名称"},
		{sqlCondition, "(a = 1", "括号"},
	}
	for _, c := range bad {
		err := checkSQL(c.sql, c.mode, cat)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: got %v, want an error mentioning %s", c.sql, err, c.msg)
		}
	}
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Get(context.Background(), &n, "SELECT COUNT(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCustomRuleThatWritesIsRejected tries to write through every way a custom rule offers:
// the API rejects the rule when it is saved; a rule written into the table behind the API's back
// is refused when it runs; and the session rules run in is read-only on both databases. Nothing
// changes.
func TestCustomRuleThatWritesIsRejected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		before := countRows(t, db, "qt_ent")
		attempts := []*Rule{
			{Code: "W1", Name: "写入", Dataset: "ent", Template: "custom_query", Params: Params{Query: "DELETE FROM qt_ent RETURNING uscc"}},
			{Code: "W2", Name: "写入", Dataset: "ent", Template: "custom_query", Params: Params{Query: "WITH d AS (DELETE FROM qt_ent RETURNING uscc) SELECT uscc FROM d"}},
			{Code: "W3", Name: "写入", Dataset: "ent", Template: "custom_condition", Params: Params{Condition: "1=1; DELETE FROM qt_ent"}},
			{Code: "W4", Name: "写入", Dataset: "ent", Template: "custom_condition", Params: Params{Condition: "uscc IN (UPDATE qt_ent SET name = 'x' RETURNING uscc)"}},
			{Code: "W5", Name: "越权", Dataset: "ent", Template: "custom_query", Params: Params{Query: "SELECT account AS uscc FROM users"}},
			{Code: "W6", Name: "写入", Dataset: "ent", Template: "not_null", Params: Params{Column: "name"}, Filter: "1=1; DROP TABLE qt_ent"},
		}
		for _, r := range attempts {
			err := m.CreateRule(ctx, r, "tester", nil)
			var we *web.Error
			if !errors.As(err, &we) || we.Status != 400 {
				t.Errorf("%s saved: %v", r.Code, err)
			}
		}
		var rules int
		db.Get(ctx, &rules, `SELECT COUNT(*) FROM quality_rules`)
		if rules != 0 {
			t.Fatalf("%d rejected rules stored", rules)
		}
		// Written straight into the table, the rule is checked again when it runs.
		now := store.Now()
		if _, err := db.Exec(ctx, `INSERT INTO quality_rules(code, name, dataset, template, params, dimension, created_at, updated_at)
			VALUES ('EVIL', '绕过', 'ent', 'custom_condition', ?, '规范性', ?, ?)`, `{"condition":"uscc IN (DELETE FROM qt_ent RETURNING uscc)"}`, now, now); err != nil {
			t.Fatal(err)
		}
		_, res, err := m.Execute(ctx, RunOptions{Rule: "EVIL"})
		if err != nil || res[0].Status != StatusError || !strings.Contains(res[0].Message, "DELETE") {
			t.Fatalf("bypassing rule ran: %v %+v", err, res)
		}
		// The session itself refuses writes.
		for _, q := range []string{"DELETE FROM qt_ent", "UPDATE qt_ent SET name = 'x'", "INSERT INTO qt_codes VALUES ('x', 'y', TRUE)"} {
			err := m.readOnly(ctx, time.Minute, func(ctx context.Context, x *roExec) error {
				rows, err := x.query(ctx, sqlf(q))
				if err == nil {
					rows.Close()
				}
				return err
			})
			if err == nil {
				t.Errorf("read-only session ran %q", q)
			}
		}
		if db.Dialect() == store.Postgres {
			err := m.readOnly(ctx, time.Minute, func(ctx context.Context, x *roExec) error {
				return x.row(ctx, sqlf("SELECT nextval('quality_rules_id_seq')")).Scan(new(int64))
			})
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("nextval in read-only session: %v", err)
			}
		}
		if after := countRows(t, db, "qt_ent"); after != before {
			t.Fatalf("rows changed from %d to %d", before, after)
		}
		var name string
		db.Get(ctx, &name, `SELECT name FROM qt_ent WHERE uscc = ?`, e(1))
		if name != "甲公司" {
			t.Fatalf("row changed: %q", name)
		}
	})
}

// TestCustomRuleTimeLimit stops a runaway query at the time limit and reports it in Chinese.
func TestCustomRuleTimeLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		st, _ := m.Settings(ctx)
		st.TimeoutS = 1
		if err := m.SaveSettings(ctx, st, "tester", nil); err != nil {
			t.Fatal(err)
		}
		r := &Rule{Code: "SLOW", Name: "慢查询", Dataset: "ent", Template: "custom_query", Threshold: 100, Enabled: true,
			Params: Params{Query: "SELECT a.uscc FROM qt_ent a, qt_ent b, qt_ent c, qt_ent d, qt_ent e, qt_ent f, qt_ent g, qt_ent h WHERE a.name <> h.name || g.name"}}
		if err := m.CreateRule(ctx, r, "tester", nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, res, err := m.Execute(ctx, RunOptions{Rule: "SLOW"})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != StatusError || !strings.Contains(res[0].Message, "超时") {
			t.Fatalf("slow rule: %+v", res[0])
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("time limit not enforced: %v", d)
		}
	})
}

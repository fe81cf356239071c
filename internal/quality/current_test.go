package quality

import (
	"context"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// TestScoresFollowEveryRulesNewestResult: the overview and the trend score the newest result of
// every enabled rule, so a run of one rule moves only that rule's part (it used to show that
// rule's score as the overall one).
func TestScoresFollowEveryRulesNewestResult(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		createRules(t, m,
			&Rule{Code: "NE", Name: "名称非空", Dataset: "ent", Template: "not_empty", Params: Params{Column: "name"}, Threshold: 100, Enabled: true},
			&Rule{Code: "USCC", Name: "信用代码", Dataset: "ent", Template: "uscc", Params: Params{Column: "uscc"}, Threshold: 100, Enabled: true},
			&Rule{Code: "REF", Name: "持证企业存在", Dataset: "lic", Template: "referential", Params: Params{Column: "holder_uscc", RefDataset: "ent"}, Threshold: 100, Enabled: true})
		overall := func(want float64, rules int) {
			t.Helper()
			v, err := m.Current(ctx, allScope())
			if err != nil {
				t.Fatal(err)
			}
			if v.Score == nil || *v.Score != want || v.RulesTotal != rules {
				t.Errorf("current: score %v over %d rules, want %.2f over %d", v.Score, v.RulesTotal, want, rules)
			}
		}
		// NE 10/12 = 83.3333 (完整性), USCC 11/12 = 91.6667 (规范性), REF 4/5 = 80 (一致性):
		// equal weights, overall 85.
		if _, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual}); err != nil {
			t.Fatal(err)
		}
		overall(85, 3)
		// One rule alone: its run scores 91.67, the overall stays 85.
		run, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Rule: "USCC"})
		if err != nil {
			t.Fatal(err)
		}
		if run.Score == nil || *run.Score != 91.67 {
			t.Errorf("single-rule run scored %v", run.Score)
		}
		overall(85, 3)
		// The names are corrected and NE runs alone: (100 + 91.6667 + 80) / 3.
		if _, err := db.Exec(ctx, `UPDATE qt_ent SET name = '补正公司' || uscc WHERE uscc IN (?, ?)`, e(2), e(3)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Rule: "NE"}); err != nil {
			t.Fatal(err)
		}
		overall(90.56, 3)
		pts, err := m.Trend(ctx, allScope(), "", "", "", 30)
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		for _, p := range pts {
			if p.Value == nil {
				t.Fatalf("trend point of run %d has no value", p.RunID)
			}
			got = append(got, *p.Value)
		}
		if len(got) != 3 || got[0] != 85 || got[1] != 85 || got[2] != 90.56 {
			t.Errorf("trend %v, want [85 85 90.56]", got)
		}
		// The monthly report's trend is the same.
		rep, err := m.Publish(ctx, "month", 0, time.Now().In(web.Shanghai()).Format("2006-01"), "tester", nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := m.reportData(ctx, allScope(), rep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Trend) != 3 || d.Trend[1].Value == nil || *d.Trend[1].Value != 85 || *d.Trend[2].Value != 90.56 {
			t.Errorf("monthly report trend %+v", d.Trend)
		}
		// Per-dataset trend: only runs that checked ent, with ent's rules.
		pts, _ = m.Trend(ctx, allScope(), "ent", "", "", 30)
		if len(pts) != 3 || pts[2].Value == nil || *pts[2].Value != 95.83 {
			t.Errorf("ent trend %+v", pts)
		}
		// A disabled rule no longer counts.
		var ref int64
		db.Get(ctx, &ref, `SELECT id FROM quality_rules WHERE code = 'REF'`)
		if _, err := db.Exec(ctx, `UPDATE quality_rules SET enabled = ? WHERE id = ?`, false, ref); err != nil {
			t.Fatal(err)
		}
		overall(95.83, 2)
	})
}

package quality

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

type expect struct {
	rule            *Rule
	checked, failed int64
	keys            []string // exactly the failing keys (drill-down)
}

func e(i int) string { return usccs[i] }

// builtinCases are one rule per built-in template on the fixture, with exact expectations.
func builtinCases() []expect {
	r := func(code, ds, tpl string, p Params) *Rule {
		return &Rule{Code: code, Name: code, Dataset: ds, Template: tpl, Params: p, Threshold: 100, Enabled: true}
	}
	return []expect{
		{r("NN", "ent", "not_null", Params{Column: "name"}), 12, 1, []string{e(2)}},
		{r("NE", "ent", "not_empty", Params{Column: "name"}), 12, 2, []string{e(2), e(3)}},
		{r("CODE", "ent", "in_set", Params{Column: "ent_type", CodeTable: "ent_type"}), 11, 1, []string{e(4)}},
		{r("ENUM", "ent", "in_set", Params{Column: "status"}), 12, 1, []string{e(4)}},
		{r("CAP", "ent", "range", Params{Column: "capital", Min: f64(0), Max: f64(1000000)}), 11, 2, []string{e(5), e(6)}},
		{r("EMP", "ent", "range", Params{Column: "employees", Max: f64(50000)}), 11, 1, []string{e(7)}},
		{r("RE", "ent", "regex", Params{Column: "status", Pattern: "^(存续|在业|吊销|注销|迁出)$"}), 12, 1, []string{e(4)}},
		{r("LEN", "ent", "length", Params{Column: "name", MaxLen: iptr(10)}), 11, 1, []string{e(5)}},
		{r("USCC", "ent", "uscc", Params{Column: "uscc"}), 12, 1, []string{e(8)}},
		{r("ID", "ent", "idcard", Params{Column: "legal_id"}), 2, 1, []string{e(11)}},
		{r("IDS", "ent", "idcard", Params{Column: "legal_sealed"}), 2, 1, []string{e(11)}},
		{r("REG", "ent", "region", Params{Column: "region_code"}), 12, 1, []string{e(10)}},
		{r("FUT", "ent", "not_future", Params{Column: "establish_date"}), 12, 1, []string{e(9)}},
		{r("FUT2", "ent", "not_future", Params{Column: "updated_at"}), 12, 0, nil},
		{r("UNQ", "ent", "unique", Params{Columns: []string{"name"}}), 10, 2, []string{e(1), e(12)}},
		{r("CC", "ent", "custom_condition", Params{Condition: "employees > 1000 OR t.status = '注销'"}), 12, 2, []string{e(6), e(7)}},
		{r("CQ", "ent", "custom_query", Params{Query: "SELECT uscc FROM qt_ent WHERE establish_date < '2000-01-01'"}), 12, 1, []string{e(6)}},
		{r("REF", "lic", "referential", Params{Column: "holder_uscc", RefDataset: "ent"}), 5, 1, []string{"L2"}},
		{r("CONS", "lic", "consistency", Params{Column: "holder_uscc", RefDataset: "ent", ValueColumn: "region_code", RefColumn: "region_code"}), 5, 1, []string{"L4"}},
		{r("ORDER", "lic", "date_order", Params{Columns: []string{"ref.establish_date", "issue_date", "expiry_date"}, Column: "holder_uscc", RefDataset: "ent"}), 6, 2, []string{"L3", "L5"}},
		{r("UNQ2", "trace", "unique", Params{Columns: []string{"batch", "product"}}), 4, 2, []string{"A|p1", "C|p1"}},
		{r("FRESH", "ent", "freshness", Params{Hours: 24}), 1, 0, nil},
		{r("STALE", "ent", "freshness", Params{Hours: 0.5}), 1, 1, nil},
		{r("VOL", "ent", "volume", Params{MinChange: f64(-10), MaxChange: f64(10)}), 1, 0, nil},
		{r("AVAIL", "trace", "available", Params{MinRows: func() *int64 { n := int64(5); return &n }()}), 1, 1, nil},
	}
}

func failedKeys(t *testing.T, db *store.DB, resultID int64) []string {
	t.Helper()
	var keys []string
	if err := db.Select(context.Background(), &keys, `SELECT row_key FROM quality_failed_rows WHERE result_id = ? ORDER BY row_key`, resultID); err != nil {
		t.Fatal(err)
	}
	return keys
}

// runCases creates the cases' rules, runs them in one run and checks each result's exact
// checked and failed counts, status and failing keys (the drill-down).
func runCases(t *testing.T, db *store.DB, m *Module, cases []expect) (*Run, map[string]*Result) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cases {
		createRules(t, m, c.rule)
	}
	run, results, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if run.RulesTotal != len(cases) {
		t.Fatalf("run has %d results, want %d", run.RulesTotal, len(cases))
	}
	byCode := map[string]*Result{}
	for _, r := range results {
		byCode[r.RuleCode] = r
	}
	for _, c := range cases {
		res := byCode[c.rule.Code]
		if res.Status == StatusError {
			t.Errorf("%s: error %s", c.rule.Code, res.Message)
			continue
		}
		if res.Checked != c.checked || res.Failed != c.failed {
			t.Errorf("%s (%s): checked %d failed %d, want %d and %d", c.rule.Code, c.rule.Template, res.Checked, res.Failed, c.checked, c.failed)
		}
		want := append([]string(nil), c.keys...)
		slices.Sort(want)
		if got := failedKeys(t, db, res.ID); !slices.Equal(got, want) {
			t.Errorf("%s: failing keys %v, want %v", c.rule.Code, got, want)
		}
		wantStatus := StatusPass
		if c.failed > 0 {
			wantStatus = StatusFail
		}
		if res.Status != wantStatus {
			t.Errorf("%s: status %s, want %s", c.rule.Code, res.Status, wantStatus)
		}
	}
	return run, byCode
}

// TestRulesOnDataDrivenFields runs the templates on fields kept in a dataset's JSON column (the
// e-bike fields added by definition): exact counts and keys, the offending values and the full
// record as the drill-down shows them.
func TestRulesOnDataDrivenFields(t *testing.T) {
	t.Parallel()
	r := func(code, tpl string, p Params) *Rule {
		return &Rule{Code: code, Name: code, Dataset: "trace", Template: tpl, Params: p, Threshold: 100, Enabled: true}
	}
	cases := []expect{
		{r("J_NE", "not_empty", Params{Column: "color"}), 4, 2, []string{"A|p2", "B|p1"}},
		{r("J_NN", "not_null", Params{Column: "qty"}), 4, 1, []string{"B|p1"}},
		{r("J_RANGE", "range", Params{Column: "qty", Min: f64(0), Max: f64(100)}), 3, 2, []string{"A|p2", "C|p1"}},
		{r("J_SET", "in_set", Params{Column: "color", Values: []string{"红", "蓝"}}), 2, 1, []string{"C|p1"}},
		{r("J_LEN", "length", Params{Column: "color", MaxLen: iptr(2)}), 3, 1, []string{"C|p1"}},
		{r("J_RE", "regex", Params{Column: "made", Pattern: "^20[0-9]{2}-"}), 3, 1, []string{"A|p2"}},
		{r("J_FUT", "not_future", Params{Column: "made"}), 3, 1, []string{"A|p2"}},
		{r("J_ORDER", "date_order", Params{Columns: []string{"made", "sold"}}), 4, 1, []string{"A|p1"}},
		{r("J_UNQ", "unique", Params{Columns: []string{"made"}}), 3, 2, []string{"A|p1", "C|p1"}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		_, byCode := runCases(t, db, m, cases)
		var vals string
		db.Get(ctx, &vals, `SELECT vals FROM quality_failed_rows WHERE result_id = ? AND row_key = 'C|p1'`, byCode["J_RANGE"].ID)
		var v map[string]*string
		if json.Unmarshal([]byte(vals), &v); v["qty"] == nil || *v["qty"] != "500" {
			t.Errorf("offending value of J_RANGE: %s", vals)
		}
		fields, _, err := m.Record(ctx, allScope(), "trace", "C|p1")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range fields {
			if f.Value != nil {
				got[f.Name] = *f.Value
			}
		}
		if got["color"] != "蓝色的非常长" || got["made"] != "2020-01-01" || got["qty"] != "500" || got["batch"] != "x" {
			t.Errorf("record C|p1: %v", got)
		}
		// A JSON field cannot be the key a reference joins on.
		bad := r("J_REF", "referential", Params{Column: "uscc", RefDataset: "trace", RefKey: "color"})
		if err := m.CreateRule(ctx, bad, "tester", nil); err == nil {
			t.Error("a JSON field was accepted as a reference key")
		}
	})
}

// TestEveryBuiltinTemplateOnCraftedData runs one rule of every template on the fixture in one
// run and checks the exact checked and failed counts and that the drill-down holds exactly the
// failing keys.
func TestEveryBuiltinTemplateOnCraftedData(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		cases := builtinCases()
		run, byCode := runCases(t, db, m, cases)
		// The history holds the same counts.
		var stored []Result
		if err := db.Select(ctx, &stored, `SELECT id, run_id, rule_id, rule_code, rule_name, rule_version, dataset, template, dimension,
			severity, threshold, checked, failed, pass_rate, status, metric, message, sampled, regional, duration_ms
			FROM quality_results WHERE run_id = ?`, run.ID); err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(cases) {
			t.Fatalf("stored %d results", len(stored))
		}
		for _, s := range stored {
			if r := byCode[s.RuleCode]; s.Checked != r.Checked || s.Failed != r.Failed || s.Status != r.Status {
				t.Errorf("%s stored %d/%d %s", s.RuleCode, s.Checked, s.Failed, s.Status)
			}
		}
		// Per-region counts add up to the totals, and offending values are kept.
		var regionSum int64
		db.Get(ctx, &regionSum, `SELECT COALESCE(SUM(failed), 0) FROM quality_result_regions WHERE result_id = ?`, byCode["CAP"].ID)
		if regionSum != 2 {
			t.Errorf("CAP region failures sum to %d", regionSum)
		}
		var vals string
		db.Get(ctx, &vals, `SELECT vals FROM quality_failed_rows WHERE result_id = ? AND row_key = ?`, byCode["CAP"].ID, e(5))
		var v map[string]*string
		if json.Unmarshal([]byte(vals), &v); v["capital"] == nil || *v["capital"] != "abc" {
			t.Errorf("offending value of CAP: %s", vals)
		}
		// Below-threshold events were published in the run's transaction, one per failing rule.
		var events int
		db.Get(ctx, &events, `SELECT COUNT(*) FROM events WHERE name = ?`, EventBelowThreshold)
		fails := 0
		for _, c := range cases {
			if c.failed > 0 {
				fails++
			}
		}
		if events != fails {
			t.Errorf("%d below-threshold events, want %d", events, fails)
		}
		var payload string
		db.Get(ctx, &payload, `SELECT payload FROM events WHERE name = ? AND payload LIKE ?`, EventBelowThreshold, `%"rule":"USCC"%`)
		var bt BelowThreshold
		if err := json.Unmarshal([]byte(payload), &bt); err != nil || bt.Dataset != "ent" || bt.Run != run.ID || bt.PassRate == nil || *bt.PassRate != 91.6667 {
			t.Errorf("event payload %s", payload)
		}
	})
}

// TestFilterExceptionsThresholdAndCap covers the rule options: filter, exception keys (single
// and composite), threshold and the sample cap with an exact total.
func TestFilterExceptionsThresholdAndCap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		rules := []*Rule{
			{Code: "F1", Name: "西安的非空", Dataset: "ent", Template: "not_empty", Params: Params{Column: "name"}, Filter: "region_code LIKE '6101%'", Threshold: 100, Enabled: true},
			{Code: "X1", Name: "例外", Dataset: "ent", Template: "not_empty", Params: Params{Column: "name"}, Exceptions: []string{e(2)}, Threshold: 100, Enabled: true},
			{Code: "X2", Name: "组合键例外", Dataset: "trace", Template: "unique", Params: Params{Columns: []string{"batch", "product"}}, Exceptions: []string{"C|p1"}, Threshold: 100, Enabled: true},
			{Code: "T1", Name: "阈值", Dataset: "ent", Template: "not_empty", Params: Params{Column: "name"}, Threshold: 80, Enabled: true},
			{Code: "CAP1", Name: "上限", Dataset: "ent", Template: "not_empty", Params: Params{Column: "name"}, Threshold: 100, SampleCap: 1, Enabled: true},
			{Code: "OFF", Name: "停用", Dataset: "ent", Template: "not_null", Params: Params{Column: "name"}, Threshold: 100},
		}
		for _, r := range rules {
			if err := m.CreateRule(ctx, r, "tester", nil); err != nil {
				t.Fatalf("%s: %v", r.Code, err)
			}
		}
		_, results, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*Result{}
		for _, r := range results {
			got[r.RuleCode] = r
		}
		if got["OFF"] != nil {
			t.Error("disabled rule ran")
		}
		check := func(code string, checked, failed int64, status string) {
			t.Helper()
			r := got[code]
			if r.Checked != checked || r.Failed != failed || r.Status != status {
				t.Errorf("%s: %d/%d %s (%s), want %d/%d %s", code, r.Checked, r.Failed, r.Status, r.Message, checked, failed, status)
			}
		}
		check("F1", 7, 2, StatusFail)  // Xi'an rows: E1 E2 E3 E7 E8 E9 E12; E2 and E3 empty
		check("X1", 11, 1, StatusFail) // E2 accepted as known
		check("X2", 3, 0, StatusPass)  // C|p1 excluded, so A|p1 has no duplicate
		check("T1", 12, 2, StatusPass) // 83.33% ≥ 80%
		check("CAP1", 12, 2, StatusFail)
		if got["CAP1"].Sampled != 1 || len(failedKeys(t, db, got["CAP1"].ID)) != 1 {
			t.Errorf("cap 1 kept %d rows", got["CAP1"].Sampled)
		}
		// A named rule runs even when disabled; an unknown one is an error.
		_, res, err := m.Execute(ctx, RunOptions{Rule: "OFF"})
		if err != nil || len(res) != 1 || res[0].Failed != 1 {
			t.Fatalf("run OFF: %v %v", res, err)
		}
		if _, _, err := m.Execute(ctx, RunOptions{Rule: "NOPE"}); err == nil {
			t.Fatal("unknown rule ran")
		}
	})
}

// TestVolumeComparesWithPreviousRun checks the volume band against the previous run.
func TestVolumeComparesWithPreviousRun(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		r := &Rule{Code: "VOL", Name: "数据量", Dataset: "ent", Template: "volume", Params: Params{MinChange: f64(-10), MaxChange: f64(50)}, Threshold: 100, Enabled: true}
		if err := m.CreateRule(ctx, r, "tester", nil); err != nil {
			t.Fatal(err)
		}
		run := func() *Result {
			_, res, err := m.Execute(ctx, RunOptions{Rule: "VOL"})
			if err != nil {
				t.Fatal(err)
			}
			return res[0]
		}
		if first := run(); first.Status != StatusPass || *first.Metric != 12 {
			t.Fatalf("first run %+v", first)
		}
		db.Exec(ctx, `DELETE FROM qt_ent WHERE uscc IN (?, ?)`, e(11), e(12)) // −16.7 %
		second := run()
		if second.Status != StatusFail || *second.Metric != 10 || !strings.Contains(second.Message, "-16.67%") {
			t.Fatalf("second run %+v", second)
		}
		if third := run(); third.Status != StatusPass {
			t.Fatalf("third run (no change) %+v", third)
		}
	})
}

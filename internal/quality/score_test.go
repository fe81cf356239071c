package quality

import (
	"context"
	"math"
	"slices"
	"testing"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// scoreRules are six rules on the fixture whose per-region counts are known (see
// createFixture): ent has rows in 610102 (E1, E2, E7, E8, E9), 610103 (E3), 610104 (E12),
// 610302 (E4, E5, E11), 610303 (E6) and 619999 (E10, not a Shaanxi code); lic L1–L5 in 610102
// and L6 (no holder) in 610302; trace A|p1, A|p2 in 610102 and B|p1, C|p1 in 610302.
func scoreRules() []*Rule {
	r := func(code, ds, tpl string, p Params) *Rule {
		return &Rule{Code: code, Name: code, Dataset: ds, Template: tpl, Params: p, Threshold: 100, Enabled: true}
	}
	return []*Rule{
		r("S_NN", "ent", "not_null", Params{Column: "name"}),                                  // 完整性 12/1 fail (E2)
		r("S_NE", "ent", "not_empty", Params{Column: "name"}),                                 // 完整性 12/2 (E2, E3)
		r("S_USCC", "ent", "uscc", Params{Column: "uscc"}),                                    // 规范性 12/1 (E8)
		r("S_CAP", "ent", "range", Params{Column: "capital", Min: f64(0), Max: f64(1000000)}), // 准确性 11/2 (E5, E6)
		r("S_REF", "lic", "referential", Params{Column: "holder_uscc", RefDataset: "ent"}),    // 一致性 5/1 (L2)
		r("S_UNQ", "trace", "unique", Params{Columns: []string{"batch", "product"}}),          // 准确性 4/2 (A|p1, C|p1)
	}
}

// approx compares a score (rounded to two decimals by the code) with the value worked out by
// hand below.
func approx(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) < 1e-9
}

// TestScores checks exact scores — per rule, dimension, dataset, reporting unit and overall —
// for a run of six rules, then that configured dimension weights change them as documented:
// the weighted mean of the dimension scores present.
func TestScores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		createRules(t, m, scoreRules()...)
		run, results, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		// Pass rates, rounded to four decimals: 11/12, 10/12, 11/12, 9/11, 4/5, 2/4.
		wantRate := map[string]float64{"S_NN": 91.6667, "S_NE": 83.3333, "S_USCC": 91.6667, "S_CAP": 81.8182, "S_REF": 80, "S_UNQ": 50}
		wantDim := map[string]string{"S_NN": "完整性", "S_NE": "完整性", "S_USCC": "规范性", "S_CAP": "准确性", "S_REF": "一致性", "S_UNQ": "准确性"}
		if len(results) != len(wantRate) {
			t.Fatalf("%d results", len(results))
		}
		for _, r := range results {
			if !approx(r.PassRate, wantRate[r.RuleCode]) || r.Dimension != wantDim[r.RuleCode] {
				t.Errorf("%s: pass rate %v dimension %s, want %v %s", r.RuleCode, deref(r.PassRate), r.Dimension, wantRate[r.RuleCode], wantDim[r.RuleCode])
			}
		}
		// Equal weights. Dimensions: 完整性 (91.6667+83.3333)/2 = 87.5; 规范性 91.6667;
		// 准确性 (81.8182+50)/2 = 65.9091; 一致性 80. Overall (87.5+91.6667+65.9091+80)/4 =
		// 81.268950 → 81.27. Datasets: ent (87.5+91.6667+81.8182)/3 = 86.994967 → 86.99;
		// lic 80; trace 50.
		equal := scoreWant{
			overall:  81.27,
			dims:     map[string]float64{"完整性": 87.5, "规范性": 91.67, "准确性": 65.91, "一致性": 80},
			datasets: map[string]float64{"ent": 86.99, "lic": 80, "trace": 50},
			// Reporting units, from unrounded per-unit rates:
			// 610100 (西安): NN 6/7, NE 5/7, USCC 6/7, CAP 6/6, REF 4/5, UNQ 1/2 → 完整性
			//   78.571429, 规范性 85.714286, 准确性 75, 一致性 80 → 79.821429 → 79.82;
			//   checked 7+7+7+6+5+2 = 34, failed 1+2+1+0+1+1 = 6.
			// 610300 (宝鸡): NN 4/4, NE 4/4, USCC 4/4, CAP 2/4, UNQ 1/2 (REF checked none) →
			//   100, 100, 50 → 83.333333 → 83.33; checked 18, failed 3.
			// 619999 (not a Shaanxi code, its own unit): NN, NE, USCC, CAP 1/1 → 100; checked 4.
			regions: []RegionScore{
				{Unit: "610100", Score: 79.82, Checked: 34, Failed: 6},
				{Unit: "610300", Score: 83.33, Checked: 18, Failed: 3},
				{Unit: "619999", Name: "619999", Score: 100, Checked: 4, Failed: 0},
			},
		}
		if !approx(run.Score, equal.overall) {
			t.Errorf("stored run score %v, want %v", deref(run.Score), equal.overall)
		}
		v, err := m.RunDetail(ctx, allScope(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal.check(t, "equal weights", v)

		// Weights 完整性 2, 规范性 1, 准确性 3, 一致性 0.5 (the others 1, absent here).
		// Overall (2·87.5 + 91.6667 + 3·65.9091 + 0.5·80)/6.5 = 504.394/6.5 = 77.599077 → 77.6.
		// ent (2·87.5 + 91.6667 + 3·81.8182)/6 = 85.353550 → 85.35; lic and trace have one
		// dimension each and keep its score. Units: 610100 (2·78.571429 + 85.714286 + 3·75 +
		// 0.5·80)/6.5 = 78.131868 → 78.13; 610300 (2·100 + 100 + 3·50)/6 = 75.
		st, err := m.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range Dimensions {
			if st.Weights[d] != 1 {
				t.Errorf("default weight of %s: %v", d, st.Weights[d])
			}
		}
		st.Weights["完整性"], st.Weights["规范性"], st.Weights["准确性"], st.Weights["一致性"] = 2, 1, 3, 0.5
		if err := m.SaveSettings(ctx, st, "tester", &audit.Entry{Kind: audit.KindOperation, Action: "quality.settings.save", Actor: "tester", Result: audit.ResultSuccess}); err != nil {
			t.Fatal(err)
		}
		weighted := scoreWant{
			overall:  77.6,
			dims:     equal.dims, // the dimension scores do not depend on the weights
			datasets: map[string]float64{"ent": 85.35, "lic": 80, "trace": 50},
			regions: []RegionScore{
				{Unit: "610100", Score: 78.13, Checked: 34, Failed: 6},
				{Unit: "610300", Score: 75, Checked: 18, Failed: 3},
				{Unit: "619999", Name: "619999", Score: 100, Checked: 4, Failed: 0},
			},
		}
		v, err = m.RunDetail(ctx, allScope(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		weighted.check(t, "weighted, stored run", v)
		// The run's stored score is the one computed when it ran, exactly (the column was
		// single precision on PostgreSQL before migration 0086: 81.27 read back as 81.2699966).
		if v.Score == nil || *v.Score != equal.overall {
			t.Errorf("stored run score after a weight change: %v, want %v", deref(v.Score), equal.overall)
		}
		// A new run on unchanged data stores the weighted score.
		run2, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if !approx(run2.Score, weighted.overall) {
			t.Errorf("second run score %v, want %v", deref(run2.Score), weighted.overall)
		}
		v, err = m.RunDetail(ctx, allScope(), run2.ID)
		if err != nil {
			t.Fatal(err)
		}
		weighted.check(t, "weighted, new run", v)

		// A single dimension weighted 0 leaves the others to decide: 一致性 0 →
		// (2·87.5 + 91.6667 + 3·65.9091)/6 = 77.399 → 77.4.
		st.Weights["一致性"] = 0
		if err := m.SaveSettings(ctx, st, "tester", nil); err != nil {
			t.Fatal(err)
		}
		if v, err = m.RunDetail(ctx, allScope(), run2.ID); err != nil {
			t.Fatal(err)
		}
		if !approx(v.Scores.Overall, 77.4) {
			t.Errorf("overall with 一致性 weighted 0: %v, want 77.4", deref(v.Scores.Overall))
		}
		// Invalid weights are refused and change nothing.
		for _, w := range []map[string]float64{{"完整性": -1}, {"完整性": 101}, {"不存在": 1},
			{"规范性": 0, "完整性": 0, "准确性": 0, "一致性": 0, "时效性": 0, "可访问性": 0}} {
			bad := st
			bad.Weights = w
			if err := m.SaveSettings(ctx, bad, "tester", nil); err == nil {
				t.Errorf("weights %v accepted", w)
			}
		}
		if got, _ := m.Settings(ctx); got.Weights["准确性"] != 3 || got.Weights["一致性"] != 0 {
			t.Errorf("weights after refused saves: %v", got.Weights)
		}
	})
}

type scoreWant struct {
	overall  float64
	dims     map[string]float64
	datasets map[string]float64
	regions  []RegionScore
}

func (w scoreWant) check(t *testing.T, what string, v *RunView) {
	t.Helper()
	if !approx(v.Scores.Overall, w.overall) {
		t.Errorf("%s: overall %v, want %v", what, deref(v.Scores.Overall), w.overall)
	}
	if len(v.Scores.Dimensions) != len(w.dims) {
		t.Errorf("%s: dimensions %v, want %v", what, v.Scores.Dimensions, w.dims)
	}
	for d, want := range w.dims {
		if got, ok := v.Scores.Dimensions[d]; !ok || !approx(&got, want) {
			t.Errorf("%s: dimension %s %v, want %v", what, d, got, want)
		}
	}
	if len(v.Scores.Datasets) != len(w.datasets) {
		t.Errorf("%s: datasets %v, want %v", what, v.Scores.Datasets, w.datasets)
	}
	for d, want := range w.datasets {
		if got, ok := v.Scores.Datasets[d]; !ok || !approx(&got, want) {
			t.Errorf("%s: dataset %s %v, want %v", what, d, got, want)
		}
	}
	if len(v.Regions) != len(w.regions) {
		t.Errorf("%s: region scores %+v, want %+v", what, v.Regions, w.regions)
		return
	}
	for i, want := range w.regions {
		got := v.Regions[i]
		if want.Name == "" {
			want.Name = got.Name // unit names come from the region table; checked below
		}
		if got.Unit != want.Unit || got.Name != want.Name || !approx(&got.Score, want.Score) || got.Checked != want.Checked || got.Failed != want.Failed {
			t.Errorf("%s: region %d: %+v, want %+v", what, i, got, want)
		}
	}
	if v.Regions[0].Name != "西安市" || v.Regions[1].Name != "宝鸡市" {
		t.Errorf("%s: unit names %q, %q", what, v.Regions[0].Name, v.Regions[1].Name)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTrendPoints checks what the trend API returns for two runs that stays true however
// the points' values are computed: one point per run that checked the selection, oldest
// first, limited to the newest runs, each with a value while results exist. (The values are
// checked by TestScoresFollowEveryRulesNewestResult.)
func TestTrendPoints(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newFixtureModule(t, db)
		createRules(t, m, scoreRules()...)
		if pts, err := m.Trend(ctx, allScope(), "", "", "", 30); err != nil || len(pts) != 0 {
			t.Fatalf("trend without runs: %+v %v", pts, err)
		}
		run1, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		run2, _, err := m.Execute(ctx, RunOptions{Dataset: "ent", Trigger: TriggerManual, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if run2.ID <= run1.ID {
			t.Fatalf("run ids %d, %d", run1.ID, run2.ID)
		}
		ids := func(pts []TrendPoint) []int64 {
			var out []int64
			for _, p := range pts {
				out = append(out, p.RunID)
			}
			return out
		}
		for _, c := range []struct {
			name                     string
			dataset, dimension, rule string
			limit                    int
			want                     []int64
		}{
			{"overall", "", "", "", 30, []int64{run1.ID, run2.ID}},
			{"overall, newest only", "", "", "", 1, []int64{run2.ID}},
			{"dataset in both runs", "ent", "", "", 30, []int64{run1.ID, run2.ID}},
			{"dataset in the first run only", "lic", "", "", 30, []int64{run1.ID}},
			{"dimension in both runs", "", "完整性", "", 30, []int64{run1.ID, run2.ID}},
			{"dimension in the first run only", "", "一致性", "", 30, []int64{run1.ID}},
			{"rule in both runs", "", "", "S_CAP", 30, []int64{run1.ID, run2.ID}},
			{"rule in the first run only", "", "", "S_UNQ", 30, []int64{run1.ID}},
			{"unknown dataset", "nosuch", "", "", 30, nil},
		} {
			pts, err := m.Trend(ctx, allScope(), c.dataset, c.dimension, c.rule, c.limit)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := ids(pts); !slices.Equal(got, c.want) {
				t.Errorf("%s: points of runs %v, want %v", c.name, got, c.want)
				continue
			}
			for i, p := range pts {
				if p.Value == nil || *p.Value < 0 || *p.Value > 100 {
					t.Errorf("%s: point %d value %v", c.name, i, deref(p.Value))
				}
				if i > 0 && p.At.Before(pts[i-1].At) {
					t.Errorf("%s: points out of time order: %v then %v", c.name, pts[i-1].At, p.At)
				}
			}
		}
	})
}

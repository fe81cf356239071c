package demo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset"
	"zhsj/internal/demo"
	"zhsj/internal/iam"
	"zhsj/internal/quality"
	"zhsj/internal/store/storetest"
)

func TestSeedIsIdempotentAndRefusesRealData(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	env := demoEnv(e)
	var progress []string
	env.Progress = func(title string, done bool, took time.Duration) {
		progress = append(progress, fmt.Sprintf("%s|%v|%v", title, done, done == (took > 0)))
	}
	lines, err := demo.Seed(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	// Each part (and each dataset within 业务数据集), titled in Chinese, reports its start, then
	// its end with the time it took.
	open := map[string]bool{}
	for _, p := range progress {
		title, rest, _ := strings.Cut(p, "|")
		switch {
		case title != "" && rest == "false|true" && !open[title]:
			open[title] = true
		case rest == "true|true" && open[title]:
			delete(open, title)
		default:
			t.Fatalf("progress %q in %q", p, progress)
		}
	}
	for _, s := range append([]demo.Seeder{{Title: "演示账号"}, {Title: "业务数据集 · 市场主体"}}, e.App.Seeders...) {
		if !slices.Contains(progress, s.Title+"|true|true") {
			t.Errorf("no progress of %q: %q", s.Title, progress)
		}
	}
	if len(open) > 0 {
		t.Errorf("never ended: %v", open)
	}
	env.Progress = nil
	if len(lines) < len(demo.People) {
		t.Fatalf("lines: %v", lines)
	}
	for _, p := range demo.People {
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = ?`, p.Account)
		if n != 1 {
			t.Fatalf("demo account %s: %d rows", p.Account, n)
		}
	}
	var before, after int
	e.App.DB.Get(ctx, &before, `SELECT COUNT(*) FROM users`)
	if _, err := demo.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	e.App.DB.Get(ctx, &after, `SELECT COUNT(*) FROM users`)
	if after != before {
		t.Fatalf("second seed changed users: %d → %d", before, after)
	}
	var xa string
	e.App.DB.Get(ctx, &xa, `SELECT region_code FROM users WHERE account = 'xa_analyst'`)
	if xa != "610100" {
		t.Fatalf("xa_analyst region %s", xa)
	}

	// A database with a real account is never seeded.
	e2 := apptest.New(t, storetest.SQLite(t))
	must := false
	if _, err := e2.App.IAM.CreateUser(ctx, nil, iam.System(), iam.UserInput{Account: "realuser", Name: "真实用户", RegionCode: "610000", Password: "Kx9#mTq2vL7$wR", MustChange: &must}); err != nil {
		t.Fatal(err)
	}
	env.DB, env.IAM = e2.App.DB, e2.App.IAM
	if _, err := demo.Seed(ctx, env); !errors.Is(err, demo.ErrRealData) {
		t.Fatalf("seeding over real data: %v", err)
	}
}

// TestEveryGETWithOneReadConnection opens every page and GET API without path parameters
// on the demo data, as each built-in role, with the read pool cut to one connection: a query
// issued while a result set is still open would need a second connection and wait forever
// (under load, requests holding one connection each would wait on each other).
func TestEveryGETWithOneReadConnection(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	seedDemo(t, e)
	e.App.DB.Reader().SetMaxOpenConns(1)
	var clients []*apptest.Client
	for _, role := range iam.BuiltinRoleCodes() {
		e.User("g_"+role, "610000", role)
		clients = append(clients, e.Login("g_"+role))
	}
	done := make(chan string, 1)
	go func() {
		checked := 0
		for _, r := range e.App.Routes {
			if r.Method != "GET" || strings.Contains(r.Pattern, "{") || r.Pattern == "/api/v1/dashboard/events" || r.Pattern == "/logout" {
				continue
			}
			for _, c := range clients {
				res := c.Do("GET", r.Pattern, nil)
				if res.Status >= 500 {
					done <- fmt.Sprintf("GET %s: %d %.300s", r.Pattern, res.Status, res.Body)
					return
				}
				checked++
			}
		}
		t.Logf("%d requests", checked)
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("a request waits for a second read connection (or the sweep is far too slow)")
	}
}

// TestBuiltinRulesFindTheSeededDefects seeds the demo data through the real ingestion and runs
// every built-in quality rule over it: each deliberate defect the seeder recorded must be among
// the failing rows of the built-in rule that checks its kind, so that the demo's quality results
// mean something and no kind of defect goes unchecked. (Data-driven e-bike fields included: the
// manufacture date lives in the JSON column.)
func TestBuiltinRulesFindTheSeededDefects(t *testing.T) {
	t.Parallel()
	// dataset/field/kind → the built-in rules that must fail on the record.
	detects := map[string][]string{
		"enterprise/legal_rep_id_no/" + dataset.DefectIDInvalid: {"ENT_LEGAL_REP_ID_VALID"},
		"enterprise/approval_date/" + dataset.DefectDateOrder:   {"ENT_DATE_ORDER"},
		"enterprise/cancel_date/" + dataset.DefectMissing:       {"ENT_CANCEL_DATE"},
		"enterprise/ent_type/" + dataset.DefectNotInCodeTable:   {"ENT_TYPE_IN_CODE"},
		"enterprise/industry_code/" + dataset.DefectIndustry:    {"ENT_INDUSTRY_IN_CODE"},
		"enterprise/address/" + dataset.DefectMissing:           {"ENT_ADDRESS_NOT_EMPTY"},
		"licence/holder_uscc/" + dataset.DefectReference:        {"LIC_HOLDER_EXISTS"},
		"licence/holder_uscc/" + dataset.DefectUSCCInvalid:      {"LIC_HOLDER_USCC_VALID", "LIC_HOLDER_EXISTS"}, // a mistyped code names no registered enterprise either
		"licence/expiry_date/" + dataset.DefectDateOrder:        {"LIC_DATE_ORDER"},
		"licence/status/" + dataset.DefectStatus:                {"LIC_EXPIRED_STATUS"},
		"licence/region_code/" + dataset.DefectRegionMismatch:   {"LIC_REGION_CONSISTENT"},
		"sampling/producer_uscc/" + dataset.DefectUSCCInvalid:   {"SMP_PRODUCER_USCC_VALID"},
		"sampling/category_code/" + dataset.DefectMissing:       {"SMP_CATEGORY_NOT_EMPTY"},
		"sampling/failed_items/" + dataset.DefectMissing:        {"SMP_FAILED_ITEMS"},
		"sampling/rectify_date/" + dataset.DefectDateOrder:      {"SMP_FOLLOWUP_ORDER"},
		"supervision/findings/" + dataset.DefectMissing:         {"SUP_FINDINGS"},
		"supervision/reinspect_date/" + dataset.DefectDateOrder: {"SUP_REINSPECT_ORDER"},
		"trace/codes_issued/" + dataset.DefectStatus:            {"TRC_OFF_PLATFORM_CODES"},
		"ebike/ccc_cert_no/" + dataset.DefectMissing:            {"EBK_CCC_NOT_EMPTY"},
		"ebike/owner_id_no/" + dataset.DefectIDInvalid:          {"EBK_OWNER_ID_VALID"},
		"ebike/producer_uscc/" + dataset.DefectUSCCInvalid:      {"EBK_PRODUCER_USCC_VALID"},
		"ebike/manufacture_date/" + dataset.DefectDateOrder:     {"EBK_MANUFACTURE_ORDER"},
		"resource/record_count/" + dataset.DefectMissing:        {"RES_COUNT_NOT_NULL"},
		"apicall/latency_ms/" + dataset.DefectMissing:           {"API_LATENCY_NOT_NULL"},
	}
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		seedDemo(t, e)
		// The demo's own first quality run comes after every dataset is loaded: it saw the
		// same rows as the run below (the topic datasets included).
		var seeded []struct {
			Code    string `db:"rule_code"`
			Checked int64  `db:"checked"`
		}
		if err := e.App.DB.Select(ctx, &seeded, `SELECT s.rule_code, s.checked FROM quality_results s
			WHERE s.run_id = (SELECT MIN(id) FROM quality_runs WHERE actor = 'demo')`); err != nil {
			t.Fatal(err)
		}
		if len(seeded) == 0 {
			t.Fatal("the demo seeder ran no quality check")
		}
		_, results, err := e.App.Quality().Execute(ctx, quality.RunOptions{Trigger: quality.TriggerManual, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		checked := map[string]int64{}
		for _, r := range results {
			checked[r.RuleCode] = r.Checked
		}
		for _, s := range seeded {
			if s.Checked != checked[s.Code] {
				t.Errorf("%s: the demo's first quality run checked %d rows, a run after seeding %d", s.Code, s.Checked, checked[s.Code])
			}
		}
		byCode := map[string]*quality.Result{}
		for _, r := range results {
			byCode[r.RuleCode] = r
			if r.Status == quality.StatusError {
				t.Errorf("%s: %s", r.RuleCode, r.Message)
			}
		}
		want := map[string]map[string]bool{} // rule → keys of seeded defects
		for _, d := range dataset.All() {
			defects, err := dataset.Defects(ctx, e.App.DB, d.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, df := range defects {
				kind := d.Name + "/" + df.Field + "/" + df.Kind
				codes, ok := detects[kind]
				if !ok {
					t.Fatalf("no built-in rule is named for the seeded defect kind %s", kind)
				}
				for _, code := range codes {
					if want[code] == nil {
						want[code] = map[string]bool{}
					}
					want[code][strings.ReplaceAll(df.Key, " / ", "|")] = true
				}
			}
		}
		for code, keys := range want {
			res := byCode[code]
			if res == nil {
				t.Errorf("built-in rule %s did not run", code)
				continue
			}
			var failed []string
			if err := e.App.DB.Select(ctx, &failed, `SELECT row_key FROM quality_failed_rows WHERE result_id = ?`, res.ID); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, k := range failed {
				got[k] = true
			}
			missed := 0
			for k := range keys {
				if !got[k] {
					missed++
				}
			}
			t.Logf("%s: %d seeded defects, %d failed (%d kept), %d missed", code, len(keys), res.Failed, len(failed), missed)
			if missed > 0 || res.Failed < int64(len(keys)) {
				t.Errorf("%s: %d of %d seeded defects not found (failed %d)", code, missed, len(keys), res.Failed)
			}
			// Nothing else fails either (the generated data is otherwise clean), except where the
			// rule compares with today.
			if !comparesWithToday[code] && res.Failed != int64(len(keys)) {
				t.Errorf("%s: %d rows failed, %d seeded defects", code, res.Failed, len(keys))
			}
		}
		// Every other built-in rule finds nothing at all: the generators (the data hub's seeder
		// and the topic datasets' generator) write clean data apart from the recorded defects,
		// and the dataset-level rules (freshness, volume, availability) pass on fresh data.
		for _, res := range results {
			if want[res.RuleCode] != nil || comparesWithToday[res.RuleCode] {
				continue
			}
			if res.Failed != 0 || res.Status != quality.StatusPass {
				var keys []string
				e.App.DB.Select(ctx, &keys, `SELECT row_key FROM quality_failed_rows WHERE result_id = ? ORDER BY row_key LIMIT 5`, res.ID)
				t.Errorf("%s (%s, no seeded defects): %s, %d of %d rows failed %v %s", res.RuleCode, res.Dataset, res.Status, res.Failed, res.Checked, keys, res.Message)
			}
		}
	})
}

// comparesWithToday are the built-in rules that compare the demo data with today's date, so
// that more rows fail as time passes after the demo data's fixed dates: licences that expired
// between the demo data's date and today are still marked 有效 in it.
var comparesWithToday = map[string]bool{"LIC_EXPIRED_STATUS": true}

// demoEnv is what `serve --demo` seeds e's database with, at the small scale, with fixed
// passwords.
func demoEnv(e *apptest.Env) *demo.Env {
	return &demo.Env{DB: e.App.DB, IAM: e.App.IAM, Scale: demo.Small, Modules: e.App.Seeders,
		NewPassword: func(a, n string) string { return "Demo#Pass9x" + strings.ToUpper(a[:1]) + "q7Z" }}
}

// seedDemo fills e's database with the small demo data.
func seedDemo(t *testing.T, e *apptest.Env) {
	t.Helper()
	if _, err := demo.Seed(context.Background(), demoEnv(e)); err != nil {
		t.Fatal(err)
	}
}

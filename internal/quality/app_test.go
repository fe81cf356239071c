package quality_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/quality"
	"zhsj/internal/store"
)

// ent builds a market-entity credit code for test row i.
func ent(i int) string { return validate.MakeUSCC('9', '1', "610100", fmt.Sprintf("QA%06d", i)) }

// insertEnterprises writes rows straight into the real enterprise table (as ingestion would).
func insertEnterprises(t *testing.T, db *store.DB, rows ...[]any) {
	t.Helper()
	now := store.Now()
	for _, r := range rows {
		if _, err := db.Exec(context.Background(), `INSERT INTO ds_enterprise(uscc, name, region_code, status, establish_date, row_hash, first_seen_at, last_updated_at)
			VALUES (?, ?, ?, '存续', '2015-06-01', 'h', ?, ?)`, r[0], r[1], r[2], now, now); err != nil {
			t.Fatal(err)
		}
	}
}

type runView struct {
	ID      int64 `json:"id"`
	Scoped  bool  `json:"scoped"`
	Results []struct {
		ID      int64  `json:"id"`
		Rule    string `json:"rule"`
		Checked int64  `json:"checked"`
		Failed  int64  `json:"failed"`
		Status  string `json:"status"`
	} `json:"results"`
	Regions []struct {
		Unit string `json:"unit"`
	} `json:"regions"`
}

type rowsPage struct {
	Items []struct {
		Key    string `json:"key"`
		Region string `json:"region_code"`
	} `json:"items"`
	Total int `json:"total"`
}

// TestCityAnalystSeesOnlyItsRegion runs a built-in rule on the real enterprise table with
// failing rows in Xi'an and Baoji: the province sees both, a Xi'an analyst only Xi'an's counts,
// failing rows and records — never Baoji's — in the API, the pages and the report.
func TestCityAnalystSeesOnlyItsRegion(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		db := e.App.DB
		insertEnterprises(t, db,
			[]any{ent(1), "西安甲公司", "610102"}, []any{ent(2), "", "610113"},
			[]any{ent(3), nil, "610302"}, []any{ent(4), "宝鸡乙公司", "610303"})
		e.User("prov", "610000", "analyst")
		e.User("xian", "610100", "analyst")
		e.User("lead", "610000", "leader")
		prov, xa, lead := e.Login("prov"), e.Login("xian"), e.Login("lead")

		res := prov.Do("POST", "/api/v1/quality/runs", map[string]any{"rule": "ENT_NAME_NOT_EMPTY"})
		if res.Status != 201 {
			t.Fatalf("run: %d %s", res.Status, res.Body)
		}
		var pv runView
		res.JSON(&pv)
		if len(pv.Results) != 1 || pv.Results[0].Checked != 4 || pv.Results[0].Failed != 2 || pv.Scoped {
			t.Fatalf("province view: %s", res.Body)
		}
		rid := pv.Results[0].ID

		var xv runView
		xa.Do("GET", fmt.Sprintf("/api/v1/quality/runs/%d", pv.ID), nil).JSON(&xv)
		if !xv.Scoped || xv.Results[0].Checked != 2 || xv.Results[0].Failed != 1 {
			t.Fatalf("Xi'an view: %+v", xv)
		}
		for _, r := range xv.Regions {
			if r.Unit != "610100" {
				t.Errorf("Xi'an sees region score of %s", r.Unit)
			}
		}
		var pr, xr rowsPage
		prov.Do("GET", fmt.Sprintf("/api/v1/quality/results/%d/rows", rid), nil).JSON(&pr)
		xa.Do("GET", fmt.Sprintf("/api/v1/quality/results/%d/rows", rid), nil).JSON(&xr)
		if pr.Total != 2 {
			t.Fatalf("province failing rows: %+v", pr)
		}
		if xr.Total != 1 || len(xr.Items) != 1 || xr.Items[0].Key != ent(2) {
			t.Fatalf("Xi'an failing rows: %+v", xr)
		}
		// Records: Xi'an opens its own failing record, never Baoji's.
		if res := xa.Do("GET", "/api/v1/quality/records/enterprise?key="+ent(2), nil); res.Status != 200 || !strings.Contains(string(res.Body), ent(2)) {
			t.Fatalf("Xi'an record: %d %s", res.Status, res.Body)
		}
		if res := xa.Do("GET", "/api/v1/quality/records/enterprise?key="+ent(3), nil); res.Status != 404 {
			t.Fatalf("Xi'an reads a Baoji record: %d %s", res.Status, res.Body)
		}
		if res := prov.Do("GET", "/api/v1/quality/records/enterprise?key="+ent(3), nil); res.Status != 200 {
			t.Fatalf("province record: %d %s", res.Status, res.Body)
		}
		// A record that never failed is not readable here at all.
		if res := prov.Do("GET", "/api/v1/quality/records/enterprise?key="+ent(1), nil); res.Status != 404 {
			t.Fatalf("passing record readable: %d", res.Status)
		}
		// Pages: the drill-down page of the same result.
		page := string(xa.Do("GET", fmt.Sprintf("/quality/results/%d", rid), nil).Body)
		if !strings.Contains(page, ent(2)) || strings.Contains(page, ent(3)) || strings.Contains(page, "610302") {
			t.Fatalf("Xi'an drill-down page leaks Baoji or lacks its own row")
		}
		page = string(prov.Do("GET", fmt.Sprintf("/quality/results/%d", rid), nil).Body)
		if !strings.Contains(page, ent(2)) || !strings.Contains(page, ent(3)) {
			t.Fatalf("province drill-down page lacks rows")
		}
		// Reports are read in scope too.
		res = prov.Do("POST", "/api/v1/quality/reports", map[string]any{"kind": "run", "run_id": pv.ID})
		if res.Status != 201 {
			t.Fatalf("publish: %d %s", res.Status, res.Body)
		}
		var rep struct{ ID int64 }
		res.JSON(&rep)
		page = string(xa.Do("GET", fmt.Sprintf("/quality/reports/%d", rep.ID), nil).Body)
		if strings.Contains(page, ent(3)) || !strings.Contains(page, ent(2)) || !strings.Contains(page, "本辖区") {
			t.Fatalf("Xi'an report page leaks Baoji")
		}
		if res := xa.Do("GET", fmt.Sprintf("/api/v1/quality/reports/%d/xlsx", rep.ID), nil); res.Status != 200 || res.Header.Get("Content-Type") == "" {
			t.Fatalf("xlsx: %d", res.Status)
		}
		// Least privilege: the leader reads results and reports, changes nothing.
		if res := lead.Do("GET", fmt.Sprintf("/api/v1/quality/runs/%d", pv.ID), nil); res.Status != 200 {
			t.Errorf("leader reads results: %d", res.Status)
		}
		if res := lead.Do("GET", "/api/v1/quality/reports", nil); res.Status != 200 {
			t.Errorf("leader reads reports: %d", res.Status)
		}
		for _, c := range []struct{ method, path string }{{"POST", "/api/v1/quality/runs"}, {"POST", "/api/v1/quality/rules"}, {"POST", "/api/v1/quality/reports"}, {"PUT", "/api/v1/quality/settings"}} {
			if res := lead.Do(c.method, c.path, map[string]any{}); res.Status != 403 {
				t.Errorf("leader %s %s: %d", c.method, c.path, res.Status)
			}
		}
	})
}

// TestBuiltinRulesOnRealDatasets checks that every built-in rule is valid against the dataset
// registry (none skipped) and runs without error on the real tables.
func TestBuiltinRulesOnRealDatasets(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		q := e.App.Quality()
		rules, err := q.ListRules(ctx, quality.RuleFilter{})
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, r := range rules {
			stored[r.Code] = r.Builtin
		}
		entRow := 0
		for _, b := range quality.BuiltinRules() {
			if !stored[b.Code] {
				t.Errorf("built-in rule %s not installed", b.Code)
			}
			if tpl, _ := quality.TemplateByCode(b.Template); b.Dataset == "enterprise" && tpl.Level == "row" {
				entRow++
			}
		}
		if entRow < 10 {
			t.Errorf("only %d row-level built-in rules on enterprise", entRow)
		}
		insertEnterprises(t, e.App.DB, []any{ent(1), "甲", "610102"})
		_, results, err := q.Execute(ctx, quality.RunOptions{Trigger: quality.TriggerManual})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Status == quality.StatusError {
				t.Errorf("%s: %s", r.RuleCode, r.Message)
			}
		}
		// The name "甲" is one character: ENT_NAME_LENGTH fails, exactly once.
		for _, r := range results {
			if r.RuleCode == "ENT_NAME_LENGTH" && (r.Checked != 1 || r.Failed != 1) {
				t.Errorf("ENT_NAME_LENGTH %d/%d", r.Checked, r.Failed)
			}
		}
	})
}

// TestRuleEditorAPI drives the editor's API as the form submits it (strings for numbers, the
// parameters as JSON text, exceptions one per line): create, validation errors in Chinese,
// update with a new version, a rule that tries to write, delete — each audited.
func TestRuleEditorAPI(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("ana", "610000", "analyst")
		c := e.Login("ana")
		form := map[string]any{"code": "T_NAME", "name": "名称非空", "dataset": "enterprise", "template": "not_empty",
			"params": `{"column": "name"}`, "dimension": "", "severity": "warning", "threshold": "99.5", "filter": "",
			"exceptions": "A\nB\n", "schedule": "0 0 3 * * *", "sample_cap": "10", "enabled": true, "description": ""}
		res := c.Do("POST", "/api/v1/quality/rules", form)
		if res.Status != 201 {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		var r quality.Rule
		res.JSON(&r)
		if r.Threshold != 99.5 || len(r.Exceptions) != 2 || r.Dimension != "完整性" || r.Version != 1 || r.NextRunAt == nil || r.SampleCap != 10 {
			t.Fatalf("created rule: %+v", r)
		}
		for _, bad := range []struct {
			field, value, msg string
		}{
			{"params", `{"column": "nope"}`, "没有字段"},
			{"params", `{"colum": "name"}`, "JSON"},
			{"threshold", "120", "阈值"},
			{"schedule", "every day", "cron"},
			{"code", "T_NAME", "已存在"},
			{"template", "magic", "模板"},
			{"filter", "1=1; DROP TABLE ds_enterprise", "分号"},
		} {
			f := map[string]any{}
			for k, v := range form {
				f[k] = v
			}
			f["code"] = "T_OTHER"
			f[bad.field] = bad.value
			res := c.Do("POST", "/api/v1/quality/rules", f)
			if res.Status != 400 || !strings.Contains(string(res.Body), bad.msg) {
				t.Errorf("%s=%s: %d %s", bad.field, bad.value, res.Status, res.Body)
			}
		}
		// A custom rule that writes is rejected and changes nothing.
		before := 0
		e.App.DB.Get(context.Background(), &before, `SELECT COUNT(*) FROM quality_rules`)
		insertEnterprises(t, e.App.DB, []any{ent(9), "某公司", "610102"})
		res = c.Do("POST", "/api/v1/quality/rules", map[string]any{"code": "EVIL", "name": "删除", "dataset": "enterprise",
			"template": "custom_query", "params": map[string]any{"query": "WITH d AS (DELETE FROM ds_enterprise RETURNING uscc) SELECT uscc FROM d"}})
		if res.Status != 400 {
			t.Fatalf("writing rule: %d %s", res.Status, res.Body)
		}
		var after, rows int
		e.App.DB.Get(context.Background(), &after, `SELECT COUNT(*) FROM quality_rules`)
		e.App.DB.Get(context.Background(), &rows, `SELECT COUNT(*) FROM ds_enterprise`)
		if after != before || rows != 1 {
			t.Fatalf("writing rule changed something: rules %d→%d, enterprises %d", before, after, rows)
		}
		// Custom SQL is prepared on the database when saved.
		res = c.Do("POST", "/api/v1/quality/rules", map[string]any{"code": "T_BADCOL", "name": "错误字段", "dataset": "enterprise",
			"template": "custom_condition", "params": map[string]any{"condition": "no_such_column > 1"}})
		if res.Status != 400 || !strings.Contains(string(res.Body), "无法在数据库上执行") {
			t.Fatalf("bad column: %d %s", res.Status, res.Body)
		}
		// Update: a new version.
		form["name"] = "名称不得为空"
		res = c.Do("PUT", fmt.Sprintf("/api/v1/quality/rules/%d", r.ID), form)
		if res.Status != 200 {
			t.Fatalf("update: %d %s", res.Status, res.Body)
		}
		var r2 quality.Rule
		c.Do("GET", fmt.Sprintf("/api/v1/quality/rules/%d", r.ID), nil).JSON(&r2)
		if r2.Version != 2 || r2.Name != "名称不得为空" {
			t.Fatalf("updated: %+v", r2)
		}
		var versions int
		e.App.DB.Get(context.Background(), &versions, `SELECT COUNT(*) FROM quality_rule_versions WHERE rule_id = ?`, r.ID)
		if versions != 2 {
			t.Errorf("%d versions kept", versions)
		}
		// Built-in rules keep code, dataset and template, and cannot be deleted.
		var b quality.Rule
		var list struct{ Items []quality.Rule }
		c.Do("GET", "/api/v1/quality/rules?dataset=enterprise", nil).JSON(&list)
		for _, x := range list.Items {
			if x.Code == "ENT_NAME_NOT_EMPTY" {
				b = x
			}
		}
		if res := c.Do("DELETE", fmt.Sprintf("/api/v1/quality/rules/%d", b.ID), nil); res.Status != 400 {
			t.Errorf("deleted a built-in rule: %d", res.Status)
		}
		if res := c.Do("DELETE", fmt.Sprintf("/api/v1/quality/rules/%d", r.ID), nil); res.Status != 200 {
			t.Errorf("delete: %d %s", res.Status, res.Body)
		}
		// Settings: weights.
		if res := c.Do("PUT", "/api/v1/quality/settings", map[string]any{"weights": map[string]any{"规范性": 2, "完整性": "1"}, "sample_cap": 500, "timeout_seconds": 60}); res.Status != 200 {
			t.Errorf("settings: %d %s", res.Status, res.Body)
		}
		if res := c.Do("PUT", "/api/v1/quality/settings", map[string]any{"weights": map[string]any{"美观性": 1}, "sample_cap": 500, "timeout_seconds": 60}); res.Status != 400 {
			t.Errorf("unknown dimension accepted: %d", res.Status)
		}
		var actions []string
		e.App.DB.Select(context.Background(), &actions, `SELECT action FROM audit_log WHERE action LIKE 'quality.%' ORDER BY id`)
		want := []string{"quality.rule.create", "quality.rule.update", "quality.rule.delete", "quality.settings.update"}
		if strings.Join(actions, ",") != strings.Join(want, ",") {
			t.Errorf("audited %v, want %v", actions, want)
		}
	})
}

// TestScheduledRuleRunsWhenDue advances a rule's schedule through the scheduled job's function.
func TestScheduledRuleRunsWhenDue(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		q := e.App.Quality()
		r, err := q.RuleByCode(ctx, "ENT_NAME_NOT_EMPTY")
		if err != nil {
			t.Fatal(err)
		}
		r.Schedule = "0 0 * * * *"
		if err := q.UpdateRule(ctx, r.ID, r, "tester", nil); err != nil {
			t.Fatal(err)
		}
		if n, err := q.RunDue(ctx); err != nil || n != 0 {
			t.Fatalf("ran before due: %d %v", n, err)
		}
		past := store.Now().Add(-time.Minute)
		e.App.DB.Exec(ctx, `UPDATE quality_rules SET next_run_at = ? WHERE id = ?`, past, r.ID)
		if n, err := q.RunDue(ctx); err != nil || n != 1 {
			t.Fatalf("due run: %d %v", n, err)
		}
		r2, _ := q.GetRule(ctx, r.ID)
		if r2.NextRunAt == nil || !r2.NextRunAt.After(time.Now()) {
			t.Fatalf("next run not advanced: %v", r2.NextRunAt)
		}
		var trig string
		e.App.DB.Get(ctx, &trig, `SELECT trigger_kind FROM quality_runs ORDER BY id DESC LIMIT 1`)
		if trig != quality.TriggerSchedule {
			t.Fatalf("trigger %q", trig)
		}
		if n, _ := q.RunDue(ctx); n != 0 {
			t.Fatalf("ran twice")
		}
	})
}

// TestReportsPerRunAndMonth publishes a run report and a monthly report and reads both as
// HTML and XLSX; a month without runs cannot be published.
func TestReportsPerRunAndMonth(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		insertEnterprises(t, e.App.DB, []any{ent(1), "甲公司", "610102"}, []any{ent(2), nil, "610302"})
		e.User("ana", "610000", "analyst")
		c := e.Login("ana")
		var first, second runView
		c.Do("POST", "/api/v1/quality/runs", map[string]any{"dataset": "enterprise"}).JSON(&first)
		c.Do("POST", "/api/v1/quality/runs", map[string]any{"rule": "ENT_NAME_NOT_EMPTY"}).JSON(&second)
		if first.ID == 0 || second.ID == 0 {
			t.Fatal("runs failed")
		}
		month := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")
		for _, body := range []map[string]any{{"kind": "run", "run_id": first.ID}, {"kind": "month", "period": month}} {
			res := c.Do("POST", "/api/v1/quality/reports", body)
			if res.Status != 201 {
				t.Fatalf("publish %v: %d %s", body, res.Status, res.Body)
			}
		}
		if res := c.Do("POST", "/api/v1/quality/reports", map[string]any{"kind": "month", "period": "2001-01"}); res.Status != 400 || !strings.Contains(string(res.Body), "没有核查记录") {
			t.Fatalf("empty month: %d %s", res.Status, res.Body)
		}
		var list struct {
			Items []struct {
				ID    int64
				Kind  string
				Title string
			}
			Total int
		}
		c.Do("GET", "/api/v1/quality/reports", nil).JSON(&list)
		if list.Total != 2 {
			t.Fatalf("reports: %+v", list)
		}
		for _, r := range list.Items {
			page := string(c.Do("GET", fmt.Sprintf("/quality/reports/%d", r.ID), nil).Body)
			if !strings.Contains(page, r.Title) || !strings.Contains(page, "ENT_NAME_NOT_EMPTY") {
				t.Errorf("report page %s lacks content", r.Title)
			}
			if r.Kind == "month" && !strings.Contains(page, "共 2 次核查") {
				t.Errorf("monthly report does not cover both runs")
			}
			res := c.Do("GET", fmt.Sprintf("/api/v1/quality/reports/%d/xlsx", r.ID), nil)
			if res.Status != 200 || !strings.HasPrefix(string(res.Body), "PK") || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("xlsx %s: %d %q", r.Title, res.Status, res.Header.Get("Content-Disposition"))
			}
		}
		// Every page renders; a missing run shows the Chinese error state; the leader has no rule pages.
		for _, p := range []string{"/quality", "/quality/rules", "/quality/rules/new", "/quality/runs", "/quality/reports", fmt.Sprintf("/quality/runs/%d", first.ID)} {
			if res := c.Do("GET", p, nil); res.Status != 200 || !strings.Contains(string(res.Body), "</html>") {
				t.Errorf("page %s: %d", p, res.Status)
			}
		}
		if res := c.Do("GET", "/quality/runs/99999", nil); res.Status != 404 || !strings.Contains(string(res.Body), "不在您的数据范围内") {
			t.Errorf("missing run page: %d", res.Status)
		}
		e.User("lead", "610000", "leader")
		lead := e.Login("lead")
		if res := lead.Do("GET", "/quality/rules", nil); res.Status != 403 {
			t.Errorf("leader reads rules page: %d", res.Status)
		}
		if res := lead.Do("GET", "/quality", nil); res.Status != 200 {
			t.Errorf("leader overview: %d", res.Status)
		}
		var exports int
		e.App.DB.Get(context.Background(), &exports, `SELECT COUNT(*) FROM audit_log WHERE action = 'quality.report.export'`)
		if exports != 2 {
			t.Errorf("%d exports audited", exports)
		}
	})
}

// TestRecordLinkWithChineseKey drills down from a failing licence whose key holds Chinese
// characters, parentheses and URL-special characters: the result page's link to the full
// record is escaped once, and following it opens the record.
func TestRecordLinkWithChineseKey(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		now := store.Now()
		keys := []string{"(陕)XK16-293-00002", "(陕)XK16 A+B&C#1%"}
		for i, k := range keys {
			if _, err := e.App.DB.Exec(context.Background(), `INSERT INTO ds_licence(licence_no, holder_uscc, holder_name, issuing_authority, region_code, row_hash, first_seen_at, last_updated_at)
				VALUES (?, ?, ?, '陕西省市场监督管理局', '610102', 'h', ?, ?)`, k, fmt.Sprintf("BAD%d", i), fmt.Sprintf("西安持证%d号公司", i), now, now); err != nil {
				t.Fatal(err)
			}
		}
		e.User("ana", "610000", "analyst")
		c := e.Login("ana")
		res := c.Do("POST", "/api/v1/quality/runs", map[string]any{"rule": "LIC_HOLDER_USCC_VALID"})
		if res.Status != 201 {
			t.Fatalf("run: %d %s", res.Status, res.Body)
		}
		var v runView
		res.JSON(&v)
		if len(v.Results) != 1 || v.Results[0].Failed != 2 {
			t.Fatalf("run: %s", res.Body)
		}
		page := c.Do("GET", fmt.Sprintf("/quality/results/%d", v.Results[0].ID), nil)
		if page.Status != 200 {
			t.Fatalf("result page: %d", page.Status)
		}
		links := regexp.MustCompile(`href="(/quality/records/licence\?key=[^"]*)"`).FindAllStringSubmatch(string(page.Body), -1)
		if len(links) != len(keys) {
			t.Fatalf("record links: %v", links)
		}
		opened := map[string]bool{}
		for _, l := range links {
			href := html.UnescapeString(l[1])
			u, err := url.Parse(href)
			if k := u.Query().Get("key"); err != nil || (k != keys[0] && k != keys[1]) {
				t.Errorf("link %s carries key %q, not one of %q (escaped twice?)", href, k, keys)
			}
			rec := c.Do("GET", href, nil)
			body := html.UnescapeString(string(rec.Body))
			if rec.Status != 200 || !strings.Contains(body, `id="record-fields"`) {
				t.Fatalf("following %s: %d", href, rec.Status)
			}
			for i, k := range keys {
				if strings.Contains(body, "<td>"+k+"</td>") {
					opened[k] = true
					if !strings.Contains(body, fmt.Sprintf("西安持证%d号公司", i)) || !strings.Contains(body, fmt.Sprintf("BAD%d", i)) || !strings.Contains(body, "陕西省市场监督管理局") {
						t.Errorf("record %s lacks its fields", k)
					}
				}
			}
			// The same query answers the API.
			api := c.Do("GET", "/api/v1/quality/records/licence"+href[strings.Index(href, "?"):], nil)
			if api.Status != 200 || !strings.Contains(string(api.Body), "西安持证") {
				t.Errorf("API with %s: %d %s", href, api.Status, api.Body)
			}
		}
		for _, k := range keys {
			if !opened[k] {
				t.Errorf("no link opened the record %s", k)
			}
		}
	})
}

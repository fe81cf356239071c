package inspect_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/inspect"
	"zhsj/internal/store"
)

type runDetail struct {
	Run      inspect.Run       `json:"run"`
	Items    []inspect.Item    `json:"items"`
	Findings []inspect.Finding `json:"findings"`
	Closed   []inspect.Finding `json:"closed"`
	Version  int               `json:"report_version"`
}

func (d runDetail) item(t *testing.T, code string) inspect.Item {
	t.Helper()
	for _, it := range d.Items {
		if it.Code == code {
			return it
		}
	}
	t.Fatalf("no item %s in %+v", code, d.Items)
	return inspect.Item{}
}

func (d runDetail) finding(code string) *inspect.Finding {
	for _, f := range d.Findings {
		if f.Code == code {
			return &f
		}
	}
	return nil
}

func runPlan(t *testing.T, c *apptest.Client, plan int64) runDetail {
	t.Helper()
	res := c.Do("POST", fmt.Sprintf("/api/v1/inspect/plans/%d/run", plan), nil)
	var created struct{ ID int64 }
	if res.Status != 201 || res.JSON(&created) != nil {
		t.Fatalf("run plan: %d %s", res.Status, res.Body)
	}
	res = c.Do("GET", fmt.Sprintf("/api/v1/inspect/runs/%d", created.ID), nil)
	var d runDetail
	if res.Status != 200 || res.JSON(&d) != nil {
		t.Fatalf("run detail: %d %s", res.Status, res.Body)
	}
	return d
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(context.Background(), &n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInspectionEndToEnd runs an on-demand inspection through the API on both databases: a
// weak password and a missing backup become findings with owner and deadline and events for
// the service desk; after rectification the next inspection scores higher, closes them and
// duplicates nothing; the archived XLSX report is checked cell by cell; the reviewer signs
// off a new report version; scope and permissions hold.
func TestInspectionEndToEnd(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		db := e.App.DB
		e.User("eng", "610000", "engineer")
		e.User("eng2", "610000", "engineer")
		e.User("weakguy", "610000", "analyst")
		e.User("xian_eng", "610100", "engineer")
		e.User("insp", "610000", "inspector")
		if _, err := db.Exec(ctx, `UPDATE users SET weak_password = TRUE WHERE account = 'weakguy'`); err != nil {
			t.Fatal(err)
		}
		c := e.Login("eng")

		res := c.Do("POST", "/api/v1/inspect/plans", map[string]any{"name": "", "cycle": "adhoc"})
		if res.Status != 400 || !strings.Contains(string(res.Body), "名称") {
			t.Fatalf("empty name: %d %s", res.Status, res.Body)
		}
		res = c.Do("POST", "/api/v1/inspect/plans", map[string]any{"name": "节前专项巡检", "cycle": "adhoc", "owner": "nobody"})
		if res.Status != 400 || res.ErrorCode() != "invalid_owner" {
			t.Fatalf("unknown owner: %d %s", res.Status, res.Body)
		}
		res = c.Do("POST", "/api/v1/inspect/plans", map[string]any{"name": "节前专项巡检", "cycle": "adhoc", "owner": "eng",
			"inspector": "张工", "reviewer": "李工", "scope": "国庆节前平台全面检查"})
		var plan struct{ ID int64 }
		if res.Status != 201 || res.JSON(&plan) != nil {
			t.Fatalf("create plan: %d %s", res.Status, res.Body)
		}

		first := runPlan(t, c, plan.ID)
		if first.Run.Status != "done" || first.Run.Score >= 100 || first.Run.PrevScore != nil || len(first.Items) < 20 {
			t.Fatalf("first run %+v with %d items", first.Run, len(first.Items))
		}
		if it := first.item(t, "sec.weak_password"); it.Conclusion != inspect.Critical || it.Risk != inspect.RiskHigh || !strings.Contains(it.Measured, "weakguy") {
			t.Fatalf("weak password item %+v", it)
		}
		if it := first.item(t, "bk.latest"); it.Conclusion != inspect.Critical {
			t.Fatalf("no backup yet but %+v", it)
		}
		if it := first.item(t, "sec.audit_chain"); it.Conclusion != inspect.Normal {
			t.Fatalf("audit chain %+v", it)
		}
		for _, it := range first.Items {
			if it.Method == "" || it.Threshold == "" || it.Measured == "" || it.Conclusion == "" || it.Risk == "" {
				t.Errorf("incomplete item %+v", it)
			}
		}
		if db.Dialect() == store.SQLite {
			first.item(t, "db.integrity")
			first.item(t, "db.wal")
		} else {
			first.item(t, "db.locks")
			first.item(t, "db.long_transactions")
		}
		weak := first.finding("sec.weak_password")
		if weak == nil || weak.Owner != "eng" || weak.Risk != inspect.RiskHigh || weak.Status != inspect.FindingOpen {
			t.Fatalf("weak password finding %+v", weak)
		}
		wantDeadline := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, 3).Format("2006-01-02")
		if weak.Deadline != wantDeadline {
			t.Fatalf("deadline %s, want %s (high risk: 3 days)", weak.Deadline, wantDeadline)
		}
		opened := len(first.Findings)
		if n := count(t, db, `SELECT COUNT(*) FROM events WHERE name = 'inspect.finding.opened'`); n != opened {
			t.Fatalf("%d events for %d findings", n, opened)
		}
		var payload string
		db.Get(ctx, &payload, `SELECT payload FROM events WHERE name = 'inspect.finding.opened' AND payload LIKE ?`, fmt.Sprintf(`%%"finding":%d,%%`, weak.ID))
		if !strings.Contains(payload, `"inspection":`+fmt.Sprint(first.Run.ID)) || !strings.Contains(payload, `"owner":"eng"`) {
			t.Fatalf("event payload %s", payload)
		}

		// Rectify: a backup, the weak password changed.
		if res := c.Do("POST", "/api/v1/ops/backups", nil); res.Status != 201 {
			t.Fatalf("backup: %d %s", res.Status, res.Body)
		}
		db.Exec(ctx, `UPDATE users SET weak_password = FALSE WHERE account = 'weakguy'`)

		second := runPlan(t, c, plan.ID)
		if second.Run.PrevScore == nil || *second.Run.PrevScore != first.Run.Score || second.Run.Score <= first.Run.Score {
			t.Fatalf("second score %d (prev %v), first %d", second.Run.Score, second.Run.PrevScore, first.Run.Score)
		}
		if it := second.item(t, "sec.weak_password"); it.Conclusion != inspect.Normal || it.PrevConclusion != inspect.Critical || it.Trend() != "好转（上期严重）" {
			t.Fatalf("weak password after fix %+v", it)
		}
		if it := second.item(t, "bk.latest"); it.Conclusion != inspect.Normal {
			t.Fatalf("latest backup %+v", it)
		}
		if it := second.item(t, "bk.restore_test"); it.Conclusion != inspect.Normal || !strings.Contains(it.Measured, "恢复验证通过") {
			t.Fatalf("restore test %+v", it)
		}
		closedCodes := map[string]bool{}
		for _, f := range second.Closed {
			closedCodes[f.Code] = true
		}
		if !closedCodes["sec.weak_password"] || !closedCodes["bk.latest"] || !closedCodes["bk.restore_test"] {
			t.Fatalf("closed by the second run: %v", closedCodes)
		}
		// Nothing duplicated: one finding per check, and events only for new ones.
		if n := count(t, db, `SELECT COUNT(*) FROM (SELECT code FROM inspect_findings GROUP BY code, region_code HAVING COUNT(*) > 1) d`); n != 0 {
			t.Fatalf("%d checks with duplicate findings", n)
		}
		newInSecond := 0
		for _, f := range second.Findings {
			if f.RunID == second.Run.ID {
				newInSecond++
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM events WHERE name = 'inspect.finding.opened'`); n != opened+newInSecond {
			t.Fatalf("%d events after two runs (%d + %d new findings)", n, opened, newInSecond)
		}

		// The archived report, cell by cell.
		res = c.Do("GET", fmt.Sprintf("/api/v1/inspect/runs/%d/report?format=xlsx", second.Run.ID), nil)
		if res.Status != 200 || res.Header.Get("X-Report-SM3") == "" || !strings.Contains(res.Header.Get("Content-Disposition"), "filename*=UTF-8''") {
			t.Fatalf("xlsx download: %d %v", res.Status, res.Header)
		}
		x, err := excelize.OpenReader(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(x.GetSheetList(), ","); got != "封面,巡检范围,结果总览,分项明细,隐患与整改,签字确认" {
			t.Fatalf("sheets %s", got)
		}
		cell := func(sheet, axis string) string {
			v, err := x.GetCellValue(sheet, axis)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// Cover: title row, header row, then one row per field.
		if cell("封面", "A1") != "封面" || cell("封面", "A2") != "项目" || cell("封面", "B2") != "内容" {
			t.Fatalf("cover header %q %q %q", cell("封面", "A1"), cell("封面", "A2"), cell("封面", "B2"))
		}
		cover := map[string]string{}
		rows, _ := x.GetRows("封面")
		for _, r := range rows[2:] {
			if len(r) == 2 {
				cover[r[0]] = r[1]
			}
		}
		if cover["系统名称"] != "智慧市监平台" || cover["巡检计划"] != "节前专项巡检" || cover["巡检人"] != "张工" ||
			cover["复核人"] != "李工（待复核）" && cover["复核人"] != "李工" || cover["报告版本"] != "1" || !strings.HasPrefix(cover["报告编号"], "XJ-") {
			t.Fatalf("cover %v", cover)
		}
		// Overview: score now and before.
		if cell("结果总览", "A4") != "健康评分" || cell("结果总览", "B4") != fmt.Sprint(second.Run.Score) || cell("结果总览", "C4") != fmt.Sprint(first.Run.Score) {
			t.Fatalf("overview row %q %q %q", cell("结果总览", "A4"), cell("结果总览", "B4"), cell("结果总览", "C4"))
		}
		// Items: header on row 2, then one row per item in order.
		wantHeader := []string{"序号", "类别", "检查项", "检查方法", "标准/阈值", "实测值", "结论", "风险等级", "较上期", "整改建议"}
		for i, h := range wantHeader {
			if got := cell("分项明细", string(rune('A'+i))+"2"); got != h {
				t.Fatalf("items header %d = %q, want %q", i, got, h)
			}
		}
		for i, it := range second.Items {
			row := fmt.Sprint(i + 3)
			if cell("分项明细", "A"+row) != fmt.Sprint(it.Seq) || cell("分项明细", "C"+row) != it.Name || cell("分项明细", "F"+row) != it.Measured ||
				cell("分项明细", "G"+row) != inspect.ConclusionLabels[it.Conclusion] || cell("分项明细", "H"+row) != inspect.RiskLabels[it.Risk] {
				t.Fatalf("items row %s: %q %q %q %q, want %+v", row, cell("分项明细", "A"+row), cell("分项明细", "C"+row), cell("分项明细", "G"+row), cell("分项明细", "H"+row), it)
			}
			if it.Code == "sec.weak_password" && cell("分项明细", "I"+row) != "好转（上期严重）" {
				t.Fatalf("trend cell %q", cell("分项明细", "I"+row))
			}
		}
		// Findings sheet lists the closed weak-password finding as rectified.
		frows, _ := x.GetRows("隐患与整改")
		found := false
		for _, r := range frows {
			if len(r) > 5 && r[0] == fmt.Sprint(weak.ID) {
				found = r[5] == "已整改（复查通过）" && r[3] == "eng"
			}
		}
		if !found {
			t.Fatalf("findings sheet %v", frows)
		}
		if cell("签字确认", "A3") != "角色" || cell("签字确认", "A4") != "巡检人" || cell("签字确认", "B4") != "张工" || cell("签字确认", "A5") != "复核人" {
			t.Fatalf("sign-off sheet")
		}

		// Printable HTML, archived.
		res = c.Do("GET", fmt.Sprintf("/inspect/runs/%d/print", second.Run.ID), nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), "智慧市监平台巡检报告") || !strings.Contains(string(res.Body), "弱口令账号") ||
			!strings.Contains(string(res.Body), "@page") {
			t.Fatalf("print view: %d", res.Status)
		}

		// Sign-off: not by the one who ran it; the reviewer's sign-off is a new archived version.
		if res := c.Do("POST", fmt.Sprintf("/api/v1/inspect/runs/%d/review", second.Run.ID), map[string]string{"note": "自己复核"}); res.Status != 409 || res.ErrorCode() != "self_review" {
			t.Fatalf("self review: %d %s", res.Status, res.Body)
		}
		c2 := e.Login("eng2")
		if res := c2.Do("POST", fmt.Sprintf("/api/v1/inspect/runs/%d/review", second.Run.ID), map[string]string{"note": "同意，按期整改"}); res.Status != 200 {
			t.Fatalf("review: %d %s", res.Status, res.Body)
		}
		if res := c2.Do("POST", fmt.Sprintf("/api/v1/inspect/runs/%d/review", second.Run.ID), map[string]string{}); res.Status != 409 {
			t.Fatalf("second review: %d %s", res.Status, res.Body)
		}
		res = c.Do("GET", fmt.Sprintf("/api/v1/inspect/runs/%d/report?format=xlsx", second.Run.ID), nil)
		x2, err := excelize.OpenReader(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ = x2.GetRows("封面")
		for _, r := range rows[2:] {
			if len(r) == 2 {
				cover[r[0]] = r[1]
			}
		}
		if cover["复核人"] != "测试eng2" || cover["报告版本"] != "2" {
			t.Fatalf("cover after review %v", cover)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM inspect_reports WHERE run_id = ? AND format = 'xlsx'`, second.Run.ID); n != 2 {
			t.Fatalf("%d archived xlsx versions", n)
		}

		// Findings: closing needs the rectification written down.
		var open struct{ Items []inspect.Finding }
		c.Do("GET", "/api/v1/inspect/findings?status=unclosed", nil).JSON(&open)
		if len(open.Items) == 0 {
			t.Fatal("no open findings left to rectify")
		}
		f := open.Items[0]
		path := fmt.Sprintf("/api/v1/inspect/findings/%d", f.ID)
		if res := c.Do("PUT", path, map[string]any{"status": "closed"}); res.Status != 400 || res.ErrorCode() != "rectification_required" {
			t.Fatalf("close without rectification: %d %s", res.Status, res.Body)
		}
		if res := c.Do("PUT", path, map[string]any{"deadline": "明天"}); res.Status != 400 {
			t.Fatalf("bad deadline: %d %s", res.Status, res.Body)
		}
		if res := c.Do("PUT", path, map[string]any{"owner": "eng2", "status": "closed", "rectification": "已按要求处理"}); res.Status != 200 {
			t.Fatalf("close: %d %s", res.Status, res.Body)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE action = 'inspect.finding.update' AND object_id = ?`, fmt.Sprint(f.ID)); n != 1 {
			t.Fatalf("finding update audited %d times", n)
		}
		for _, a := range []string{"inspect.plan.create", "inspect.run.execute", "inspect.report.review", "inspect.report.export", "ops.backup.create"} {
			if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE action = ?`, a); n == 0 {
				t.Errorf("no audit record for %s", a)
			}
		}

		// Scope: a city engineer sees none of the province's inspections.
		cx := e.Login("xian_eng")
		var list struct{ Total int }
		cx.Do("GET", "/api/v1/inspect/runs", nil).JSON(&list)
		if list.Total != 0 {
			t.Fatalf("city engineer sees %d provincial runs", list.Total)
		}
		if res := cx.Do("GET", fmt.Sprintf("/api/v1/inspect/runs/%d", second.Run.ID), nil); res.Status != 404 {
			t.Fatalf("city engineer reads a provincial run: %d", res.Status)
		}
		if res := cx.Do("POST", fmt.Sprintf("/api/v1/inspect/plans/%d/run", plan.ID), nil); res.Status != 404 {
			t.Fatalf("city engineer runs a provincial plan: %d", res.Status)
		}
		// Least privilege: the field inspector role holds no operations-center permission.
		ci := e.Login("insp")
		for _, p := range []string{"/api/v1/inspect/runs", "/api/v1/inspect/plans", "/api/v1/ops/backups"} {
			if res := ci.Do("GET", p, nil); res.Status != 403 {
				t.Errorf("inspector GET %s: %d", p, res.Status)
			}
		}
	})
}

// TestScheduledJobs runs the daily inspection and the scheduled backup through the job
// scheduler, as the 08:00 and 02:00 occurrences would.
func TestScheduledJobs(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := e.App.Jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer e.App.Jobs.Stop()
		db := e.App.DB
		waitRun := func(job string) {
			t.Helper()
			if _, err := e.App.Jobs.RunNow(ctx, job, "tester"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				runs, err := e.App.Jobs.Runs(ctx, job, 1)
				if err == nil && len(runs) == 1 && runs[0].Status != "running" {
					if runs[0].Status != "succeeded" {
						t.Fatalf("%s: %+v", job, runs[0])
					}
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("%s did not finish", job)
		}
		waitRun("ops.backup.scheduled")
		if n := count(t, db, `SELECT COUNT(*) FROM ops_backups WHERE kind = 'scheduled' AND status = 'ok'`); n != 1 {
			t.Fatalf("%d scheduled backups", n)
		}
		waitRun("inspect.plans.daily")
		// The seeded daily plan ran; the monthly one did not.
		if n := count(t, db, `SELECT COUNT(*) FROM inspect_runs WHERE cycle = 'daily' AND trigger_kind = 'schedule' AND status = 'done' AND actor = 'system'`); n != 1 {
			t.Fatalf("%d scheduled daily runs", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM inspect_runs WHERE cycle = 'monthly'`); n != 0 {
			t.Fatalf("%d monthly runs", n)
		}
		var bk string
		db.Get(ctx, &bk, `SELECT conclusion FROM inspect_items WHERE code = 'bk.latest'`)
		if bk != inspect.Normal {
			t.Fatalf("latest backup item after a scheduled backup: %s", bk)
		}
	})
}

// TestConcurrentRunsOpenOneFindingPerCheck runs one plan twice at the same time: both runs
// complete, and each failing check has one finding and one event.
func TestConcurrentRunsOpenOneFindingPerCheck(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		db := e.App.DB
		e.User("eng", "610000", "engineer")
		e.User("weakguy", "610000", "analyst")
		db.Exec(context.Background(), `UPDATE users SET weak_password = TRUE WHERE account = 'weakguy'`)
		c := e.Login("eng")
		var plan struct{ ID int64 }
		c.Do("POST", "/api/v1/inspect/plans", map[string]any{"name": "安全专项", "cycle": "adhoc", "categories": []string{"security"}}).JSON(&plan)
		done := make(chan int, 2)
		for range 2 {
			go func() {
				res := c.Do("POST", fmt.Sprintf("/api/v1/inspect/plans/%d/run", plan.ID), nil)
				done <- res.Status
			}()
		}
		for range 2 {
			if st := <-done; st != 201 {
				t.Fatalf("concurrent run: %d", st)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM inspect_runs WHERE plan_id = ? AND status = 'done'`, plan.ID); n != 2 {
			t.Fatalf("%d runs done", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM inspect_findings WHERE code = 'sec.weak_password'`); n != 1 {
			t.Fatalf("%d weak-password findings", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM events WHERE name = 'inspect.finding.opened' AND payload LIKE '%sec.weak_password%'`); n != 1 {
			t.Fatalf("%d weak-password events", n)
		}
	})
}

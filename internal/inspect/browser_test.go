package inspect_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestOperationsPagesInBrowser walks the operations-center pages in Chromium as an engineer:
// a manual backup, an on-demand inspection from the plans page to its report, the score
// trend chart, findings, release records and the printable report; the PDF comes from the
// archived HTML. The report page is checked at phone width too.
func TestOperationsPagesInBrowser(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	e.User("eng", "610000", "engineer")
	b := apptest.NewBrowser(t, 1280, 900)
	u := e.Server.URL
	b.LogIn(u+"/login", "eng", "#home-title")
	menu := b.Text(".sidemenu")
	for _, m := range []string{"运维中心", "巡检计划", "巡检记录与报告", "巡检隐患", "备份与恢复", "版本发布记录"} {
		if !strings.Contains(menu, m) {
			t.Errorf("menu lacks %s", m)
		}
	}

	b.Do(chromedp.Navigate(u+"/ops/backups"), chromedp.WaitVisible(chromedp.CSS("#backup-now")))
	if !strings.Contains(b.Text(".main"), "还没有备份记录") {
		t.Fatalf("empty state: %q", b.Text(".main"))
	}
	b.Do(chromedp.Click(chromedp.CSS("#backup-now")), chromedp.WaitVisible(chromedp.CSS("#backups-table")))
	if tbl := b.Text("#backups-table"); !strings.Contains(tbl, "手动备份") || !strings.Contains(tbl, "成功") {
		t.Fatalf("backups table: %q", tbl)
	}
	b.Do(chromedp.Click(chromedp.CSS(".verify-backup")), chromedp.WaitVisible(chromedp.CSS("#backups-table .tag.ok[title*='恢复验证通过']")))
	b.Screenshot("ops-backups")

	b.Do(chromedp.Navigate(u+"/inspect/plans"), chromedp.WaitVisible(chromedp.CSS("#plans-table")))
	b.Do(chromedp.Click(chromedp.CSS("#plans-table .run-plan")), chromedp.WaitVisible(chromedp.CSS("#items-table")))
	m := regexp.MustCompile(`/inspect/runs/(\d+)$`).FindStringSubmatch(b.Location())
	if m == nil {
		t.Fatalf("not on the report page: %s", b.Location())
	}
	if score := b.Text("#score"); !regexp.MustCompile(`^\d+分$`).MatchString(strings.TrimSpace(score)) {
		t.Fatalf("score %q", score)
	}
	if items := b.Text("#items-table"); !strings.Contains(items, "审计日志完整性") || !strings.Contains(items, "备份有效性验证") {
		t.Fatalf("items: %q", items)
	}
	b.Screenshot("inspect-report")

	// Phone width: the report page does not overflow (tables scroll inside their cards).
	b.Do(chromedp.EmulateViewport(375, 740), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#items-table")))
	if w, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		t.Errorf("report page overflows phone width: %d px", w)
	}
	b.Screenshot("inspect-report-375")
	b.Do(chromedp.EmulateViewport(1280, 900))

	// A second run gives the trend chart two points.
	b.Do(chromedp.Navigate(u+"/inspect/plans"), chromedp.WaitVisible(chromedp.CSS("#plans-table")),
		chromedp.Click(chromedp.CSS("#plans-table .run-plan")), chromedp.WaitVisible(chromedp.CSS("#items-table")))
	b.Do(chromedp.Navigate(u+"/inspect/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")),
		chromedp.WaitVisible(chromedp.CSS("#score-chart[data-rendered]")))
	b.Screenshot("inspect-runs")

	b.Do(chromedp.Navigate(u+"/inspect/findings"), chromedp.WaitVisible(chromedp.CSS(".main h1")))
	b.Screenshot("inspect-findings")
	b.Do(chromedp.Navigate(u+"/ops/releases"), chromedp.WaitVisible(chromedp.CSS(".main h1")))
	b.Do(chromedp.Navigate(u+"/inspect/runs/"+m[1]+"/print"), chromedp.WaitVisible(chromedp.CSS("#cover")))
	if txt := b.Text("body"); !strings.Contains(txt, "一、巡检范围") || !strings.Contains(txt, "五、签字确认") {
		t.Fatalf("print view: %q", txt)
	}
	b.Screenshot("inspect-print")
	b.NoErrors()

	// PDF from the archived HTML, archived in its turn.
	c := e.Login("eng")
	res := c.Do("GET", "/api/v1/inspect/runs/"+m[1]+"/report?format=pdf", nil)
	if res.Status != 200 || !bytes.HasPrefix(res.Body, []byte("%PDF")) || res.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("pdf: %d %q %.40q", res.Status, res.Header.Get("Content-Type"), res.Body)
	}
	var n int
	e.App.DB.Get(t.Context(), &n, `SELECT COUNT(*) FROM inspect_reports WHERE run_id = ? AND format = 'pdf'`, m[1])
	if n != 1 {
		t.Fatalf("%d archived PDFs", n)
	}
	again := c.Do("GET", "/api/v1/inspect/runs/"+m[1]+"/report?format=pdf", nil)
	if !bytes.Equal(again.Body, res.Body) {
		t.Fatal("second PDF download differs from the archived one")
	}
}

package quality_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestQualityPagesInBrowser uses the pages as an analyst does, in Chromium: an empty overview,
// a run started from it with its charts, the rule editor (a Chinese error, then a saved rule),
// the result page, the drill-down from a failed count to the failing rows and from a row to
// the full record, publishing the run's report and reading it — at 1280 px and at 375 px,
// without JavaScript errors.
func TestQualityPagesInBrowser(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, storetest.SQLite(t))
	e.User("ana", "610000", "analyst")
	b := apptest.NewBrowser(t, 1280, 900)
	b.LogIn(e.Server.URL+"/login", "ana", ".topbar")
	menu := b.Text(".sidemenu")
	for _, want := range []string{"数据治理", "数据质量概览", "质量规则", "核查记录", "质量报告"} {
		if !strings.Contains(menu, want) {
			t.Errorf("menu lacks %s: %q", want, menu)
		}
	}
	b.Do(chromedp.Navigate(e.Server.URL+"/quality"), chromedp.WaitVisible(chromedp.CSS("#no-runs")))
	insertEnterprises(t, e.App.DB, []any{ent(1), "西安甲公司", "610102"}, []any{ent(2), "", "610113"}, []any{ent(3), "宝鸡乙公司", "610302"})
	b.Do(chromedp.Click(chromedp.CSS("#run-all")), chromedp.WaitVisible(chromedp.CSS("#overall-score")),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="quality-dimensions"][data-rendered="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="quality-trend"][data-rendered="1"]`)))
	if s := b.Text("#dataset-scores"); !strings.Contains(s, "市场主体") {
		t.Fatalf("dataset scores %q", s)
	}
	b.Screenshot("quality-01-overview")

	// The rule editor: a wrong field is refused in Chinese, then the rule is saved.
	b.Do(chromedp.Navigate(e.Server.URL+"/quality/rules/new"), chromedp.WaitVisible(chromedp.CSS("#rule-form")),
		chromedp.SendKeys(chromedp.CSS("#code"), "UI_ADDR"), chromedp.SendKeys(chromedp.CSS("#name"), "住所不为空（页面）"),
		chromedp.SetValue(chromedp.CSS("#template"), "not_null"), chromedp.SetValue(chromedp.CSS("#params"), `{"column": "addr"}`),
		chromedp.Click(chromedp.CSS("#rule-save")), chromedp.WaitVisible(chromedp.CSS(".notice.bad")))
	if s := b.Text(".notice.bad"); !strings.Contains(s, "没有字段") {
		t.Fatalf("error shown %q", s)
	}
	b.Do(chromedp.SetValue(chromedp.CSS("#params"), `{"column": "address"}`), chromedp.Click(chromedp.CSS("#rule-save")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-body='{"rule":"UI_ADDR"}']`)))
	if !strings.Contains(b.Location(), "/quality/rules/") {
		t.Fatalf("after save: %s", b.Location())
	}
	b.Screenshot("quality-02-rule-editor")

	// Run history → result → failing rows → record.
	b.Do(chromedp.Navigate(e.Server.URL+"/quality/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")),
		chromedp.Click(chromedp.CSS("#runs-table tbody tr:first-child a")), chromedp.WaitVisible(chromedp.CSS("#results-table")))
	if s := b.Text(`#results-table tr[data-rule="ENT_NAME_NOT_EMPTY"] .failed`); s != "1" {
		t.Fatalf("failed count %q", s)
	}
	b.Screenshot("quality-03-run")
	b.Do(chromedp.Click(chromedp.CSS(`#results-table tr[data-rule="ENT_NAME_NOT_EMPTY"] .failed a`)), chromedp.WaitVisible(chromedp.CSS("#failed-rows")))
	if s := b.Text("#failed-rows .row-key"); s != ent(2) {
		t.Fatalf("failing key %q", s)
	}
	b.Screenshot("quality-04-failed-rows")
	b.Do(chromedp.Click(chromedp.CSS("#failed-rows tbody a")), chromedp.WaitVisible(chromedp.CSS("#record-fields")))
	if s := b.Text("#record-fields"); !strings.Contains(s, ent(2)) || !strings.Contains(s, "610113") {
		t.Fatalf("record %q", s)
	}
	b.Screenshot("quality-05-record")

	// Publish the run's report and read it.
	b.Do(chromedp.Navigate(e.Server.URL+"/quality/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")),
		chromedp.Click(chromedp.CSS("#runs-table tbody tr:first-child a")), chromedp.WaitVisible(chromedp.CSS("#publish-run")),
		chromedp.Click(chromedp.CSS("#publish-run")), chromedp.WaitVisible(chromedp.CSS("#reports-table")),
		chromedp.Click(chromedp.CSS("#reports-table tbody a")), chromedp.WaitVisible(chromedp.CSS("#report-title")),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="report-dimensions"][data-rendered="1"]`)))
	if s := b.Text("#report-results"); !strings.Contains(s, "ENT_NAME_NOT_EMPTY") {
		t.Fatalf("report %q", s)
	}
	b.Screenshot("quality-06-report")
	b.NoErrors()

	// Phone width: the result page does not overflow.
	b.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+"/quality/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")))
	width, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil || width > 375 {
		t.Errorf("runs page overflows at 375 px: %d %v", width, err)
	}
	b.Screenshot("quality-07-runs-375")
	b.NoErrors()
}

package dataset_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/store/storetest"
)

// TestDatasetPagesInBrowser uploads a file through the page, watches the run finish (htmx
// polling), corrects a quarantined record, replays it, browses the records and views the
// unmasked detail, at desktop and phone widths.
func TestDatasetPagesInBrowser(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, storetest.SQLite(t))
	e.User("analyst1", "610000", "analyst")
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"统一社会信用代码", "企业名称", "主体类型", "法定代表人", "法定代表人身份证号", "注册资本（万元）", "成立日期", "住所", "所属区域", "登记状态"})
	const n = 2000
	for i := 0; i < n; i++ {
		date := fmt.Sprintf("20%02d-%02d-%02d", i%24, 1+i%12, 1+i%28)
		if i == 7 {
			date = "2099-09-09"
		}
		id := ""
		if i == 1 {
			id = validate.MakeCitizenID("610113", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), 5, true)
		}
		w.Write([]string{validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("B%07d", i)), fmt.Sprintf("浏览器测试%d有限公司", i), "1130", "法人", id, "100", date, "雁塔路", "雁塔区", "存续"})
	}
	w.Flush()
	file := filepath.Join(t.TempDir(), "企业名录.csv")
	os.WriteFile(file, b.Bytes(), 0o644)

	br := apptest.NewBrowser(t, 1280, 900)
	br.LogIn(e.Server.URL+"/login", "analyst1", "#home-title")
	if menu := br.Text(".sidemenu"); !strings.Contains(menu, "数据治理") || !strings.Contains(menu, "导入记录") {
		t.Fatalf("menu: %q", menu)
	}
	br.Do(chromedp.Navigate(e.Server.URL+"/datasets/enterprise/upload"), chromedp.WaitVisible(chromedp.CSS("#upload-form")))
	br.Screenshot("dataset-01-upload")
	br.Do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}), chromedp.Click(chromedp.CSS("#upload-submit")),
		chromedp.WaitVisible(chromedp.CSS("#run-progress")))
	if !strings.Contains(br.Location(), "/ingest/runs/") {
		t.Fatalf("after upload: %s", br.Location())
	}
	// The run page follows the run and shows the summary once it has committed.
	br.Do(chromedp.WaitVisible(chromedp.CSS("#run-quarantine")))
	if s := br.Text("#run-status"); s != "成功" {
		t.Fatalf("run status %q", s)
	}
	if got := br.Text("#n-upserted") + "/" + br.Text("#n-quarantined"); got != fmt.Sprintf("%d/1", n-1) {
		t.Fatalf("counts %s", got)
	}
	br.Screenshot("dataset-02-run")
	// Correct the quarantined record and replay it.
	br.Do(chromedp.Click(chromedp.CSS("#run-quarantine a")), chromedp.WaitVisible(chromedp.CSS("#correct-form")))
	if s := br.Text("#row-errors"); !strings.Contains(s, "成立日期") || !strings.Contains(s, "晚于今天") {
		t.Fatalf("row errors %q", s)
	}
	br.Screenshot("dataset-03-quarantine-row")
	br.Do(chromedp.SetValue(chromedp.CSS(`#correct-form input[name="establish_date"]`), "2009-09-09"),
		chromedp.Click(chromedp.CSS("#save-correction")), chromedp.WaitVisible(chromedp.CSS("#row-errors.ok")))
	br.Do(chromedp.Click(chromedp.CSS("#replay-one")), chromedp.WaitNotPresent(chromedp.CSS("#replay-one")))
	if s := br.Text("h1 + .card p"); !strings.Contains(s, "已重放入库") {
		t.Fatalf("after replay: %q", s)
	}
	// Browse, filter, open a record and unmask it.
	br.Do(chromedp.Navigate(e.Server.URL+"/datasets/enterprise?q=浏览器测试1有限公司"), chromedp.WaitVisible(chromedp.CSS("#records-table")))
	if s := br.Text("#records-table"); !strings.Contains(s, "浏览器测试1有限公司") || strings.Contains(s, "浏览器测试2有限公司") {
		t.Fatalf("filtered records: %q", s)
	}
	br.Do(chromedp.Navigate(e.Server.URL+"/datasets/enterprise"), chromedp.WaitVisible(chromedp.CSS("#records-table")))
	if s := br.Text("#record-count"); !strings.HasPrefix(s, fmt.Sprint(n)) {
		t.Fatalf("record count %q", s)
	}
	br.Screenshot("dataset-04-records")
	br.Do(chromedp.Navigate(e.Server.URL+"/datasets/enterprise/records/key?k="+validate.MakeUSCC('9', '1', "610113", "B0000001")),
		chromedp.WaitVisible(chromedp.CSS("#record-detail")))
	if s := br.Text(`#record-detail tr[data-field="legal_rep_id_no"]`); !strings.Contains(s, "********") {
		t.Fatalf("masked id: %q", s)
	}
	if _, err := chromedp.Run(br.Ctx, chromedp.Evaluate[bool](`window.confirm = function(){ return true }; true`)); err != nil {
		t.Fatal(err)
	}
	br.Do(chromedp.Click(chromedp.CSS("#unmask")), chromedp.WaitVisible(chromedp.CSS("#unmasked-notice")))
	if s := br.Text(`#record-detail tr[data-field="legal_rep_id_no"]`); strings.Contains(s, "*") {
		t.Fatalf("unmasked id: %q", s)
	}
	br.Screenshot("dataset-05-record-unmasked")
	// Catalogue and run history, then phone width.
	br.Do(chromedp.Navigate(e.Server.URL+"/datasets"), chromedp.WaitVisible(chromedp.CSS("#datasets-table")))
	if s := br.Text(`#datasets-table tr[data-dataset="enterprise"] .count`); s != fmt.Sprint(n) {
		t.Fatalf("catalogue count %q", s)
	}
	br.Screenshot("dataset-06-catalogue")
	br.Do(chromedp.Navigate(e.Server.URL+"/ingest/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")))
	br.Screenshot("dataset-07-runs")
	br.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+"/datasets/enterprise"), chromedp.WaitVisible(chromedp.CSS("#records-table")))
	width, _ := chromedp.Run(br.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if width > 375 {
		t.Errorf("records page overflows phone width: %d px", width)
	}
	br.Screenshot("dataset-08-records-375")
	br.NoErrors()
}

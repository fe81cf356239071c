package dataset_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestMaintenancePagesInBrowser adds a code item and creates a database connector through
// the console: a validation error shows in Chinese beside the form, the dataset selector
// refreshes the field list, and after saving the connector page says the secret is set
// without showing it. Then both pages at phone width.
func TestMaintenancePagesInBrowser(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, storetest.SQLite(t))
	e.User("analyst1", "610000", "analyst")
	const dsn = "postgres://loader:Br0wser-pw@10.1.2.3:5432/lic"
	b := apptest.NewBrowser(t, 1280, 900)
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	choose := func(id, value string) {
		t.Helper()
		eval(`(function(){ var s = document.getElementById("` + id + `"); s.value = "` + value + `"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	}
	b.LogIn(e.Server.URL+"/login", "analyst1", "#home-title")

	// Code table: an invalid item is refused beside the form, a valid one is listed.
	b.Do(chromedp.Navigate(e.Server.URL+"/datasets/codes?table=sampling_product"), chromedp.WaitVisible(chromedp.CSS("#code-add-form")))
	b.Do(chromedp.SendKeys(chromedp.CSS("#code-add-code"), "P950"), chromedp.SendKeys(chromedp.CSS("#code-add-name"), " "),
		chromedp.Click(chromedp.CSS("#code-add-submit")))
	if s := b.WaitText("#code-add-result", "必填", 10*time.Second); !strings.Contains(s, "名称") {
		t.Fatalf("validation message %q", s)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#code-add-name"), "儿童滑板车"), chromedp.Click(chromedp.CSS("#code-add-submit")))
	b.WaitText("#codes-saved", "已保存", 10*time.Second)
	if s := b.Text(`#code-items tr[data-code="P950"]`); !strings.Contains(s, "儿童滑板车") || !strings.Contains(s, "维护") {
		t.Fatalf("new item row %q", s)
	}
	b.Screenshot("codes-01-added")

	// Connector: choose 数据库拉取 and 许可证; the HTTP part hides and the field list follows.
	b.Do(chromedp.Navigate(e.Server.URL+"/ingest/connectors"), chromedp.WaitVisible(chromedp.CSS("#connector-new")),
		chromedp.Click(chromedp.CSS("#connector-new")), chromedp.WaitVisible(chromedp.CSS("#connector-form")))
	choose("f-kind", "sql_pull")
	if !b.WaitJS(`document.getElementById("f-url").offsetParent === null && document.getElementById("f-table").offsetParent !== null`, 5*time.Second) {
		t.Fatal("HTTP fields still shown for a database connector")
	}
	choose("f-dataset", "licence")
	b.WaitText("#dataset-fields", "holder_uscc", 10*time.Second)
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-name"), "许可证库（页面）"), chromedp.SetValue(chromedp.CSS("#f-driver"), "postgres"),
		chromedp.SendKeys(chromedp.CSS("#f-table"), "public.lic_info"), chromedp.SendKeys(chromedp.CSS("#f-secret"), dsn),
		chromedp.SetValue(chromedp.CSS("#f-mapping"), `{"zsbh": "licence_no"}`), chromedp.Click(chromedp.CSS("#connector-save")))
	b.WaitText("#connector-result", "增量游标列", 10*time.Second)
	b.Screenshot("connectors-01-error")
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-cursor"), "updated_at"), chromedp.Click(chromedp.CSS("#connector-save")))
	b.WaitText("#connector-saved", "已保存", 10*time.Second)
	if !regexp.MustCompile(`/ingest/connectors/\d+\?saved=1$`).MatchString(b.Location()) {
		t.Fatalf("after save: %s", b.Location())
	}
	if s := b.Text("#secret-state"); s != "已设置" {
		t.Fatalf("secret state %q", s)
	}
	page, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, "Br0wser-pw") || strings.Contains(page, "10.1.2.3") {
		t.Fatal("connector page shows the DSN")
	}
	if v := b.Text("#dataset-fields h2"); !strings.Contains(v, "licence") {
		t.Fatalf("field list %q", v)
	}
	var cfg, kind string
	if err := e.App.DB.QueryRow(context.Background(), `SELECT kind, config FROM ds_connectors WHERE name = '许可证库（页面）'`).Scan(&kind, &cfg); err != nil {
		t.Fatal(err)
	}
	if kind != "sql_pull" || !strings.Contains(cfg, `"zsbh":"licence_no"`) || !strings.Contains(cfg, `"table":"public.lic_info"`) {
		t.Fatalf("stored %s %s", kind, cfg)
	}
	b.Screenshot("connectors-02-saved")
	b.Do(chromedp.Navigate(e.Server.URL+"/ingest/connectors"), chromedp.WaitVisible(chromedp.CSS("#connectors-table")))
	if s := b.Text("#connectors-table"); !strings.Contains(s, "许可证库（页面）") || !strings.Contains(s, "数据库拉取（postgres）") {
		t.Fatalf("list %q", s)
	}

	// Phone width: neither page overflows.
	for _, p := range []string{"/ingest/connectors/new", "/datasets/codes?table=sampling_product"} {
		b.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+p), chromedp.WaitVisible(chromedp.CSS("form")))
		width, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if width > 375 {
			t.Errorf("%s overflows phone width: %d px", p, width)
		}
	}
	b.Screenshot("codes-02-375")
	b.NoErrors()
}

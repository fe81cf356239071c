package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestConsoleInBrowser walks the engineer's pages in Chromium: adds a webhook channel and
// presses 发送测试, adds an HTTP target and probes it once, and opens the public status page.
func TestConsoleInBrowser(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	e.User("eng", "610000", "engineer")
	h := newHook(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("许可备案 首页")) }))
	defer site.Close()
	b := apptest.NewBrowser(t, 1280, 900)
	b.LogIn(e.Server.URL+"/login?next=/notify/channels", "eng", "#channel-form")
	if menu := b.Text(".sidemenu"); !strings.Contains(menu, "运维中心") || !strings.Contains(menu, "监控目标") || !strings.Contains(menu, "通知发送记录") {
		t.Fatalf("menu: %q", menu)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#c-name"), "值班群"),
		chromedp.SetValue(chromedp.CSS("#c-kind"), "webhook"),
		chromedp.SendKeys(chromedp.CSS("#c-config"), `{"url":"`+h.URL+`"}`),
		chromedp.Click(chromedp.CSS("#channel-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".test-form button")))
	b.Do(chromedp.Click(chromedp.CSS(".test-form button")), chromedp.WaitVisible(chromedp.CSS("#test-result.ok")))
	if msg := b.Text("#test-result"); !strings.Contains(msg, "测试消息已发送") || !h.has("测试消息") {
		t.Fatalf("send test: %q", msg)
	}
	b.Screenshot("monitor-channels")
	b.Do(chromedp.Navigate(e.Server.URL+"/notify/deliveries"), chromedp.WaitVisible(chromedp.CSS("#deliveries-table")))
	if tbl := b.Text("#deliveries-table"); !strings.Contains(tbl, "测试消息") || !strings.Contains(tbl, "已发送") {
		t.Fatalf("delivery log: %q", tbl)
	}

	// A new target, then one probe from its page.
	b.Do(chromedp.Navigate(e.Server.URL+"/monitor/targets/new"), chromedp.WaitVisible(chromedp.CSS("#target-form")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "许可备案门户"),
		chromedp.SendKeys(chromedp.CSS("#f-address"), site.URL),
		chromedp.SendKeys(chromedp.CSS("#f-keyword"), "许可备案"),
		chromedp.Click(chromedp.CSS("#target-submit")),
		chromedp.WaitVisible(chromedp.CSS("#probe-form")))
	if !strings.Contains(b.Location(), "/monitor/targets/") {
		t.Fatalf("not on the target page: %s", b.Location())
	}
	b.Do(chromedp.Click(chromedp.CSS("#probe-form button")), chromedp.WaitVisible(chromedp.CSS("#probe-form .notice.ok")))
	if msg := b.Text("#probe-form .notice"); !strings.Contains(msg, "探测成功") {
		t.Fatalf("probe: %q", msg)
	}
	b.Screenshot("monitor-target")
	b.Do(chromedp.Navigate(e.Server.URL+"/monitor"), chromedp.WaitVisible(chromedp.CSS(".targets-table")))
	if tbl := b.Text(".targets-table"); !strings.Contains(tbl, "许可备案门户") {
		t.Fatalf("targets: %q", tbl)
	}
	// An alert rule: created with the form, then edited (threshold, disabled) from its row.
	b.Do(chromedp.Navigate(e.Server.URL+"/monitor/rules"), chromedp.WaitVisible(chromedp.CSS("#rule-form")),
		chromedp.SendKeys(chromedp.CSS(`#rule-form [name=name]`), "门户响应慢"),
		chromedp.SendKeys(chromedp.CSS(`#rule-form [name=metric]`), "probe_duration_seconds"),
		chromedp.SetValue(chromedp.CSS(`#rule-form [name=op]`), ">"),
		chromedp.SendKeys(chromedp.CSS(`#rule-form [name=threshold]`), "2.5"),
		chromedp.Click(chromedp.CSS("#rule-save")))
	b.WaitText("#rules-table", "门户响应慢", 10*time.Second)
	var ruleID int64
	e.App.DB.Get(context.Background(), &ruleID, `SELECT id FROM monitor_rules WHERE name = '门户响应慢'`)
	b.Do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rules-table tr[data-id="%d"] a[href^="?edit="]`, ruleID))),
		chromedp.WaitVisible(chromedp.CSS(`#rule-form[data-method=PUT]`)))
	if v, err := chromedp.Run(b.Ctx, chromedp.Value(chromedp.CSS(`#rule-form [name=threshold]`))); err != nil || v != "2.5" {
		t.Fatalf("edit form threshold: %q %v", v, err)
	}
	b.Do(chromedp.SetValue(chromedp.CSS(`#rule-form [name=threshold]`), "4"),
		chromedp.Click(chromedp.CSS(`#rule-form [name=enabled]`)),
		chromedp.Click(chromedp.CSS("#rule-save")))
	b.WaitText("#rules-table", "> 4", 10*time.Second)
	var threshold float64
	var enabled bool
	e.App.DB.QueryRow(context.Background(), `SELECT threshold, enabled FROM monitor_rules WHERE name = '门户响应慢'`).Scan(&threshold, &enabled)
	if threshold != 4 || enabled {
		t.Fatalf("rule after edit: threshold %v enabled %v", threshold, enabled)
	}
	b.Screenshot("monitor-rules")

	for _, p := range []string{"/monitor/alerts", "/monitor/silences", "/monitor/charts"} {
		b.Do(chromedp.Navigate(e.Server.URL+p), chromedp.WaitVisible(chromedp.CSS("h1")))
	}
	b.Do(chromedp.Navigate(e.Server.URL+"/status"), chromedp.WaitVisible(chromedp.CSS("#status-table")))
	if tbl := b.Text("#status-table"); !strings.Contains(tbl, "许可备案") || !strings.Contains(tbl, "统一认证平台") {
		t.Fatalf("status page: %q", tbl)
	}
	b.Screenshot("monitor-status")
	b.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+"/status"), chromedp.WaitVisible(chromedp.CSS("#status-table")))
	b.NoErrors()
}

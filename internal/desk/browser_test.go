package desk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
	"zhsj/internal/store/storetest"
)

// TestDeskPagesInBrowser uses the service desk as people do, in Chromium: submitting a
// ticket on the web form with knowledge suggestions appearing while typing, registering it
// on its page, searching the knowledge base, generating a monthly report with its chart,
// and reporting a problem from the phone page at 375 px — without JavaScript errors.
func TestDeskPagesInBrowser(t *testing.T) {
	ae := apptest.New(t, storetest.SQLite(t))
	e := newEnv(t, ae)
	e.clock.Set(time.Now().UTC().Truncate(time.Millisecond))
	e.User("eng", "610000", "engineer")
	e.User("yanta", "610113", "inspector")
	eng := e.Login("eng")
	for _, a := range desk.DemoArticles {
		mustStatus(t, eng.Do("POST", "/api/v1/desk/kb/articles", a), 201, "article")
	}
	b := apptest.NewBrowser(t, 1280, 900)
	login := func(account string) {
		b.LogIn(e.Server.URL+"/login", account, ".topbar")
	}
	login("eng")
	menu := b.Text(".sidemenu")
	for _, want := range []string{"服务台", "运维单", "知识库", "SLA 与升级", "工作报告", "变更审批"} {
		if !strings.Contains(menu, want) {
			t.Errorf("menu lacks %s", want)
		}
	}
	// The web form, with suggestions from the knowledge base while typing.
	b.Do(chromedp.Navigate(e.Server.URL+"/desk/tickets/new"), chromedp.WaitVisible(chromedp.CSS("#ticket-form")),
		chromedp.SendKeys(chromedp.CSS("#f-title"), "登录时提示票据无效"),
		chromedp.SendKeys(chromedp.CSS("#f-desc"), "从门户进入业务系统时提示票据无效，需要重新登录"),
		chromedp.WaitVisible(chromedp.CSS("#kb-suggest-list a")))
	if s := b.Text("#kb-suggest-list"); !strings.Contains(s, "统一认证登录提示") {
		t.Fatalf("suggestions %q", s)
	}
	b.Screenshot("desk-01-new-ticket")
	b.Do(chromedp.Click(chromedp.CSS("#ticket-submit")), chromedp.WaitVisible(chromedp.CSS("#ticket-flow")))
	if !strings.Contains(b.Location(), "/desk/tickets/") || b.Text("#ticket-state") != "受理" {
		t.Fatalf("after submit: %s %q", b.Location(), b.Text("#ticket-state"))
	}
	// Register it on its page; respond with a vague feedback shows the server's Chinese error.
	b.Do(chromedp.SetValue(chromedp.CSS("#form-register input[name=system]"), "统一认证"),
		chromedp.SetValue(chromedp.CSS("#form-register select[name=category]"), "功能异常"),
		chromedp.Click(chromedp.CSS("#form-register button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#form-grade")))
	if s := b.Text("#ticket-state"); s != "登记" {
		t.Fatalf("state after register %q", s)
	}
	// A tampered form (urgency 9) gets the server's Chinese error on the page.
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(function(){var s=document.querySelector('#form-grade select[name=urgency]'); s.add(new Option('9','9')); s.value='9'; return true})()`)); err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.SetValue(chromedp.CSS("#form-grade select[name=impact]"), "1"),
		chromedp.Click(chromedp.CSS("#form-grade button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#action-result.bad")))
	if s := b.Text("#action-result"); !strings.Contains(s, "紧急程度须为 1–4 级") {
		t.Fatalf("error shown %q", s)
	}
	if tr := b.Text("#transitions-table"); !strings.Contains(tr, "登记") || !strings.Contains(tr, "测试eng") {
		t.Fatalf("transitions %q", tr)
	}
	b.Screenshot("desk-02-ticket-1280")
	// Knowledge search.
	b.Do(chromedp.Navigate(e.Server.URL+"/desk/kb?q=%E8%A1%A8%E7%A9%BA%E9%97%B4"), chromedp.WaitVisible(chromedp.CSS("#kb-results")))
	if s := b.Text("#kb-results"); !strings.Contains(s, "数据库表空间不足导致写入失败") {
		t.Fatalf("kb results %q", s)
	}
	// SLA page and a monthly report with its chart.
	b.Do(chromedp.Navigate(e.Server.URL+"/desk/sla"), chromedp.WaitVisible(chromedp.CSS("#targets-table")))
	b.Do(chromedp.Navigate(e.Server.URL+"/desk/reports"), chromedp.WaitVisible(chromedp.CSS("#report-form")),
		chromedp.SetValue(chromedp.CSS("#report-period"), e.clock.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")),
		chromedp.Click(chromedp.CSS("#report-generate")), chromedp.WaitVisible(chromedp.CSS("#report-body")),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart][data-rendered="1"]`)))
	if s := b.Text("#r-created"); s != "1" {
		t.Fatalf("report created %q", s)
	}
	b.Screenshot("desk-03-report")
	b.NoErrors()

	// The phone page as the county inspector.
	m := apptest.NewBrowser(t, 375, 740)
	b = m
	login("yanta")
	m.Do(chromedp.Navigate(e.Server.URL+"/m/desk"), chromedp.WaitVisible(chromedp.CSS("#m-new")),
		chromedp.Click(chromedp.CSS("#m-new")), chromedp.WaitVisible(chromedp.CSS("#m-ticket-form")),
		chromedp.SendKeys(chromedp.CSS("#m-title"), "APP 拍照上传失败"),
		chromedp.SendKeys(chromedp.CSS("#m-system"), "智慧市监APP"),
		chromedp.Click(chromedp.CSS("#m-submit")), chromedp.WaitVisible(chromedp.CSS("#m-ticket-state")))
	if s := m.Text("#m-ticket-state"); s != "受理" {
		t.Fatalf("mobile ticket state %q", s)
	}
	width, err := chromedp.Run(m.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil || width > 375 {
		t.Errorf("mobile page overflows: %d %v", width, err)
	}
	m.Do(chromedp.Navigate(e.Server.URL+"/m/desk"), chromedp.WaitVisible(chromedp.CSS("#m-list")))
	if s := m.Text("#m-list"); !strings.Contains(s, "APP 拍照上传失败") {
		t.Fatalf("my tickets %q", s)
	}
	m.Screenshot("desk-04-mobile")
	var src string
	e.App.DB.Get(e.ctx, &src, `SELECT source FROM desk_tickets WHERE title = 'APP 拍照上传失败'`)
	if src != "mobile" {
		t.Fatalf("mobile source %q", src)
	}
	m.NoErrors()
}

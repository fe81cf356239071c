package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestFirstLoginInBrowser logs in through the real login page with the one-time password
// printed at first start, is forced to change it, and reaches the console; then checks the
// same console at phone width.
func TestFirstLoginInBrowser(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	creds, err := e.App.EnsureAdmins(context.Background())
	if err != nil || len(creds) != 3 {
		t.Fatalf("first admins: %v %v", creds, err)
	}
	sys := creds[0]
	b := apptest.NewBrowser(t, 1280, 900)
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS("#account")))
	if !strings.Contains(b.Location(), "/login?next=") {
		t.Fatalf("not redirected to login: %s", b.Location())
	}
	b.Screenshot("01-login")
	// A wrong password shows the Chinese error on the page.
	b.Do(chromedp.SendKeys(chromedp.CSS("#account"), sys.Account), chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS(".notice.bad")))
	if msg := b.Text(".notice.bad"); !strings.Contains(msg, "账号或口令错误") {
		t.Fatalf("error message: %q", msg)
	}
	b.Clear("password")
	b.Do(chromedp.SendKeys(chromedp.CSS("#password"), sys.Password),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS("#password-form")))
	if !strings.HasSuffix(b.Location(), "/account/password") {
		t.Fatalf("first login did not force a password change: %s", b.Location())
	}
	// Live policy feedback marks rules while typing.
	b.Do(chromedp.SendKeys(chromedp.CSS("#new"), "abc"), chromedp.WaitVisible(chromedp.CSS("#policy-list li.bad")))
	b.Screenshot("02-password-policy")
	newPw := "Wq7#zRt5!nMx8Kp"
	b.Clear("new")
	b.Do(chromedp.SendKeys(chromedp.CSS("#current"), sys.Password),
		chromedp.SendKeys(chromedp.CSS("#new"), newPw), chromedp.Click(chromedp.CSS("#password-submit")),
		chromedp.WaitVisible(chromedp.CSS("#home-title")))
	if title, _ := chromedp.Run(b.Ctx, chromedp.Title()); !strings.Contains(title, "工作台") {
		t.Fatalf("console title %q", title)
	}
	menu := b.Text(".sidemenu")
	for _, want := range []string{"系统管理", "用户管理", "部门管理"} {
		if !strings.Contains(menu, want) {
			t.Errorf("menu lacks %s: %q", want, menu)
		}
	}
	if strings.Contains(menu, "登录日志") {
		t.Errorf("system administrator sees the audit menu: %q", menu)
	}
	b.Screenshot("03-console-1280")
	// The user list works and shows the three administrators.
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("#users-table")))
	if tbl := b.Text("#users-table"); !strings.Contains(tbl, "secadmin") || !strings.Contains(tbl, "auditadmin") {
		t.Fatalf("users table: %q", tbl)
	}
	b.Screenshot("04-users-1280")
	// Phone width: the menu collapses behind the toggle and opens on tap.
	b.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".menu-toggle")))
	visible, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById('sidemenu')).display !== 'none'`))
	if err != nil || visible {
		t.Fatalf("menu visible on phone before toggle: %v %v", visible, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(".menu-toggle")), chromedp.WaitVisible(chromedp.CSS("#sidemenu")))
	width, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if width > 375 {
		t.Errorf("page overflows phone width: %d px", width)
	}
	b.Screenshot("05-console-375")
	time.Sleep(100 * time.Millisecond)
	b.NoErrors()
	// And the new password works for the API too.
	c := e.Client()
	if res := c.Do("POST", "/api/v1/auth/login", map[string]string{"account": sys.Account, "password": newPw}); res.Status != 200 || strings.Contains(string(res.Body), `"must_change_password":true`) {
		t.Fatalf("login with new password: %d %s", res.Status, res.Body)
	}
}

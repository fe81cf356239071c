package demo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store/storetest"
)

// TestPagesFitAPhone opens every page of the left menu and one page of every other kind
// (route) the crawl reaches, as the built-in roles that hold them, in Chromium 375 px wide
// on the demo data (DESIGN §2: pages work at phone width). A page must not be wider than the
// screen, throw a JavaScript error, or have one of its own requests fail.
func TestPagesFitAPhone(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	seedDemo(t, e)
	// The browser talks to a server that notes every failed request.
	var mu sync.Mutex
	var failed []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &apptest.StatusRecorder{ResponseWriter: w, Code: http.StatusOK}
		e.App.Handler.ServeHTTP(rec, r)
		if rec.Code >= 400 {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%d %s %s", rec.Code, r.Method, r.URL.RequestURI()))
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	seen := map[string]bool{} // route patterns opened
	kindOf := routeOf(e)
	for _, role := range iam.BuiltinRoleCodes() {
		account := "m_" + role
		e.User(account, "610000", role)
		b := apptest.NewBrowser(t, 375, 740)
		b.LogIn(srv.URL+"/login", account, ".topbar") // the side menu is folded away at phone width
		links, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#sidemenu a')).map(a => a.getAttribute('href'))`))
		if err != nil || len(links) == 0 {
			t.Fatalf("%s: menu links %v %v", account, links, err)
		}
		// Then one page of each kind the role reaches by following links (a ticket, a
		// quality result, a dataset record …).
		links = append(links, crawl(t, e.Login(account), account, kindOf)...)
		for _, link := range links {
			kind := kindOf(link)
			if seen[kind] {
				continue
			}
			seen[kind] = true
			mu.Lock()
			failed = nil
			mu.Unlock()
			before := len(b.Errors())
			b.Do(chromedp.Navigate(srv.URL + link))
			b.WaitJS(`document.readyState === 'complete'`, 10*time.Second)
			time.Sleep(300 * time.Millisecond) // charts and htmx loads that start at load
			width, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			if width > 375 {
				wide, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('.main *')).filter(e => e.getBoundingClientRect().right > 376).slice(0, 3).map(e => e.tagName + '.' + e.className).join(', ')`))
				t.Errorf("%s (%s): %d px wide at 375 px (%s)", link, account, width, wide)
				b.Screenshot("wide" + strings.ReplaceAll(link, "/", "_"))
			}
			if errs := b.Errors()[before:]; len(errs) > 0 {
				t.Errorf("%s (%s): JavaScript errors %v", link, account, errs)
			}
			mu.Lock()
			if len(failed) > 0 {
				t.Errorf("%s (%s): failed requests %v", link, account, failed)
			}
			mu.Unlock()
		}
	}
	if len(seen) < 30 {
		t.Fatalf("only %d kinds of page opened", len(seen))
	}
	t.Logf("%d kinds of page", len(seen))
}

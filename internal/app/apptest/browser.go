package apptest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is a headless Chromium tab that records uncaught exceptions and console errors.
type Browser struct {
	Ctx  context.Context
	t    testing.TB
	mu   sync.Mutex
	errs []string
	Dir  string // screenshots go here (the test's temp dir)
}

// chromiumPath finds the system Chromium.
func chromiumPath() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// NewBrowser starts headless Chromium with a viewport of width×height, skipping the test
// when Chromium is absent (failing under ZHSJ_TEST_REQUIRE_ALL=1).
func NewBrowser(t testing.TB, width, height int) *Browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("ZHSJ_TEST_REQUIRE_ALL") == "1" {
			t.Fatal("ZHSJ_TEST_REQUIRE_ALL=1 but Chromium is not installed")
		}
		t.Skip("Chromium not installed")
	}
	dir := t.TempDir()
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(width, height))
	ctx, cancelC := chromedp.NewContext(actx)
	// A whole browser test's budget: generous, because CI runs the suite on two shared cores.
	ctx, cancelT := context.WithTimeout(ctx, 180*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &Browser{Ctx: ctx, t: t, Dir: dir}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.add("exception: " + msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				s := "console.error:"
				for _, a := range e.Args {
					s += " " + string(a.Value) + a.Description
				}
				b.add(s)
			}
		}
	})
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	b.errs = append(b.errs, s)
	b.mu.Unlock()
}

// Errors returns the JavaScript errors seen so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// LogIn opens the login page at loginURL, signs in as account with DefaultPassword and waits
// until the page it lands on shows sel.
func (b *Browser) LogIn(loginURL, account, sel string) {
	b.t.Helper()
	b.Do(chromedp.Navigate(loginURL), chromedp.WaitVisible(chromedp.CSS("#account")),
		chromedp.SendKeys(chromedp.CSS("#account"), account), chromedp.SendKeys(chromedp.CSS("#password"), DefaultPassword),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Do runs actions, failing the test on error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Text returns the text of the first node matching sel.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text %s: %v", sel, err)
	}
	return s
}

// WaitJS polls the script js until it returns true, for at most timeout. Errors count as
// false: a navigation in between (a form that reloads the page) does not end the wait.
func (b *Browser) WaitJS(js string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// WaitText waits until the first node matching sel contains want and returns its text, like
// WaitJS (a reload in between does not leave it waiting on a node of the old document).
func (b *Browser) WaitText(sel, want string, timeout time.Duration) string {
	b.t.Helper()
	q := "document.querySelector(`" + sel + "`)"
	if !b.WaitJS(`(function(){ var e = `+q+`; return !!e && e.innerText.indexOf(`+"`"+want+"`"+`) >= 0 })()`, timeout) {
		last, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(function(){ var e = `+q+`; return e ? e.innerText : '' })()`))
		b.t.Fatalf("%s did not show %q within %s; last text: %.300s", sel, want, timeout, last)
	}
	s, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](q+`.innerText`))
	return s
}

// Location returns the current URL.
func (b *Browser) Location() string {
	s, _ := chromedp.Run(b.Ctx, chromedp.Location())
	return s
}

// Screenshot saves a full-page PNG under the test's temp dir and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(b.Dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if d := os.Getenv("ZHSJ_SCREENSHOT_DIR"); d != "" {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, name+".png"), png, 0o644)
	}
	return p
}

// NoErrors fails the test when the page reported JavaScript errors.
func (b *Browser) NoErrors() {
	b.t.Helper()
	if errs := b.Errors(); len(errs) > 0 {
		b.t.Errorf("JavaScript errors: %v", errs)
	}
}

// Clear empties an input.
func (b *Browser) Clear(id string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(function(){var e=document.getElementById(`+"`"+id+"`"+`); e.value=''; return true})()`)); err != nil {
		b.t.Fatalf("clear %s: %v", id, err)
	}
}

package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
)

type savedList struct {
	Items []iam.SavedAccount `json:"items"`
}

func savedAccounts(t testing.TB, e *apptest.Env, c *apptest.Client) []iam.SavedAccount {
	t.Helper()
	var l savedList
	res := send(t, e, c, "GET", "/api/v1/auth/accounts", nil, nil)
	if err := res.JSON(&l); err != nil || res.Status != 200 {
		t.Fatalf("accounts: %d %s", res.Status, res.Body)
	}
	return l.Items
}

func slotOf(t testing.TB, list []iam.SavedAccount, account string) string {
	t.Helper()
	for _, a := range list {
		if a.Account == account {
			return a.Slot
		}
	}
	t.Fatalf("%s not among the saved accounts %+v", account, list)
	return ""
}

var csrfRE = regexp.MustCompile(`<meta name="zhsj-csrf" content="([0-9a-f]+)">`)

// pageToken loads the home page and returns its CSRF token and the <main> part of the page.
func pageToken(t testing.TB, e *apptest.Env, c *apptest.Client) (token, main, whole string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.Server.URL+"/", nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	body := b.String()
	if resp.StatusCode != 200 {
		t.Fatalf("home page: %d", resp.StatusCode)
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page")
	}
	i := strings.Index(body, `<main class="main"`)
	return m[1], body[i:], body
}

// TestSeveralAccountsInOneBrowser keeps three accounts in one cookie jar: each request acts
// as exactly the active account, switching is explicit, a page of one account cannot act
// after the switch, and logging one account out leaves the others logged in.
func TestSeveralAccountsInOneBrowser(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("ana", "610100", "analyst")
		e.User("ins", "610113", "inspector")
		e.User("eng", "610000", "engineer")
		var mu sync.Mutex
		var ended []string
		e.App.IAM.OnLogout(func(_ context.Context, uid int64, sid string) {
			mu.Lock()
			ended = append(ended, sid)
			mu.Unlock()
		})
		c := e.Client()
		for _, a := range []string{"ana", "ins", "eng"} {
			loginAs(t, e, c, a, nil)
			if st, acc := me(t, e, c); st != 200 || acc != a {
				t.Fatalf("after logging in %s, me is %d %s", a, st, acc)
			}
		}
		list := savedAccounts(t, e, c)
		if len(list) != 3 || !list[0].Active || list[0].Account != "eng" {
			t.Fatalf("saved accounts: %+v", list)
		}
		// Switch to ana: the API and the pages show ana only.
		if res := send(t, e, c, "POST", "/api/v1/auth/accounts/"+slotOf(t, list, "ana")+"/switch", nil, nil); res.Status != 200 {
			t.Fatalf("switch: %d %s", res.Status, res.Body)
		}
		if _, acc := me(t, e, c); acc != "ana" {
			t.Fatalf("after switch me is %s", acc)
		}
		tokAna, mainAna, whole := pageToken(t, e, c)
		if !strings.Contains(mainAna, "测试ana") || strings.Contains(mainAna, "测试ins") || strings.Contains(mainAna, "测试eng") {
			t.Fatalf("ana's page shows another account")
		}
		if !strings.Contains(whole, `id="current-account">测试ana（ana）`) || !strings.Contains(whole, "测试ins（ins）") {
			t.Fatalf("switcher: current must be ana, others listed")
		}
		// A page of ana cannot act once the browser switched to ins.
		if res := send(t, e, c, "POST", "/api/v1/auth/accounts/"+slotOf(t, list, "ins")+"/switch", nil, nil); res.Status != 200 {
			t.Fatalf("switch to ins: %d", res.Status)
		}
		rot := map[string]int{"days": 30}
		if res := send(t, e, c, "PUT", "/api/v1/me/password/rotation", rot, map[string]string{"X-CSRF-Token": tokAna}); res.Status != 403 || res.ErrorCode() != "account_switched" {
			t.Fatalf("stale page of ana acted as ins: %d %s", res.Status, res.Body)
		}
		if res := send(t, e, c, "PUT", "/api/v1/me/password/rotation", rot, nil); res.Status != 403 || res.ErrorCode() != "csrf_required" {
			t.Fatalf("tokenless write with three accounts: %d %s", res.Status, res.Body)
		}
		tokIns, mainIns, _ := pageToken(t, e, c)
		if tokIns == tokAna || strings.Contains(mainIns, "测试ana") {
			t.Fatal("ins's page shares ana's token or shows ana")
		}
		if res := send(t, e, c, "PUT", "/api/v1/me/password/rotation", rot, map[string]string{"X-CSRF-Token": tokIns}); res.Status != 200 {
			t.Fatalf("write from ins's own page: %d %s", res.Status, res.Body)
		}
		var days int
		e.App.DB.Get(ctx, &days, `SELECT password_max_days FROM users WHERE account = 'ins'`)
		if days != 30 {
			t.Fatalf("rotation saved on the wrong account")
		}
		// Authenticated answers are never cached.
		if res := send(t, e, c, "GET", "/api/v1/me", nil, nil); res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.Header.Get("Vary"), "Cookie") {
			t.Fatalf("cache headers: %v", res.Header)
		}
		// Logging ins out leaves ana and eng logged in, clears only ins's cookies, and never
		// picks another account: the browser has no active account until one is chosen.
		res := send(t, e, c, "POST", "/api/v1/auth/logout", nil, map[string]string{"X-CSRF-Token": tokIns})
		if res.Status != 200 || res.Header.Get("Clear-Site-Data") != "" || !strings.Contains(string(res.Body), `"remaining":2`) {
			t.Fatalf("logout of one account: %d %s %v", res.Status, res.Body, res.Header)
		}
		if st, _ := me(t, e, c); st != 401 {
			t.Fatalf("after logging out the active account, me answers %d: an account was picked silently", st)
		}
		list = savedAccounts(t, e, c)
		if len(list) != 2 || list[0].Active || list[1].Active {
			t.Fatalf("after logout: %+v", list)
		}
		// The login page offers the two accounts to choose from.
		page := c.Do("GET", "/login", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "测试ana（ana）") || !strings.Contains(string(page.Body), "测试eng（eng）") || strings.Contains(string(page.Body), "测试ins") {
			t.Fatalf("login picker: %d", page.Status)
		}
		if res := send(t, e, c, "POST", "/api/v1/auth/accounts/"+slotOf(t, list, "eng")+"/switch", nil, nil); res.Status != 200 {
			t.Fatalf("pick eng: %d %s", res.Status, res.Body)
		}
		if _, acc := me(t, e, c); acc != "eng" {
			t.Fatalf("picked eng, me is %s", acc)
		}
		// Remove the saved (inactive) account ana: its session ends, eng stays.
		anaSID := sidOf(t, e, "ana")
		res = send(t, e, c, "DELETE", "/api/v1/auth/accounts/"+slotOf(t, list, "ana"), nil, nil)
		if res.Status != 200 || res.Header.Get("Clear-Site-Data") != "" {
			t.Fatalf("remove ana: %d %s", res.Status, res.Body)
		}
		var revoked int
		e.App.DB.Get(ctx, &revoked, `SELECT COUNT(*) FROM sessions WHERE id = ? AND revoked_at IS NOT NULL`, anaSID)
		if revoked != 1 {
			t.Fatal("removed account's session still live")
		}
		if _, acc := me(t, e, c); acc != "eng" {
			t.Fatalf("after removing ana, me is %s", acc)
		}
		if l := savedAccounts(t, e, c); len(l) != 1 || l[0].Account != "eng" {
			t.Fatalf("after remove: %+v", l)
		}
		// The last account leaving clears the site's data in the browser.
		res = send(t, e, c, "POST", "/api/v1/auth/logout", nil, nil)
		if res.Status != 200 || res.Header.Get("Clear-Site-Data") != iam.ClearSiteData {
			t.Fatalf("last logout: %d %v", res.Status, res.Header)
		}
		mu.Lock()
		if len(ended) != 3 {
			t.Errorf("logout hooks ran for %d sessions, want 3 (ins, ana, eng)", len(ended))
		}
		mu.Unlock()
	})
}

func sidOf(t testing.TB, e *apptest.Env, account string) string {
	t.Helper()
	var sid string
	if err := e.App.DB.Get(context.Background(), &sid, `SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE u.account = ? AND s.revoked_at IS NULL ORDER BY s.created_at DESC LIMIT 1`, account); err != nil {
		t.Fatalf("session of %s: %v", account, err)
	}
	return sid
}

// TestLogoutEverywhereAndAccountLimits covers "log out everywhere", the limit of accounts
// per browser, logging in again as a kept account, and the single-account cookie that SSO
// code sets.
func TestLogoutEverywhereAndAccountLimits(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		accounts := []string{"usr1", "usr2", "usr3", "usr4", "usr5", "usr6"}
		for _, a := range accounts {
			e.User(a, "610000", "analyst")
		}
		var mu sync.Mutex
		hooks := map[int64]int{}
		e.App.IAM.OnLogout(func(_ context.Context, uid int64, _ string) { mu.Lock(); hooks[uid]++; mu.Unlock() })
		c := e.Client()
		for _, a := range accounts[:5] {
			loginAs(t, e, c, a, nil)
		}
		// Logging in again as a kept account replaces its session, it does not add one.
		loginAs(t, e, c, "usr2", nil)
		var live int
		e.App.DB.Get(ctx, &live, `SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.account = 'usr2' AND s.revoked_at IS NULL`)
		if l := savedAccounts(t, e, c); len(l) != 5 || live != 1 {
			t.Fatalf("re-login: %d saved, %d live sessions of usr2", len(l), live)
		}
		res := send(t, e, c, "POST", "/api/v1/auth/login", map[string]string{"account": "usr6", "password": apptest.DefaultPassword}, nil)
		if res.Status != 409 || res.ErrorCode() != "too_many_accounts" {
			t.Fatalf("sixth account: %d %s", res.Status, res.Body)
		}
		if _, acc := me(t, e, c); acc != "usr2" {
			t.Fatalf("refused login changed the active account to %s", acc)
		}
		tok, _, _ := pageToken(t, e, c)
		res = send(t, e, c, "POST", "/api/v1/auth/logout/all", nil, map[string]string{"X-CSRF-Token": tok})
		if res.Status != 200 || res.Header.Get("Clear-Site-Data") != `"cache", "cookies", "storage"` {
			t.Fatalf("logout all: %d %v %s", res.Status, res.Header, res.Body)
		}
		// Every kept account's cookie is expired in the response, and every session ended.
		expired := 0
		for _, ck := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(ck, "zhsj_acct_") && strings.Contains(ck, "Max-Age=0") {
				expired++
			}
		}
		e.App.DB.Get(ctx, &live, `SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL`)
		if expired != 5 || live != 0 {
			t.Fatalf("logout all: %d slot cookies expired, %d sessions live", expired, live)
		}
		mu.Lock()
		if len(hooks) != 5 {
			t.Errorf("logout hooks for %d accounts, want 5", len(hooks))
		}
		mu.Unlock()
		if st, _ := me(t, e, c); st != 401 {
			t.Fatalf("me after logout all: %d", st)
		}
		// A browser that has only the session cookie (single account, or SSO code that sets
		// it by itself) works as before, including writes without a page token.
		single := e.Client()
		loginRes := loginAs(t, e, single, "usr6", nil)
		var token string
		for _, ck := range loginRes.Header.Values("Set-Cookie") {
			if v, ok := strings.CutPrefix(ck, iam.SessionCookie+"="); ok {
				token, _, _ = strings.Cut(v, ";")
			}
		}
		bare := e.Client()
		bare.HTTP.Jar.SetCookies(mustURL(e.Server.URL), []*http.Cookie{{Name: iam.SessionCookie, Value: token, Path: "/"}})
		if st, acc := me(t, e, bare); st != 200 || acc != "usr6" {
			t.Fatalf("session cookie alone: %d %s", st, acc)
		}
		if res := send(t, e, bare, "PUT", "/api/v1/me/password/rotation", map[string]int{"days": 60}, nil); res.Status != 200 {
			t.Fatalf("single-account write: %d %s", res.Status, res.Body)
		}
		if l := savedAccounts(t, e, bare); len(l) != 1 || !l[0].Active {
			t.Fatalf("single account listed: %+v", l)
		}
	})
}

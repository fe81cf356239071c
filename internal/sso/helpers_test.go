package sso_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"zhsj/internal/app"
	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/sso"
)

// userWithPhone creates an active user with a mobile number.
func userWithPhone(t testing.TB, e *apptest.Env, account, region, phone string, roles ...string) int64 {
	t.Helper()
	must := false
	id, err := e.App.IAM.CreateUser(context.Background(), nil, iam.System(), iam.UserInput{Account: account, Name: "测试" + account,
		Phone: phone, RegionCode: region, Roles: roles, Password: apptest.DefaultPassword, MustChange: &must})
	if err != nil {
		t.Fatalf("create %s: %v", account, err)
	}
	return id
}

func svc(e *apptest.Env) *sso.Service { return app.SSOOf(e.App) }

// browser is a cookie-keeping HTTP client that follows redirects across hosts, as a browser
// does; it never sends Sec-Fetch headers.
type browser struct {
	t    testing.TB
	http *http.Client
	// visited records every URL requested, to show that no login page was shown.
	visited []string
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.http = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.visited = append(b.visited, req.URL.String())
		if len(via) > 15 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

type page struct {
	Status int
	URL    *url.URL
	Body   string
}

func (b *browser) do(method, u string, body io.Reader, ctype string) *page {
	b.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if strings.Contains(u, "/api/") {
		req.Header.Set("Accept", "application/json")
	}
	b.visited = append(b.visited, u)
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return &page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(raw)}
}

func (b *browser) get(u string) *page { return b.do("GET", u, nil, "") }

func (b *browser) postJSON(u string, v any) *page {
	raw, _ := json.Marshal(v)
	return b.do("POST", u, bytes.NewReader(raw), "application/json")
}

// login logs in with a password at a zhsj instance.
func (b *browser) login(base, account string) {
	b.t.Helper()
	if p := b.postJSON(base+"/api/v1/auth/login", map[string]string{"account": account, "password": apptest.DefaultPassword}); p.Status != 200 {
		b.t.Fatalf("login %s at %s: %d %s", account, base, p.Status, p.Body)
	}
}

// me returns the account logged in at base, or "" when not logged in.
func (b *browser) me(base string) string {
	b.t.Helper()
	p := b.get(base + "/api/v1/me")
	if p.Status == 401 {
		return ""
	}
	var m struct {
		Account string `json:"account"`
	}
	if p.Status != 200 || json.Unmarshal([]byte(p.Body), &m) != nil {
		b.t.Fatalf("me at %s: %d %s", base, p.Status, p.Body)
	}
	return m.Account
}

// passwordPrompted reports whether any visited URL since mark was a login page.
func (b *browser) passwordPrompted(mark int) bool {
	for _, raw := range b.visited[mark:] {
		if u, err := url.Parse(raw); err == nil && (u.Path == "/login" || u.Path == "/sso/reauth") {
			return true
		}
	}
	return false
}

// admin returns an apptest client logged in as a security administrator.
func admin(t testing.TB, e *apptest.Env) *apptest.Client {
	t.Helper()
	e.User("secadm", "610000", "secadmin")
	return e.Login("secadm")
}

func mustStatus(t testing.TB, res *apptest.Response, want int) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("status %d, want %d: %s", res.Status, want, res.Body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// kidOf returns the key id in a JWT's header.
func kidOf(t testing.TB, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	json.Unmarshal(raw, &hdr)
	return hdr.KID
}

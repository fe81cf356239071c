package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/config"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// testClock is a settable clock for iam.Service.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t.UTC().Truncate(time.Millisecond)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t.UTC().Truncate(time.Millisecond)
	c.mu.Unlock()
}

// eachTrusted runs f on both databases with an app that trusts X-Forwarded-For, so tests
// can log in "from" any address.
func eachTrusted(t *testing.T, f func(t *testing.T, e *apptest.Env)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f(t, apptest.New(t, db, apptest.Options{Config: func(c *config.Config) { c.TrustProxy = true }}))
	})
}

// send is Client.Do with extra request headers (X-Forwarded-For, X-CSRF-Token, User-Agent).
func send(t testing.TB, e *apptest.Env, c *apptest.Client, method, path string, body any, hdr map[string]string) *apptest.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &apptest.Response{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

// userWithPhone creates a user with a phone number (as the command line would).
func userWithPhone(t testing.TB, e *apptest.Env, account, region, phone string, roles ...string) int64 {
	t.Helper()
	must := false
	var dept int64
	e.App.DB.Get(context.Background(), &dept, `SELECT id FROM departments WHERE region_code = ? ORDER BY id LIMIT 1`, region)
	id, err := e.App.IAM.CreateUser(context.Background(), nil, iam.System(), iam.UserInput{Account: account, Name: "测试" + account,
		Phone: phone, RegionCode: region, DeptID: dept, Roles: roles, Password: apptest.DefaultPassword, MustChange: &must})
	if err != nil {
		t.Fatalf("create %s: %v", account, err)
	}
	return id
}

func loginAs(t testing.TB, e *apptest.Env, c *apptest.Client, account string, hdr map[string]string) *apptest.Response {
	t.Helper()
	res := send(t, e, c, "POST", "/api/v1/auth/login", map[string]string{"account": account, "password": apptest.DefaultPassword}, hdr)
	if res.Status != 200 {
		t.Fatalf("login %s: %d %s", account, res.Status, res.Body)
	}
	return res
}

func me(t testing.TB, e *apptest.Env, c *apptest.Client) (int, string) {
	t.Helper()
	res := send(t, e, c, "GET", "/api/v1/me", nil, nil)
	var m struct {
		Account string `json:"account"`
	}
	res.JSON(&m)
	return res.Status, m.Account
}

func iamSystem() *iam.Principal { return iam.System() }

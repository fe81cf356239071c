// Package apptest runs the whole zhsj handler stack on a fresh database behind a real
// httptest.Server, with helpers to create users and act as them through HTTP.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app"
	"zhsj/internal/config"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

func init() {
	// Tests create many users; a cheaper work factor keeps them fast. The production value
	// is measured by BenchmarkHashPassword.
	gm.PasswordIterations = 1000
}

// Env is a running application.
type Env struct {
	T      testing.TB
	App    *app.App
	Server *httptest.Server

	jobsStarted bool
}

// Options tune the application under test.
type Options struct {
	Config func(*config.Config)
}

// New starts an application on db.
func New(t testing.TB, db *store.DB, opts ...Options) *Env {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.LoginRatePerMin = 10000
	cfg.LoginAccountRatePerMin = 10000
	for _, o := range opts {
		if o.Config != nil {
			o.Config(cfg)
		}
	}
	watch := newSecretWatch(t, db)
	logger := slog.New(slog.NewTextHandler(watch, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, db, logger)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	srv := httptest.NewServer(watch.handler(auditCheck(t, a.Handler, db)))
	t.Cleanup(srv.Close)
	return &Env{T: t, App: a, Server: srv}
}

// Each runs f against a fresh application on SQLite and on PostgreSQL.
func Each(t *testing.T, f func(t *testing.T, e *Env)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f(t, New(t, db))
	})
}

// DefaultPassword is a password that satisfies the administrator policy.
const DefaultPassword = "Kx9#mTq2vL7$wRz"

// RunJob starts the scheduler (once), runs the registered job name now through it, and
// returns the finished run; it fails the test if the run does not finish within 10 s.
func (e *Env) RunJob(ctx context.Context, name string) jobs.RunRecord {
	e.T.Helper()
	if !e.jobsStarted {
		jctx, cancel := context.WithCancel(context.Background())
		if err := e.App.Jobs.Start(jctx); err != nil {
			cancel()
			e.T.Fatal(err)
		}
		e.T.Cleanup(func() { cancel(); e.App.Jobs.Stop() })
		e.jobsStarted = true
	}
	id, err := e.App.Jobs.RunNow(ctx, name, "test")
	if err != nil {
		e.T.Fatalf("run job %s: %v", name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if run, err := e.App.Jobs.GetRun(ctx, id); err == nil && run.Status != "running" {
			return run
		}
	}
	e.T.Fatalf("job %s run %d did not finish in 10 s", name, id)
	return jobs.RunRecord{}
}

// User creates a user directly through the service (as the command line would) and returns
// its id. Roles are role codes; region defaults to the province.
func (e *Env) User(account, region string, roles ...string) int64 {
	e.T.Helper()
	must := false
	var dept int64
	e.App.DB.Get(context.Background(), &dept, `SELECT id FROM departments WHERE region_code = ? ORDER BY id LIMIT 1`, region)
	id, err := e.App.IAM.CreateUser(context.Background(), nil, iam.System(), iam.UserInput{
		Account: account, Name: "测试" + account, RegionCode: region, DeptID: dept, Roles: roles, Password: DefaultPassword, MustChange: &must})
	if err != nil {
		e.T.Fatalf("create user %s: %v", account, err)
	}
	return id
}

// Client is a browser-like HTTP client with its own cookie jar.
type Client struct {
	e    *Env
	HTTP *http.Client
}

// Client returns a new client without a session.
func (e *Env) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{e: e, HTTP: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Login returns a client logged in as account with DefaultPassword.
func (e *Env) Login(account string) *Client {
	e.T.Helper()
	c := e.Client()
	res := c.Do("POST", "/api/v1/auth/login", map[string]string{"account": account, "password": DefaultPassword})
	if res.Status != 200 {
		e.T.Fatalf("login %s: %d %s", account, res.Status, res.Body)
	}
	return c
}

// Response is a decoded response.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// ErrorCode returns the code of a JSON error body.
func (r *Response) ErrorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends a request with an optional JSON body.
func (c *Client) Do(method, path string, body any) *Response {
	c.e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.e.Server.URL+path, rd)
	if err != nil {
		c.e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

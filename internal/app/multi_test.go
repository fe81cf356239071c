package app_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/config"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestTwoInstancesShareSessions starts two servers on one PostgreSQL database (as behind a
// load balancer): a session issued by A works on B, and disabling the user on A ends it on B.
func TestTwoInstancesShareSessions(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.OpenMigrated(ctx, store.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	key := strings.Repeat("ab", 32)
	shared := apptest.Options{Config: func(c *config.Config) { c.SecretKey = []byte(key) }}
	a := apptest.New(t, open(), shared)
	b := apptest.New(t, open(), shared)
	a.User("sys", "610000", "sysadmin")
	uid := a.User("gina", "610100", "analyst")

	ca := a.Login("gina")
	jar := ca.HTTP.Jar
	cb := b.Client()
	for _, ck := range jar.Cookies(mustURL(a.Server.URL)) {
		cb.HTTP.Jar.SetCookies(mustURL(b.Server.URL), []*httpCookie{ck})
	}
	if res := cb.Do("GET", "/api/v1/me", nil); res.Status != 200 || !strings.Contains(string(res.Body), `"account":"gina"`) {
		t.Fatalf("session from A on B: %d %s", res.Status, res.Body)
	}
	admin := a.Login("sys")
	if res := admin.Do("POST", "/api/v1/users/"+itoa(uid)+"/status", map[string]string{"status": "disabled"}); res.Status != 200 {
		t.Fatalf("disable on A: %d %s", res.Status, res.Body)
	}
	if res := cb.Do("GET", "/api/v1/me", nil); res.Status != 401 {
		t.Fatalf("disabled on A, still valid on B: %d", res.Status)
	}
	// Both instances write one audit chain that verifies.
	rep, err := b.App.Audit.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestREADMEDocumentsEveryVariable keeps the README's configuration table complete.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range config.Vars {
		if !strings.Contains(readme, "`"+v.Env+"`") {
			t.Errorf("README does not document %s", v.Env)
		}
	}
	for _, cmd := range []string{"go run ./cmd/zhsj serve --demo", "go test -count=1 -timeout 20m ./..."} {
		if !strings.Contains(readme, cmd) {
			t.Errorf("README lacks %q", cmd)
		}
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil || !strings.Contains(string(ci), "go test -count=1 -timeout 20m ./...") {
		t.Errorf(".ci/run does not run the README's test command")
	}
}

type httpCookie = http.Cookie

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

package demo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/demo"
	"zhsj/internal/iam"
	"zhsj/internal/store/storetest"
)

func TestSeedIsIdempotentAndRefusesRealData(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	env := &demo.Env{DB: e.App.DB, IAM: e.App.IAM, Scale: demo.Small, Modules: e.App.Seeders,
		NewPassword: func(a, n string) string { return "Demo#Pass9x" + strings.ToUpper(a[:1]) + "q7Z" }}
	lines, err := demo.Seed(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < len(demo.People) {
		t.Fatalf("lines: %v", lines)
	}
	for _, p := range demo.People {
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = ?`, p.Account)
		if n != 1 {
			t.Fatalf("demo account %s: %d rows", p.Account, n)
		}
	}
	var before, after int
	e.App.DB.Get(ctx, &before, `SELECT COUNT(*) FROM users`)
	if _, err := demo.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	e.App.DB.Get(ctx, &after, `SELECT COUNT(*) FROM users`)
	if after != before {
		t.Fatalf("second seed changed users: %d → %d", before, after)
	}
	var xa string
	e.App.DB.Get(ctx, &xa, `SELECT region_code FROM users WHERE account = 'xa_analyst'`)
	if xa != "610100" {
		t.Fatalf("xa_analyst region %s", xa)
	}

	// A database with a real account is never seeded.
	e2 := apptest.New(t, storetest.SQLite(t))
	must := false
	if _, err := e2.App.IAM.CreateUser(ctx, nil, iam.System(), iam.UserInput{Account: "realuser", Name: "真实用户", RegionCode: "610000", Password: "Kx9#mTq2vL7$wR", MustChange: &must}); err != nil {
		t.Fatal(err)
	}
	env.DB, env.IAM = e2.App.DB, e2.App.IAM
	if _, err := demo.Seed(ctx, env); !errors.Is(err, demo.ErrRealData) {
		t.Fatalf("seeding over real data: %v", err)
	}
}

// TestEveryGETWithOneReadConnection opens every page and GET API without path parameters
// on the demo data, as each built-in role, with the read pool cut to one connection: a query
// issued while a result set is still open would need a second connection and wait forever
// (under load, requests holding one connection each would wait on each other).
func TestEveryGETWithOneReadConnection(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	env := &demo.Env{DB: e.App.DB, IAM: e.App.IAM, Scale: demo.Small, Modules: e.App.Seeders,
		NewPassword: func(a, n string) string { return "Demo#Pass9x" + strings.ToUpper(a[:1]) + "q7Z" }}
	if _, err := demo.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	e.App.DB.Reader().SetMaxOpenConns(1)
	var clients []*apptest.Client
	for _, role := range iam.BuiltinRoleCodes() {
		e.User("g_"+role, "610000", role)
		clients = append(clients, e.Login("g_"+role))
	}
	done := make(chan string, 1)
	go func() {
		checked := 0
		for _, r := range e.App.Routes {
			if r.Method != "GET" || strings.Contains(r.Pattern, "{") || r.Pattern == "/api/v1/dashboard/events" || r.Pattern == "/logout" {
				continue
			}
			for _, c := range clients {
				res := c.Do("GET", r.Pattern, nil)
				if res.Status >= 500 {
					done <- fmt.Sprintf("GET %s: %d %.300s", r.Pattern, res.Status, res.Body)
					return
				}
				checked++
			}
		}
		t.Logf("%d requests", checked)
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("a request waits for a second read connection (or the sweep is far too slow)")
	}
}

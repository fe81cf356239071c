package app_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// TestEveryPageRenders opens every console page (GET routes outside /api/) as a user who holds
// its permission, so that a template error anywhere fails the suite. Path parameters are
// filled with the id of a real row where one can be found.
func TestEveryPageRenders(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	accounts := map[string]string{}
	for _, role := range iam.BuiltinRoleCodes() {
		acct := "p_" + role
		e.User(acct, "610000", role)
		accounts[role] = acct
	}
	clients := map[string]*apptest.Client{}
	for role, acct := range accounts {
		clients[role] = e.Login(acct)
	}
	var someUser, someRole int64
	e.App.DB.Get(ctx, &someUser, `SELECT MIN(id) FROM users`)
	e.App.DB.Get(ctx, &someRole, `SELECT MIN(id) FROM roles`)
	param := regexp.MustCompile(`\{[^}]+\}`)
	checked := 0
	for _, r := range e.App.Routes {
		if r.Method != "GET" || strings.HasPrefix(r.Pattern, "/api/") || r.Permission == web.Public {
			continue
		}
		path := strings.TrimSuffix(r.Pattern, "{$}")
		switch {
		case strings.Contains(path, "/users/{"):
			path = param.ReplaceAllString(path, itoa(someUser))
		case strings.Contains(path, "/roles/{"):
			path = param.ReplaceAllString(path, itoa(someRole))
		case strings.Contains(path, "{"):
			continue // module pages with their own ids are covered by their modules' tests
		}
		var c *apptest.Client
		for _, role := range iam.BuiltinRoleCodes() {
			p, err := e.App.IAM.PrincipalFor(ctx, mustID(t, e, accounts[role]))
			if err != nil {
				t.Fatal(err)
			}
			if r.Permission == web.LoggedIn || p.Can(r.Permission) {
				c = clients[role]
				break
			}
		}
		if c == nil {
			t.Errorf("no built-in role holds %s for page %s", r.Permission, r.Pattern)
			continue
		}
		res := c.Do("GET", path, nil)
		// 400 is a rendered page too: detail pages that need a query parameter (a record
		// key) answer the bare path with their Chinese error in the layout.
		if (res.Status != 200 && res.Status != 400) || !strings.Contains(string(res.Body), "</html>") || !strings.Contains(string(res.Body), "智慧市监") {
			t.Errorf("GET %s: %d %.300s", path, res.Status, res.Body)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d pages checked", checked)
	}
}

func mustID(t *testing.T, e *apptest.Env, account string) int64 {
	var id int64
	if err := e.App.DB.Get(context.Background(), &id, `SELECT id FROM users WHERE account = ?`, account); err != nil {
		t.Fatal(err)
	}
	return id
}

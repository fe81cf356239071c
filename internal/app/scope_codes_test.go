package app_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestScopeNamesRegionCodesOnPostgres: a city user's scope condition names the city's codes
// on PostgreSQL (its planner weighs each with the column's statistics) and keeps the regions
// subquery on SQLite (given a list, SQLite skip-scans a status index); both select the same
// rows.
func TestScopeNamesRegionCodesOnPostgres(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := apptest.New(t, db)
		ctx := context.Background()
		e.User("xa_scope", "610100", "analyst")
		c := e.Login("xa_scope")
		u, _ := url.Parse(e.Server.URL)
		var token string
		for _, ck := range c.HTTP.Jar.Cookies(u) {
			if ck.Name == iam.SessionCookie {
				token = ck.Value
			}
		}
		p, err := e.App.IAM.Authenticate(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		w, args := p.Filter(iam.Cols{Region: "code"})
		var xian []string
		if err := db.Select(ctx, &xian, `SELECT code FROM regions WHERE path LIKE '/610000/610100/%' ORDER BY code`); err != nil || len(xian) != 14 {
			t.Fatalf("Xi'an codes: %v %v", xian, err)
		}
		if db.Dialect() == store.Postgres {
			if strings.Contains(w, "SELECT") || len(args) != 14 {
				t.Fatalf("PostgreSQL scope: %s %v", w, args)
			}
		} else if !strings.Contains(w, "SELECT code FROM regions") {
			t.Fatalf("SQLite scope: %s %v", w, args)
		}
		var got []string
		if err := db.Select(ctx, &got, `SELECT code FROM regions WHERE `+w+` ORDER BY code`, args...); err != nil || !slices.Equal(got, xian) {
			t.Fatalf("scope selects %v (%v), want %v", got, err, xian)
		}
	})
}

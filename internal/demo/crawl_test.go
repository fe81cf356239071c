package demo_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// linkAttr finds the links a page offers: anchors, htmx loads and sources.
var linkAttr = regexp.MustCompile(`(?:href|hx-get|src)="([^"]*)"`)

// routeOf returns the route pattern that serves a path ("GET /desk/tickets/{id}" for
// /desk/tickets/12), so that a crawl can take a few pages of each kind.
func routeOf(e *apptest.Env) func(path string) string {
	mux := http.NewServeMux()
	for _, r := range e.App.Routes {
		mux.Handle(r.Method+" "+r.Pattern, http.NotFoundHandler())
	}
	return func(path string) string {
		req, err := http.NewRequest("GET", path, nil)
		if err != nil {
			return path
		}
		if _, pattern := mux.Handler(req); pattern != "" {
			return pattern
		}
		return path
	}
}

// TestEveryLinkOpens logs in on the demo data as every built-in role and as a city and a
// county user, and follows every link the pages show (a few of each kind), from the home
// page on. A link that a page shows to a user must open for that user: no 4xx or 5xx (a
// link to a page the viewer may not open, a broken query), no template hole ("<no value>"),
// and no query string escaped as a single value (which drops every filter of an export).
func TestEveryLinkOpens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := apptest.New(t, db)
		seedDemo(t, e)
		type who struct{ account, region, role string }
		var users []who
		for _, role := range iam.BuiltinRoleCodes() {
			users = append(users, who{"l_" + role, "610000", role})
		}
		users = append(users, who{"l_city", "610100", iam.RoleAnalyst}, who{"l_county", "610113", iam.RoleInspector})
		for _, u := range users {
			e.User(u.account, u.region, u.role)
			pages := crawl(t, e.Login(u.account), u.account, routeOf(e))
			t.Logf("%s: %d pages", u.account, len(pages))
			if len(pages) < 5 {
				t.Errorf("%s: only %d pages reached", u.account, len(pages))
			}
		}
	})
}

// crawl follows links breadth-first from "/", at most three of each kind (kindOf), and
// reports every broken one; it returns the HTML pages it opened.
func crawl(t *testing.T, c *apptest.Client, account string, kindOf func(string) string) []string {
	t.Helper()
	from := map[string]string{"/": "(start)"}
	kinds := map[string]int{}
	queue := []string{"/"}
	var pages []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		res := c.Do("GET", p, nil)
		if res.Status >= 300 && res.Status < 400 {
			if loc := res.Header.Get("Location"); loc != "" && from[loc] == "" {
				from[loc] = p
				queue = append(queue, loc)
			}
			continue
		}
		if res.Status != 200 {
			t.Errorf("%s: GET %s (linked from %s): %d %.200s", account, p, from[p], res.Status, res.Body)
			continue
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			continue
		}
		pages = append(pages, p)
		body := string(res.Body)
		if strings.Contains(body, "&lt;no value&gt;") || strings.Contains(body, "<no value>") {
			t.Errorf("%s: GET %s shows a template hole (<no value>)", account, p)
		}
		for _, m := range linkAttr.FindAllStringSubmatch(body, -1) {
			link := html.UnescapeString(m[1])
			u, err := url.Parse(link)
			if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") || skipLink(u.Path) {
				continue
			}
			for k := range u.Query() {
				if strings.ContainsAny(k, "=&") {
					t.Errorf("%s: %s links to %s, its query escaped as one value", account, p, link)
				}
			}
			target := u.RequestURI()
			kind := kindOf(target)
			if from[target] != "" || kinds[kind] >= 3 {
				continue
			}
			kinds[kind]++
			from[target] = p
			queue = append(queue, target)
		}
	}
	return pages
}

// skipLink leaves out what is not a page to open: assets, logging out, event streams.
func skipLink(path string) bool {
	return strings.HasPrefix(path, "/static/") || path == "/logout" || strings.HasSuffix(path, "/events")
}

// Package web is zhsj's HTTP layer: the route table every module contributes to, the JSON and
// page helpers, the middleware stack and the OpenAPI document. It knows no domain package.
package web

import (
	"net/http"
	"sort"
	"strings"
)

// Special values of Route.Permission.
const (
	// Public routes need no login (login page, health checks, static files).
	Public = "public"
	// LoggedIn routes need a valid session but no particular permission (my account pages).
	LoggedIn = "login"
)

// Route is one entry of the route table.
type Route struct {
	Method     string // GET, POST, PUT, PATCH, DELETE
	Pattern    string // net/http pattern path, e.g. /api/v1/users/{id}
	Permission string // a permission code, Public or LoggedIn; never empty
	Summary    string // Chinese one-liner for the OpenAPI document and the permission catalogue
	Handler    http.HandlerFunc
	// CrossOrigin marks an endpoint that browser applications on other origins call with
	// their own credentials (a client secret, a PKCE verifier, a bearer token), never with
	// zhsj's session cookie: the OAuth token, user-info, revocation endpoints. It is exempt
	// from the cross-origin (CSRF) protection, and its handler also answers the CORS
	// preflight (OPTIONS) of the same path.
	CrossOrigin bool
	// ProvinceWide marks an endpoint that acts on the provincial platform as a whole, on
	// objects that belong to no region (monitoring, scheduled jobs, quality rules and
	// settings, indicator definitions): only principals whose data scope is the whole
	// province may call it, whatever permissions they hold.
	ProvinceWide bool
}

// Perm names a permission for the role editor.
type Perm struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Group string `json:"group"`
}

// MenuItem is one entry of the console's left menu.
type MenuItem struct {
	Group      string // 智慧云中心, 数据治理, 运维中心, 服务台, 统一身份, 系统管理
	Title      string
	Path       string
	Permission string
	Order      int
}

// MenuGroups is the fixed order of the menu's groups (DESIGN §11).
var MenuGroups = []string{"智慧云中心", "数据治理", "运维中心", "服务台", "统一身份", "系统管理", "审计"}

// Module is what a domain package gives the application.
type Module interface {
	Routes() []Route
}

// PermissionCatalogue collects every permission that routes use, named by the declared
// permissions where one exists and by the first route's summary otherwise, sorted by code.
func PermissionCatalogue(routes []Route, declared []Perm) []Perm {
	byCode := map[string]Perm{}
	for _, p := range declared {
		byCode[p.Code] = p
	}
	for _, r := range routes {
		if r.Permission == Public || r.Permission == LoggedIn || r.Permission == "" {
			continue
		}
		if _, ok := byCode[r.Permission]; !ok {
			byCode[r.Permission] = Perm{Code: r.Permission, Name: r.Summary, Group: groupOf(r.Permission)}
		}
	}
	out := make([]Perm, 0, len(byCode))
	for _, p := range byCode {
		if p.Group == "" {
			p.Group = groupOf(p.Code)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

func groupOf(code string) string {
	g, _, _ := strings.Cut(code, ".")
	return g
}

// Mount registers the routes on mux, wrapping each handler with wrap (which applies the
// route's permission). Two routes with the same method and pattern panic at start.
func Mount(mux *http.ServeMux, routes []Route, wrap func(Route) http.Handler) {
	preflight := map[string]bool{}
	for _, r := range routes {
		mux.Handle(r.Method+" "+r.Pattern, wrap(r))
		if r.CrossOrigin && !preflight[r.Pattern] {
			preflight[r.Pattern] = true
			mux.Handle("OPTIONS "+r.Pattern, r.Handler)
		}
	}
}

// CrossOriginPatterns are the method-and-pattern keys of the routes marked CrossOrigin, for
// StackOptions.CrossOrigin (preflights need none: OPTIONS is a safe method).
func CrossOriginPatterns(routes []Route) []string {
	var out []string
	for _, r := range routes {
		if r.CrossOrigin {
			out = append(out, r.Method+" "+r.Pattern)
		}
	}
	return out
}

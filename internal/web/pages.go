package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed templates static
var assets embed.FS

// Viewer is the logged-in person as pages see them. The identity layer puts it into the
// request context; web only reads it.
type Viewer struct {
	UserID      int64
	Account     string
	Name        string
	DeptName    string
	RegionName  string
	Roles       []string
	Allowed     func(permission string) bool // set by the identity layer
	MustChange  bool
	PasswordDue int                   // days until the password expires, when within the warning period; else -1
	CSRF        string                // token of the viewer's session, sent back with state-changing requests
	AccountNS   string                // namespace of the viewer's keys in browser storage
	Others      func() []OtherAccount // other accounts logged in in this browser (account switcher)
}

// OtherAccount is another account the browser keeps logged in, for the account switcher.
type OtherAccount struct {
	Slot, Account, Name string
}

// OtherAccounts lists the other accounts of the browser (templates: .Viewer.OtherAccounts).
func (v *Viewer) OtherAccounts() []OtherAccount {
	if v == nil || v.Others == nil {
		return nil
	}
	return v.Others()
}

// Can reports whether the viewer holds permission (templates: {{if .Viewer.Can "x"}}).
func (v *Viewer) Can(permission string) bool {
	return v != nil && v.Allowed != nil && v.Allowed(permission)
}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey, v)
}

// ViewerFrom returns the viewer in ctx, or nil.
func ViewerFrom(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey).(*Viewer)
	return v
}

// Crumb is one breadcrumb step.
type Crumb struct{ Title, Path string }

// PageData is what the layout renders around a module's content.
type PageData struct {
	Title  string
	Crumbs []Crumb
	Viewer *Viewer
	Menu   []MenuSection
	Active string
	Data   any
	Now    time.Time
	Flash  string
}

// MenuSection is one group of the left menu, as shown to one viewer.
type MenuSection struct {
	Group string
	Items []MenuItem
}

// Pages renders modules' page templates inside the shared layout.
type Pages struct {
	menu  []MenuItem
	sets  map[string]*template.Template
	funcs template.FuncMap
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

// Shanghai is the time zone every page shows times in.
func Shanghai() *time.Location { return shanghai }

// QueryString encodes v for a link's query (after the "?"). The template then keeps its "="
// and "&" instead of escaping the whole string as one value, which would drop every filter.
func QueryString(v url.Values) template.URL { return template.URL(v.Encode()) }

// Funcs are the template functions every page may use.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"datetime": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return "—"
				}
				return v.In(shanghai).Format("2006-01-02 15:04:05")
			case *time.Time:
				if v == nil || v.IsZero() {
					return "—"
				}
				return v.In(shanghai).Format("2006-01-02 15:04:05")
			}
			return "—"
		},
		"json": func(v any) (template.JS, error) {
			var b bytes.Buffer
			if err := jsonEncode(&b, v); err != nil {
				return "", err
			}
			return template.JS(b.String()), nil
		},
		"join": strings.Join,
		"deref": func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		},
		"indent": func(depth int) string { return strings.Repeat("　", max(depth, 0)) },
		"dateval": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.In(shanghai).Format("2006-01-02")
		},
		"add": func(a, b int) int { return a + b },
		"static": func(p string) string {
			return "/static/" + p + "?v=" + staticVersion
		},
	}
}

// NewPages builds the renderer for module page files (e.g. "templates/users.html") found in
// the given file systems; each page defines "content" (and may define "title", "scripts").
func NewPages(menu []MenuItem, modules ...fs.FS) (*Pages, error) {
	p := &Pages{menu: menu, sets: map[string]*template.Template{}, funcs: Funcs()}
	base, err := template.New("layout").Funcs(p.funcs).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, m := range modules {
		files, err := fs.Glob(m, "templates/*.html")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := path.Base(f)
			if _, dup := p.sets[name]; dup {
				return nil, fmt.Errorf("page template %s defined twice", name)
			}
			t, err := template.Must(base.Clone()).ParseFS(m, f)
			if err != nil {
				return nil, err
			}
			p.sets[name] = t
		}
	}
	return p, nil
}

// MenuFor returns the menu sections the viewer may see.
func (p *Pages) MenuFor(v *Viewer) []MenuSection {
	var out []MenuSection
	for _, g := range MenuGroups {
		var items []MenuItem
		for _, it := range p.menu {
			if it.Group != g {
				continue
			}
			if it.Permission != LoggedIn && !v.Can(it.Permission) {
				continue
			}
			items = append(items, it)
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].Order < items[j].Order })
		if len(items) > 0 {
			out = append(out, MenuSection{Group: g, Items: items})
		}
	}
	return out
}

// openableCrumbs returns crumbs with the link taken off each step whose page (a menu
// item) the viewer may not open: a leader reading training records sees "服务台" as text,
// not as a link to the ticket list that would answer 403.
func (p *Pages) openableCrumbs(v *Viewer, crumbs []Crumb) []Crumb {
	out := make([]Crumb, len(crumbs))
	for i, c := range crumbs {
		out[i] = c
		for _, it := range p.menu {
			if it.Path == c.Path && it.Permission != LoggedIn && (v == nil || !v.Can(it.Permission)) {
				out[i].Path = ""
			}
		}
	}
	return out
}

// Render writes page name inside the layout with status 200.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, name string, d PageData) {
	p.RenderStatus(w, r, http.StatusOK, name, d)
}

// RenderStatus writes page name inside the layout with the given status. An htmx request
// (HX-Request) gets only the page's "content" block.
func (p *Pages) RenderStatus(w http.ResponseWriter, r *http.Request, status int, name string, d PageData) {
	t, ok := p.sets[name]
	if !ok {
		Fail(w, r, fmt.Errorf("no page template %s", name))
		return
	}
	if d.Viewer == nil {
		d.Viewer = ViewerFrom(r.Context())
	}
	if d.Viewer != nil && d.Menu == nil {
		d.Menu = p.MenuFor(d.Viewer)
	}
	if d.Active == "" {
		d.Active = r.URL.Path
	}
	d.Crumbs = p.openableCrumbs(d.Viewer, d.Crumbs)
	d.Now = time.Now()
	exec := "layout.html"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" {
		exec = "content"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, exec, d); err != nil {
		slog.ErrorContext(r.Context(), "render", "page", name, "err", err)
		Fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Static serves the embedded /static/ files with long caching (URLs carry a version).
func Static() http.Handler {
	sub, _ := fs.Sub(assets, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fsrv.ServeHTTP(w, r)
	})
}

// staticVersion changes with every build so that cached assets refresh after an upgrade.
var staticVersion = fmt.Sprint(time.Now().Unix())

// SetStaticVersion pins the asset version (the build's version string).
func SetStaticVersion(v string) {
	if v != "" && v != "dev" {
		staticVersion = v
	}
}

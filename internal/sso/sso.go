// Package sso makes zhsj an identity provider and a member of partner platforms' single
// sign-on: an OpenID Connect provider (zitadel/oidc), a CAS 2.0/3.0 server, a signed
// ticket-exchange API in the style of Chinese government platforms, and connectors to
// partner platforms (package connector) with an account binding table. Logout on any side
// ends the session on every other (back-channel logout, CAS single logout, signed notices).
//
// Every piece of protocol state (authorization requests, codes, tokens, tickets, login
// states, logout notices) lives in the database, so any number of instances serve one flow.
package sso

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates returns the module's page templates.
func Templates() fs.FS { return templates }

// Options tune the module; zero values take the defaults.
type Options struct {
	// BaseURL is the external address (ZHSJ_BASE_URL): the OpenID issuer and the base of
	// every URL given to partners. Empty: taken from each request's Host (development).
	BaseURL          string
	AccessTTL        time.Duration // access tokens, default 15 min
	RefreshTTL       time.Duration // refresh token family lifetime, default 12 h
	IDTokenTTL       time.Duration // default 1 h
	CodeTTL          time.Duration // authorization codes, default 60 s
	AuthRequestTTL   time.Duration // an authorization request waiting for login, default 10 min
	ServiceTicketTTL time.Duration // CAS service tickets, default 10 s (CAS protocol)
	TicketTTL        time.Duration // ticket-exchange tickets, default 60 s
	KeyRotation      time.Duration // signing key age that triggers rotation, default 30 days
	KeyOverlap       time.Duration // retired keys stay in the JWKS, default 24 h
	HTTPClient       *http.Client  // for calls to partners, default 10 s timeout
	Logger           *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AccessTTL, 15*time.Minute)
	def(&o.RefreshTTL, 12*time.Hour)
	def(&o.IDTokenTTL, time.Hour)
	def(&o.CodeTTL, time.Minute)
	def(&o.AuthRequestTTL, 10*time.Minute)
	def(&o.ServiceTicketTTL, 10*time.Second)
	def(&o.TicketTTL, time.Minute)
	def(&o.KeyRotation, 30*24*time.Hour)
	def(&o.KeyOverlap, 24*time.Hour)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
}

// Service is the sso module.
type Service struct {
	db    *store.DB
	keys  gm.Keyring
	audit *audit.Log
	iam   *iam.Service
	opt   Options
	log   *slog.Logger
	pages *web.Pages
	// Now is the clock (tests move it).
	Now func() time.Time

	signing  *keyRing
	provider *op.Provider
	conns    sync.Map // connector id → *openConnector
	claims   sync.Map // user id → cachedClaims
	hot      hotPath
}

// New builds the module: it creates the first signing key and the configured connector
// entries when missing, and the OpenID provider.
func New(ctx context.Context, db *store.DB, keys gm.Keyring, aud *audit.Log, idm *iam.Service, opt Options) (*Service, error) {
	opt.defaults()
	s := &Service{db: db, keys: keys, audit: aud, iam: idm, opt: opt, log: opt.Logger, Now: store.Now}
	s.signing = &keyRing{s: s}
	if err := s.ensureKey(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureConnectors(ctx); err != nil {
		return nil, err
	}
	p, err := s.newProvider()
	if err != nil {
		return nil, err
	}
	s.provider = p
	return s, nil
}

// SetPages gives the module the page renderer.
func (s *Service) SetPages(p *web.Pages) { s.pages = p }

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// Permissions names the permissions this module checks.
func (s *Service) Permissions() []web.Perm {
	g := "统一身份"
	return []web.Perm{
		{Code: "security.sso.read", Name: "查看单点登录应用、合作平台连接与账号绑定", Group: g},
		{Code: "security.sso.write", Name: "管理单点登录应用、合作平台连接、签名密钥，审核账号绑定", Group: g},
	}
}

// Menu returns the module's menu entries.
func (s *Service) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "统一身份", Title: "合作平台", Path: "/sso/partners", Permission: web.LoggedIn, Order: 20},
		{Group: "统一身份", Title: "接入应用", Path: "/admin/sso/clients", Permission: "security.sso.read", Order: 40},
		{Group: "统一身份", Title: "平台连接", Path: "/admin/sso/connectors", Permission: "security.sso.read", Order: 41},
		{Group: "统一身份", Title: "账号绑定", Path: "/admin/sso/bindings", Permission: "security.sso.read", Order: 42},
	}
}

// record writes an audit entry (operation kind unless set) with the request's details.
func (s *Service) record(ctx context.Context, q store.Q, r *http.Request, e audit.Entry) error {
	if r != nil {
		e = audit.FromRequest(r, e)
	} else if ri := web.Info(ctx); ri.ID != "" {
		if e.IP == "" {
			e.IP = ri.IP
		}
		if e.UserAgent == "" {
			e.UserAgent = ri.UserAgent
		}
		if e.RequestID == "" {
			e.RequestID = ri.ID
		}
	}
	if e.Kind == "" {
		e.Kind = audit.KindOperation
	}
	if e.Actor == "" && e.ActorID == 0 {
		if p := iam.FromContext(ctx); p != nil {
			e.Actor, e.ActorID, e.RegionCode = p.Account, p.UserID, p.Region
		} else {
			e.Actor = "system"
		}
	}
	return s.audit.Record(ctx, q, e)
}

// baseURL is the external address of this instance as seen by r.
func (s *Service) baseURL(r *http.Request) string {
	if s.opt.BaseURL != "" {
		return s.opt.BaseURL
	}
	scheme := "http"
	if web.Info(r.Context()).HTTPS {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// session returns the caller's live zhsj session, or nil.
func (s *Service) session(r *http.Request) *iam.Principal {
	if p := iam.FromContext(r.Context()); p != nil && p.SessionID != "" {
		return p
	}
	c, err := r.Cookie(iam.SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	p, err := s.iam.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil
	}
	return p
}

// sessionCreated returns when a zhsj session began (its authentication time).
func (s *Service) sessionCreated(ctx context.Context, sid string) time.Time {
	var t time.Time
	s.db.Get(ctx, &t, `SELECT created_at FROM sessions WHERE id = ?`, sid)
	return t
}

// sessionLive reports whether a zhsj session is neither revoked nor expired.
func (s *Service) sessionLive(ctx context.Context, q store.Q, sid string) bool {
	var n int
	q.Get(ctx, &n, `SELECT COUNT(*) FROM sessions WHERE id = ? AND revoked_at IS NULL AND expires_at > ?`, sid, s.now())
	return n > 0
}

// loginRedirect sends the browser to the normal login page, back to here afterwards.
func loginRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
}

// randomID returns n random bytes, URL-safe encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is the lookup key of a secret stored only as its hash.
func hashToken(t string) string { return gm.SM3Hex(t) }

// safeNext keeps a post-login destination on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Package iam is zhsj's identity core: regions, departments, users, roles with permissions
// and data scope, password policy, login and server-side sessions, API tokens.
package iam

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Auditor records audit entries (the audit module).
type Auditor interface {
	Record(ctx context.Context, q store.Q, e audit.Entry) error
}

// Options configure the service.
type Options struct {
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	LoginRatePerMin int
	// LoginAccountRatePerMin bounds password attempts on one account, whatever the address:
	// many addresses each under their own limit cannot hammer one account.
	LoginAccountRatePerMin int
	Policy                 Policy
}

// Service is the identity module.
type Service struct {
	db      *store.DB
	keys    gm.Keyring
	audit   Auditor
	opt     Options
	Pages   *web.Pages
	Now     func() time.Time
	loginIP *web.RateLimiter
	// loginAccount bounds password attempts per account (the lockout counts only failures).
	loginAccount *web.RateLimiter

	// catalogue returns the permission catalogue (from the route table), set by the app.
	Catalogue func() []web.Perm

	logoutHooks []LogoutHook
	loginLinks  []func(ctx context.Context, next string) []LoginLink

	// Account security (sms_login.go, risk.go, accounts.go, lifecycle.go).
	Log         *slog.Logger // server log; the demonstration SMS gateway writes codes here
	SMSClient   *http.Client // HTTP client of the SMS gateways; nil: 15 s timeout
	SMSLimits   SMSLimits    // zero fields take the defaults
	Risk        RiskPolicy   // zero fields take the defaults
	Notify      Notifier     // queues messages on the notification hub; nil: in-app reminders only
	MaxAccounts int          // accounts one browser keeps logged in at once; 0: DefaultMaxAccounts

	rolesMu sync.RWMutex
	cache   *iamCache
}

type roleInfo struct {
	Code      string
	AdminKind string
	Scope     RoleScope
	Perms     []string
}

// New builds the identity service.
func New(db *store.DB, keys gm.Keyring, aud Auditor, opt Options) *Service {
	if opt.SessionIdle == 0 {
		opt.SessionIdle = 30 * time.Minute
	}
	if opt.SessionAbsolute == 0 {
		opt.SessionAbsolute = 12 * time.Hour
	}
	if opt.Policy.MinLength == 0 {
		opt.Policy = DefaultPolicy()
	}
	if opt.LoginRatePerMin == 0 {
		opt.LoginRatePerMin = 30
	}
	if opt.LoginAccountRatePerMin == 0 {
		opt.LoginAccountRatePerMin = 10
	}
	return &Service{db: db, keys: keys, audit: aud, opt: opt, Now: store.Now,
		loginIP:      web.NewRateLimiter(opt.LoginRatePerMin, time.Minute),
		loginAccount: web.NewRateLimiter(opt.LoginAccountRatePerMin, time.Minute)}
}

// Policy returns the password policy in force.
func (s *Service) Policy() Policy { return s.opt.Policy }

// DB exposes the database to the app's wiring (CLI).
func (s *Service) DB() *store.DB { return s.db }

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// record writes an audit entry, filling request details from r when given.
func (s *Service) record(ctx context.Context, q store.Q, r *http.Request, e audit.Entry) error {
	if r != nil {
		e = audit.FromRequest(r, e)
	} else if e.Actor == "" {
		e.Actor = "system" // command line and background work
	}
	if e.Kind == "" {
		e.Kind = "operation"
	}
	return s.audit.Record(ctx, q, e)
}

// Package app wires zhsj together: it builds every module from the configuration, mounts the
// one route table behind the middleware stack and runs the HTTP server. It is the only
// package that knows all modules.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/config"
	"zhsj/internal/demo"
	"zhsj/internal/events"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/notify"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Version is set at build time (-ldflags "-X zhsj/internal/app.Version=…").
var Version = "dev"

// App is a built zhsj instance.
type App struct {
	Cfg     *config.Config
	Log     *slog.Logger
	DB      *store.DB
	Keys    gm.Keyring
	Audit   *audit.Log
	IAM     *iam.Service
	Jobs    *jobs.Scheduler
	Events  *events.Bus
	Notify  *notify.Hub
	Pages   *web.Pages
	Seeders []demo.Seeder // demo data of the wired modules, in wiring order
	Routes  []web.Route
	Perms   []web.Perm
	Handler http.Handler
	metrics *metrics
}

// module is what every domain module offers the app.
type module interface {
	Routes() []web.Route
	Menu() []web.MenuItem
	Permissions() []web.Perm
}

// Open opens (and, unless disabled, migrates) the database named by the configuration.
func Open(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := upgradeDatabase(ctx, db, cfg); err != nil { // backup, migrate, check, record (wire_inspect.go)
			db.Close()
			return nil, err
		}
	} else if pending, err := db.Pending(ctx); err != nil || pending {
		db.Close()
		if err == nil {
			err = errors.New("数据库有未执行的迁移，请先运行 zhsj migrate up")
		}
		return nil, err
	}
	return db, nil
}

// New builds the application on an open database: reference data, built-in roles, the
// organisation tree, every module and the HTTP handler.
func New(ctx context.Context, cfg *config.Config, db *store.DB, logger *slog.Logger) (*App, error) {
	if logger == nil {
		logger = slog.Default()
	}
	key, err := cfg.EnsureSecretKey()
	if err != nil {
		return nil, fmt.Errorf("主密钥: %w", err)
	}
	keys, err := gm.NewSoftKeyring(key)
	if err != nil {
		return nil, err
	}
	a := &App{Cfg: cfg, Log: logger, DB: db, Keys: keys}
	a.Jobs = jobs.New(db, jobs.Options{Logger: logger})
	a.Events = events.New(db, events.Options{Logger: logger})
	a.Notify = notify.New(db, notify.Options{Logger: logger, SMS: identitySMS{a}}) // the SMS gateway of the security settings (wire_identity.go)
	a.Audit = audit.New(db, keys)
	a.IAM = iam.New(db, keys, a.Audit, iam.Options{
		SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionAbsolute,
		LoginRatePerMin: cfg.LoginRatePerMin, LoginAccountRatePerMin: cfg.LoginAccountRatePerMin,
	})
	a.metrics = newMetrics(db) // before the wirings, so that modules can add collectors via Registry
	modules := []module{a.IAM, a.Audit}
	templates := []fs.FS{iam.Templates(), audit.Templates()}
	for _, w := range sortedWirings() {
		m, tpl, err := w.build(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("模块 %s: %w", w.name, err)
		}
		modules = append(modules, m)
		if tpl != nil {
			templates = append(templates, tpl)
		}
	}

	var menu []web.MenuItem
	var declared []web.Perm
	for _, m := range modules {
		a.Routes = append(a.Routes, m.Routes()...)
		menu = append(menu, m.Menu()...)
		declared = append(declared, m.Permissions()...)
	}
	a.Routes = append(a.Routes, a.opsRoutes()...)
	a.Perms = web.PermissionCatalogue(a.Routes, declared)
	a.IAM.Catalogue = func() []web.Perm { return a.Perms }

	if a.Pages, err = web.NewPages(menu, templates...); err != nil {
		return nil, err
	}
	web.SetStaticVersion(Version)
	a.IAM.Pages, a.Audit.Pages = a.Pages, a.Pages
	for _, m := range modules {
		if pm, ok := m.(interface{ SetPages(*web.Pages) }); ok {
			pm.SetPages(a.Pages)
		}
	}

	if err := iam.LoadRegions(ctx, db); err != nil {
		return nil, fmt.Errorf("载入行政区划: %w", err)
	}
	if err := iam.SyncBuiltinRoles(ctx, db, a.Perms); err != nil {
		return nil, fmt.Errorf("同步内置角色: %w", err)
	}
	if err := a.IAM.EnsureOrgTree(ctx); err != nil {
		return nil, fmt.Errorf("建立组织机构: %w", err)
	}

	if _, err := a.maintainPartitions(ctx); err != nil {
		return nil, fmt.Errorf("维护数据表分区: %w", err)
	}

	a.registerJobs()
	mux := http.NewServeMux()
	web.Mount(mux, a.Routes, a.IAM.Require)
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.Fail(w, r, web.Errorf(http.StatusNotFound, "not_found", "页面或接口不存在：%s", r.URL.Path))
	})
	a.Handler = web.Stack(mux, web.StackOptions{
		TrustProxy: cfg.TrustProxy, MaxBodyBytes: cfg.MaxBodyBytes, TLS: cfg.TLSCert != "", Logger: logger,
		Observe: a.metrics.observe, CrossOrigin: web.CrossOriginPatterns(a.Routes),
	})
	return a, nil
}

// Start runs the background work of this instance until ctx ends: the job scheduler (each
// scheduled run happens once across instances), event delivery and notification delivery.
func (a *App) Start(ctx context.Context) error {
	if err := a.Events.Init(ctx); err != nil {
		return fmt.Errorf("事件订阅初始化: %w", err)
	}
	if err := a.Jobs.Start(ctx); err != nil {
		return fmt.Errorf("启动任务调度: %w", err)
	}
	go func() {
		if err := a.Events.Run(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("事件投递停止", "err", err)
		}
	}()
	go func() {
		if err := a.Notify.Run(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("通知投递停止", "err", err)
		}
	}()
	context.AfterFunc(ctx, a.Jobs.Stop)
	return nil
}

// Serve runs the HTTP server until ctx ends, then shuts down gracefully: in-flight requests
// finish (up to the shutdown timeout) and the database closes after them.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if a.Cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, a.Cfg.TLSCert, a.Cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("正在停止：等待进行中的请求完成", "timeout", a.Cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// RouteTable returns the routes sorted for display (permission catalogue, docs, tests).
func (a *App) RouteTable() []web.Route {
	out := append([]web.Route(nil), a.Routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Method < out[j].Method
	})
	return out
}

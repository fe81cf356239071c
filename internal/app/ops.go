package app

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"zhsj/internal/store"
	"zhsj/internal/web"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(db *store.DB) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhsj_http_requests_total", Help: "HTTP requests by route pattern, method and status class.",
	}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "zhsj_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db.Writer(), "writer"))
	if db.Reader() != db.Writer() {
		m.reg.MustRegister(collectors.NewDBStatsCollector(db.Reader(), "reader"))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(r *http.Request, pattern string, status int, d time.Duration) {
	route := pattern
	if route == "" {
		route = "unmatched"
	} else if _, p, ok := strings.Cut(route, " "); ok {
		route = p
	}
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Registry exposes the metrics registry so that modules can add their own collectors.
func (a *App) Registry() *prometheus.Registry { return a.metrics.reg }

func (a *App) opsRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/healthz", Permission: web.Public, Summary: "进程存活检查", Handler: a.healthz},
		{Method: "GET", Pattern: "/readyz", Permission: web.Public, Summary: "就绪检查：数据库可达、迁移完成", Handler: a.readyz},
		{Method: "GET", Pattern: "/metrics", Permission: web.Public, Summary: "Prometheus 指标（仅本机或持令牌访问）", Handler: a.serveMetrics},
		{Method: "GET", Pattern: "/api/v1/openapi.json", Permission: web.Public, Summary: "OpenAPI 3 接口文档", Handler: a.openapi},
	}
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var one int
	if err := a.DB.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		web.JSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "数据库不可达"})
		return
	}
	if pending, err := a.DB.Pending(ctx); err != nil || pending {
		web.JSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "数据库迁移未完成"})
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ready": true, "version": Version, "database": string(a.DB.Dialect())})
}

// serveMetrics answers only loopback callers without a proxy, or holders of the token.
func (a *App) serveMetrics(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	okToken := a.Cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Cfg.MetricsToken)) == 1
	if !okToken && !web.IsLoopback(r) {
		web.Fail(w, r, web.Errorf(http.StatusForbidden, "forbidden", "指标接口仅允许本机或持令牌访问"))
		return
	}
	a.metrics.handler.ServeHTTP(w, r)
}

func (a *App) openapi(w http.ResponseWriter, r *http.Request) {
	web.JSON(w, http.StatusOK, web.OpenAPI(a.Routes, Version))
}

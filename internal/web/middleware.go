package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

type ctxKey int

const (
	reqInfoKey ctxKey = iota
	viewerKey
)

// ReqInfo is what the middleware learns about a request; the auth layer fills Actor so the
// access log can name who made it.
type ReqInfo struct {
	ID        string
	IP        string
	UserAgent string
	Actor     string // account of the caller, once authenticated
	ActorID   int64
	Region    string // caller's jurisdiction region code
	Start     time.Time
	// HTTPS: the browser reached us over TLS, here or at a trusted load balancer that says so
	// in X-Forwarded-Proto.
	HTTPS bool
}

// Info returns the request's ReqInfo (never nil).
func Info(ctx context.Context) *ReqInfo {
	if ri, ok := ctx.Value(reqInfoKey).(*ReqInfo); ok {
		return ri
	}
	return &ReqInfo{}
}

// RequestID returns the request id, or "".
func RequestID(ctx context.Context) string { return Info(ctx).ID }

// WithInfo returns ctx carrying ri (for work started outside HTTP, e.g. the CLI).
func WithInfo(ctx context.Context, ri *ReqInfo) context.Context {
	return context.WithValue(ctx, reqInfoKey, ri)
}

// StackOptions configure the middleware stack.
type StackOptions struct {
	TrustProxy   bool
	MaxBodyBytes int64
	TLS          bool
	Logger       *slog.Logger
	// Observe receives every finished request (for metrics); pattern is the matched route.
	Observe func(r *http.Request, pattern string, status int, d time.Duration)
	// CrossOrigin lists method-and-pattern keys exempt from the cross-origin protection
	// (CrossOriginPatterns of the route table).
	CrossOrigin []string
}

// Stack wraps h with request id, client IP, access log, panic recovery, security headers,
// cross-origin (CSRF) protection and body limits, outermost first.
func Stack(h http.Handler, o StackOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cop := http.NewCrossOriginProtection()
	for _, p := range o.CrossOrigin {
		cop.AddInsecureBypassPattern(p)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Fail(w, r, Errorf(http.StatusForbidden, "cross_origin", "跨站请求被拒绝"))
	}))
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &ReqInfo{ID: newRequestID(r), IP: clientIP(r, o.TrustProxy), UserAgent: r.UserAgent(), Start: time.Now(),
			HTTPS: r.TLS != nil || o.TLS || o.TrustProxy && forwardedHTTPS(r)}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey, ri))
		rec := &statusRecorder{ResponseWriter: w, status: 200, https: ri.HTTPS}
		w = rec
		w.Header().Set("X-Request-Id", ri.ID)
		secureHeaders(w.Header(), ri.HTTPS)
		if r.Body != nil && o.MaxBodyBytes > 0 && !isUpload(r) {
			r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				o.Logger.Error("panic", "request_id", ri.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					Fail(w, r, fmt.Errorf("panic: %v", p))
				}
			}
			d := time.Since(ri.Start)
			if o.Observe != nil {
				o.Observe(r, r.Pattern, rec.status, d)
			}
			o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http",
				slog.String("request_id", ri.ID), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", d),
				slog.String("ip", ri.IP), slog.String("user", ri.Actor))
		}()
		inner.ServeHTTP(w, r)
	})
}

// isUpload reports requests whose handlers set their own (larger) body limit.
func isUpload(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") || r.Header.Get("X-Zhsj-Upload") != ""
}

func newRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && isToken(id) {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// forwardedHTTPS reports whether the load balancer in front says the browser used HTTPS
// (the first, client-side value of X-Forwarded-Proto).
func forwardedHTTPS(r *http.Request) bool {
	first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// IsLoopback reports whether the request came from this machine (no proxy in between).
func IsLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && r.Header.Get("X-Forwarded-For") == ""
}

// CSP allows only this origin's scripts: pages keep their data in JSON script blocks and
// their code in /static. Inline style attributes are allowed because ECharts sets them.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func secureHeaders(h http.Header, tls bool) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	https  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status = code
	}
	s.headersOut()
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.headersOut()
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// FlushError sends the headers (and what is buffered) now, as Flush does for SSE.
func (s *statusRecorder) FlushError() error {
	s.headersOut()
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// headersOut runs once, just before the headers go out. On an HTTPS request it marks every
// cookie of the response Secure, whichever module set it, so that a TLS-terminating load
// balancer (which the modules cannot see) gets the same cookies as TLS served here.
func (s *statusRecorder) headersOut() {
	if s.wrote {
		return
	}
	s.wrote = true
	if !s.https {
		return
	}
	h := s.ResponseWriter.Header()
	for i, c := range h["Set-Cookie"] {
		if !hasSecure(c) {
			h["Set-Cookie"][i] = c + "; Secure"
		}
	}
}

func hasSecure(setCookie string) bool {
	for _, attr := range strings.Split(setCookie, ";")[1:] {
		if strings.EqualFold(strings.TrimSpace(attr), "secure") {
			return true
		}
	}
	return false
}

// Unwrap lets http.ResponseController reach deadlines (SSE, long downloads).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// RateLimiter allows n events per key per window, in this process (a sliding pair of
// fixed windows). It bounds login and SMS attempts per IP; account lockout is in the database.
type RateLimiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	cur    map[string]int
	prev   map[string]int
	start  time.Time
	now    func() time.Time
}

// NewRateLimiter returns a limiter of n events per window.
func NewRateLimiter(n int, window time.Duration) *RateLimiter {
	return &RateLimiter{n: n, window: window, cur: map[string]int{}, prev: map[string]int{}, now: time.Now}
}

// Allow records one event for key and reports whether it is within the limit.
func (l *RateLimiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.start.IsZero() {
		l.start = now
	}
	for now.Sub(l.start) >= l.window {
		l.prev, l.cur = l.cur, map[string]int{}
		l.start = l.start.Add(l.window)
		if now.Sub(l.start) >= l.window {
			l.prev = map[string]int{}
			l.start = now
		}
	}
	frac := 1 - float64(now.Sub(l.start))/float64(l.window)
	est := float64(l.prev[key])*frac + float64(l.cur[key])
	if est >= float64(l.n) {
		return false
	}
	l.cur[key]++
	return true
}

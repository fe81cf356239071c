package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Every test server checks two rules of DESIGN on every request the test makes: each change
// is audited, and no secret reaches a log.

// unaudited are the requests that may succeed without an audit record, each for its reason.
var unaudited = func() *http.ServeMux {
	mux := http.NewServeMux()
	for _, pattern := range []string{
		"OPTIONS /",                               // CORS preflight
		"POST /oidc/token",                        // completes an authorization audited as sso.oidc.authorize
		"POST /sso/ticket/validate",               // completes a ticket audited as sso.ticket.sign
		"POST /sso/connectors/{id}/logout",        // a logout notice that matched no session changes nothing
		"POST /sso/connectors/{id}/callback",      // the same, as a CAS logoutRequest
		"POST /cas/logout",                        // the same, from a CAS service
		"POST /api/v1/datasets/{name}/push",       // recorded as a push-task run (ds_ingest_runs)
		"POST /api/v1/monitor/targets/{id}/probe", // a test probe: reads the target, changes nothing
		"POST /api/v1/me/password/check",          // checks a candidate password against the policy
		"POST /api/v1/me/notices/{id}/read",       // a user's own reading mark
		"POST /api/v1/desk/tickets/{id}/article",  // 200: the draft exists already (201 is audited)
	} {
		mux.Handle(pattern, http.NotFoundHandler())
	}
	return mux
}()

// auditCheck fails the test when a request that changes something (not GET or HEAD) succeeds
// without writing an audit record under its request id (DESIGN: audit on every change).
func auditCheck(t testing.TB, h http.Handler, db *store.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &StatusRecorder{ResponseWriter: w, Code: http.StatusOK}
		h.ServeHTTP(rec, r)
		if r.Method == "GET" || r.Method == "HEAD" || rec.Code >= 300 {
			return
		}
		if _, pattern := unaudited.Handler(r); pattern != "" {
			return
		}
		var n int
		if err := db.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE request_id = ?`, w.Header().Get("X-Request-Id")); err == nil && n == 0 {
			t.Errorf("%s %s answered %d and wrote no audit record", r.Method, r.URL.Path, rec.Code)
		}
	})
}

// StatusRecorder remembers the status a handler wrote (start Code at 200).
type StatusRecorder struct {
	http.ResponseWriter
	Code int
}

func (s *StatusRecorder) WriteHeader(code int) { s.Code = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection (deadlines of event streams).
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes through, for event streams.
func (s *StatusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// defaultLog receives what code logs through the package-level slog functions (the server
// sets its logger as the default, as zhsj serve does); every test's secrets are checked
// against it too.
var defaultLog = &lockedBuffer{}

func init() {
	slog.SetDefault(slog.New(slog.NewTextHandler(defaultLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretWatch collects the secrets that requests carry (passwords, client secrets, API
// tokens, session cookies) and the server's log; when the test ends it fails the test if
// any secret is in the server log or in the audit log.
type secretWatch struct {
	log     lockedBuffer
	mu      sync.Mutex
	secrets map[string]string // secret → where it came from
}

func newSecretWatch(t testing.TB, db *store.DB) *secretWatch {
	w := &secretWatch{secrets: map[string]string{DefaultPassword: "DefaultPassword"}}
	t.Cleanup(func() {
		var audit []string
		db.Select(context.Background(), &audit, `SELECT actor || ' ' || action || ' ' || object_id || ' ' || detail || ' ' || user_agent FROM audit_log`)
		all := strings.Join(audit, "\n")
		logs := w.log.String() + defaultLog.String()
		if t.Failed() { // the log's end helps to see why
			t.Logf("server log (end):\n%s", logs[max(0, len(logs)-4096):])
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for s, from := range w.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("the server log holds a secret (%s)", from)
			}
			if strings.Contains(all, s) {
				t.Errorf("the audit log holds a secret (%s)", from)
			}
		}
	})
	return w
}

// Write is the server log's destination.
func (w *secretWatch) Write(p []byte) (int, error) { return w.log.Write(p) }

func (w *secretWatch) add(secret, from string) {
	if len(secret) < 8 { // short values (a 6-digit code, "true") would match by chance
		return
	}
	w.mu.Lock()
	w.secrets[secret] = from
	w.mu.Unlock()
}

// secretKeys are the JSON fields of request bodies that carry secrets.
var secretKeys = map[string]bool{"password": true, "current": true, "new": true, "secret": true,
	"client_secret": true, "access_key_secret": true, "app_secret": true, "token": true}

func (w *secretWatch) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			w.add(strings.TrimPrefix(a, "Bearer "), "bearer token of "+r.URL.Path)
		}
		if r.Body != nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			var fields map[string]any
			if json.Unmarshal(body, &fields) == nil {
				w.collect(fields, r.URL.Path)
			}
		}
		h.ServeHTTP(rw, r)
		for _, c := range (&http.Response{Header: rw.Header()}).Cookies() {
			if c.Name == iam.SessionCookie && c.Value != "" {
				w.add(c.Value, "session cookie from "+r.URL.Path)
			}
		}
	})
}

// collect adds the secret fields of a JSON object, nested objects included.
func (w *secretWatch) collect(fields map[string]any, path string) {
	for k, v := range fields {
		switch x := v.(type) {
		case string:
			if secretKeys[k] || strings.HasSuffix(k, "_secret") || strings.HasSuffix(k, "password") {
				w.add(x, k+" sent to "+path)
			}
		case map[string]any:
			w.collect(x, path)
		}
	}
}

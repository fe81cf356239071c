package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestForwardedProtoMakesCookiesSecure: behind a trusted load balancer that terminates TLS
// (X-Forwarded-Proto: https), every cookie a handler sets goes out Secure and HSTS is sent,
// whether the handler writes a body, only a status, or flushes first (SSE). An untrusted
// header or plain HTTP changes nothing.
func TestForwardedProtoMakesCookiesSecure(t *testing.T) {
	mux := http.NewServeMux()
	set := func(w http.ResponseWriter) {
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", Path: "/", Secure: true})
	}
	mux.HandleFunc("/body", func(w http.ResponseWriter, r *http.Request) {
		set(w)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		set(w)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		set(w)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "data: x\n\n")
	})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	trusted := httptest.NewServer(Stack(mux, StackOptions{TrustProxy: true, Logger: quiet}))
	defer trusted.Close()
	untrusted := httptest.NewServer(Stack(mux, StackOptions{Logger: quiet}))
	defer untrusted.Close()
	// TLS served here: cookies go out Secure whatever the handler set (the session cookies
	// of iam rely on it).
	direct := httptest.NewTLSServer(Stack(mux, StackOptions{Logger: quiet}))
	defer direct.Close()

	get := func(base, path, proto string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		client := http.DefaultClient
		if base == direct.URL {
			client = direct.Client()
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, path := range []string{"/body", "/status", "/flush"} {
		for _, c := range []struct {
			base, proto string
			secure      bool
		}{
			{trusted.URL, "https", true},
			{trusted.URL, "HTTPS, http", true},
			{trusted.URL, "http", false},
			{trusted.URL, "", false},
			{untrusted.URL, "https", false},
			{direct.URL, "", true},
		} {
			res := get(c.base, path, c.proto)
			cookies := res.Header.Values("Set-Cookie")
			if len(cookies) != 2 {
				t.Fatalf("%s %q: cookies %q", path, c.proto, cookies)
			}
			a := strings.Contains(cookies[0], "; Secure")
			if a != c.secure || strings.Count(cookies[1], "Secure") != 1 {
				t.Errorf("%s trusted=%v proto %q: cookies %q", path, c.base == trusted.URL, c.proto, cookies)
			}
			if hsts := res.Header.Get("Strict-Transport-Security") != ""; hsts != c.secure {
				t.Errorf("%s trusted=%v proto %q: HSTS %v", path, c.base == trusted.URL, c.proto, hsts)
			}
		}
	}
}

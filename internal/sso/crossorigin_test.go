package sso_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestBrowserAppsOnOtherOrigins: a single-page application on another origin reaches the
// token endpoint (CORS preflight, then a cross-site POST that the OAuth layer answers), while
// cookie-authenticated endpoints keep refusing cross-site requests.
func TestBrowserAppsOnOtherOrigins(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	const origin = "https://spa.example.gov.cn"
	send := func(method, path string, body io.Reader, h map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(method, e.Server.URL+path, body)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, path := range []string{"/oidc/token", "/oidc/userinfo", "/oidc/revoke", "/.well-known/openid-configuration"} {
		res, body := send("OPTIONS", path, nil, map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"})
		if res.StatusCode >= 300 || res.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("preflight %s: %d %v %s", path, res.StatusCode, res.Header, body)
		}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}, "client_id": {"spa"}}
	res, body := send("POST", "/oidc/token", strings.NewReader(form.Encode()), map[string]string{"Origin": origin,
		"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"})
	if strings.Contains(body, "cross_origin") || !strings.Contains(body, `"error"`) || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("cross-site token request: %d %s", res.StatusCode, body)
	}
	// The session-cookie endpoints are still protected.
	res, body = send("POST", "/api/v1/auth/logout", nil, map[string]string{"Origin": origin, "Sec-Fetch-Site": "cross-site"})
	if res.StatusCode != 403 || !strings.Contains(body, "cross_origin") {
		t.Fatalf("cross-site logout: %d %s", res.StatusCode, body)
	}
}

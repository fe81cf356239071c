package sso_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/config"
	"zhsj/internal/store/storetest"
)

// TestIssuerBehindTLSProxy: with no configured base URL, an instance behind a load balancer
// that terminates TLS (ZHSJ_TRUST_PROXY, X-Forwarded-Proto: https) announces an https issuer
// and endpoints, as the partner platforms reach it; without the trusted header it stays http.
func TestIssuerBehindTLSProxy(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t), apptest.Options{Config: func(c *config.Config) { c.TrustProxy = true }})
	discover := func(proto string) map[string]any {
		req, _ := http.NewRequest("GET", e.Server.URL+"/.well-known/openid-configuration", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	host := strings.TrimPrefix(e.Server.URL, "http://")
	if doc := discover("https"); doc["issuer"] != "https://"+host || !strings.HasPrefix(doc["token_endpoint"].(string), "https://"+host+"/") {
		t.Fatalf("behind TLS proxy: issuer %v, token endpoint %v", doc["issuer"], doc["token_endpoint"])
	}
	if doc := discover(""); doc["issuer"] != "http://"+host {
		t.Fatalf("plain: issuer %v", doc["issuer"])
	}
}

package sso_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/config"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestSeveralInstancesShareProtocolState puts two instances on one PostgreSQL database behind
// a round-robin load balancer, so that every step of a flow lands on the other instance than
// the one before: authorization, code redemption, refresh, user info, CAS ticket issuing and
// validation all work, because their state lives in the database.
func TestSeveralInstancesShareProtocolState(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.OpenMigrated(ctx, store.Options{URL: dbURL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	shared := apptest.Options{Config: func(c *config.Config) { c.SecretKey = []byte(strings.Repeat("5a", 32)) }}
	a := apptest.New(t, open(), shared)
	b := apptest.New(t, open(), shared)
	var n atomic.Int64
	backends := []*url.URL{mustParse(a.Server.URL), mustParse(b.Server.URL)}
	var hits [2]atomic.Int64
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := n.Add(1) % 2
		hits[i].Add(1)
		pr.SetURL(backends[i])
		pr.Out.Host = pr.In.Host // the instances see the balancer's address, as behind a real one
	}})
	defer lb.Close()

	adm := admin(t, a)
	userWithPhone(t, a, "zhao", "610100", "13911112222", "analyst")
	res := adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "shared-rp", "redirect_uris": []string{"https://rp.example/cb"},
		"scopes": []string{"openid", "profile", "offline_access"}, "confidential": true})
	mustStatus(t, res, 201)
	var created struct{ Secret string }
	res.JSON(&created)
	mustStatus(t, adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "cas", "service": "https://cas-app.example/"}), 201)

	provider, err := oidc.NewProvider(ctx, lb.URL)
	if err != nil {
		t.Fatalf("discovery through the balancer: %v", err)
	}
	conf := &oauth2.Config{ClientID: "shared-rp", ClientSecret: created.Secret, Endpoint: provider.Endpoint(), RedirectURL: "https://rp.example/cb",
		Scopes: []string{"openid", "profile", "offline_access"}}
	br := newBrowser(t)
	br.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	br.login(lb.URL, "zhao")
	for round := 0; round < 3; round++ {
		v := oauth2.GenerateVerifier()
		req, _ := http.NewRequest("GET", conf.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v)), nil)
		resp, err := br.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("round %d: exchange on the other instance: %v (authorize answered %s)", round, err, loc)
		}
		if _, err := provider.Verifier(&oidc.Config{ClientID: "shared-rp"}).Verify(ctx, tok.Extra("id_token").(string)); err != nil {
			t.Fatalf("round %d: id token: %v", round, err)
		}
		for i := 0; i < 3; i++ {
			if tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
				t.Fatalf("round %d: refresh %d: %v", round, i, err)
			}
		}
		if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Subject == "" {
			t.Fatalf("round %d: userinfo: %v", round, err)
		}
		service := "https://cas-app.example/app"
		req, _ = http.NewRequest("GET", lb.URL+"/cas/login?service="+url.QueryEscape(service), nil)
		resp, err = br.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		st := mustParse(resp.Header.Get("Location")).Query().Get("ticket")
		v2 := br.get(lb.URL + "/cas/p3/serviceValidate?service=" + url.QueryEscape(service) + "&ticket=" + st)
		if sr, err := connector.ParseServiceResponse([]byte(v2.Body)); err != nil || sr.User != "zhao" {
			t.Fatalf("round %d: CAS across instances: %v %s", round, err, v2.Body)
		}
	}
	if hits[0].Load() < 10 || hits[1].Load() < 10 {
		t.Fatalf("the balancer did not spread the flow: %d / %d", hits[0].Load(), hits[1].Load())
	}
}

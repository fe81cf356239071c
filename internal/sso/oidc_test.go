package sso_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"zhsj/internal/app/apptest"
)

// rp is an independent relying party built on coreos/go-oidc and x/oauth2, with a
// back-channel logout endpoint.
type rp struct {
	srv      *httptest.Server
	provider *oidc.Provider
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier

	mu         sync.Mutex
	logoutSIDs []string
}

func newRP(t *testing.T) *rp {
	r := &rp{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, req *http.Request) {
		lt, err := r.verifier.VerifyLogout(req.Context(), req.PostFormValue("logout_token"))
		if err != nil {
			t.Errorf("relying party: bad logout token: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.logoutSIDs = append(r.logoutSIDs, lt.SessionID)
		r.mu.Unlock()
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rp) sids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.logoutSIDs...)
}

// authorize sends the browser to the authorization endpoint and returns where it was sent
// back (without following that last redirect, which goes to the relying party).
func authorize(t *testing.T, c *apptest.Client, authURL string) *url.URL {
	t.Helper()
	req, _ := http.NewRequest("GET", authURL, nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Request.URL.ResolveReference(loc)
}

// TestGoOIDCRelyingParty runs coreos/go-oidc as an independent relying party against zhsj's
// provider over real HTTP: discovery, authorization code with PKCE straight back from a live
// session, ID token and user info, refresh token rotation and reuse detection, key rotation,
// prompt=none/login, a public client, and back-channel logout with sid.
func TestGoOIDCRelyingParty(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		adm := admin(t, e)
		uid := userWithPhone(t, e, "alice", "610100", "13912345678", "analyst")
		relying := newRP(t)
		res := adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "rp-app", "name": "测试应用",
			"redirect_uris": []string{relying.srv.URL + "/cb"}, "backchannel_logout_uri": relying.srv.URL + "/backchannel",
			"scopes": []string{"openid", "profile", "phone", "offline_access"}, "confidential": true})
		mustStatus(t, res, 201)
		var created struct{ Secret string }
		res.JSON(&created)
		if len(created.Secret) < 32 {
			t.Fatalf("no secret returned: %s", res.Body)
		}

		provider, err := oidc.NewProvider(ctx, e.Server.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		var disc struct {
			Authorization string   `json:"authorization_endpoint"`
			EndSession    string   `json:"end_session_endpoint"`
			Backchannel   bool     `json:"backchannel_logout_supported"`
			BackchannelS  bool     `json:"backchannel_logout_session_supported"`
			PKCE          []string `json:"code_challenge_methods_supported"`
		}
		provider.Claims(&disc)
		if disc.Authorization != e.Server.URL+"/oidc/authorize" || !disc.Backchannel || !disc.BackchannelS || len(disc.PKCE) == 0 {
			t.Fatalf("discovery document: %+v", disc)
		}
		relying.provider = provider
		relying.verifier = provider.Verifier(&oidc.Config{ClientID: "rp-app"})
		conf := &oauth2.Config{ClientID: "rp-app", ClientSecret: created.Secret, Endpoint: provider.Endpoint(),
			RedirectURL: relying.srv.URL + "/cb", Scopes: []string{oidc.ScopeOpenID, "profile", "phone", oidc.ScopeOfflineAccess}}

		// Not logged in: prompt=none fails back to the client; otherwise the login page.
		anon := e.Client()
		back := authorize(t, anon, conf.AuthCodeURL("s0", oauth2.SetAuthURLParam("prompt", "none")))
		if !strings.HasPrefix(back.String(), relying.srv.URL+"/cb") || back.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none without session: %s", back)
		}
		back = authorize(t, anon, conf.AuthCodeURL("s0"))
		if back.Path != "/sso/oidc/continue" {
			t.Fatalf("without session: sent to %s", back)
		}

		// With a session: one redirect straight back with a code.
		browser := e.Login("alice")
		verifier := oauth2.GenerateVerifier()
		back = authorize(t, browser, conf.AuthCodeURL("state-1", oidc.Nonce("nonce-1"), oauth2.S256ChallengeOption(verifier)))
		if !strings.HasPrefix(back.String(), relying.srv.URL+"/cb?") || back.Query().Get("state") != "state-1" || back.Query().Get("code") == "" {
			t.Fatalf("authorize with session: %s", back)
		}
		code := back.Query().Get("code")
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption("wrong-verifier-wrong-verifier-wrong-verifier")); err == nil {
			t.Fatal("exchange with a wrong PKCE verifier succeeded")
		}
		// The failed attempt consumed the code (codes are single use).
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
			t.Fatal("a code worked after a failed redemption")
		}
		verifier = oauth2.GenerateVerifier()
		back = authorize(t, browser, conf.AuthCodeURL("state-2", oidc.Nonce("nonce-2"), oauth2.S256ChallengeOption(verifier)))
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if _, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier)); err == nil {
			t.Fatal("a code was redeemed twice")
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := relying.verifier.Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("verify id token: %v", err)
		}
		var claims struct {
			Name     string `json:"name"`
			Username string `json:"preferred_username"`
			SID      string `json:"sid"`
			Region   string `json:"region_code"`
		}
		idt.Claims(&claims)
		if idt.Nonce != "nonce-2" || idt.Subject != itoa(uid) || claims.Username != "alice" || claims.Name != "测试alice" || claims.SID == "" || claims.Region != "610100" {
			t.Fatalf("id token: nonce %q sub %q claims %+v", idt.Nonce, idt.Subject, claims)
		}
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var uic struct {
			Phone string `json:"phone_number"`
		}
		ui.Claims(&uic)
		if ui.Subject != itoa(uid) || uic.Phone != "13912345678" {
			t.Fatalf("userinfo: %s %+v", ui.Subject, uic)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}

		// Refresh: rotation, and reuse of a rotated token revokes the family.
		first := tok.RefreshToken
		tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok2.RefreshToken == "" || tok2.RefreshToken == first || tok2.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if id2, err := relying.verifier.Verify(ctx, tok2.Extra("id_token").(string)); err != nil || id2.Subject != itoa(uid) {
			t.Fatalf("refreshed id token: %v", err)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("a rotated refresh token worked again")
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("reuse of a rotated refresh token did not revoke its family")
		}

		// Key rotation: new tokens carry the new key id, old ones still verify (the old key
		// stays in the JWKS) and go-oidc picks up the new key by itself.
		oldKID := kidOf(t, rawID)
		mustStatus(t, adm.Do("POST", "/api/v1/sso/keys/rotate", nil), 200)
		verifier = oauth2.GenerateVerifier()
		back = authorize(t, browser, conf.AuthCodeURL("state-3", oidc.Nonce("n3"), oauth2.S256ChallengeOption(verifier)))
		tok3, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange after rotation: %v", err)
		}
		raw3 := tok3.Extra("id_token").(string)
		if kidOf(t, raw3) == oldKID {
			t.Fatal("the new token was signed with the retired key")
		}
		if _, err := relying.verifier.Verify(ctx, raw3); err != nil {
			t.Fatalf("verify with rotated key: %v", err)
		}
		if _, err := relying.verifier.Verify(ctx, rawID); err != nil {
			t.Fatalf("token of the retired key no longer verifies: %v", err)
		}
		var keys struct{ Items []struct{ Active bool } }
		adm.Do("GET", "/api/v1/sso/keys", nil).JSON(&keys)
		if len(keys.Items) != 2 {
			t.Fatalf("keys published after rotation: %+v", keys)
		}

		// prompt=login asks for the password again even with a session.
		back = authorize(t, browser, conf.AuthCodeURL("s4", oauth2.SetAuthURLParam("prompt", "login")))
		if back.Path != "/sso/oidc/continue" {
			t.Fatalf("prompt=login: sent to %s", back)
		}
		cont := browser.Do("GET", back.RequestURI(), nil)
		if cont.Status != http.StatusFound || !strings.HasPrefix(cont.Header.Get("Location"), "/sso/reauth") {
			t.Fatalf("prompt=login continue: %d %s", cont.Status, cont.Header.Get("Location"))
		}

		// A public client must use PKCE (S256) and needs no secret.
		mustStatus(t, adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "mobile-app",
			"redirect_uris": []string{"http://127.0.0.1/callback"}, "scopes": []string{"openid", "profile"}}), 201)
		pub := &oauth2.Config{ClientID: "mobile-app", Endpoint: provider.Endpoint(), RedirectURL: "http://127.0.0.1/callback", Scopes: []string{"openid"}}
		back = authorize(t, browser, pub.AuthCodeURL("p1"))
		if back.Query().Get("error") != "invalid_request" {
			t.Fatalf("public client without PKCE: %s", back)
		}
		verifier = oauth2.GenerateVerifier()
		back = authorize(t, browser, pub.AuthCodeURL("p2", oauth2.S256ChallengeOption(verifier)))
		if _, err := pub.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("public client exchange: %v", err)
		}

		// Logout ends the session: the relying party gets a logout token naming the sid, and
		// the session's refresh tokens stop working.
		mustStatus(t, browser.Do("POST", "/api/v1/auth/logout", nil), 200)
		got := relying.sids()
		if len(got) != 1 || got[0] != claims.SID {
			t.Fatalf("back-channel logout sids %v, want [%s]", got, claims.SID)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok3.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("refresh token outlived the session's logout")
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok3)); err == nil {
			t.Fatal("access token outlived the session's logout")
		}
	})
}

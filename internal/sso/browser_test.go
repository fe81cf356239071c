package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestSSOInBrowser drives real Chromium: an OpenID Connect sign-in that needs the normal
// login page (and gets back to the application despite the login page's CSP), then the
// administration pages (clients, connectors, bindings) and the partner links.
func TestSSOInBrowser(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	adm := admin(t, e)
	userWithPhone(t, e, "alice", "610100", "13912345678", "analyst")

	// A relying party web application.
	var conf *oauth2.Config
	var verifier *oidc.IDTokenVerifier
	rpMux := http.NewServeMux()
	rp := httptest.NewServer(rpMux)
	defer rp.Close()
	rpMux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, conf.AuthCodeURL("st", oidc.Nonce("nn")), http.StatusFound)
	})
	rpMux.HandleFunc("GET /cb", func(w http.ResponseWriter, r *http.Request) {
		tok, err := conf.Exchange(r.Context(), r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		idt, err := verifier.Verify(r.Context(), tok.Extra("id_token").(string))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var c struct {
			User string `json:"preferred_username"`
		}
		idt.Claims(&c)
		fmt.Fprintf(w, `<html><body><h1 id="rp-user">已登录：%s</h1></body></html>`, c.User)
	})
	var created struct{ Secret string }
	res := adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "web-app", "name": "网页应用",
		"redirect_uris": []string{rp.URL + "/cb"}, "confidential": true})
	mustStatus(t, res, 201)
	res.JSON(&created)
	provider, err := oidc.NewProvider(context.Background(), e.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf = &oauth2.Config{ClientID: "web-app", ClientSecret: created.Secret, Endpoint: provider.Endpoint(), RedirectURL: rp.URL + "/cb",
		Scopes: []string{"openid", "profile"}}
	verifier = provider.Verifier(&oidc.Config{ClientID: "web-app"})

	b := apptest.NewBrowser(t, 1280, 900)
	b.Do(chromedp.Navigate(rp.URL+"/start"), chromedp.WaitVisible(chromedp.CSS("#account")))
	if !strings.Contains(b.Location(), "/login?next=") {
		t.Fatalf("not at the login page: %s", b.Location())
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#account"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), apptest.DefaultPassword),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS("#rp-user")))
	if got := b.Text("#rp-user"); got != "已登录：alice" {
		t.Fatalf("relying party shows %q", got)
	}
	// Now logged in at zhsj: the next sign-in needs no page at all.
	b.Do(chromedp.Navigate(rp.URL+"/start"), chromedp.WaitVisible(chromedp.CSS("#rp-user")))

	// The partner links page for a normal user.
	b.Do(chromedp.Navigate(e.Server.URL+"/sso/partners"), chromedp.WaitVisible(chromedp.CSS("#partner-list")))
	if !strings.Contains(b.Text("#partner-list"), "暂无") {
		t.Fatalf("partner list: %q", b.Text("#partner-list"))
	}

	// Administration as the security administrator (the browser forgets alice first).
	if _, err := chromedp.Call(b.Ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	b.LogIn(e.Server.URL+"/login", "secadm", "#home-title")
	if menu := b.Text(".sidemenu"); !strings.Contains(menu, "接入应用") || !strings.Contains(menu, "平台连接") || !strings.Contains(menu, "账号绑定") {
		t.Fatalf("menu: %q", menu)
	}
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/clients"), chromedp.WaitVisible(chromedp.CSS("#clients-table")))
	if tbl := b.Text("#clients-table"); !strings.Contains(tbl, "web-app") || !strings.Contains(b.Text("#keys-table"), "ES256") {
		t.Fatalf("clients page: %q", tbl)
	}
	b.Screenshot("sso-clients")
	// Register a CAS service through the form.
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/clients/new"), chromedp.WaitVisible(chromedp.CSS("#client-form")),
		chromedp.SetValue(chromedp.CSS("#f-protocol"), "cas"), chromedp.SendKeys(chromedp.CSS("#f-name"), "执法办案系统"),
		chromedp.SendKeys(chromedp.CSS("#f-service"), "https://zfba.example.gov.cn/"),
		chromedp.Click(chromedp.CSS("#client-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#client-form .notice.ok")))
	if msg := b.Text("#client-form .notice.ok"); !strings.Contains(msg, "已登记接入应用 cas-") {
		t.Fatalf("create message: %q", msg)
	}
	// A bad one shows the Chinese reason.
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/clients/new"), chromedp.WaitVisible(chromedp.CSS("#client-form")),
		chromedp.SendKeys(chromedp.CSS("#f-id"), "no-redirect"),
		chromedp.Click(chromedp.CSS("#client-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#client-form .notice.bad")))
	if msg := b.Text("#client-form .notice.bad"); !strings.Contains(msg, "回调地址") {
		t.Fatalf("validation message: %q", msg)
	}
	// Connectors: the thirteen shipped entries; configure Baoji through its form.
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/connectors"), chromedp.WaitVisible(chromedp.CSS("#connectors-table")))
	rows, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('#connectors-table tr[data-connector]').length`))
	if rows != 13 || !strings.Contains(b.Text("#connectors-table"), "陕西省行政执法和执法监督一体化平台") {
		t.Fatalf("connectors page: %d rows", rows)
	}
	b.Screenshot("sso-connectors")
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/connectors/baoji"), chromedp.WaitVisible(chromedp.CSS("#connector-form")))
	b.Clear("f-config")
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-config"), `{"validate_url":"https://bj.example.gov.cn/sso/ticket/validate","app_id":"zhsj"}`),
		chromedp.Click(chromedp.CSS(`#connector-form input[name=enabled]`)),
		chromedp.Click(chromedp.CSS("#connector-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#connector-form .notice.bad")))
	if msg := b.Text("#connector-form .notice.bad"); !strings.Contains(msg, "密钥") {
		t.Fatalf("enabling without a secret: %q", msg)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-secret"), "baoji-secret-0001"),
		chromedp.Click(chromedp.CSS("#connector-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#connector-form .notice.ok")))
	b.Screenshot("sso-connector-form")
	b.Do(chromedp.Navigate(e.Server.URL+"/admin/sso/bindings"), chromedp.WaitVisible(chromedp.CSS("#bindings-table")))
	if !strings.Contains(b.Text("#bindings-table"), "没有符合条件的绑定") {
		t.Fatalf("bindings page: %q", b.Text("#bindings-table"))
	}
	time.Sleep(100 * time.Millisecond)
	b.NoErrors()

	var n int
	e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM sso_connectors WHERE id = 'baoji' AND enabled = TRUE`)
	if n != 1 {
		t.Fatal("the connector form did not enable Baoji")
	}
}

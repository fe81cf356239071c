package sso_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/sso/connector"
)

// fakeOAuth2 is a partner's OAuth2 server speaking the plain wire format: a code on the
// redirect, a JSON token answer, and a nested JSON user record.
func fakeOAuth2(t *testing.T, user map[string]any) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "zhsj-app" || q.Get("response_type") != "code" {
			http.Error(w, "bad request", 400)
			return
		}
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {"C-123"}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "zhsj-app" || secret != "oauth-client-secret-1" || r.PostFormValue("code") != "C-123" {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "AT-1", "token_type": "bearer", "expires_in": 3600})
	})
	mux.HandleFunc("GET /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer AT-1" {
			w.WriteHeader(401)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": user})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestOAuth2Connector logs in through a partner's plain OAuth2 (code → token → user info
// with field mapping) and binds by mobile number; a callback from another browser (no state
// cookie) is refused.
func TestOAuth2Connector(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		adm := admin(t, e)
		userWithPhone(t, e, "liu.local", "610500", "13600003333", "inspector")
		partner := fakeOAuth2(t, map[string]any{"userId": 90001, "loginName": "liu", "userName": "刘某", "mobile": "13600003333"})
		// The shipped Weinan entry, configured by the administrator.
		res := adm.Do("PUT", "/api/v1/sso/connectors/weinan", map[string]any{"kind": "oauth2", "enabled": true, "binding_rule": "phone",
			"secret": "oauth-client-secret-1", "config": map[string]any{"authorize_url": partner.URL + "/oauth/authorize",
				"token_url": partner.URL + "/oauth/token", "userinfo_url": partner.URL + "/oauth/userinfo", "client_id": "zhsj-app",
				"fields": map[string]string{"subject": "data.userId", "account": "data.loginName", "name": "data.userName", "phone": "data.mobile"}}})
		mustStatus(t, res, 200)

		br := newBrowser(t)
		pg := br.get(e.Server.URL + "/sso/connectors/weinan/login?next=/account")
		if pg.Status != 200 || pg.URL.Path != "/account" {
			t.Fatalf("oauth2 login ended at %s (%d): %.300s", pg.URL, pg.Status, pg.Body)
		}
		if got := br.me(e.Server.URL); got != "liu.local" {
			t.Fatalf("logged in as %q", got)
		}
		var bl struct {
			Items []struct {
				Subject   string `json:"subject"`
				MatchedBy string `json:"matched_by"`
				ExtName   string `json:"ext_name"`
				PhoneMask string `json:"phone_mask"`
			}
		}
		adm.Do("GET", "/api/v1/sso/bindings?connector=weinan", nil).JSON(&bl)
		if len(bl.Items) != 1 || bl.Items[0].Subject != "90001" || bl.Items[0].MatchedBy != "phone" || bl.Items[0].ExtName != "刘某" || bl.Items[0].PhoneMask != "136****3333" {
			t.Fatalf("binding: %+v", bl)
		}

		// The callback in a browser that did not start the login is refused.
		first := newBrowser(t)
		first.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, _ := http.NewRequest("GET", e.Server.URL+"/sso/connectors/weinan/login", nil)
		resp, err := first.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(resp.Header.Get("Location"))
		state := u.Query().Get("state")
		other := newBrowser(t)
		if pg := other.get(e.Server.URL + "/sso/connectors/weinan/callback?code=C-123&state=" + url.QueryEscape(state)); pg.Status != 400 || other.me(e.Server.URL) != "" {
			t.Fatalf("callback without the state cookie: %d", pg.Status)
		}
	})
}

// fakeTicketPartner is a partner platform's ticket validation API: it checks zhsj's
// HMAC-SM3 signature and answers with the user the ticket names.
func fakeTicketPartner(t *testing.T, users map[string]map[string]any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f := r.PostForm
		if err := connector.VerifySign("hmac-sm3", "baoji-secret-0001", f.Get("appId"), f.Get("ticket"), f.Get("timestamp"), f.Get("sign"), time.Now()); err != nil {
			json.NewEncoder(w).Encode(map[string]any{"code": "401", "message": err.Error()})
			return
		}
		u, ok := users[f.Get("ticket")]
		if !ok {
			json.NewEncoder(w).Encode(map[string]any{"code": "404", "message": "票据无效"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"code": "0", "data": u})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBindingApproval: a partner user with no unique local match waits for an administrator;
// approval lets them in, rejection keeps them out; administrators see and decide only
// bindings within their jurisdiction, and every decision is audited.
func TestBindingApproval(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		adm := admin(t, e)
		e.User("li.si", "610300", "inspector")
		e.User("sec.xa", "610100", "secadmin")
		partner := fakeTicketPartner(t, map[string]map[string]any{
			"T-1": {"userId": "bj-001", "name": "李四", "mobile": "13500004444"},
			"T-2": {"userId": "bj-001", "name": "李四", "mobile": "13500004444"},
			"T-3": {"userId": "bj-002", "name": "王五"},
			"T-4": {"userId": "bj-002", "name": "王五"},
			"T-5": {"userId": "bj-003", "name": "赵六", "mobile": "13500005555"},
		})
		mustStatus(t, adm.Do("PUT", "/api/v1/sso/connectors/baoji", map[string]any{"kind": "ticket", "enabled": true, "binding_rule": "phone",
			"secret": "baoji-secret-0001", "config": map[string]any{"validate_url": partner.URL, "app_id": "zhsj", "accept_unsolicited": true}}), 200)

		cb := e.Server.URL + "/sso/connectors/baoji/callback?ticket="
		br := newBrowser(t)
		if pg := br.get(cb + "T-1"); pg.Status != http.StatusAccepted || !strings.Contains(pg.Body, "待审核") || br.me(e.Server.URL) != "" {
			t.Fatalf("unmatched user: %d %.200s", pg.Status, pg.Body)
		}
		var list struct {
			Items []struct {
				ID      int64  `json:"id"`
				Subject string `json:"subject"`
				Status  string `json:"status"`
			}
			Total int
		}
		adm.Do("GET", "/api/v1/sso/bindings?status=pending", nil).JSON(&list)
		if list.Total != 1 || list.Items[0].Subject != "bj-001" {
			t.Fatalf("pending: %+v", list)
		}
		id := itoa(list.Items[0].ID)

		// Outside the jurisdiction: invisible, and cannot be decided.
		xa := e.Login("sec.xa")
		var none struct{ Total int }
		xa.Do("GET", "/api/v1/sso/bindings", nil).JSON(&none)
		if none.Total != 0 {
			t.Fatalf("a Xi'an administrator sees Baoji bindings: %d", none.Total)
		}
		mustStatus(t, xa.Do("POST", "/api/v1/sso/bindings/"+id+"/approve", map[string]string{"account": "li.si"}), 404)

		for _, acct := range []string{"nobody", "secadm"} {
			if res := adm.Do("POST", "/api/v1/sso/bindings/"+id+"/approve", map[string]string{"account": acct}); res.Status != 400 {
				t.Fatalf("approve to %s (unknown or an administrator): %d", acct, res.Status)
			}
		}
		mustStatus(t, adm.Do("POST", "/api/v1/sso/bindings/"+id+"/approve", map[string]string{"account": "li.si"}), 200)
		if pg := br.get(cb + "T-2"); pg.Status != 200 || br.me(e.Server.URL) != "li.si" {
			t.Fatalf("after approval: %d %s", pg.Status, pg.URL)
		}

		// Rejected: the partner user stays out.
		br2 := newBrowser(t)
		br2.get(cb + "T-3")
		adm.Do("GET", "/api/v1/sso/bindings?status=pending", nil).JSON(&list)
		if list.Total != 1 || list.Items[0].Subject != "bj-002" {
			t.Fatalf("second pending: %+v", list)
		}
		mustStatus(t, adm.Do("POST", "/api/v1/sso/bindings/"+itoa(list.Items[0].ID)+"/reject", nil), 200)
		if pg := br2.get(cb + "T-4"); pg.Status != 403 || br2.me(e.Server.URL) != "" {
			t.Fatalf("rejected user: %d", pg.Status)
		}
		// An unknown or replayed ticket is refused by the partner.
		if pg := newBrowser(t).get(cb + "T-9"); pg.Status != http.StatusBadGateway {
			t.Fatalf("unknown ticket: %d", pg.Status)
		}

		var n int
		e.App.DB.Get(t.Context(), &n, `SELECT COUNT(*) FROM audit_log WHERE action IN ('security.sso.binding.request', 'security.sso.binding.approve', 'security.sso.binding.reject')`)
		if n != 4 {
			t.Fatalf("%d binding audit records, want 4", n)
		}
		// An administrator's account is never bound automatically, even with the same mobile.
		userWithPhone(t, e, "sec.bj", "610300", "13500005555", "secadmin")
		if pg := newBrowser(t).get(cb + "T-5"); pg.Status != http.StatusAccepted {
			t.Fatalf("partner user with an administrator's mobile: %d", pg.Status)
		}
	})
}

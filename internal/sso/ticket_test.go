package sso_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/sso/connector"
)

func TestSignatureSchemes(t *testing.T) {
	// SM3("abc") and MD5("abc") are the standards' test vectors: appId "a", value "b",
	// timestamp "c" and an empty secret sign exactly "abc".
	for alg, want := range map[string]string{
		connector.SignSM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		connector.SignMD5: "900150983cd24fb0d6963f7d28e17f72",
	} {
		got, err := connector.Sign(alg, "", "a", "b", "c")
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", alg, got, err, want)
		}
	}
	now := time.Now()
	ts := connector.Timestamp(now)
	for alg := range connector.SignAlgs {
		sig, err := connector.Sign(alg, "s3cret-s3cret-s3cret", "app", "TK-1", ts)
		if err != nil {
			t.Fatal(err)
		}
		if err := connector.VerifySign(alg, "s3cret-s3cret-s3cret", "app", "TK-1", ts, sig, now); err != nil {
			t.Errorf("%s: own signature rejected: %v", alg, err)
		}
		if connector.VerifySign(alg, "other-secret-other", "app", "TK-1", ts, sig, now) == nil ||
			connector.VerifySign(alg, "s3cret-s3cret-s3cret", "app", "TK-2", ts, sig, now) == nil ||
			connector.VerifySign(alg, "s3cret-s3cret-s3cret", "app", "TK-1", ts, sig, now.Add(6*time.Minute)) == nil {
			t.Errorf("%s: a wrong secret, value or stale timestamp passed", alg)
		}
	}
	if _, err := connector.Sign("sha1", "", "a", "b", "c"); err == nil {
		t.Error("an unknown algorithm signed")
	}
}

// signed builds a ticket-exchange request body.
func signed(t testing.TB, alg, secret, app, param, value string, at time.Time) url.Values {
	ts := connector.Timestamp(at)
	sig, err := connector.Sign(alg, secret, app, value, ts)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"appId": {app}, param: {value}, "timestamp": {ts}, "sign": {sig}}
}

func postTicket(t testing.TB, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestTicketExchangeAPI covers zhsj's side of the signed ticket exchange: ticket issuing for
// a registered partner, signed validation (bad signature, stale timestamp, replay), the
// released attributes, a partner's signed logout and zhsj's signed logout notice.
func TestTicketExchangeAPI(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		adm := admin(t, e)
		userWithPhone(t, e, "carol", "610100", "13700002222", "analyst")
		var mu sync.Mutex
		var notices []url.Values
		partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			mu.Lock()
			notices = append(notices, r.PostForm)
			mu.Unlock()
		}))
		defer partner.Close()
		const secret = "partner-shared-secret-0001"
		mustStatus(t, adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "ticket", "client_id": "zfjd", "name": "执法监督平台",
			"service": partner.URL + "/sso/", "logout_uri": partner.URL + "/logout", "sign_alg": "sm3", "secret": secret,
			"scopes": []string{"profile", "phone"}}), 201)

		c := e.Login("carol")
		issue := func() string {
			res := c.Do("GET", "/sso/ticket/authorize?appId=zfjd&redirect_uri="+url.QueryEscape(partner.URL+"/sso/cb?state=x"), nil)
			u, _ := url.Parse(res.Header.Get("Location"))
			if res.Status != 302 || !strings.HasPrefix(u.String(), partner.URL+"/sso/cb?state=x&ticket=TK-") {
				t.Fatalf("authorize: %d %s", res.Status, u)
			}
			return u.Query().Get("ticket")
		}
		if res := c.Do("GET", "/sso/ticket/authorize?appId=zfjd&redirect_uri="+url.QueryEscape("https://evil.example/sso/cb"), nil); res.Status != 400 {
			t.Fatalf("unregistered redirect: %d", res.Status)
		}
		validate := e.Server.URL + "/sso/ticket/validate"
		tk := issue()
		if st, out := postTicket(t, validate, signed(t, "sm3", "wrong-secret-wrong", "zfjd", "ticket", tk, time.Now())); st != 401 || out["code"] != "INVALID_SIGN" {
			t.Fatalf("bad signature: %d %v", st, out)
		}
		if st, out := postTicket(t, validate, signed(t, "sm3", secret, "zfjd", "ticket", tk, time.Now().Add(-10*time.Minute))); st != 401 || out["code"] != "INVALID_SIGN" {
			t.Fatalf("stale timestamp: %d %v", st, out)
		}
		if st, out := postTicket(t, validate, signed(t, "sm3", secret, "nobody", "ticket", tk, time.Now())); st != 400 || out["code"] != "INVALID_APP" {
			t.Fatalf("unknown app: %d %v", st, out)
		}
		st, out := postTicket(t, validate, signed(t, "sm3", secret, "zfjd", "ticket", tk, time.Now()))
		data, _ := out["data"].(map[string]any)
		if st != 200 || out["code"] != "0" || data["account"] != "carol" || data["mobile"] != "13700002222" || data["regionCode"] != "610100" || data["sessionId"] == "" {
			t.Fatalf("validate: %d %v", st, out)
		}
		if st, out := postTicket(t, validate, signed(t, "sm3", secret, "zfjd", "ticket", tk, time.Now())); st != 400 || out["code"] != "INVALID_TICKET" {
			t.Fatalf("replayed ticket: %d %v", st, out)
		}

		// Logout at zhsj: the partner gets a signed notice naming its sessionId.
		mustStatus(t, c.Do("POST", "/api/v1/auth/logout", nil), 200)
		mu.Lock()
		got := append([]url.Values(nil), notices...)
		mu.Unlock()
		if len(got) != 1 || got[0].Get("sessionId") != data["sessionId"] ||
			connector.VerifySign("sm3", secret, "zfjd", got[0].Get("sessionId"), got[0].Get("timestamp"), got[0].Get("sign"), time.Now()) != nil {
			t.Fatalf("logout notices %v", got)
		}

		// Logout at the partner: its signed notice ends the zhsj session.
		c = e.Login("carol")
		tk = issue()
		_, out = postTicket(t, validate, signed(t, "sm3", secret, "zfjd", "ticket", tk, time.Now()))
		sid := out["data"].(map[string]any)["sessionId"].(string)
		if st, _ := postTicket(t, e.Server.URL+"/sso/ticket/logout", signed(t, "sm3", "wrong-secret-wrong", "zfjd", "sessionId", sid, time.Now())); st != 401 {
			t.Fatalf("unsigned logout accepted: %d", st)
		}
		if res := c.Do("GET", "/api/v1/me", nil); res.Status != 200 {
			t.Fatal("session ended by a badly signed notice")
		}
		if st, out := postTicket(t, e.Server.URL+"/sso/ticket/logout", signed(t, "sm3", secret, "zfjd", "sessionId", sid, time.Now())); st != 200 || out["code"] != "0" {
			t.Fatalf("logout: %d %v", st, out)
		}
		if res := c.Do("GET", "/api/v1/me", nil); res.Status != 401 {
			t.Fatalf("session alive after the partner's logout: %d", res.Status)
		}
	})
}

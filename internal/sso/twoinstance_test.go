package sso_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// pair is two independent zhsj instances on two fresh databases: A plays the provincial
// platform (陕西省行政执法和执法监督一体化平台), B is 智慧市监. Each is the other's identity
// provider through one protocol, configured only through the administration API.
type pair struct {
	a, b       *apptest.Env
	admA, admB *apptest.Client
	// A and B are the instances' addresses. B is reached as "localhost" and A as
	// "127.0.0.1": cookies ignore ports, so two servers on one host name would share them.
	A, B string
}

func eachPair(t *testing.T, f func(t *testing.T, p *pair)) {
	storetest.Each(t, func(t *testing.T, db1 *store.DB) {
		var db2 *store.DB
		if db1.Dialect() == store.SQLite {
			db2 = storetest.SQLite(t)
		} else {
			var err error
			db2, err = store.OpenMigrated(context.Background(), store.Options{URL: storetest.PostgresURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db2.Close() })
		}
		p := &pair{a: apptest.New(t, db1), b: apptest.New(t, db2)}
		p.A, p.B = p.a.Server.URL, strings.Replace(p.b.Server.URL, "127.0.0.1", "localhost", 1)
		p.admA, p.admB = admin(t, p.a), admin(t, p.b)
		// The same person has an account on each platform, with the same mobile number.
		userWithPhone(t, p.a, "wang.a", "610000", "13811112222", "analyst")
		userWithPhone(t, p.b, "wang.b", "610100", "13811112222", "analyst")
		f(t, p)
	})
}

// atB is the connector at B: the shipped entry for the province, reconfigured for each
// protocol. At A, a connector for zhsj is added per protocol (configuration, not code).
const atB = "shaanxi-zfjd"

func (p *pair) configure(t *testing.T, proto string) (atA string) {
	A, B := p.A, p.B
	atA = "zhsj-" + proto
	cbAtB, cbAtA := B+"/sso/connectors/"+atB+"/callback", A+"/sso/connectors/"+atA+"/callback"
	loAtB, loAtA := B+"/sso/connectors/"+atB+"/logout", A+"/sso/connectors/"+atA+"/logout"
	const secretA, secretB = "secret-issued-by-province-0001", "secret-issued-by-zhsj-00000002"
	var clientAtA, clientAtB, connAtB, connAtA map[string]any
	switch proto {
	case "oidc":
		clientAtA = map[string]any{"protocol": "oidc", "client_id": "zhsj-oidc", "redirect_uris": []string{cbAtB}, "backchannel_logout_uri": loAtB,
			"scopes": []string{"openid", "profile", "phone"}, "secret": secretA}
		clientAtB = map[string]any{"protocol": "oidc", "client_id": "shaanxi-zfjd-oidc", "redirect_uris": []string{cbAtA}, "backchannel_logout_uri": loAtA,
			"scopes": []string{"openid", "profile", "phone"}, "secret": secretB}
		connAtB = map[string]any{"kind": "oidc", "config": map[string]any{"issuer": A, "client_id": "zhsj-oidc"}, "secret": secretA}
		connAtA = map[string]any{"kind": "oidc", "config": map[string]any{"issuer": B, "client_id": "shaanxi-zfjd-oidc"}, "secret": secretB}
	case "cas":
		clientAtA = map[string]any{"protocol": "cas", "service": cbAtB, "scopes": []string{"profile", "phone"}}
		clientAtB = map[string]any{"protocol": "cas", "service": cbAtA, "scopes": []string{"profile", "phone"}}
		connAtB = map[string]any{"kind": "cas", "config": map[string]any{"server_url": A + "/cas"}}
		connAtA = map[string]any{"kind": "cas", "config": map[string]any{"server_url": B + "/cas"}}
	case "ticket":
		clientAtA = map[string]any{"protocol": "ticket", "client_id": "zhsj-ticket", "service": cbAtB, "logout_uri": loAtB, "sign_alg": "hmac-sm3",
			"secret": secretA, "scopes": []string{"profile", "phone"}}
		clientAtB = map[string]any{"protocol": "ticket", "client_id": "shaanxi-zfjd-ticket", "service": cbAtA, "logout_uri": loAtA, "sign_alg": "md5",
			"secret": secretB, "scopes": []string{"profile", "phone"}}
		connAtB = map[string]any{"kind": "ticket", "secret": secretA, "config": map[string]any{"authorize_url": A + "/sso/ticket/authorize",
			"validate_url": A + "/sso/ticket/validate", "logout_url": A + "/sso/ticket/logout", "app_id": "zhsj-ticket", "sign_alg": "hmac-sm3", "accept_unsolicited": true}}
		connAtA = map[string]any{"kind": "ticket", "secret": secretB, "config": map[string]any{"authorize_url": B + "/sso/ticket/authorize",
			"validate_url": B + "/sso/ticket/validate", "logout_url": B + "/sso/ticket/logout", "app_id": "shaanxi-zfjd-ticket", "sign_alg": "md5"}}
	}
	mustStatus(t, p.admA.Do("POST", "/api/v1/sso/clients", clientAtA), 201)
	mustStatus(t, p.admB.Do("POST", "/api/v1/sso/clients", clientAtB), 201)

	// B: the shipped province entry, configured and enabled. Its "go to" link is A's login
	// through B.
	connAtB["enabled"], connAtB["binding_rule"], connAtB["outbound_url"] = true, "phone", A+"/sso/connectors/"+atA+"/login"
	mustStatus(t, p.admB.Do("PUT", "/api/v1/sso/connectors/"+atB, connAtB), 200)

	// A: zhsj added as a connector (configuration, not code).
	connAtA["id"], connAtA["name"], connAtA["region_code"], connAtA["enabled"] = atA, "智慧市监", "610000", true
	connAtA["binding_rule"] = "phone"
	connAtA["outbound_url"] = B + "/sso/connectors/" + atB + "/login"
	if proto == "ticket" {
		// A's link into B carries a ticket A issues (the portal pattern): B accepts it
		// unsolicited and validates it with A.
		connAtA["outbound_url"], connAtA["outbound_client"] = cbAtB, "zhsj-ticket"
	}
	mustStatus(t, p.admA.Do("POST", "/api/v1/sso/connectors", connAtA), 201)
	return atA
}

// open follows a "go to the partner" link and checks that it ends on the partner's
// workbench without any password prompt.
func (p *pair) open(t *testing.T, br *browser, from, conn, to string) {
	t.Helper()
	mark := len(br.visited)
	pg := br.get(from + "/sso/go/" + conn)
	want, _ := url.Parse(to)
	if pg.Status != 200 || pg.URL.Host != want.Host || pg.URL.Path != "/" {
		t.Fatalf("opening %s from %s ended at %s (%d): %.300s", conn, from, pg.URL, pg.Status, pg.Body)
	}
	if br.passwordPrompted(mark) {
		t.Fatalf("a password was asked for on the way: %v", br.visited[mark:])
	}
}

func liveSessions(t *testing.T, e *apptest.Env, account string) int {
	var n int
	if err := e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE u.account = ? AND s.revoked_at IS NULL`, account); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoInstanceSSO is the demonstration, for OpenID Connect, CAS and the signed
// ticket exchange: log in at A and open B with no password prompt, log in at B and open A,
// and a logout at either one ends the sessions at both.
func TestTwoInstanceSSO(t *testing.T) {
	eachPair(t, func(t *testing.T, p *pair) {
		A, B := p.A, p.B
		for _, proto := range []string{"oidc", "cas", "ticket"} {
			t.Run(proto, func(t *testing.T) {
				atA := p.configure(t, proto)

				// 1. Log in at A (password), open B: no password; then log out at A (the
				//    identity provider) and B's session ends too.
				br := newBrowser(t)
				br.login(A, "wang.a")
				p.open(t, br, A, atA, B)
				if got := br.me(B); got != "wang.b" {
					t.Fatalf("at B after opening from A: %q", got)
				}
				br.postJSON(A+"/api/v1/auth/logout", nil)
				if a, b := br.me(A), br.me(B); a != "" || b != "" {
					t.Fatalf("after logout at A: A=%q B=%q", a, b)
				}

				// 1b. B's login page offers the partner platform; with a session at A, its link
				//     logs in at B without a password and lands on the requested page.
				br = newBrowser(t)
				br.login(A, "wang.a")
				mark := len(br.visited)
				lp := br.get(B + "/login?next=%2Fsso%2Fpartners")
				link := "/sso/connectors/" + atB + "/login?next=%2Fsso%2Fpartners"
				if !strings.Contains(lp.Body, `id="login-partners"`) || !strings.Contains(lp.Body, html.EscapeString(link)) {
					t.Fatalf("B's login page lacks the partner link %s: %.2000s", link, lp.Body)
				}
				pg := br.get(B + link)
				if pg.Status != 200 || pg.URL.Path != "/sso/partners" || br.me(B) != "wang.b" {
					t.Fatalf("partner link from the login page ended at %s (%d), me=%q", pg.URL, pg.Status, br.me(B))
				}
				if br.passwordPrompted(mark + 1) {
					t.Fatalf("a password was asked for on the way: %v", br.visited[mark:])
				}
				br.postJSON(B+"/api/v1/auth/logout", nil)
				if a, b := br.me(A), br.me(B); a != "" || b != "" {
					t.Fatalf("after logout at B: A=%q B=%q", a, b)
				}

				// 2. Log in at B (password), open A; then log out at A (here the relying
				//    party) and B's session ends too.
				br = newBrowser(t)
				br.login(B, "wang.b")
				p.open(t, br, B, atB, A)
				if got := br.me(A); got != "wang.a" {
					t.Fatalf("at A after opening from B: %q", got)
				}
				br.postJSON(A+"/api/v1/auth/logout", nil)
				if a, b := br.me(A), br.me(B); a != "" || b != "" {
					t.Fatalf("after logout at A: A=%q B=%q", a, b)
				}

				// 3. The whole chain in one browser: log in at A, open B, open A again from
				//    B, then log out at B: every session at both ends.
				br = newBrowser(t)
				br.login(A, "wang.a")
				p.open(t, br, A, atA, B)
				p.open(t, br, B, atB, A)
				if a, b := br.me(A), br.me(B); a != "wang.a" || b != "wang.b" {
					t.Fatalf("after the chain: A=%q B=%q", a, b)
				}
				br.postJSON(B+"/api/v1/auth/logout", nil)
				if a, b := br.me(A), br.me(B); a != "" || b != "" {
					t.Fatalf("after logout at B: A=%q B=%q", a, b)
				}
				if n, m := liveSessions(t, p.a, "wang.a"), liveSessions(t, p.b, "wang.b"); n != 0 || m != 0 {
					t.Fatalf("live sessions left: A %d, B %d", n, m)
				}
			})
		}
		// The accounts were bound automatically by the same mobile number, on both sides.
		for _, side := range []struct {
			adm  *apptest.Client
			conn string
		}{{p.admB, atB}, {p.admA, "zhsj-oidc"}, {p.admA, "zhsj-cas"}, {p.admA, "zhsj-ticket"}} {
			var bl struct {
				Items []struct {
					Status    string `json:"status"`
					MatchedBy string `json:"matched_by"`
				}
			}
			side.adm.Do("GET", "/api/v1/sso/bindings?connector="+side.conn, nil).JSON(&bl)
			if len(bl.Items) == 0 {
				t.Fatalf("no binding for %s", side.conn)
			}
			for _, b := range bl.Items {
				if b.Status != "active" || b.MatchedBy != "phone" {
					t.Fatalf("binding at %s: %+v", side.conn, bl)
				}
			}
		}
		for _, e := range []*apptest.Env{p.a, p.b} {
			if rep, err := e.App.Audit.Verify(context.Background()); err != nil || !rep.OK {
				t.Fatalf("audit chain: %+v %v", rep, err)
			}
		}
	})
}

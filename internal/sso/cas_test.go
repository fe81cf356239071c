package sso_test

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/sso/connector"
)

// casShape checks a CAS response against the protocol's schema (CAS Protocol 3.0, Appendix
// A): a single cas:serviceResponse in the CAS namespace holding exactly one
// cas:authenticationSuccess (cas:user, optional cas:attributes of simple elements) or one
// cas:authenticationFailure with a code attribute from the protocol's list.
func casShape(t *testing.T, body string, wantAttrs bool) *connector.ServiceResponse {
	t.Helper()
	if !regexp.MustCompile(`^<cas:serviceResponse xmlns:cas="http://www\.yale\.edu/tp/cas">`).MatchString(body) {
		t.Fatalf("root element: %s", body)
	}
	type el struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Inner   []el       `xml:",any"`
		Text    string     `xml:",chardata"`
	}
	var root el
	if err := xml.Unmarshal([]byte(body), &root); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	ns := connector.CASNamespace
	if root.XMLName != (xml.Name{Space: ns, Local: "serviceResponse"}) || len(root.Inner) != 1 {
		t.Fatalf("serviceResponse shape: %+v", root.XMLName)
	}
	child := root.Inner[0]
	switch child.XMLName {
	case xml.Name{Space: ns, Local: "authenticationSuccess"}:
		if len(child.Inner) == 0 || child.Inner[0].XMLName != (xml.Name{Space: ns, Local: "user"}) {
			t.Fatalf("authenticationSuccess must start with cas:user: %s", body)
		}
		if len(child.Inner) > 2 || (len(child.Inner) == 2) != wantAttrs {
			t.Fatalf("authenticationSuccess children: %s", body)
		}
		if wantAttrs {
			attrs := child.Inner[1]
			if attrs.XMLName != (xml.Name{Space: ns, Local: "attributes"}) {
				t.Fatalf("second child must be cas:attributes: %s", body)
			}
			for _, a := range attrs.Inner {
				if a.XMLName.Space != ns || len(a.Inner) != 0 {
					t.Fatalf("attribute %v is not a simple cas: element", a.XMLName)
				}
			}
		}
	case xml.Name{Space: ns, Local: "authenticationFailure"}:
		codes := map[string]bool{"INVALID_REQUEST": true, "INVALID_TICKET_SPEC": true, "UNAUTHORIZED_SERVICE_PROXY": true,
			"INVALID_PROXY_CALLBACK": true, "INVALID_TICKET": true, "INVALID_SERVICE": true, "INTERNAL_ERROR": true}
		if len(child.Attrs) != 1 || child.Attrs[0].Name.Local != "code" || !codes[child.Attrs[0].Value] || len(child.Inner) != 0 {
			t.Fatalf("authenticationFailure shape: %s", body)
		}
	default:
		t.Fatalf("unexpected child %v", child.XMLName)
	}
	sr, err := connector.ParseServiceResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func ticketFrom(t *testing.T, res *apptest.Response, service string) string {
	t.Helper()
	loc := res.Header.Get("Location")
	if res.Status != http.StatusFound || !strings.HasPrefix(loc, service) {
		t.Fatalf("cas login: %d %s", res.Status, loc)
	}
	u, _ := url.Parse(loc)
	st := u.Query().Get("ticket")
	if !strings.HasPrefix(st, "ST-") || len(st) < 35 {
		t.Fatalf("service ticket %q", st)
	}
	return st
}

// TestCASServer covers /cas/login, /serviceValidate, /p3/serviceValidate and /logout: the
// XML shape of every answer, single use, expiry in seconds, service checks, renew and gateway,
// and single logout POSTs to the services.
func TestCASServer(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		adm := admin(t, e)
		userWithPhone(t, e, "bob", "610300", "13800001111", "inspector")
		var mu sync.Mutex
		var slo []string
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				idx, err := connector.ParseLogoutRequest(r.PostFormValue("logoutRequest"))
				if err != nil {
					t.Errorf("SLO body: %v", err)
				}
				mu.Lock()
				slo = append(slo, idx)
				mu.Unlock()
			}
		}))
		defer app.Close()
		service := app.URL + "/app/home?x=1"
		mustStatus(t, adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "cas", "service": app.URL + "/app/", "name": "执法办案",
			"scopes": []string{"profile", "phone"}}), 201)

		anon := e.Client()
		if res := anon.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil); res.Status != 302 || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Fatalf("anonymous login: %d %s", res.Status, res.Header.Get("Location"))
		}
		if res := anon.Do("GET", "/cas/login?gateway=true&service="+url.QueryEscape(service), nil); res.Header.Get("Location") != service {
			t.Fatalf("gateway without session: %s", res.Header.Get("Location"))
		}
		if res := anon.Do("GET", "/cas/login?service="+url.QueryEscape(app.URL+"/other"), nil); res.Status != 403 {
			t.Fatalf("unregistered service: %d", res.Status)
		}

		b := e.Login("bob")
		validate := func(path, svc, st string) *apptest.Response {
			return anon.Do("GET", path+"?service="+url.QueryEscape(svc)+"&ticket="+url.QueryEscape(st), nil)
		}
		st := ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		res := validate("/cas/p3/serviceValidate", service, st)
		if ct := res.Header.Get("Content-Type"); res.Status != 200 || !strings.Contains(ct, "xml") {
			t.Fatalf("validate: %d %s", res.Status, ct)
		}
		sr := casShape(t, string(res.Body), true)
		if sr.User != "bob" || sr.Attributes["name"][0] != "测试bob" || sr.Attributes["mobile"][0] != "13800001111" ||
			sr.Attributes["regionCode"][0] != "610300" || len(sr.Attributes["authenticationDate"]) != 1 || len(sr.Attributes["isFromNewLogin"]) != 1 {
			t.Fatalf("p3 success: %+v", sr)
		}
		// Single use.
		if sr := casShape(t, string(validate("/cas/p3/serviceValidate", service, st).Body), false); sr.FailureCode != "INVALID_TICKET" {
			t.Fatalf("replay: %+v", sr)
		}
		// CAS 2.0: no attributes.
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		if sr := casShape(t, string(validate("/cas/serviceValidate", service, st).Body), false); sr.User != "bob" || len(sr.Attributes) != 0 {
			t.Fatalf("v2 success: %+v", sr)
		}
		// Another service: INVALID_SERVICE, and the ticket is spent.
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		if sr := casShape(t, string(validate("/cas/p3/serviceValidate", app.URL+"/app/other", st).Body), false); sr.FailureCode != "INVALID_SERVICE" {
			t.Fatalf("wrong service: %+v", sr)
		}
		if sr := casShape(t, string(validate("/cas/p3/serviceValidate", service, st).Body), false); sr.FailureCode != "INVALID_TICKET" {
			t.Fatalf("ticket after INVALID_SERVICE: %+v", sr)
		}
		if sr := casShape(t, string(anon.Do("GET", "/cas/serviceValidate?service=x", nil).Body), false); sr.FailureCode != "INVALID_REQUEST" {
			t.Fatalf("missing ticket: %+v", sr)
		}
		if sr := casShape(t, string(validate("/cas/serviceValidate", service, "PT-123").Body), false); sr.FailureCode != "INVALID_TICKET_SPEC" {
			t.Fatalf("proxy ticket: %+v", sr)
		}
		// Service tickets expire in seconds.
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		s := svc(e)
		s.Now = func() time.Time { return time.Now().Add(11 * time.Second) }
		if sr := casShape(t, string(validate("/cas/p3/serviceValidate", service, st).Body), false); sr.FailureCode != "INVALID_TICKET" {
			t.Fatalf("expired ticket: %+v", sr)
		}
		// renew=true with a session older than a moment asks for the password again, and a
		// ticket issued without renew fails validation with renew=true.
		s.Now = func() time.Time { return time.Now().Add(5 * time.Minute) }
		if res := b.Do("GET", "/cas/login?renew=true&service="+url.QueryEscape(service), nil); !strings.HasPrefix(res.Header.Get("Location"), "/sso/reauth?next=") {
			t.Fatalf("renew: %d %s", res.Status, res.Header.Get("Location"))
		}
		s.Now = time.Now
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		if sr := casShape(t, string(anon.Do("GET", "/cas/p3/serviceValidate?renew=true&service="+url.QueryEscape(service)+"&ticket="+st, nil).Body), false); sr.FailureCode != "INVALID_TICKET" {
			t.Fatalf("renew validation of an ordinary ticket: %+v", sr)
		}

		// Single logout: /cas/logout ends the session and POSTs a logoutRequest naming each
		// service ticket the session issued, then returns to the registered service.
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		casShape(t, string(validate("/cas/p3/serviceValidate", service, st).Body), true)
		mu.Lock()
		slo = nil
		mu.Unlock()
		res = b.Do("GET", "/cas/logout?service="+url.QueryEscape(service), nil)
		if res.Status != 302 || res.Header.Get("Location") != service {
			t.Fatalf("logout: %d %s", res.Status, res.Header.Get("Location"))
		}
		mu.Lock()
		got := append([]string(nil), slo...)
		mu.Unlock()
		if !contains(got, st) {
			t.Fatalf("single logout named %v, want %s among them", got, st)
		}
		if res := b.Do("GET", "/api/v1/me", nil); res.Status != 401 {
			t.Fatalf("session alive after /cas/logout: %d", res.Status)
		}

		// A service's own back-channel logoutRequest ends the zhsj session that issued its ticket.
		b = e.Login("bob")
		st = ticketFrom(t, b.Do("GET", "/cas/login?service="+url.QueryEscape(service), nil), service)
		casShape(t, string(validate("/cas/p3/serviceValidate", service, st).Body), true)
		form := url.Values{"logoutRequest": {connector.LogoutRequest("bob", "ST-forged", time.Now())}}
		postForm(t, e.Server.URL+"/cas/logout", form)
		if res := b.Do("GET", "/api/v1/me", nil); res.Status != 200 {
			t.Fatal("a forged SessionIndex ended the session")
		}
		form = url.Values{"logoutRequest": {connector.LogoutRequest("bob", st, time.Now())}}
		postForm(t, e.Server.URL+"/cas/logout", form)
		if res := b.Do("GET", "/api/v1/me", nil); res.Status != 401 {
			t.Fatalf("session alive after the service's logoutRequest: %d", res.Status)
		}
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func postForm(t testing.TB, u string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

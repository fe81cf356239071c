package connector

import (
	"strings"
	"testing"
	"time"
)

func TestFieldsExtract(t *testing.T) {
	rec, err := decodeJSON([]byte(`{"code":0,"data":{"userId":12345678901234567,"user":{"name":"张三","mobile":"13800000000"},"ok":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	id, err := Fields{Subject: "data.userId", Name: "data.user.name", Phone: "data.user.mobile", Account: "data.missing"}.Extract(rec)
	if err != nil || id.Subject != "12345678901234567" || id.Name != "张三" || id.Phone != "13800000000" || id.Account != "" {
		t.Fatalf("extract: %+v %v", id, err)
	}
	if Lookup(rec, "data.ok") != "true" || Lookup(rec, "code") != "0" || Lookup(rec, "data.user") != "" {
		t.Fatal("lookup of scalars / objects")
	}
	if _, err := (Fields{Subject: "data.none"}).Extract(rec); err == nil {
		t.Fatal("an identity without subject was accepted")
	}
}

func TestValidateConfigs(t *testing.T) {
	for kind, cfg := range map[string]string{
		KindOIDC:   `{"issuer":"https://idp.example.gov.cn","client_id":"zhsj"}`,
		KindOAuth2: `{"authorize_url":"https://a.example/x","token_url":"https://a.example/t","userinfo_url":"https://a.example/u","client_id":"c","fields":{"subject":"id"}}`,
		KindCAS:    `{"server_url":"https://cas.example/cas"}`,
		KindTicket: `{"validate_url":"https://t.example/v","app_id":"zhsj","sign_alg":"sm3"}`,
	} {
		if err := Validate(kind, []byte(cfg)); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	for kind, cfg := range map[string]string{
		KindOIDC:   `{"issuer":"ftp://x","client_id":"zhsj"}`,
		KindOAuth2: `{"authorize_url":"https://a.example/x","token_url":"https://a.example/t","userinfo_url":"https://a.example/u","client_id":"c"}`,
		KindCAS:    `{"server_url":"https://cas.example/cas","version":"4"}`,
		KindTicket: `{"validate_url":"https://t.example/v","app_id":"zhsj","sign_alg":"sha1"}`,
		"saml":     `{}`,
	} {
		if err := Validate(kind, []byte(cfg)); err == nil {
			t.Errorf("%s accepted %s", kind, cfg)
		}
	}
	if err := Validate(KindCAS, []byte(`{"server_url":"https://cas.example/cas","unknown":1}`)); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestLogoutRequestRoundTrip(t *testing.T) {
	body := LogoutRequest("user<&>", "ST-abc", time.Now())
	idx, err := ParseLogoutRequest(body)
	if err != nil || idx != "ST-abc" {
		t.Fatalf("%q %v", idx, err)
	}
	if _, err := ParseLogoutRequest(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`); err == nil {
		t.Fatal("missing SessionIndex accepted")
	}
}

func TestParseServiceResponseShape(t *testing.T) {
	for _, bad := range []string{
		`<serviceResponse><authenticationSuccess><user>a</user></authenticationSuccess></serviceResponse>`, // no namespace
		`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"></cas:serviceResponse>`,
		`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess></cas:authenticationSuccess></cas:serviceResponse>`,
		`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure>x</cas:authenticationFailure></cas:serviceResponse>`,
		`not xml`,
	} {
		if _, err := ParseServiceResponse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	sr, err := ParseServiceResponse([]byte(`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>u1</cas:user>
		<cas:attributes><cas:name>张三</cas:name><cas:role>a</cas:role><cas:role>b</cas:role></cas:attributes></cas:authenticationSuccess></cas:serviceResponse>`))
	if err != nil || !sr.OK() || sr.User != "u1" || sr.Attributes["name"][0] != "张三" || len(sr.Attributes["role"]) != 2 {
		t.Fatalf("%+v %v", sr, err)
	}
}

func FuzzParseServiceResponse(f *testing.F) {
	f.Add([]byte(`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>u</cas:user></cas:authenticationSuccess></cas:serviceResponse>`))
	f.Add([]byte(`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">x</cas:authenticationFailure></cas:serviceResponse>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := ParseServiceResponse(b)
		if err == nil && sr.OK() == (sr.FailureCode != "") {
			t.Fatalf("inconsistent result %+v", sr)
		}
	})
}

func FuzzParseLogoutRequest(f *testing.F) {
	f.Add(LogoutRequest("u", "ST-1", time.Unix(0, 0)))
	f.Fuzz(func(t *testing.T, s string) {
		if idx, err := ParseLogoutRequest(s); err == nil && idx == "" {
			t.Fatal("empty SessionIndex without error")
		}
	})
}

func FuzzLookup(f *testing.F) {
	f.Add(`{"a":{"b":[1,2]},"c":1.5}`, "a.b")
	f.Fuzz(func(t *testing.T, doc, path string) {
		if rec, err := decodeJSON([]byte(doc)); err == nil {
			Lookup(rec, path)
		}
	})
}

func TestCanStartLogin(t *testing.T) {
	for _, c := range []struct {
		kind, config string
		want         bool
	}{
		{KindOIDC, `{"issuer":"https://idp.example"}`, true},
		{KindCAS, `{"server_url":"https://cas.example/cas"}`, true},
		{KindTicket, `{"validate_url":"https://p.example/v","authorize_url":"https://p.example/a"}`, true},
		{KindTicket, `{"validate_url":"https://p.example/v"}`, false}, // users only arrive from the partner's portal
		{KindTicket, `not json`, false},
	} {
		if got := CanStartLogin(c.kind, []byte(c.config)); got != c.want {
			t.Errorf("%s %s: %v", c.kind, c.config, got)
		}
	}
}

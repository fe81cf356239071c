// Package connector holds zhsj's connectors to partner identity platforms, modelled on Dex's
// connector package: one small interface per capability, and each connector implements only
// the capabilities its protocol has. Connectors are pure protocol code: they keep no state
// and touch no database, so the sso package stores login state, bindings and sessions and
// queues the logout notices they build.
//
// Four kinds exist: generic OpenID Connect ("oidc"), generic OAuth2 with user-info field
// mapping ("oauth2"), CAS 2.0/3.0 ("cas") and signed ticket exchange ("ticket"), the pattern
// most Chinese government platforms use (a redirect carries a one-time ticket that the
// application validates with a signed server-to-server call).
package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kinds of connectors.
const (
	KindOIDC   = "oidc"
	KindOAuth2 = "oauth2"
	KindCAS    = "cas"
	KindTicket = "ticket"
)

// KindNames are the Chinese names of the kinds.
var KindNames = map[string]string{
	KindOIDC:   "OpenID Connect",
	KindOAuth2: "OAuth2（授权码 + 用户信息）",
	KindCAS:    "CAS 2.0/3.0",
	KindTicket: "票据交换（签名校验）",
}

// Identity is a user as a partner platform asserts it.
type Identity struct {
	Subject string // stable identifier at the partner (required)
	Account string // the partner's login name, when it has one
	Name    string
	Phone   string
	IDNo    string
	// SessionRef names the partner's session (OIDC sid, CAS service ticket, ticket
	// sessionId) so that a logout on either side can end the other.
	SessionRef string
	// Token is what the partner needs to end its session at our request (the ID token
	// as id_token_hint, the OAuth2 access token); it is kept sealed.
	Token string
}

// LoginRequest is one login attempt started at zhsj.
type LoginRequest struct {
	CallbackURL string // where the partner sends the browser back
	State       string
	Nonce       string
	Verifier    string // PKCE code verifier
}

// CallbackConnector sends the browser to the partner and turns the redirect back into an
// identity.
type CallbackConnector interface {
	LoginURL(ctx context.Context, req LoginRequest) (string, error)
	HandleCallback(ctx context.Context, r *http.Request, req LoginRequest) (Identity, error)
}

// Session is a zhsj session opened through a connector, as a logout needs it.
type Session struct {
	Subject    string
	SessionRef string
	Token      string
}

// Notice is an HTTP request to deliver to a partner: GET when Form is empty, otherwise a
// form POST. Notices are queued and retried, so they are built, not sent, by connectors.
type Notice struct {
	URL  string
	Form url.Values
}

// LogoutConnector tells the partner that a session it started has ended at zhsj.
type LogoutConnector interface {
	// LogoutNotice returns the request that ends the partner's session, or nil when the
	// connector is configured without upstream logout.
	LogoutNotice(ctx context.Context, s Session) (*Notice, error)
}

// BackchannelConnector reads the partner's notice that one of its sessions has ended.
type BackchannelConnector interface {
	// ParseLogout authenticates the notice and returns the partner session references it
	// ends.
	ParseLogout(ctx context.Context, r *http.Request) ([]string, error)
}

// Connector is any connector; check the capability interfaces with a type assertion.
type Connector interface {
	Kind() string
}

// Open builds the connector of kind from its JSON configuration and secret.
func Open(kind string, config []byte, secret string, client *http.Client) (Connector, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	switch kind {
	case KindOIDC:
		return openOIDC(config, secret, client)
	case KindOAuth2:
		return openOAuth2(config, secret, client)
	case KindCAS:
		return openCAS(config, client)
	case KindTicket:
		return openTicket(config, secret, client)
	}
	return nil, fmt.Errorf("未知的连接器类型 %q（应为 oidc、oauth2、cas 或 ticket）", kind)
}

// Validate checks a configuration without contacting the partner.
func Validate(kind string, config []byte) error {
	var err error
	switch kind {
	case KindOIDC:
		var c OIDCConfig
		if err = decode(config, &c); err == nil {
			err = c.validate()
		}
	case KindOAuth2:
		var c OAuth2Config
		if err = decode(config, &c); err == nil {
			err = c.validate()
		}
	case KindCAS:
		var c CASConfig
		if err = decode(config, &c); err == nil {
			err = c.validate()
		}
	case KindTicket:
		var c TicketConfig
		if err = decode(config, &c); err == nil {
			err = c.validate()
		}
	default:
		err = fmt.Errorf("未知的连接器类型 %q（应为 oidc、oauth2、cas 或 ticket）", kind)
	}
	return err
}

func decode(config []byte, v any) error {
	if len(config) == 0 {
		config = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(config)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("连接器配置不是有效的 JSON：%v", err)
	}
	return nil
}

func needURL(field, v string) error {
	if v == "" {
		return fmt.Errorf("缺少 %s", field)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s 不是有效的 http(s) 地址：%q", field, v)
	}
	return nil
}

// Fields maps a partner's JSON user record to an identity: each value is a dotted path
// into the record ("data.user.mobile").
type Fields struct {
	Subject string `json:"subject,omitempty"`
	Account string `json:"account,omitempty"`
	Name    string `json:"name,omitempty"`
	Phone   string `json:"phone,omitempty"`
	IDNo    string `json:"id_no,omitempty"`
	Session string `json:"session,omitempty"`
}

func (f Fields) or(def Fields) Fields {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return Fields{Subject: pick(f.Subject, def.Subject), Account: pick(f.Account, def.Account), Name: pick(f.Name, def.Name),
		Phone: pick(f.Phone, def.Phone), IDNo: pick(f.IDNo, def.IDNo), Session: pick(f.Session, def.Session)}
}

// Extract applies the mapping to a decoded JSON record.
func (f Fields) Extract(rec map[string]any) (Identity, error) {
	id := Identity{Subject: Lookup(rec, f.Subject), Account: Lookup(rec, f.Account), Name: Lookup(rec, f.Name),
		Phone: Lookup(rec, f.Phone), IDNo: Lookup(rec, f.IDNo), SessionRef: Lookup(rec, f.Session)}
	if id.Subject == "" {
		return id, fmt.Errorf("合作平台返回的用户信息中没有用户标识（字段 %s）", f.Subject)
	}
	return id, nil
}

// Lookup returns the value at a dotted path as a string ("" when absent).
func Lookup(rec map[string]any, path string) string {
	if path == "" {
		return ""
	}
	var cur any = rec
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[part]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// decodeJSON reads a JSON object keeping numbers exact (user ids can exceed 2^53).
func decodeJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("合作平台返回的内容不是 JSON 对象：%v", err)
	}
	return m, nil
}

// httpError is a partner's unexpected answer.
func httpError(what string, resp *http.Response, body []byte) error {
	b := string(body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Errorf("%s 失败：HTTP %d %s", what, resp.StatusCode, b)
}

// CanStartLogin reports whether a login can start at zhsj for a connector of kind with config:
// a ticket-exchange partner without an authorize_url only sends users in from its own portal.
func CanStartLogin(kind string, config []byte) bool {
	if kind != KindTicket {
		return true
	}
	var c TicketConfig
	return json.Unmarshal(config, &c) == nil && c.AuthorizeURL != ""
}

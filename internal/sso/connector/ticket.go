package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TicketParams name the request parameters of a ticket-exchange platform.
type TicketParams struct {
	AppID     string `json:"app_id,omitempty"`     // default appId
	Ticket    string `json:"ticket,omitempty"`     // default ticket
	Timestamp string `json:"timestamp,omitempty"`  // default timestamp (milliseconds)
	Sign      string `json:"sign,omitempty"`       // default sign
	Redirect  string `json:"redirect,omitempty"`   // default redirect_uri
	SessionID string `json:"session_id,omitempty"` // default sessionId
}

func (p TicketParams) or() TicketParams {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return TicketParams{AppID: pick(p.AppID, "appId"), Ticket: pick(p.Ticket, "ticket"), Timestamp: pick(p.Timestamp, "timestamp"),
		Sign: pick(p.Sign, "sign"), Redirect: pick(p.Redirect, "redirect_uri"), SessionID: pick(p.SessionID, "sessionId")}
}

// TicketConfig configures a signed ticket-exchange partner: the browser arrives with a
// one-time ticket, and zhsj validates it by a server-to-server call signed with the app id,
// a timestamp and the shared secret (HMAC-SM3, SM3 or MD5).
type TicketConfig struct {
	// AuthorizeURL is where a login started at zhsj sends the browser to obtain a ticket
	// (app id and redirect appended). Empty: users can only arrive from the partner.
	AuthorizeURL string `json:"authorize_url,omitempty"`
	ValidateURL  string `json:"validate_url"`
	// LogoutURL receives a signed notice (appId, sessionId) when the zhsj session ends.
	LogoutURL string       `json:"logout_url,omitempty"`
	AppID     string       `json:"app_id"`
	SignAlg   string       `json:"sign_alg,omitempty"` // hmac-sm3 (default) | sm3 | md5
	Params    TicketParams `json:"params,omitempty"`
	// JSONBody posts the validation as a JSON object instead of a form.
	JSONBody bool `json:"json_body,omitempty"`
	// Fields map the validation answer; defaults: data.userId, data.account, data.name,
	// data.mobile, data.sessionId.
	Fields       Fields `json:"fields,omitempty"`
	SuccessField string `json:"success_field,omitempty"` // default code
	SuccessValue string `json:"success_value,omitempty"` // default 0
	// AcceptUnsolicited accepts tickets that arrive without a login started at zhsj (links
	// from the partner's portal). The ticket is still single use and validated.
	AcceptUnsolicited bool `json:"accept_unsolicited,omitempty"`
}

func (c *TicketConfig) validate() error {
	if err := needURL("validate_url（票据校验接口）", c.ValidateURL); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"authorize_url", c.AuthorizeURL}, {"logout_url", c.LogoutURL}} {
		if f.v != "" {
			if err := needURL(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if c.AppID == "" {
		return errors.New("缺少 app_id（在合作平台登记的应用编号）")
	}
	if c.SignAlg != "" {
		if _, ok := SignAlgs[strings.ToLower(c.SignAlg)]; !ok {
			return fmt.Errorf("不支持的签名算法 %q（应为 hmac-sm3、sm3 或 md5）", c.SignAlg)
		}
	}
	return nil
}

var defaultTicketFields = Fields{Subject: "data.userId", Account: "data.account", Name: "data.name", Phone: "data.mobile", Session: "data.sessionId"}

type ticketConnector struct {
	cfg    TicketConfig
	secret string
	client *http.Client
	now    func() time.Time
}

func openTicket(config []byte, secret string, client *http.Client) (*ticketConnector, error) {
	var c TicketConfig
	if err := decode(config, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.SignAlg == "" {
		c.SignAlg = SignHMACSM3
	}
	c.Params = c.Params.or()
	c.Fields = c.Fields.or(defaultTicketFields)
	if c.SuccessField == "" {
		c.SuccessField = "code"
	}
	if c.SuccessValue == "" {
		c.SuccessValue = "0"
	}
	return &ticketConnector{cfg: c, secret: secret, client: client, now: time.Now}, nil
}

func (c *ticketConnector) Kind() string { return KindTicket }

// AcceptsUnsolicited reports whether tickets may arrive without a login started at zhsj.
func (c *ticketConnector) AcceptsUnsolicited() bool { return c.cfg.AcceptUnsolicited }

// TicketParam is the query parameter that carries the ticket.
func (c *ticketConnector) TicketParam() string { return c.cfg.Params.Ticket }

func (c *ticketConnector) LoginURL(ctx context.Context, req LoginRequest) (string, error) {
	if c.cfg.AuthorizeURL == "" {
		return "", errors.New("该合作平台未配置登录地址（authorize_url），请从合作平台进入本系统")
	}
	u := withQuery(c.cfg.AuthorizeURL, c.cfg.Params.AppID, c.cfg.AppID)
	return withQuery(u, c.cfg.Params.Redirect, service(req)), nil
}

func (c *ticketConnector) signed(value, valueParam string) (url.Values, error) {
	ts := Timestamp(c.now())
	sign, err := Sign(c.cfg.SignAlg, c.secret, c.cfg.AppID, value, ts)
	if err != nil {
		return nil, err
	}
	p := c.cfg.Params
	return url.Values{p.AppID: {c.cfg.AppID}, valueParam: {value}, p.Timestamp: {ts}, p.Sign: {sign}}, nil
}

func (c *ticketConnector) HandleCallback(ctx context.Context, r *http.Request, req LoginRequest) (Identity, error) {
	ticket := r.URL.Query().Get(c.cfg.Params.Ticket)
	if ticket == "" {
		return Identity{}, errors.New("合作平台未提供票据")
	}
	form, err := c.signed(ticket, c.cfg.Params.Ticket)
	if err != nil {
		return Identity{}, err
	}
	var hreq *http.Request
	if c.cfg.JSONBody {
		m := map[string]string{}
		for k := range form {
			m[k] = form.Get(k)
		}
		b, _ := json.Marshal(m)
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.ValidateURL, bytes.NewReader(b))
		if err == nil {
			hreq.Header.Set("Content-Type", "application/json")
		}
	} else {
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.ValidateURL, strings.NewReader(form.Encode()))
		if err == nil {
			hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return Identity{}, err
	}
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(hreq)
	if err != nil {
		return Identity{}, fmt.Errorf("向合作平台校验票据失败：%w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	rec, err := decodeJSON(body)
	if err != nil {
		if resp.StatusCode != http.StatusOK {
			return Identity{}, httpError("票据校验", resp, body)
		}
		return Identity{}, err
	}
	if got := Lookup(rec, c.cfg.SuccessField); got != c.cfg.SuccessValue {
		msg := Lookup(rec, "message")
		if msg == "" {
			msg = Lookup(rec, "msg")
		}
		return Identity{}, fmt.Errorf("合作平台拒绝票据：%s %s", got, msg)
	}
	return c.cfg.Fields.Extract(rec)
}

func (c *ticketConnector) LogoutNotice(ctx context.Context, s Session) (*Notice, error) {
	if c.cfg.LogoutURL == "" || s.SessionRef == "" {
		return nil, nil
	}
	form, err := c.signed(s.SessionRef, c.cfg.Params.SessionID)
	if err != nil {
		return nil, err
	}
	return &Notice{URL: c.cfg.LogoutURL, Form: form}, nil
}

// ParseLogout verifies a partner's signed logout notice (appId, sessionId, timestamp, sign).
func (c *ticketConnector) ParseLogout(ctx context.Context, r *http.Request) ([]string, error) {
	p := c.cfg.Params
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	if r.PostForm.Get(p.AppID) != c.cfg.AppID {
		return nil, errors.New("appId 不符")
	}
	sid := r.PostForm.Get(p.SessionID)
	if sid == "" {
		return nil, errors.New("缺少 sessionId")
	}
	if err := VerifySign(c.cfg.SignAlg, c.secret, c.cfg.AppID, sid, r.PostForm.Get(p.Timestamp), r.PostForm.Get(p.Sign), c.now()); err != nil {
		return nil, err
	}
	return []string{sid}, nil
}

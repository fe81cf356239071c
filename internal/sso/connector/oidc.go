package connector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures an OpenID Connect partner (zhsj is its relying party).
type OIDCConfig struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes,omitempty"` // default: openid profile phone
	// Claims maps ID token / user info claims; defaults: sub, preferred_username, name,
	// phone_number, sid.
	Claims Fields `json:"claims,omitempty"`
	// SkipUpstreamLogout leaves the partner's session alone when the zhsj session ends.
	SkipUpstreamLogout bool `json:"skip_upstream_logout,omitempty"`
}

func (c *OIDCConfig) validate() error {
	if err := needURL("issuer（签发者地址）", c.Issuer); err != nil {
		return err
	}
	if c.ClientID == "" {
		return errors.New("缺少 client_id（在合作平台登记的客户端编号）")
	}
	return nil
}

var defaultOIDCClaims = Fields{Subject: "sub", Account: "preferred_username", Name: "name", Phone: "phone_number", Session: "sid"}

type oidcConnector struct {
	cfg    OIDCConfig
	secret string
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	endSess  string
}

func openOIDC(config []byte, secret string, client *http.Client) (*oidcConnector, error) {
	var c OIDCConfig
	if err := decode(config, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, "profile", "phone"}
	}
	c.Claims = c.Claims.or(defaultOIDCClaims)
	return &oidcConnector{cfg: c, secret: secret, client: client}, nil
}

func (c *oidcConnector) Kind() string { return KindOIDC }

// discover fetches (once, retrying after failures) the partner's discovery document.
func (c *oidcConnector) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.client), c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("读取合作平台 OpenID 配置失败：%w", err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	p.Claims(&extra)
	c.provider, c.endSess = p, extra.EndSession
	return p, nil
}

func (c *oidcConnector) oauth(p *oidc.Provider, callback string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.secret, Endpoint: p.Endpoint(), RedirectURL: callback, Scopes: c.cfg.Scopes}
}

func (c *oidcConnector) LoginURL(ctx context.Context, req LoginRequest) (string, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	return c.oauth(p, req.CallbackURL).AuthCodeURL(req.State, oidc.Nonce(req.Nonce), oauth2.S256ChallengeOption(req.Verifier)), nil
}

func (c *oidcConnector) HandleCallback(ctx context.Context, r *http.Request, req LoginRequest) (Identity, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("合作平台未完成登录：%s %s", e, q.Get("error_description"))
	}
	p, err := c.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, c.client)
	tok, err := c.oauth(p, req.CallbackURL).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(req.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("向合作平台换取令牌失败：%w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, errors.New("合作平台未返回 ID 令牌")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("ID 令牌校验失败：%w", err)
	}
	if idt.Nonce != req.Nonce {
		return Identity{}, errors.New("ID 令牌的 nonce 与本次登录不符")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, err
	}
	if p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("读取合作平台用户信息失败：%w", err)
		}
		if ui.Subject != idt.Subject {
			return Identity{}, errors.New("用户信息与 ID 令牌的主体不一致")
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err == nil {
			for k, v := range more {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	id, err := c.cfg.Claims.Extract(claims)
	if err != nil {
		return id, err
	}
	id.Token = raw
	return id, nil
}

// LogoutNotice asks the partner's end_session_endpoint, server to server, to end the session
// named by the ID token (OpenID Connect RP-Initiated Logout with id_token_hint).
func (c *oidcConnector) LogoutNotice(ctx context.Context, s Session) (*Notice, error) {
	if c.cfg.SkipUpstreamLogout || s.Token == "" {
		return nil, nil
	}
	if _, err := c.discover(ctx); err != nil {
		return nil, err
	}
	if c.endSess == "" {
		return nil, nil
	}
	u, err := url.Parse(c.endSess)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("id_token_hint", s.Token)
	q.Set("client_id", c.cfg.ClientID)
	u.RawQuery = q.Encode()
	return &Notice{URL: u.String()}, nil
}

// ParseLogout verifies an OpenID Connect Back-Channel Logout token and returns its sid (or
// "sub:" and the subject when the partner names no session).
func (c *oidcConnector) ParseLogout(ctx context.Context, r *http.Request) ([]string, error) {
	raw := r.PostFormValue("logout_token")
	if raw == "" {
		return nil, errors.New("缺少 logout_token")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	lt, err := p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID}).VerifyLogout(oidc.ClientContext(ctx, c.client), raw)
	if err != nil {
		return nil, fmt.Errorf("退出令牌校验失败：%w", err)
	}
	if lt.SessionID != "" {
		return []string{lt.SessionID}, nil
	}
	return []string{"sub:" + lt.Subject}, nil
}

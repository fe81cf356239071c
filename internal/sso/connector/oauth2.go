package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// OAuth2Config configures a plain OAuth2 partner: authorization code → token → user info,
// with the user record mapped by Fields (the Guangdong-style "获取授权码 → 获取token →
// 获取用户信息" integration).
type OAuth2Config struct {
	AuthorizeURL string   `json:"authorize_url"`
	TokenURL     string   `json:"token_url"`
	UserInfoURL  string   `json:"userinfo_url"`
	ClientID     string   `json:"client_id"`
	Scopes       []string `json:"scopes,omitempty"`
	// TokenInQuery sends the access token as ?access_token= instead of a Bearer header.
	TokenInQuery bool `json:"token_in_query,omitempty"`
	// AuthInBody sends client_id/client_secret in the token request body (some platforms
	// reject HTTP Basic).
	AuthInBody bool   `json:"auth_in_body,omitempty"`
	Fields     Fields `json:"fields"`
	// LogoutURL, when set, receives a form POST with access_token when the zhsj session ends.
	LogoutURL string `json:"logout_url,omitempty"`
	// PKCE adds a code challenge (when the partner supports RFC 7636).
	PKCE bool `json:"pkce,omitempty"`
}

func (c *OAuth2Config) validate() error {
	for _, f := range []struct{ name, v string }{{"authorize_url（授权地址）", c.AuthorizeURL}, {"token_url（令牌地址）", c.TokenURL}, {"userinfo_url（用户信息地址）", c.UserInfoURL}} {
		if err := needURL(f.name, f.v); err != nil {
			return err
		}
	}
	if c.LogoutURL != "" {
		if err := needURL("logout_url", c.LogoutURL); err != nil {
			return err
		}
	}
	if c.ClientID == "" {
		return errors.New("缺少 client_id（在合作平台登记的应用编号）")
	}
	if c.Fields.Subject == "" {
		return errors.New("缺少 fields.subject（用户信息中用户标识所在的字段，如 data.userId）")
	}
	return nil
}

type oauth2Connector struct {
	cfg    OAuth2Config
	secret string
	client *http.Client
}

func openOAuth2(config []byte, secret string, client *http.Client) (*oauth2Connector, error) {
	var c OAuth2Config
	if err := decode(config, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &oauth2Connector{cfg: c, secret: secret, client: client}, nil
}

func (c *oauth2Connector) Kind() string { return KindOAuth2 }

func (c *oauth2Connector) oauth(callback string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.cfg.AuthInBody {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.secret, RedirectURL: callback, Scopes: c.cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.cfg.AuthorizeURL, TokenURL: c.cfg.TokenURL, AuthStyle: style}}
}

func (c *oauth2Connector) LoginURL(ctx context.Context, req LoginRequest) (string, error) {
	var opts []oauth2.AuthCodeOption
	if c.cfg.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(req.Verifier))
	}
	return c.oauth(req.CallbackURL).AuthCodeURL(req.State, opts...), nil
}

func (c *oauth2Connector) HandleCallback(ctx context.Context, r *http.Request, req LoginRequest) (Identity, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("合作平台未完成登录：%s %s", e, q.Get("error_description"))
	}
	var opts []oauth2.AuthCodeOption
	if c.cfg.PKCE {
		opts = append(opts, oauth2.VerifierOption(req.Verifier))
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.client)
	tok, err := c.oauth(req.CallbackURL).Exchange(ctx, q.Get("code"), opts...)
	if err != nil {
		return Identity{}, fmt.Errorf("向合作平台换取令牌失败：%w", err)
	}
	u := c.cfg.UserInfoURL
	if c.cfg.TokenInQuery {
		pu, _ := url.Parse(u)
		qq := pu.Query()
		qq.Set("access_token", tok.AccessToken)
		pu.RawQuery = qq.Encode()
		u = pu.String()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Identity{}, err
	}
	if !c.cfg.TokenInQuery {
		hreq.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(hreq)
	if err != nil {
		return Identity{}, fmt.Errorf("读取合作平台用户信息失败：%w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Identity{}, httpError("读取合作平台用户信息", resp, body)
	}
	rec, err := decodeJSON(body)
	if err != nil {
		return Identity{}, err
	}
	id, err := c.cfg.Fields.Extract(rec)
	if err != nil {
		return id, err
	}
	id.Token = tok.AccessToken
	return id, nil
}

func (c *oauth2Connector) LogoutNotice(ctx context.Context, s Session) (*Notice, error) {
	if c.cfg.LogoutURL == "" || s.Token == "" {
		return nil, nil
	}
	return &Notice{URL: c.cfg.LogoutURL, Form: url.Values{"access_token": {s.Token}, "client_id": {c.cfg.ClientID}}}, nil
}

// trimSlash joins a base URL and a path.
func trimSlash(base, p string) string { return strings.TrimRight(base, "/") + p }

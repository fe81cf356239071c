package sso

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Protocols of registered relying parties.
const (
	ProtoOIDC   = "oidc"
	ProtoCAS    = "cas"
	ProtoTicket = "ticket"
)

var protocolNames = map[string]string{ProtoOIDC: "OpenID Connect", ProtoCAS: "CAS", ProtoTicket: "票据交换"}

// Scopes a client may be allowed. For CAS and ticket clients they choose the released
// attributes (profile: name, region, department; phone: the mobile number).
var knownScopes = map[string]string{
	"openid":         "OpenID 身份标识",
	"profile":        "姓名、账号、所属区划与部门",
	"phone":          "手机号",
	"offline_access": "刷新令牌（离线访问）",
}

const purposeClientSecret = "sso.client_secret"

// Client is a registered relying party: an OIDC client, a CAS service or a ticket partner.
type Client struct {
	ID                   int64     `db:"id" json:"id"`
	ClientID             string    `db:"client_id" json:"client_id"`
	Protocol             string    `db:"protocol" json:"protocol"`
	Name                 string    `db:"name" json:"name"`
	SecretHash           string    `db:"secret_hash" json:"-"`
	SecretEnc            []byte    `db:"secret_enc" json:"-"`
	SignAlg              string    `db:"sign_alg" json:"sign_alg,omitempty"`
	RedirectRaw          string    `db:"redirect_uris" json:"-"`
	PostLogoutRaw        string    `db:"post_logout_uris" json:"-"`
	ScopesRaw            string    `db:"scopes" json:"-"`
	BackchannelLogoutURI string    `db:"backchannel_logout_uri" json:"backchannel_logout_uri,omitempty"`
	ServicePrefix        string    `db:"service_prefix" json:"service,omitempty"`
	LogoutURI            string    `db:"logout_uri" json:"logout_uri,omitempty"`
	SingleLogout         bool      `db:"single_logout" json:"single_logout"`
	Status               string    `db:"status" json:"status"`
	CreatedBy            *int64    `db:"created_by" json:"-"`
	CreatedAt            time.Time `db:"created_at" json:"created_at"`
	UpdatedAt            time.Time `db:"updated_at" json:"updated_at"`

	RedirectURIs   []string `db:"-" json:"redirect_uris,omitempty"`
	PostLogoutURIs []string `db:"-" json:"post_logout_redirect_uris,omitempty"`
	Scopes         []string `db:"-" json:"scopes"`
	Confidential   bool     `db:"-" json:"confidential"`
	ProtocolName   string   `db:"-" json:"protocol_name"`
}

func (c *Client) fill() {
	c.RedirectURIs, c.PostLogoutURIs, c.Scopes = lines(c.RedirectRaw), lines(c.PostLogoutRaw), strings.Fields(c.ScopesRaw)
	c.Confidential = c.SecretHash != "" || len(c.SecretEnc) > 0
	c.ProtocolName = protocolNames[c.Protocol]
}

func (c *Client) allows(scope string) bool { return slices.Contains(c.Scopes, scope) }

// ClientInput creates or changes a client.
type ClientInput struct {
	Protocol             string   `json:"protocol"`
	ClientID             string   `json:"client_id"`
	Name                 string   `json:"name"`
	RedirectURIs         []string `json:"redirect_uris"`
	PostLogoutURIs       []string `json:"post_logout_redirect_uris"`
	Scopes               []string `json:"scopes"`
	BackchannelLogoutURI string   `json:"backchannel_logout_uri"`
	Service              string   `json:"service"`    // CAS: allowed service URL prefix; ticket: allowed redirect prefix
	LogoutURI            string   `json:"logout_uri"` // ticket: partner's logout notice API
	SignAlg              string   `json:"sign_alg"`   // ticket
	SingleLogout         *bool    `json:"single_logout"`
	// Confidential makes an OIDC client confidential: a secret is generated (and shown
	// once) unless Secret is given. Public clients must use PKCE.
	Confidential bool   `json:"confidential"`
	Secret       string `json:"secret"`
}

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$`)

func fieldErr(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	var parts []string
	for _, k := range []string{"protocol", "client_id", "name", "redirect_uris", "post_logout_redirect_uris", "scopes", "backchannel_logout_uri", "service", "logout_uri", "sign_alg", "secret"} {
		if v, ok := fields[k]; ok {
			parts = append(parts, v)
		}
	}
	e := web.Errorf(http.StatusBadRequest, "invalid_input", "%s", strings.Join(parts, "；"))
	e.Fields = fields
	return e
}

func checkURL(v string, allowQuery bool) bool {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return false
	}
	return allowQuery || u.RawQuery == ""
}

// serviceMatches reports whether service lies under prefix at a URL boundary, so that
// "https://a.gov.cn" does not admit "https://a.gov.cn.evil.com".
func serviceMatches(prefix, service string) bool {
	if prefix == "" || !strings.HasPrefix(service, prefix) {
		return false
	}
	if len(service) == len(prefix) || strings.HasSuffix(prefix, "/") {
		return true
	}
	return strings.ContainsRune("/?#", rune(service[len(prefix)]))
}

func (s *Service) validateClient(in *ClientInput, creating bool) error {
	f := map[string]string{}
	in.Protocol = strings.TrimSpace(in.Protocol)
	in.ClientID = strings.TrimSpace(in.ClientID)
	in.Name = strings.TrimSpace(in.Name)
	if _, ok := protocolNames[in.Protocol]; !ok {
		f["protocol"] = "协议须为 oidc、cas 或 ticket"
		return fieldErr(f)
	}
	if creating && in.ClientID == "" && in.Protocol == ProtoCAS {
		in.ClientID = casClientID(in.Service)
	}
	if !clientIDRE.MatchString(in.ClientID) {
		f["client_id"] = "应用编号须为 2–64 位字母、数字、点、下划线或短横线"
	}
	if in.Name == "" {
		in.Name = in.ClientID
	}
	if len([]rune(in.Name)) > 64 {
		f["name"] = "名称不超过 64 个字"
	}
	for _, sc := range in.Scopes {
		if _, ok := knownScopes[sc]; !ok {
			f["scopes"] = fmt.Sprintf("不支持的授权范围 %q（可选 openid、profile、phone、offline_access）", sc)
		}
	}
	if in.Secret != "" && len(in.Secret) < 16 {
		f["secret"] = "密钥至少 16 个字符"
	}
	switch in.Protocol {
	case ProtoOIDC:
		if len(in.RedirectURIs) == 0 {
			f["redirect_uris"] = "至少登记一个回调地址（redirect_uri）"
		}
		for _, u := range in.RedirectURIs {
			if !checkURL(u, true) && !isNativeScheme(u) {
				f["redirect_uris"] = fmt.Sprintf("回调地址 %q 无效", u)
			}
		}
		for _, u := range in.PostLogoutURIs {
			if !checkURL(u, true) {
				f["post_logout_redirect_uris"] = fmt.Sprintf("退出后跳转地址 %q 无效", u)
			}
		}
		if in.BackchannelLogoutURI != "" && !checkURL(in.BackchannelLogoutURI, true) {
			f["backchannel_logout_uri"] = "后端退出通知地址无效"
		}
		if len(in.Scopes) == 0 {
			in.Scopes = []string{"openid", "profile"}
		}
		if !slices.Contains(in.Scopes, "openid") {
			in.Scopes = append([]string{"openid"}, in.Scopes...)
		}
		if in.Secret != "" {
			in.Confidential = true
		}
	case ProtoCAS, ProtoTicket:
		if !checkURL(in.Service, true) {
			f["service"] = "须填写允许的服务地址前缀（http:// 或 https:// 开头）"
		}
		if len(in.Scopes) == 0 {
			in.Scopes = []string{"profile"}
		}
		if in.Protocol == ProtoTicket {
			if in.SignAlg == "" {
				in.SignAlg = connector.SignHMACSM3
			}
			if _, ok := connector.SignAlgs[in.SignAlg]; !ok {
				f["sign_alg"] = "签名算法须为 hmac-sm3、sm3 或 md5"
			}
			if in.LogoutURI != "" && !checkURL(in.LogoutURI, true) {
				f["logout_uri"] = "退出通知接口地址无效"
			}
		}
	}
	return fieldErr(f)
}

func isNativeScheme(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme != "" && p.Scheme != "http" && p.Scheme != "https" && p.Scheme != "javascript" && p.Scheme != "data"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// casClientID names a CAS service after its host: cas-<host>-<4 hex digits>.
func casClientID(service string) string {
	host := ""
	if u, err := url.Parse(service); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		return "cas-" + randomHex(4)
	}
	return "cas-" + host + "-" + randomHex(2)
}

func (s *Service) hashSecret(secret string) string {
	return hex.EncodeToString(s.keys.MAC(purposeClientSecret, []byte(secret)))
}

func (s *Service) checkSecret(c *Client, secret string) bool {
	return c.SecretHash != "" && secret != "" && gm.Equal([]byte(c.SecretHash), []byte(s.hashSecret(secret)))
}

func (s *Service) ticketSecret(c *Client) (string, error) {
	b, err := s.keys.Open(purposeClientSecret, c.SecretEnc)
	return string(b), err
}

const clientCols = `id, client_id, protocol, name, secret_hash, secret_enc, sign_alg, redirect_uris, post_logout_uris, scopes,
	backchannel_logout_uri, service_prefix, logout_uri, single_logout, status, created_by, created_at, updated_at`

// ListClients returns the registered clients, optionally of one protocol.
func (s *Service) ListClients(ctx context.Context, protocol string) ([]Client, error) {
	var out []Client
	q := `SELECT ` + clientCols + ` FROM sso_clients`
	var args []any
	if protocol != "" {
		q += ` WHERE protocol = ?`
		args = append(args, protocol)
	}
	if err := s.db.Select(ctx, &out, q+` ORDER BY protocol, client_id`, args...); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].fill()
	}
	return out, nil
}

// GetClient returns one client by its row id.
func (s *Service) GetClient(ctx context.Context, id int64) (*Client, error) {
	var c Client
	err := s.db.Get(ctx, &c, `SELECT `+clientCols+` FROM sso_clients WHERE id = ?`, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.fill()
	return &c, nil
}

// clientCache keeps active clients for a few seconds: the token and validation endpoints
// read them on every request; a change on another instance is seen within clientCacheTTL.
type cachedClient struct {
	c  *Client
	at time.Time
}

var clientCache sync.Map // "<db ptr>/<protocol>/<client_id>" → cachedClient

const clientCacheTTL = 5 * time.Second

func (s *Service) cacheKey(protocol, clientID string) string {
	return fmt.Sprintf("%p/%s/%s", s.db, protocol, clientID)
}

// activeClient returns the active client of protocol with clientID.
func (s *Service) activeClient(ctx context.Context, protocol, clientID string) (*Client, error) {
	key := s.cacheKey(protocol, clientID)
	if v, ok := clientCache.Load(key); ok {
		cc := v.(cachedClient)
		if time.Since(cc.at) < clientCacheTTL {
			if cc.c == nil {
				return nil, web.ErrNotFound
			}
			return cc.c, nil
		}
	}
	var c Client
	err := s.db.Get(ctx, &c, `SELECT `+clientCols+` FROM sso_clients WHERE client_id = ? AND protocol = ? AND status = 'active'`, clientID, protocol)
	if errors.Is(err, store.ErrNotFound) {
		clientCache.Store(key, cachedClient{at: time.Now()})
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.fill()
	clientCache.Store(key, cachedClient{c: &c, at: time.Now()})
	return &c, nil
}

func (s *Service) forgetClient(c *Client) { clientCache.Delete(s.cacheKey(c.Protocol, c.ClientID)) }

// casClientFor finds the active CAS client whose service prefix admits service (the longest
// prefix wins).
func (s *Service) casClientFor(ctx context.Context, service string) (*Client, error) {
	cs, err := s.ListClients(ctx, ProtoCAS)
	if err != nil {
		return nil, err
	}
	var best *Client
	for i := range cs {
		c := &cs[i]
		if c.Status == "active" && serviceMatches(c.ServicePrefix, service) && (best == nil || len(c.ServicePrefix) > len(best.ServicePrefix)) {
			best = c
		}
	}
	if best == nil {
		return nil, web.ErrNotFound
	}
	return best, nil
}

// CreateClient registers a client. For confidential OIDC clients and ticket partners it
// returns the secret, which is shown only this once.
func (s *Service) CreateClient(ctx context.Context, r *http.Request, in ClientInput) (*Client, string, error) {
	if err := s.validateClient(&in, true); err != nil {
		return nil, "", err
	}
	secret := in.Secret
	var hash string
	var enc []byte
	switch {
	case in.Protocol == ProtoOIDC && in.Confidential:
		if secret == "" {
			secret = gm.RandomToken()
		}
		hash = s.hashSecret(secret)
	case in.Protocol == ProtoTicket:
		if secret == "" {
			secret = gm.RandomToken()
		}
		var err error
		if enc, err = s.keys.Seal(purposeClientSecret, []byte(secret)); err != nil {
			return nil, "", err
		}
	default:
		secret = ""
	}
	slo := true
	if in.SingleLogout != nil {
		slo = *in.SingleLogout
	}
	var creator *int64
	if r != nil {
		if id := web.Info(r.Context()).ActorID; id != 0 {
			creator = &id
		}
	}
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM sso_clients WHERE client_id = ?`, in.ClientID); err != nil {
			return err
		}
		if n > 0 {
			return fieldErr(map[string]string{"client_id": "应用编号 " + in.ClientID + " 已被使用"})
		}
		now := s.now()
		var err error
		id, err = store.InsertID(ctx, tx, `INSERT INTO sso_clients (client_id, protocol, name, secret_hash, secret_enc, sign_alg, redirect_uris,
			post_logout_uris, scopes, backchannel_logout_uri, service_prefix, logout_uri, single_logout, status, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
			in.ClientID, in.Protocol, in.Name, hash, enc, in.SignAlg, strings.Join(in.RedirectURIs, "\n"), strings.Join(in.PostLogoutURIs, "\n"),
			strings.Join(in.Scopes, " "), in.BackchannelLogoutURI, in.Service, in.LogoutURI, slo, creator, now, now)
		if err != nil {
			return err
		}
		kind := "公开客户端（PKCE）"
		if secret != "" {
			kind = "含密钥"
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.client.create", ObjectType: "sso_client", ObjectID: in.ClientID,
			Result: "success", Detail: fmt.Sprintf("登记%s应用 %s（%s，%s）", protocolNames[in.Protocol], in.ClientID, in.Name, kind)})
	})
	if err != nil {
		return nil, "", err
	}
	c, err := s.GetClient(ctx, id)
	if c != nil {
		s.forgetClient(c)
	}
	return c, secret, err
}

// UpdateClient changes a client's settings (not its protocol, id or secret).
func (s *Service) UpdateClient(ctx context.Context, r *http.Request, id int64, in ClientInput) (*Client, error) {
	old, err := s.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	in.Protocol, in.ClientID, in.Secret = old.Protocol, old.ClientID, ""
	if err := s.validateClient(&in, false); err != nil {
		return nil, err
	}
	slo := old.SingleLogout
	if in.SingleLogout != nil {
		slo = *in.SingleLogout
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sso_clients SET name = ?, sign_alg = ?, redirect_uris = ?, post_logout_uris = ?, scopes = ?,
			backchannel_logout_uri = ?, service_prefix = ?, logout_uri = ?, single_logout = ?, updated_at = ? WHERE id = ?`,
			in.Name, in.SignAlg, strings.Join(in.RedirectURIs, "\n"), strings.Join(in.PostLogoutURIs, "\n"), strings.Join(in.Scopes, " "),
			in.BackchannelLogoutURI, in.Service, in.LogoutURI, slo, s.now(), id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.client.update", ObjectType: "sso_client", ObjectID: old.ClientID,
			Result: "success", Detail: "修改接入应用 " + old.ClientID + " 的配置"})
	})
	if err != nil {
		return nil, err
	}
	s.forgetClient(old)
	return s.GetClient(ctx, id)
}

// SetClientStatus enables or disables a client. Disabling revokes its tokens.
func (s *Service) SetClientStatus(ctx context.Context, r *http.Request, id int64, status string) error {
	if status != "active" && status != "disabled" {
		return web.Errorf(http.StatusBadRequest, "invalid_status", "状态须为 active 或 disabled")
	}
	c, err := s.GetClient(ctx, id)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE sso_clients SET status = ?, updated_at = ? WHERE id = ?`, status, now, id); err != nil {
			return err
		}
		detail := "启用接入应用 " + c.ClientID
		if status == "disabled" {
			detail = "停用接入应用 " + c.ClientID + "，其令牌全部作废"
			if _, err := tx.Exec(ctx, `UPDATE sso_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL`, now, c.ClientID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.client.status", ObjectType: "sso_client", ObjectID: c.ClientID, Result: "success", Detail: detail})
	})
	s.forgetClient(c)
	return err
}

// ResetClientSecret issues a new secret (returned once); the old one stops working.
func (s *Service) ResetClientSecret(ctx context.Context, r *http.Request, id int64) (string, error) {
	c, err := s.GetClient(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Protocol == ProtoCAS {
		return "", web.Errorf(http.StatusBadRequest, "no_secret", "CAS 服务不使用密钥")
	}
	secret := gm.RandomToken()
	hash, enc := "", []byte(nil)
	if c.Protocol == ProtoOIDC {
		hash = s.hashSecret(secret)
	} else if enc, err = s.keys.Seal(purposeClientSecret, []byte(secret)); err != nil {
		return "", err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sso_clients SET secret_hash = ?, secret_enc = ?, updated_at = ? WHERE id = ?`, hash, enc, s.now(), id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.client.secret", ObjectType: "sso_client", ObjectID: c.ClientID,
			Result: "success", Detail: "重置接入应用 " + c.ClientID + " 的密钥"})
	})
	s.forgetClient(c)
	return secret, err
}

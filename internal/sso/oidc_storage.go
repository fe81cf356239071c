package sso

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// authRequest is an authorization request of the code flow, stored as JSON.
type authRequest struct {
	ID                  string            `json:"-"`
	ClientID            string            `json:"client_id"`
	RedirectURI         string            `json:"redirect_uri"`
	State               string            `json:"state,omitempty"`
	Nonce               string            `json:"nonce,omitempty"`
	Scopes              []string          `json:"scopes"`
	ResponseType        oidc.ResponseType `json:"response_type"`
	ResponseMode        oidc.ResponseMode `json:"response_mode,omitempty"`
	Prompt              []string          `json:"prompt,omitempty"`
	MaxAge              *uint             `json:"max_age,omitempty"`
	CodeChallenge       string            `json:"code_challenge,omitempty"`
	CodeChallengeMethod string            `json:"code_challenge_method,omitempty"`
	Issuer              string            `json:"issuer"`

	CreatedAt time.Time `json:"-"`
	UserID    int64     `json:"-"`
	SessionID string    `json:"-"`
	AuthTime  time.Time `json:"-"`
	IsDone    bool      `json:"-"`
}

func (a *authRequest) GetID() string         { return a.ID }
func (a *authRequest) GetACR() string        { return "" }
func (a *authRequest) GetAMR() []string      { return nil }
func (a *authRequest) GetAudience() []string { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.AuthTime
}
func (a *authRequest) GetClientID() string { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return subject(a.UserID) }
func (a *authRequest) Done() bool                         { return a.IsDone }
func (a *authRequest) zhsjSession() string                { return a.SessionID }

func subject(uid int64) string {
	if uid == 0 {
		return ""
	}
	return strconv.FormatInt(uid, 10)
}

// tokenRow is a stored access or refresh token.
type tokenRow struct {
	ID        string     `db:"id"`
	Kind      string     `db:"kind"`
	Family    string     `db:"family"`
	ClientID  string     `db:"client_id"`
	UserID    int64      `db:"user_id"`
	SessionID string     `db:"session_id"`
	Scopes    string     `db:"scopes"`
	Audience  string     `db:"audience"`
	AMR       string     `db:"amr"`
	AuthTime  *time.Time `db:"auth_time"`
	ExpiresAt time.Time  `db:"expires_at"`
	RevokedAt *time.Time `db:"revoked_at"`
}

const tokenCols = `id, kind, family, client_id, user_id, session_id, scopes, audience, amr, auth_time, expires_at, revoked_at`

// refreshRequest is a refresh token presented at the token endpoint.
type refreshRequest struct {
	row    tokenRow
	scopes []string
}

func (r *refreshRequest) GetAMR() []string      { return strings.Fields(r.row.AMR) }
func (r *refreshRequest) GetAudience() []string { return strings.Fields(r.row.Audience) }
func (r *refreshRequest) GetAuthTime() time.Time {
	if r.row.AuthTime == nil {
		return time.Time{}
	}
	return *r.row.AuthTime
}
func (r *refreshRequest) GetClientID() string              { return r.row.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return subject(r.row.UserID) }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }
func (r *refreshRequest) zhsjSession() string              { return r.row.SessionID }

type sessionBound interface{ zhsjSession() string }

// oidcClient adapts a registered client to zitadel's op.Client.
type oidcClient struct{ c *Client }

func (c *oidcClient) GetID() string                    { return c.c.ClientID }
func (c *oidcClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *oidcClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutURIs }
func (c *oidcClient) ApplicationType() op.ApplicationType {
	if c.c.Confidential {
		return op.ApplicationTypeWeb
	}
	return op.ApplicationTypeNative // public: PKCE, loopback or custom-scheme redirects allowed
}
func (c *oidcClient) AuthMethod() oidc.AuthMethod {
	if c.c.Confidential {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}
func (c *oidcClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *oidcClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *oidcClient) LoginURL(id string) string            { return "/sso/oidc/continue?id=" + id }
func (c *oidcClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *oidcClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *oidcClient) DevMode() bool                        { return false }
func (c *oidcClient) IsScopeAllowed(scope string) bool     { return c.c.allows(scope) }
func (c *oidcClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *oidcClient) ClockSkew() time.Duration             { return 0 }
func (c *oidcClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *oidcClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// storage implements zitadel's op.Storage on the database.
type storage struct{ s *Service }

// createAuthRequest stores a validated request; with a live session that needs no new
// login it is stored already approved by that session.
func (st storage) createAuthRequest(ctx context.Context, req *oidc.AuthRequest, issuer string, p *iam.Principal, authTime time.Time) (*authRequest, error) {
	s := st.s
	a := &authRequest{ID: randomID(18), ClientID: req.ClientID, RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		Scopes: req.Scopes, ResponseType: req.ResponseType, ResponseMode: req.ResponseMode, MaxAge: req.MaxAge,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod), Issuer: issuer, CreatedAt: s.now()}
	for _, pr := range req.Prompt {
		a.Prompt = append(a.Prompt, pr)
	}
	var uid *int64
	if p != nil {
		a.UserID, a.SessionID, a.AuthTime, a.IsDone = p.UserID, p.SessionID, authTime, true
		uid = &p.UserID
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	var at *time.Time
	if !a.AuthTime.IsZero() {
		at = &a.AuthTime
	}
	_, err = s.db.Exec(ctx, `INSERT INTO sso_auth_requests (id, client_id, request, user_id, session_id, auth_time, done, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.ClientID, string(b), uid, a.SessionID, at, a.IsDone, a.CreatedAt, a.CreatedAt.Add(s.opt.AuthRequestTTL))
	return a, err
}

type authRow struct {
	ID        string     `db:"id"`
	Request   string     `db:"request"`
	UserID    *int64     `db:"user_id"`
	SessionID string     `db:"session_id"`
	AuthTime  *time.Time `db:"auth_time"`
	Done      bool       `db:"done"`
	CreatedAt time.Time  `db:"created_at"`
	ExpiresAt time.Time  `db:"expires_at"`
}

func (r authRow) decode() (*authRequest, error) {
	var a authRequest
	if err := json.Unmarshal([]byte(r.Request), &a); err != nil {
		return nil, err
	}
	a.ID, a.SessionID, a.IsDone, a.CreatedAt = r.ID, r.SessionID, r.Done, r.CreatedAt
	if r.UserID != nil {
		a.UserID = *r.UserID
	}
	if r.AuthTime != nil {
		a.AuthTime = *r.AuthTime
	}
	return &a, nil
}

const authCols = `id, request, user_id, session_id, auth_time, done, created_at, expires_at`

func (st storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	return st.createAuthRequest(ctx, req, op.IssuerFromContext(ctx), nil, time.Time{})
}

func (st storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return st.authRequestByID(ctx, id)
}

func (st storage) authRequestByID(ctx context.Context, id string) (*authRequest, error) {
	var row authRow
	if err := st.s.db.Get(ctx, &row, `SELECT `+authCols+` FROM sso_auth_requests WHERE id = ?`, id); err != nil {
		return nil, err
	}
	if !row.ExpiresAt.After(st.s.now()) {
		return nil, errors.New("authorization request expired")
	}
	return row.decode()
}

// approve marks a waiting request as approved by session p.
func (st storage) approve(ctx context.Context, id string, p *iam.Principal, authTime time.Time) error {
	res, err := st.s.db.Exec(ctx, `UPDATE sso_auth_requests SET done = TRUE, user_id = ?, session_id = ?, auth_time = ? WHERE id = ? AND done = FALSE AND expires_at > ?`,
		p.UserID, p.SessionID, authTime, id, st.s.now())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errors.New("authorization request expired or already used")
	}
	return nil
}

// AuthRequestByCode claims the request of a code atomically: a code works once, also under
// concurrent redemption on several instances.
func (st storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	var row authRow
	err := st.s.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.Get(ctx, &row, `DELETE FROM sso_auth_requests WHERE code_hash = ? RETURNING `+authCols, hashToken(code))
	})
	if err != nil {
		return nil, err
	}
	if !row.ExpiresAt.After(st.s.now()) || !row.Done {
		return nil, errors.New("code expired")
	}
	return row.decode()
}

// SaveAuthCode stores the code's hash. The client becomes a participant of the zhsj
// session (for back-channel logout) and the sign-in to it is audited.
func (st storage) SaveAuthCode(ctx context.Context, id, code string) error {
	s := st.s
	a, err := st.authRequestByID(ctx, id)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE sso_auth_requests SET code_hash = ?, expires_at = ? WHERE id = ? AND done = TRUE AND code_hash IS NULL`,
			hashToken(code), s.now().Add(s.opt.CodeTTL), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errors.New("authorization request already has a code")
		}
		if err := s.joinOIDC(ctx, tx, a); err != nil {
			return err
		}
		c, _ := s.activeClient(ctx, ProtoOIDC, a.ClientID)
		name := a.ClientID
		if c != nil {
			name = c.Name
		}
		return s.record(ctx, tx, nil, audit.Entry{Kind: audit.KindLogin, ActorID: a.UserID, Actor: accountOf(ctx, tx, a.UserID),
			Action: "sso.oidc.authorize", ObjectType: "sso_client", ObjectID: a.ClientID, Result: "success",
			Detail: "单点登录到应用 " + name + "（OpenID Connect）"})
	})
}

func (st storage) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := st.s.db.Exec(ctx, `DELETE FROM sso_auth_requests WHERE id = ?`, id)
	return err
}

// grant is what a token needs from the request it is issued for.
type grant struct {
	clientID, sessionID string
	userID              int64
	scopes, audience    []string
	amr                 []string
	authTime            time.Time
}

func grantOf(req op.TokenRequest) (grant, error) {
	g := grant{scopes: req.GetScopes(), audience: req.GetAudience()}
	uid, err := strconv.ParseInt(req.GetSubject(), 10, 64)
	if err != nil {
		return g, fmt.Errorf("invalid subject %q", req.GetSubject())
	}
	g.userID = uid
	switch r := req.(type) {
	case *authRequest:
		g.clientID, g.sessionID, g.authTime = r.ClientID, r.SessionID, r.AuthTime
	case *refreshRequest:
		g.clientID, g.sessionID, g.amr, g.authTime = r.row.ClientID, r.row.SessionID, r.GetAMR(), r.GetAuthTime()
	default:
		return g, fmt.Errorf("unsupported token request %T", req)
	}
	return g, nil
}

// tokenValues returns the placeholders and arguments of one sso_tokens row.
func (s *Service) tokenValues(id, kind, hash, family string, g grant, exp time.Time) (string, []any) {
	var h any
	if hash != "" {
		h = hash
	}
	var at *time.Time
	if !g.authTime.IsZero() {
		at = &g.authTime
	}
	return "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", []any{id, kind, h, family, g.clientID, g.userID, g.sessionID,
		strings.Join(g.scopes, " "), strings.Join(g.audience, " "), strings.Join(g.amr, " "), at, s.now(), exp}
}

const insertTokens = `INSERT INTO sso_tokens (id, kind, token_hash, family, client_id, user_id, session_id, scopes, audience, amr, auth_time, created_at, expires_at) VALUES `

func (st storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	s := st.s
	g, err := grantOf(req)
	if err != nil {
		return "", time.Time{}, err
	}
	id, exp := randomID(18), s.now().Add(s.opt.AccessTTL)
	ph, args := s.tokenValues(id, "access", "", "", g, exp)
	_, err = s.db.Exec(ctx, insertTokens+ph, args...)
	return id, exp, err
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token. On a refresh it
// rotates: the presented refresh token is consumed atomically (a second use fails) and the
// new one keeps the family's absolute expiry.
//
// Only the refresh token is stored: the access token's id names its refresh token and expiry
// ("r.<refresh id>.<expiry ms>"; zitadel seals it into the bearer token with AES-GCM), and it
// is valid while its family holds a live refresh token, so logout, revocation and reuse
// detection end it too.
func (st storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s := st.s
	g, err := grantOf(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	refreshID, refresh := randomID(18), gm.RandomToken()
	accessExp := now.Add(s.opt.AccessTTL)
	family, familyExp := refreshID, now.Add(s.opt.RefreshTTL)
	err = s.storeTokens(ctx, current, family, familyExp, func(fam string, exp time.Time) []any {
		family, familyExp = fam, exp
		if accessExp.After(exp) {
			accessExp = exp
		}
		_, a := s.tokenValues(refreshID, "refresh", hashToken(refresh), fam, g, exp)
		return a
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	accessID := "r." + refreshID + "." + strconv.FormatInt(accessExp.UnixMilli(), 10)
	row := tokenRow{ID: refreshID, Kind: "refresh", Family: family, ClientID: g.clientID, UserID: g.userID, SessionID: g.sessionID,
		Scopes: strings.Join(g.scopes, " "), Audience: strings.Join(g.audience, " "), AMR: strings.Join(g.amr, " "), ExpiresAt: familyExp}
	if !g.authTime.IsZero() {
		at := g.authTime
		row.AuthTime = &at
	}
	s.rememberRefresh(hashToken(refresh), row)
	return accessID, refresh, accessExp, nil
}

// TokenRequestByRefreshToken loads a live refresh token. Presenting one that was already
// rotated is treated as theft: the whole family is revoked (OAuth 2.0 Security BCP §4.14).
func (st storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	s := st.s
	row, ok := s.cachedRefresh(hashToken(token))
	if !ok {
		if err := s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE token_hash = ? AND kind = 'refresh'`, hashToken(token)); err != nil {
			return nil, errors.New("invalid refresh token")
		}
	}
	if row.RevokedAt != nil {
		if _, err := s.db.Exec(ctx, `UPDATE sso_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`, s.now(), row.Family); err != nil {
			return nil, err
		}
		return nil, errors.New("refresh token reused; family revoked")
	}
	if !row.ExpiresAt.After(s.now()) {
		return nil, errors.New("refresh token expired")
	}
	return &refreshRequest{row: row, scopes: strings.Fields(row.Scopes)}, nil
}

func (st storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	_, err := st.TerminateSessionFromRequest(ctx, &op.EndSessionRequest{UserID: userID, ClientID: clientID})
	return err
}

// TerminateSessionFromRequest ends a zhsj session at a relying party's request: the browser's
// own session, or (server to server, as a partner zhsj does it) the session the
// id_token_hint's sid names.
func (st storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	s := st.s
	hr, w := requestOf(ctx)
	var hinted string
	var hintedUser int64
	if req.IDTokenHintClaims != nil && req.IDTokenHintClaims.SessionID != "" {
		var pt struct {
			SessionID string `db:"session_id"`
			UserID    int64  `db:"user_id"`
		}
		if err := s.db.Get(ctx, &pt, `SELECT session_id, user_id FROM sso_participants WHERE sid = ? AND protocol = 'oidc' AND client_id = ? ORDER BY id DESC LIMIT 1`,
			req.IDTokenHintClaims.SessionID, req.ClientID); err == nil {
			hinted, hintedUser = pt.SessionID, pt.UserID
		}
	}
	var browser *iam.Principal
	if hr != nil {
		browser = s.session(hr)
	}
	switch {
	case browser != nil && (hinted == "" || hinted == browser.SessionID):
		if err := s.iam.Logout(ctx, hr, browser); err != nil {
			return "", err
		}
		if w != nil {
			s.iam.ClearSessionCookie(w)
		}
	case hinted != "":
		s.endSession(ctx, hr, hinted, hintedUser, "应用 "+req.ClientID+" 请求退出（RP-Initiated Logout）")
	}
	return req.RedirectURI, nil
}

func (st storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	s := st.s
	var row tokenRow
	var err error
	if rest, ok := strings.CutPrefix(tokenOrID, "r."); ok && userID != "" {
		// An access token issued with a refresh token: revoking it revokes its family
		// (RFC 7009 §2.1 allows revoking the respective refresh token as well).
		id, _, _ := strings.Cut(rest, ".")
		err = s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE id = ? AND kind = 'refresh'`, id)
	} else if userID != "" {
		err = s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE id = ? AND kind = 'access'`, tokenOrID)
	} else {
		err = s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE token_hash = ? AND kind = 'refresh'`, hashToken(tokenOrID))
	}
	if err != nil {
		return nil // unknown tokens count as revoked (RFC 7009)
	}
	if row.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
	}
	q, arg := `UPDATE sso_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, row.ID
	if row.Kind == "refresh" {
		q, arg = `UPDATE sso_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`, row.Family
	}
	if _, err := s.db.Exec(ctx, q, s.now(), arg); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (st storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	var row tokenRow
	if err := st.s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE token_hash = ? AND kind = 'refresh'`, hashToken(token)); err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return subject(row.UserID), row.ID, nil
}

func (st storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, _, err := st.s.signing.get(ctx)
	return k, err
}

func (st storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{signingAlg}, nil
}

func (st storage) KeySet(ctx context.Context) ([]op.Key, error) {
	_, pub, err := st.s.signing.get(ctx)
	out := make([]op.Key, len(pub))
	for i, k := range pub {
		out[i] = k
	}
	return out, err
}

func (st storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, err := st.s.activeClient(ctx, ProtoOIDC, clientID)
	if err != nil {
		if errors.Is(err, web.ErrNotFound) {
			return nil, errors.New("client not found")
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &oidcClient{c: c}, nil
}

func (st storage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	c, err := st.s.activeClient(ctx, ProtoOIDC, clientID)
	if err != nil {
		return errors.New("client not found")
	}
	if !st.s.checkSecret(c, secret) {
		return errors.New("invalid client secret")
	}
	return nil
}

func (st storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims, with the session id (sid) that
// back-channel logout names.
func (st storage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	uid, err := strconv.ParseInt(req.GetSubject(), 10, 64)
	if err != nil {
		return err
	}
	if err := st.s.setUserinfo(ctx, ui, uid, scopes); err != nil {
		return err
	}
	if sb, ok := req.(sessionBound); ok && sb.zhsjSession() != "" {
		ui.AppendClaims("sid", st.s.oidcSID(sb.zhsjSession()))
	}
	return nil
}

func (st storage) liveAccessToken(ctx context.Context, id string) (*tokenRow, error) {
	if rest, ok := strings.CutPrefix(id, "r."); ok {
		return st.liveFamilyAccess(ctx, rest)
	}
	var row tokenRow
	if err := st.s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens WHERE id = ? AND kind = 'access'`, id); err != nil {
		return nil, errors.New("token is invalid")
	}
	if row.RevokedAt != nil || !row.ExpiresAt.After(st.s.now()) {
		return nil, errors.New("token is revoked or expired")
	}
	return &row, nil
}

// liveFamilyAccess checks an access token issued with a refresh token: unexpired, and its
// family still holds a live refresh token.
func (st storage) liveFamilyAccess(ctx context.Context, rest string) (*tokenRow, error) {
	refreshID, expStr, ok := strings.Cut(rest, ".")
	ms, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil {
		return nil, errors.New("token is invalid")
	}
	now := st.s.now()
	exp := time.UnixMilli(ms).UTC()
	if !exp.After(now) {
		return nil, errors.New("token is expired")
	}
	var row tokenRow
	if err := st.s.db.Get(ctx, &row, `SELECT `+tokenCols+` FROM sso_tokens t WHERE t.id = ? AND t.kind = 'refresh' AND EXISTS
		(SELECT 1 FROM sso_tokens l WHERE l.family = t.family AND l.kind = 'refresh' AND l.revoked_at IS NULL AND l.expires_at > ?)`, refreshID, now); err != nil {
		return nil, errors.New("token is revoked or expired")
	}
	row.Kind, row.RevokedAt, row.ExpiresAt = "access", nil, exp
	return &row, nil
}

func (st storage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	row, err := st.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	return st.s.setUserinfo(ctx, ui, row.UserID, strings.Fields(row.Scopes))
}

func (st storage) SetIntrospectionFromToken(ctx context.Context, in *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	row, err := st.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if row.ClientID != clientID && !slices.Contains(strings.Fields(row.Audience), clientID) {
		return errors.New("token is not valid for this client")
	}
	ui := new(oidc.UserInfo)
	scopes := strings.Fields(row.Scopes)
	if err := st.s.setUserinfo(ctx, ui, row.UserID, scopes); err != nil {
		return err
	}
	in.SetUserInfo(ui)
	in.Scope, in.ClientID, in.Expiration = scopes, row.ClientID, oidc.FromTime(row.ExpiresAt)
	return nil
}

func (st storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (st storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (st storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (st storage) Health(ctx context.Context) error {
	var n int
	return st.s.db.Get(ctx, &n, `SELECT 1`)
}

// userClaims is what relying parties may learn about a user.
type userClaims struct {
	Account    string `db:"account"`
	Name       string `db:"name"`
	PhoneEnc   []byte `db:"phone_enc"`
	RegionCode string `db:"region_code"`
	RegionName string `db:"region_name"`
	DeptName   string `db:"dept_name"`
	Status     string `db:"status"`
}

func (s *Service) userClaims(ctx context.Context, q store.Q, uid int64) (*userClaims, error) {
	var u userClaims
	err := q.Get(ctx, &u, `SELECT u.account, u.name, u.phone_enc, u.region_code, r.name AS region_name, COALESCE(d.name, '') AS dept_name, u.status
		FROM users u JOIN regions r ON r.code = u.region_code LEFT JOIN departments d ON d.id = u.dept_id WHERE u.id = ?`, uid)
	return &u, err
}

func (s *Service) phone(u *userClaims) string {
	if len(u.PhoneEnc) == 0 {
		return ""
	}
	b, err := s.keys.Open(gm.PurposePhone, u.PhoneEnc)
	if err != nil {
		return ""
	}
	return string(b)
}

// claimsTTL bounds how stale cached user claims may be (names and regions rarely change; a
// disabled user's tokens are revoked with their sessions anyway).
const claimsTTL = 5 * time.Second

type cachedClaims struct {
	u  *userClaims
	at time.Time
}

func (s *Service) setUserinfo(ctx context.Context, ui *oidc.UserInfo, uid int64, scopes []string) error {
	var u *userClaims
	if v, ok := s.claims.Load(uid); ok && time.Since(v.(cachedClaims).at) < claimsTTL {
		u = v.(cachedClaims).u
	} else {
		var err error
		if u, err = s.userClaims(ctx, s.db, uid); err != nil {
			return err
		}
		s.claims.Store(uid, cachedClaims{u: u, at: time.Now()})
	}
	if u.Status != "active" {
		return errors.New("user is disabled")
	}
	ui.Subject = subject(uid)
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			ui.Name, ui.PreferredUsername = u.Name, u.Account
			ui.AppendClaims("region_code", u.RegionCode)
			ui.AppendClaims("region_name", u.RegionName)
			ui.AppendClaims("dept_name", u.DeptName)
		case oidc.ScopePhone:
			if ph := s.phone(u); ph != "" {
				ui.PhoneNumber = ph
			}
		}
	}
	return nil
}

// oidcSID is the sid claim of a zhsj session: stable for the session, not the session id.
func (s *Service) oidcSID(sessionID string) string {
	return hex.EncodeToString(s.keys.MAC("sso.oidc.sid", []byte(sessionID)))[:32]
}

// joinOIDC records the client as a participant of the request's zhsj session (once).
func (s *Service) joinOIDC(ctx context.Context, tx *store.Tx, a *authRequest) error {
	var n int
	if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM sso_participants WHERE session_id = ? AND client_id = ? AND protocol = 'oidc' AND ended_at IS NULL`,
		a.SessionID, a.ClientID); err != nil || n > 0 {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO sso_participants (session_id, user_id, protocol, client_id, sid, service, created_at) VALUES (?, ?, 'oidc', ?, ?, ?, ?)`,
		a.SessionID, a.UserID, a.ClientID, s.oidcSID(a.SessionID), a.Issuer, s.now())
	return err
}

func accountOf(ctx context.Context, q store.Q, uid int64) string {
	var a string
	q.Get(ctx, &a, `SELECT account FROM users WHERE id = ?`, uid)
	return a
}

type reqKey struct{}

type reqPair struct {
	r *http.Request
	w http.ResponseWriter
}

// withRequest lets storage callbacks reach the HTTP exchange (end_session clears the cookie).
func withRequest(w http.ResponseWriter, r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), reqKey{}, reqPair{r: r, w: w}))
}

func requestOf(ctx context.Context) (*http.Request, http.ResponseWriter) {
	p, _ := ctx.Value(reqKey{}).(reqPair)
	return p.r, p.w
}

package sso

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"zhsj/internal/iam"
	"zhsj/internal/web"
)

// newProvider builds the OpenID provider. Its endpoints live under /oidc/ and discovery at
// the server root; the issuer is BaseURL (or the request's host in development).
func (s *Service) newProvider() (*op.Provider, error) {
	var key [32]byte
	copy(key[:], s.keys.MAC("sso.oidc.crypto", []byte("v1")))
	cfg := &op.Config{
		CryptoKey:                         key,
		CryptoKeyId:                       "v1",
		DefaultLogoutRedirectURI:          "/login",
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
		SupportedUILocales:                []language.Tag{language.SimplifiedChinese},
		SupportedScopes:                   []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopePhone, oidc.ScopeOfflineAccess},
	}
	issuer := func(bool) (op.IssuerFromRequest, error) { return s.baseURL, nil }
	return op.NewProvider(cfg, storage{s}, issuer,
		op.WithCustomEndpoints(op.NewEndpoint("oidc/authorize"), op.NewEndpoint("oidc/token"), op.NewEndpoint("oidc/userinfo"),
			op.NewEndpoint("oidc/revoke"), op.NewEndpoint("oidc/end_session"), op.NewEndpoint("oidc/keys")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint("oidc/introspect")))
}

func (s *Service) store() storage { return storage{s} }

func (s *Service) oidcRoutes() []web.Route {
	h := func(w http.ResponseWriter, r *http.Request) { s.provider.ServeHTTP(w, r) }
	return []web.Route{
		{Method: "GET", Pattern: "/.well-known/openid-configuration", Permission: web.Public, Summary: "OpenID Connect 发现文档", Handler: h, CrossOrigin: true},
		{Method: "GET", Pattern: "/oidc/authorize", Permission: web.Public, Summary: "OpenID Connect 授权端点（已登录时直接返回授权码）", Handler: s.oidcAuthorize},
		{Method: "POST", Pattern: "/oidc/token", Permission: web.Public, Summary: "OpenID Connect 令牌端点（授权码、刷新令牌）", Handler: h, CrossOrigin: true},
		{Method: "GET", Pattern: "/oidc/userinfo", Permission: web.Public, Summary: "OpenID Connect 用户信息", Handler: h, CrossOrigin: true},
		{Method: "POST", Pattern: "/oidc/userinfo", Permission: web.Public, Summary: "OpenID Connect 用户信息（POST）", Handler: h, CrossOrigin: true},
		{Method: "GET", Pattern: "/oidc/keys", Permission: web.Public, Summary: "OpenID Connect 签名公钥（JWKS）", Handler: h, CrossOrigin: true},
		{Method: "GET", Pattern: "/oidc/end_session", Permission: web.Public, Summary: "OpenID Connect 退出端点", Handler: func(w http.ResponseWriter, r *http.Request) {
			s.provider.ServeHTTP(w, withRequest(w, r))
		}},
		{Method: "POST", Pattern: "/oidc/revoke", Permission: web.Public, Summary: "OpenID Connect 令牌撤销", Handler: h, CrossOrigin: true},
		{Method: "POST", Pattern: "/oidc/introspect", Permission: web.Public, Summary: "OpenID Connect 令牌内省", Handler: h, CrossOrigin: true},
		{Method: "GET", Pattern: "/sso/oidc/continue", Permission: web.LoggedIn, Summary: "登录后继续应用的授权请求", Handler: s.oidcContinue},
		{Method: "GET", Pattern: "/sso/reauth", Permission: web.LoggedIn, Summary: "应用要求重新验证身份", Handler: s.pageReauth},
		{Method: "POST", Pattern: "/sso/reauth", Permission: web.LoggedIn, Summary: "重新验证身份提交", Handler: s.postReauth},
	}
}

func hasPrompt(prompts []string, p ...string) bool {
	for _, x := range prompts {
		if slices.Contains(p, x) {
			return true
		}
	}
	return false
}

// oidcAuthorize is the authorization endpoint: zitadel's parsing and validation, then, with
// a live zhsj session that satisfies prompt and max_age, the code goes straight back to the
// client in this one redirect; otherwise the browser goes through the normal login.
func (s *Service) oidcAuthorize(w http.ResponseWriter, r *http.Request) {
	issuer := s.baseURL(r)
	ctx := op.ContextWithIssuer(r.Context(), issuer)
	r = r.WithContext(ctx)
	p := s.provider
	req, err := op.ParseAuthorizeRequest(r, p.Decoder())
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p)
		return
	}
	if req.ClientID == "" || req.RedirectURI == "" {
		op.AuthRequestError(w, r, nil, oidc.ErrInvalidRequest().WithDescription("client_id and redirect_uri are required"), p)
		return
	}
	cl, err := s.store().GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		op.AuthRequestError(w, r, nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id"), p)
		return
	}
	if _, err := op.ValidateAuthRequestClient(ctx, req, cl, p.IDTokenHintVerifier(ctx)); err != nil {
		op.AuthRequestError(w, r, req, err, p)
		return
	}
	c := cl.(*oidcClient).c
	switch {
	case req.RequestParam != "":
		op.AuthRequestError(w, r, req, oidc.ErrRequestNotSupported(), p)
		return
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery:
		op.AuthRequestError(w, r, req, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported"), p)
		return
	case !c.Confidential && (req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256):
		op.AuthRequestError(w, r, req, oidc.ErrInvalidRequest().WithDescription("public clients must use PKCE with S256"), p)
		return
	}
	req.Scopes = slices.DeleteFunc(req.Scopes, func(sc string) bool { return !c.allows(sc) })
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		op.AuthRequestError(w, r, req, oidc.ErrInvalidScope().WithDescription("scope openid is required"), p)
		return
	}
	sess := s.session(r)
	var authTime time.Time
	fresh := false
	if sess != nil && !sess.MustChange && !hasPrompt(req.Prompt, oidc.PromptLogin, oidc.PromptSelectAccount) {
		authTime = s.sessionCreated(ctx, sess.SessionID)
		fresh = req.MaxAge == nil || !authTime.Add(time.Duration(*req.MaxAge)*time.Second).Before(s.now())
	}
	if !fresh && hasPrompt(req.Prompt, oidc.PromptNone) {
		op.AuthRequestError(w, r, req, oidc.ErrLoginRequired(), p)
		return
	}
	if !fresh {
		sess = nil
	}
	a, err := s.store().createAuthRequest(ctx, req, issuer, sess, authTime)
	if err != nil {
		op.AuthRequestError(w, r, req, oidc.DefaultToServerError(err, "unable to save auth request"), p)
		return
	}
	if !fresh {
		http.Redirect(w, r, "/sso/oidc/continue?id="+a.ID, http.StatusFound)
		return
	}
	back, err := op.BuildAuthResponseCallbackURL(ctx, a, p)
	if err != nil {
		op.AuthRequestError(w, r, a, err, p)
		return
	}
	http.Redirect(w, r, back, http.StatusFound)
}

// oidcContinue completes a waiting authorization request once the user has logged in.
func (s *Service) oidcContinue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	id := r.URL.Query().Get("id")
	if id == "" {
		s.infoPage(w, r, "没有待继续的登录", "此页面用于应用登录时继续授权，请从需要登录的应用进入。")
		return
	}
	a, err := s.store().authRequestByID(ctx, id)
	if err != nil || a.IsDone {
		s.errorPage(w, r, http.StatusBadRequest, "登录请求已失效", "该登录请求已过期或已使用，请回到应用重新发起登录。")
		return
	}
	authTime := s.sessionCreated(ctx, p.SessionID)
	if hasPrompt(a.Prompt, oidc.PromptLogin, oidc.PromptSelectAccount) || a.MaxAge != nil {
		ok := !authTime.Before(a.CreatedAt) ||
			(a.MaxAge != nil && !hasPrompt(a.Prompt, oidc.PromptLogin, oidc.PromptSelectAccount) && !authTime.Add(time.Duration(*a.MaxAge)*time.Second).Before(s.now()))
		if !ok {
			http.Redirect(w, r, "/sso/reauth?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
	}
	if err := s.store().approve(ctx, a.ID, p, authTime); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "登录请求已失效", "该登录请求已过期或已使用，请回到应用重新发起登录。")
		return
	}
	a.UserID, a.SessionID, a.AuthTime, a.IsDone = p.UserID, p.SessionID, authTime, true
	back, err := op.BuildAuthResponseCallbackURL(op.ContextWithIssuer(ctx, a.Issuer), a, s.provider)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.sendBack(w, r, back)
}

// sendBack redirects the browser to a relying party. When the request comes from our own
// login form (Sec-Fetch-Site: same-origin), a page that navigates on its own replaces the
// redirect: browsers apply the login page's CSP form-action 'self' to every redirect that
// follows a form submission, which would block a cross-site one.
func (s *Service) sendBack(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("Sec-Fetch-Site") != "same-origin" || s.pages == nil {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	s.pages.Render(w, r, "sso_continue.html", web.PageData{Title: "正在返回应用", Data: template.URL(target)})
}

type reauthPage struct {
	Account, Next, Error string
}

func (s *Service) pageReauth(w http.ResponseWriter, r *http.Request) {
	p := iam.FromContext(r.Context())
	s.pages.Render(w, r, "sso_reauth.html", web.PageData{Title: "重新验证身份",
		Data: reauthPage{Account: p.Account, Next: safeNext(r.URL.Query().Get("next"))}})
}

// postReauth checks the password again (the normal login) and continues with the new session.
func (s *Service) postReauth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "bad_form", "表单无效"))
		return
	}
	account, next := r.PostForm.Get("account"), safeNext(r.PostForm.Get("next"))
	res, err := s.iam.Login(r.Context(), r, account, r.PostForm.Get("password"))
	if err != nil {
		status, msg := http.StatusUnauthorized, "验证失败"
		var we *web.Error
		if errors.As(err, &we) {
			status, msg = we.Status, we.Message
		}
		s.pages.RenderStatus(w, r, status, "sso_reauth.html", web.PageData{Title: "重新验证身份", Data: reauthPage{Account: account, Next: next, Error: msg}})
		return
	}
	s.iam.SetSessionCookie(w, res)
	if res.MustChangePassword {
		next = "/account/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logoutToken signs an OpenID Connect Back-Channel Logout token for a client.
func (s *Service) logoutToken(ctx context.Context, issuer, clientID string, uid int64, sid string) (string, error) {
	k, _, err := s.signing.get(ctx)
	if err != nil {
		return "", err
	}
	claims := oidc.NewLogoutTokenClaims(issuer, subject(uid), oidc.Audience{clientID}, s.now().Add(10*time.Minute), randomID(16), sid, 0)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	return crypto.Sign(claims, signer)
}

package sso

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/web"
)

// Routes returns every route of the module.
func (s *Service) Routes() []web.Route {
	var out []web.Route
	for _, g := range [][]web.Route{s.oidcRoutes(), s.casRoutes(), s.ticketRoutes(), s.connectorRoutes(), s.apiRoutes(), s.pageRoutes()} {
		out = append(out, g...)
	}
	return out
}

func (s *Service) apiRoutes() []web.Route {
	const rd, wr = "security.sso.read", "security.sso.write"
	return []web.Route{
		{Method: "GET", Pattern: "/api/v1/sso/clients", Permission: rd, Summary: "接入应用列表（OIDC、CAS、票据交换）", Handler: s.apiListClients},
		{Method: "POST", Pattern: "/api/v1/sso/clients", Permission: wr, Summary: "登记接入应用", Handler: s.apiCreateClient},
		{Method: "GET", Pattern: "/api/v1/sso/clients/{id}", Permission: rd, Summary: "接入应用详情", Handler: s.apiGetClient},
		{Method: "PUT", Pattern: "/api/v1/sso/clients/{id}", Permission: wr, Summary: "修改接入应用", Handler: s.apiUpdateClient},
		{Method: "POST", Pattern: "/api/v1/sso/clients/{id}/status", Permission: wr, Summary: "启用或停用接入应用", Handler: s.apiClientStatus},
		{Method: "POST", Pattern: "/api/v1/sso/clients/{id}/secret", Permission: wr, Summary: "重置接入应用密钥", Handler: s.apiClientSecret},
		{Method: "GET", Pattern: "/api/v1/sso/connectors", Permission: rd, Summary: "合作平台连接列表", Handler: s.apiListConnectors},
		{Method: "POST", Pattern: "/api/v1/sso/connectors", Permission: wr, Summary: "新增合作平台连接", Handler: s.apiCreateConnector},
		{Method: "GET", Pattern: "/api/v1/sso/connectors/{id}", Permission: rd, Summary: "合作平台连接详情", Handler: s.apiGetConnector},
		{Method: "PUT", Pattern: "/api/v1/sso/connectors/{id}", Permission: wr, Summary: "修改合作平台连接", Handler: s.apiUpdateConnector},
		{Method: "GET", Pattern: "/api/v1/sso/bindings", Permission: rd, Summary: "账号绑定列表", Handler: s.apiListBindings},
		{Method: "POST", Pattern: "/api/v1/sso/bindings/{id}/approve", Permission: wr, Summary: "批准账号绑定", Handler: s.apiApproveBinding},
		{Method: "POST", Pattern: "/api/v1/sso/bindings/{id}/reject", Permission: wr, Summary: "驳回账号绑定", Handler: s.apiRejectBinding},
		{Method: "DELETE", Pattern: "/api/v1/sso/bindings/{id}", Permission: wr, Summary: "解除账号绑定", Handler: s.apiDeleteBinding},
		{Method: "GET", Pattern: "/api/v1/sso/keys", Permission: rd, Summary: "OpenID 签名密钥列表", Handler: s.apiListKeys},
		{Method: "POST", Pattern: "/api/v1/sso/keys/rotate", Permission: wr, Summary: "立即轮换 OpenID 签名密钥", Handler: s.apiRotateKeys},
		{Method: "GET", Pattern: "/api/v1/sso/partners", Permission: web.LoggedIn, Summary: "可免登录前往的合作平台", Handler: s.apiPartners},
	}
}

func (s *Service) pageRoutes() []web.Route {
	const rd, wr = "security.sso.read", "security.sso.write"
	return []web.Route{
		{Method: "GET", Pattern: "/admin/sso/clients", Permission: rd, Summary: "接入应用管理", Handler: s.pageClients},
		{Method: "GET", Pattern: "/admin/sso/clients/new", Permission: wr, Summary: "登记接入应用", Handler: s.pageClientForm},
		{Method: "GET", Pattern: "/admin/sso/clients/{id}", Permission: rd, Summary: "接入应用详情", Handler: s.pageClientForm},
		{Method: "GET", Pattern: "/admin/sso/connectors", Permission: rd, Summary: "合作平台连接管理", Handler: s.pageConnectors},
		{Method: "GET", Pattern: "/admin/sso/connectors/new", Permission: wr, Summary: "新增合作平台连接", Handler: s.pageConnectorForm},
		{Method: "GET", Pattern: "/admin/sso/connectors/{id}", Permission: rd, Summary: "合作平台连接配置", Handler: s.pageConnectorForm},
		{Method: "GET", Pattern: "/admin/sso/bindings", Permission: rd, Summary: "账号绑定审核", Handler: s.pageBindings},
	}
}

// strList accepts a JSON array of strings or one string with one value per line (forms).
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	var arr []string
	if err := json.Unmarshal(b, &arr); err == nil {
		*l = arr
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = lines(one)
	return nil
}

// jsonText accepts a JSON object or a string holding one (a textarea).
type jsonText json.RawMessage

func (j *jsonText) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		if strings.TrimSpace(str) == "" {
			str = "{}"
		}
		*j = jsonText(str)
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

type clientBody struct {
	Protocol             string  `json:"protocol"`
	ClientID             string  `json:"client_id"`
	Name                 string  `json:"name"`
	RedirectURIs         strList `json:"redirect_uris"`
	PostLogoutURIs       strList `json:"post_logout_redirect_uris"`
	Scopes               strList `json:"scopes"`
	BackchannelLogoutURI string  `json:"backchannel_logout_uri"`
	Service              string  `json:"service"`
	LogoutURI            string  `json:"logout_uri"`
	SignAlg              string  `json:"sign_alg"`
	SingleLogout         *bool   `json:"single_logout"`
	Confidential         bool    `json:"confidential"`
	Secret               string  `json:"secret"`
}

func (b clientBody) input() ClientInput {
	return ClientInput{Protocol: b.Protocol, ClientID: b.ClientID, Name: b.Name, RedirectURIs: b.RedirectURIs, PostLogoutURIs: b.PostLogoutURIs,
		Scopes: b.Scopes, BackchannelLogoutURI: b.BackchannelLogoutURI, Service: b.Service, LogoutURI: b.LogoutURI, SignAlg: b.SignAlg,
		SingleLogout: b.SingleLogout, Confidential: b.Confidential, Secret: b.Secret}
}

func (s *Service) apiListClients(w http.ResponseWriter, r *http.Request) {
	cs, err := s.ListClients(r.Context(), r.URL.Query().Get("protocol"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(cs))
}

func (s *Service) apiCreateClient(w http.ResponseWriter, r *http.Request) {
	var in clientBody
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	c, secret, err := s.CreateClient(r.Context(), r, in.input())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	msg := "已登记接入应用 " + c.ClientID
	if secret != "" {
		msg += "。密钥（只显示这一次，请立即交给对方妥善保存）：" + secret
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": c.ID, "client": c, "secret": secret, "message": msg})
}

func (s *Service) clientByPath(w http.ResponseWriter, r *http.Request) *Client {
	id, err := web.PathInt64(r, "id")
	if err == nil {
		var c *Client
		if c, err = s.GetClient(r.Context(), id); err == nil {
			return c
		}
	}
	web.Fail(w, r, err)
	return nil
}

func (s *Service) apiGetClient(w http.ResponseWriter, r *http.Request) {
	if c := s.clientByPath(w, r); c != nil {
		web.JSON(w, http.StatusOK, c)
	}
}

func (s *Service) apiUpdateClient(w http.ResponseWriter, r *http.Request) {
	c := s.clientByPath(w, r)
	if c == nil {
		return
	}
	var in clientBody
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	out, err := s.UpdateClient(r.Context(), r, c.ID, in.input())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

func (s *Service) apiClientStatus(w http.ResponseWriter, r *http.Request) {
	c := s.clientByPath(w, r)
	if c == nil {
		return
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := s.SetClientStatus(r.Context(), r, c.ID, in.Status); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Service) apiClientSecret(w http.ResponseWriter, r *http.Request) {
	c := s.clientByPath(w, r)
	if c == nil {
		return
	}
	secret, err := s.ResetClientSecret(r.Context(), r, c.ID)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"secret": secret, "message": "新密钥（只显示这一次）：" + secret})
}

type connectorBody struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Kind           string   `json:"kind"`
	RegionCode     string   `json:"region_code"`
	Enabled        *bool    `json:"enabled"`
	Config         jsonText `json:"config"`
	Secret         string   `json:"secret"`       // empty keeps the stored secret
	ClearSecret    bool     `json:"clear_secret"` // removes it
	BindingRule    string   `json:"binding_rule"`
	OutboundURL    string   `json:"outbound_url"`
	OutboundClient string   `json:"outbound_client"`
	Sort           *int     `json:"sort"`
}

func (b connectorBody) input() ConnectorInput {
	in := ConnectorInput{ID: b.ID, Name: b.Name, Kind: b.Kind, RegionCode: b.RegionCode, Enabled: b.Enabled, Config: json.RawMessage(b.Config),
		BindingRule: b.BindingRule, OutboundURL: b.OutboundURL, OutboundClient: b.OutboundClient, Sort: b.Sort}
	switch {
	case b.ClearSecret:
		empty := ""
		in.Secret = &empty
	case b.Secret != "":
		in.Secret = &b.Secret
	}
	return in
}

func (s *Service) apiListConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := s.ListConnectors(r.Context(), iam.FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(cs))
}

func (s *Service) apiCreateConnector(w http.ResponseWriter, r *http.Request) {
	var in connectorBody
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	p := iam.FromContext(r.Context())
	if _, err := s.GetConnector(r.Context(), nil, in.ID); err == nil {
		web.Fail(w, r, connectorErr(map[string]string{"id": "连接编号 " + in.ID + " 已存在"}))
		return
	}
	c, err := s.SaveConnector(r.Context(), r, p, in.input())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": c.ID, "connector": c})
}

func (s *Service) apiGetConnector(w http.ResponseWriter, r *http.Request) {
	c, err := s.GetConnector(r.Context(), iam.FromContext(r.Context()), r.PathValue("id"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, c)
}

func (s *Service) apiUpdateConnector(w http.ResponseWriter, r *http.Request) {
	p := iam.FromContext(r.Context())
	old, err := s.GetConnector(r.Context(), p, r.PathValue("id"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in connectorBody
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	in.ID = old.ID
	c, err := s.SaveConnector(r.Context(), r, p, in.input())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": c.ID, "connector": c, "message": "已保存"})
}

func bindingFilter(r *http.Request) BindingFilter {
	q := r.URL.Query()
	return BindingFilter{Status: q.Get("status"), Connector: q.Get("connector"), Q: q.Get("q")}
}

func (s *Service) apiListBindings(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	out, err := s.ListBindings(r.Context(), iam.FromContext(r.Context()), bindingFilter(r), pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

func (s *Service) bindingAction(w http.ResponseWriter, r *http.Request, f func(id int64) error) {
	id, err := web.PathInt64(r, "id")
	if err == nil {
		err = f(id)
	}
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Service) apiApproveBinding(w http.ResponseWriter, r *http.Request) {
	s.bindingAction(w, r, func(id int64) error {
		var in struct {
			Account string `json:"account"`
		}
		if err := web.Decode(r, &in); err != nil {
			return err
		}
		return s.ApproveBinding(r.Context(), r, iam.FromContext(r.Context()), id, in.Account)
	})
}

func (s *Service) apiRejectBinding(w http.ResponseWriter, r *http.Request) {
	s.bindingAction(w, r, func(id int64) error { return s.RejectBinding(r.Context(), r, iam.FromContext(r.Context()), id) })
}

func (s *Service) apiDeleteBinding(w http.ResponseWriter, r *http.Request) {
	s.bindingAction(w, r, func(id int64) error { return s.DeleteBinding(r.Context(), r, iam.FromContext(r.Context()), id) })
}

func (s *Service) apiListKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.ListKeys(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(ks))
}

func (s *Service) apiRotateKeys(w http.ResponseWriter, r *http.Request) {
	kid, err := s.RotateKeys(r.Context(), r, "管理员手动轮换")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"kid": kid, "message": "已轮换，新密钥 " + kid})
}

// Partner is an outbound link as users see it.
type Partner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

func (s *Service) partners(r *http.Request) ([]Partner, error) {
	var rows []ConnectorRow
	if err := s.db.Select(r.Context(), &rows, connectorSelect+` WHERE c.enabled = TRUE AND c.outbound_url <> '' ORDER BY c.sort, c.id`); err != nil {
		return nil, err
	}
	out := []Partner{}
	for _, c := range rows {
		out = append(out, Partner{ID: c.ID, Name: c.Name, URL: "/sso/go/" + c.ID})
	}
	return out, nil
}

func (s *Service) apiPartners(w http.ResponseWriter, r *http.Request) {
	ps, err := s.partners(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(ps))
}

// ---- pages ----

func (s *Service) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	if s.pages == nil || web.WantsJSON(r) {
		web.Fail(w, r, web.Errorf(status, "sso_error", "%s：%s", title, msg))
		return
	}
	s.pages.RenderStatus(w, r, status, "sso_error.html", web.PageData{Title: title, Data: msg})
}

// infoPage explains a protocol address opened without its parameters.
func (s *Service) infoPage(w http.ResponseWriter, r *http.Request, title, msg string) {
	s.pages.Render(w, r, "sso_info.html", web.PageData{Title: title, Data: msg})
}

func crumbs(c ...web.Crumb) []web.Crumb { return append([]web.Crumb{{Title: "统一身份"}}, c...) }

func (s *Service) pageClients(w http.ResponseWriter, r *http.Request) {
	cs, err := s.ListClients(r.Context(), "")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ks, err := s.ListKeys(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.pages.Render(w, r, "sso_clients.html", web.PageData{Title: "接入应用", Crumbs: crumbs(web.Crumb{Title: "接入应用"}),
		Data: map[string]any{"Clients": cs, "Keys": ks, "Base": s.baseURL(r)}})
}

func (s *Service) pageClientForm(w http.ResponseWriter, r *http.Request) {
	var c *Client
	if r.PathValue("id") != "" {
		if c = s.clientByPath(w, r); c == nil {
			return
		}
	}
	title := "登记接入应用"
	if c != nil {
		title = "接入应用 " + c.ClientID
	}
	has := map[string]bool{}
	if c != nil {
		for _, sc := range c.Scopes {
			has[sc] = true
		}
	} else {
		has["openid"], has["profile"] = true, true
	}
	s.pages.Render(w, r, "sso_client_form.html", web.PageData{Title: title, Crumbs: crumbs(web.Crumb{Title: "接入应用", Path: "/admin/sso/clients"}, web.Crumb{Title: title}),
		Data: map[string]any{"Client": c, "Scopes": knownScopes, "Has": has, "SignAlgs": connector.SignAlgs, "Base": s.baseURL(r)}})
}

func (s *Service) pageConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := s.ListConnectors(r.Context(), iam.FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.pages.Render(w, r, "sso_connectors.html", web.PageData{Title: "平台连接", Crumbs: crumbs(web.Crumb{Title: "平台连接"}),
		Data: map[string]any{"Connectors": cs, "Base": s.baseURL(r)}})
}

func (s *Service) pageConnectorForm(w http.ResponseWriter, r *http.Request) {
	p := iam.FromContext(r.Context())
	var c *ConnectorRow
	if id := r.PathValue("id"); id != "" {
		var err error
		if c, err = s.GetConnector(r.Context(), p, id); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	regions, err := iam.ListRegions(r.Context(), s.db, p.Region)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	title := "新增合作平台连接"
	if c != nil {
		title = c.Name
	}
	tickets, _ := s.ListClients(r.Context(), ProtoTicket)
	s.pages.Render(w, r, "sso_connector_form.html", web.PageData{Title: title, Crumbs: crumbs(web.Crumb{Title: "平台连接", Path: "/admin/sso/connectors"}, web.Crumb{Title: title}),
		Data: map[string]any{"C": c, "Kinds": connector.KindNames, "Rules": ruleNames, "Regions": regions, "Tickets": tickets, "Base": s.baseURL(r),
			"Examples": connectorExamples}})
}

// connectorExamples are configuration templates shown beside the form.
var connectorExamples = map[string]string{
	connector.KindOIDC:   `{"issuer":"https://idp.example.gov.cn","client_id":"zhsj"}`,
	connector.KindOAuth2: `{"authorize_url":"https://idp.example.gov.cn/oauth/authorize","token_url":"https://idp.example.gov.cn/oauth/token","userinfo_url":"https://idp.example.gov.cn/oauth/userinfo","client_id":"zhsj","fields":{"subject":"data.userId","account":"data.loginName","name":"data.userName","phone":"data.mobile"}}`,
	connector.KindCAS:    `{"server_url":"https://cas.example.gov.cn/cas","version":"3"}`,
	connector.KindTicket: `{"authorize_url":"https://portal.example.gov.cn/sso/ticket/authorize","validate_url":"https://portal.example.gov.cn/sso/ticket/validate","logout_url":"https://portal.example.gov.cn/sso/ticket/logout","app_id":"zhsj","sign_alg":"hmac-sm3"}`,
}

func (s *Service) pageBindings(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := bindingFilter(r)
	if _, ok := r.URL.Query()["status"]; !ok {
		f.Status = "pending"
	}
	p := iam.FromContext(r.Context())
	list, err := s.ListBindings(r.Context(), p, f, pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	cs, err := s.ListConnectors(r.Context(), p)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	prev, next := web.PageLinks(r.URL, pg, list.Total)
	s.pages.Render(w, r, "sso_bindings.html", web.PageData{Title: "账号绑定", Crumbs: crumbs(web.Crumb{Title: "账号绑定"}),
		Data: map[string]any{"List": list, "Filter": f, "Connectors": cs, "Prev": prev, "Next": next}})
}

func (s *Service) pagePartners(w http.ResponseWriter, r *http.Request) {
	ps, err := s.partners(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.pages.Render(w, r, "sso_partners.html", web.PageData{Title: "合作平台", Crumbs: crumbs(web.Crumb{Title: "合作平台"}), Data: ps})
}

// LoginLinks lists the enabled partner platforms one can log in with; the login page shows
// them under its forms and /sso/login lists them on their own.
func (s *Service) LoginLinks(ctx context.Context, next string) []iam.LoginLink {
	var rows []ConnectorRow
	if err := s.db.Select(ctx, &rows, connectorSelect+` WHERE c.enabled = TRUE ORDER BY c.sort, c.id`); err != nil {
		s.log.Warn("sso: partner login links", "err", err)
		return nil
	}
	var out []iam.LoginLink
	for _, c := range rows {
		if !connector.CanStartLogin(c.Kind, []byte(c.ConfigRaw)) {
			continue
		}
		out = append(out, iam.LoginLink{Name: c.Name, URL: "/sso/connectors/" + c.ID + "/login?next=" + url.QueryEscape(safeNext(next))})
	}
	return out
}

// pageConnectorLogin lists the partner platforms one can log in with.
func (s *Service) pageConnectorLogin(w http.ResponseWriter, r *http.Request) {
	s.pages.Render(w, r, "sso_login.html", web.PageData{Title: "合作平台账号登录", Data: s.LoginLinks(r.Context(), r.URL.Query().Get("next"))})
}

func itoa(n int) string { return strconv.Itoa(n) }

package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// stateCookie binds a connector login to the browser that started it (login CSRF).
const stateCookie = "zhsj_sso_state"

func (s *Service) connectorRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/sso/login", Permission: web.Public, Summary: "使用合作平台账号登录（入口列表）", Handler: s.pageConnectorLogin},
		{Method: "GET", Pattern: "/sso/connectors/{id}/login", Permission: web.Public, Summary: "跳转到合作平台登录", Handler: s.connLogin},
		{Method: "GET", Pattern: "/sso/connectors/{id}/callback", Permission: web.Public, Summary: "合作平台登录回调", Handler: s.connCallback},
		{Method: "POST", Pattern: "/sso/connectors/{id}/callback", Permission: web.Public, Summary: "合作平台单点退出通知（CAS logoutRequest）", Handler: s.connLogout},
		{Method: "POST", Pattern: "/sso/connectors/{id}/logout", Permission: web.Public, Summary: "合作平台后端退出通知（OIDC 退出令牌、签名通知）", Handler: s.connLogout},
		{Method: "GET", Pattern: "/sso/go/{id}", Permission: web.LoggedIn, Summary: "免登录前往合作平台", Handler: s.connOutbound},
		{Method: "GET", Pattern: "/sso/partners", Permission: web.LoggedIn, Summary: "合作平台入口", Handler: s.pagePartners},
	}
}

func (s *Service) callbackURL(r *http.Request, id string) string {
	return s.baseURL(r) + "/sso/connectors/" + id + "/callback"
}

// connLogin starts a login at a partner platform.
func (s *Service) connLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	conn, row, err := s.connector(ctx, id, true)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, "合作平台未启用", "该合作平台连接不存在或尚未启用，请联系安全管理员。")
		return
	}
	cb, ok := conn.(connector.CallbackConnector)
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "不支持跳转登录", row.Name+" 不支持从本系统发起登录。")
		return
	}
	state, nonce, verifier := randomID(24), randomID(16), randomID(32)
	next := safeNext(r.URL.Query().Get("next"))
	now := s.now()
	if _, err := s.db.Exec(ctx, `INSERT INTO sso_states (state_hash, connector_id, nonce, verifier, next, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hashToken(state), id, nonce, verifier, next, now, now.Add(s.opt.AuthRequestTTL)); err != nil {
		web.Fail(w, r, err)
		return
	}
	target, err := cb.LoginURL(ctx, connector.LoginRequest{CallbackURL: s.callbackURL(r, id), State: state, Nonce: nonce, Verifier: verifier})
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, "无法连接合作平台", err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/sso/connectors/" + id + "/", HttpOnly: true,
		Secure: strings.HasPrefix(s.baseURL(r), "https://"), SameSite: http.SameSiteLaxMode, MaxAge: int(s.opt.AuthRequestTTL.Seconds())})
	http.Redirect(w, r, target, http.StatusFound)
}

// connCallback finishes a partner login: it checks the state, lets the connector validate
// the partner's answer, maps the partner user to a local account and opens a zhsj session.
func (s *Service) connCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	conn, row, err := s.connector(ctx, id, true)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, "合作平台未启用", "该合作平台连接不存在或尚未启用，请联系安全管理员。")
		return
	}
	cb, ok := conn.(connector.CallbackConnector)
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "不支持跳转登录", row.Name+" 不支持回调登录。")
		return
	}
	fail := func(status int, msg string) {
		s.record(ctx, s.db, r, audit.Entry{Kind: audit.KindLogin, Action: "sso.connector.login", ObjectType: "sso_connector", ObjectID: id,
			Result: "failure", Detail: row.Name + "：" + msg, RegionCode: row.RegionCode})
		s.errorPage(w, r, status, "合作平台登录未完成", msg)
	}
	state := r.URL.Query().Get("state")
	req := connector.LoginRequest{CallbackURL: s.callbackURL(r, id), State: state}
	next := "/"
	switch {
	case state != "":
		ck, err := r.Cookie(stateCookie)
		if err != nil || !gm.Equal([]byte(ck.Value), []byte(state)) {
			fail(http.StatusBadRequest, "登录状态校验失败（请在同一浏览器中完成登录，或重新发起登录）")
			return
		}
		var st struct {
			Nonce    string `db:"nonce"`
			Verifier string `db:"verifier"`
			Next     string `db:"next"`
		}
		now := s.now()
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			return tx.Get(ctx, &st, `DELETE FROM sso_states WHERE state_hash = ? AND connector_id = ? AND expires_at > ? RETURNING nonce, verifier, next`,
				hashToken(state), id, now)
		})
		if err != nil {
			fail(http.StatusBadRequest, "登录请求已过期或已使用，请重新发起登录")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/sso/connectors/" + id + "/", MaxAge: -1, HttpOnly: true})
		req.Nonce, req.Verifier, next = st.Nonce, st.Verifier, safeNext(st.Next)
	default:
		if u, ok := conn.(interface{ AcceptsUnsolicited() bool }); !ok || !u.AcceptsUnsolicited() {
			fail(http.StatusBadRequest, "缺少登录状态参数，请从本系统重新发起登录")
			return
		}
	}
	ident, err := cb.HandleCallback(ctx, r, req)
	if err != nil {
		fail(http.StatusBadGateway, err.Error())
		return
	}
	b, err := s.bind(ctx, r, row, ident)
	if err != nil {
		var we *web.Error
		if errors.As(err, &we) {
			fail(we.Status, we.Message)
			return
		}
		web.Fail(w, r, err)
		return
	}
	if b.Status != "active" {
		s.pages.RenderStatus(w, r, http.StatusAccepted, "sso_pending.html", web.PageData{Title: "账号绑定待审核", Data: map[string]any{
			"Connector": row.Name, "Name": ident.Name, "Status": b.Status}})
		return
	}
	// Already logged in here as that user (e.g. back from the partner we were opened from):
	// keep the session; a new login would replace it and end the partner sessions it holds.
	if cur := s.session(r); cur != nil && cur.UserID == *b.UserID {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	res, err := s.iam.LoginAs(ctx, r, *b.UserID, "单点登录："+row.Name)
	if err != nil {
		var we *web.Error
		if errors.As(err, &we) {
			s.errorPage(w, r, we.Status, "无法登录", we.Message)
			return
		}
		web.Fail(w, r, err)
		return
	}
	up, _ := json.Marshal(upstream{Subject: ident.Subject, Ref: ident.SessionRef, Token: ident.Token})
	sealed, err := s.keys.Seal(purposeUpstream, up)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ref := ""
	if ident.SessionRef != "" {
		ref = hashToken(ident.SessionRef)
	}
	now := s.now()
	if err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sso_inbound_sessions (session_id, connector_id, binding_id, user_id, upstream_ref, upstream_enc, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, res.SessionID, id, b.ID, *b.UserID, ref, sealed, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE sso_bindings SET last_login_at = ? WHERE id = ?`, now, b.ID)
		return err
	}); err != nil {
		web.Fail(w, r, err)
		return
	}
	s.iam.SetSessionCookie(w, res)
	if res.MustChangePassword {
		next = "/account/password"
	}
	http.Redirect(w, r, next, http.StatusFound)
}

// connLogout receives a partner's notice that one of its sessions ended (OIDC back-channel
// logout token, CAS logoutRequest, signed ticket notice) and ends the zhsj sessions opened
// from it.
func (s *Service) connLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	conn, row, err := s.connector(ctx, id, false)
	if err != nil {
		web.Fail(w, r, web.ErrNotFound)
		return
	}
	bc, ok := conn.(connector.BackchannelConnector)
	if !ok {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "unsupported", "该连接不支持退出通知"))
		return
	}
	refs, err := bc.ParseLogout(ctx, r)
	if err != nil {
		s.record(ctx, s.db, r, audit.Entry{Kind: audit.KindLogin, Actor: id, Action: "sso.logout.backchannel", ObjectType: "sso_connector", ObjectID: id,
			Result: "denied", Detail: row.Name + " 的退出通知未通过校验：" + err.Error(), RegionCode: row.RegionCode})
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "invalid_logout", "%s", err.Error()))
		return
	}
	n := 0
	for _, ref := range refs {
		var rows []inboundRow
		if sub, ok := strings.CutPrefix(ref, "sub:"); ok {
			err = s.db.Select(ctx, &rows, `SELECT i.session_id, i.connector_id, i.user_id, i.upstream_enc FROM sso_inbound_sessions i
				JOIN sso_bindings b ON b.id = i.binding_id WHERE i.connector_id = ? AND b.subject = ? AND i.ended_at IS NULL`, id, sub)
		} else {
			err = s.db.Select(ctx, &rows, `SELECT session_id, connector_id, user_id, upstream_enc FROM sso_inbound_sessions
				WHERE connector_id = ? AND upstream_ref = ? AND ended_at IS NULL`, id, hashToken(ref))
		}
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		for _, in := range rows {
			// Mark it ended first: the partner's session is gone, so our logout must not
			// send a notice back upstream.
			if _, err := s.db.Exec(ctx, `UPDATE sso_inbound_sessions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL`, s.now(), in.SessionID); err != nil {
				web.Fail(w, r, err)
				return
			}
			if s.endSession(ctx, r, in.SessionID, in.UserID, row.Name+" 通知用户已退出") {
				n++
			}
		}
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true, "ended": n})
}

// Binding is a partner user's link to a local account.
type Binding struct {
	ID          int64      `db:"id" json:"id"`
	ConnectorID string     `db:"connector_id" json:"connector_id"`
	Connector   string     `db:"connector_name" json:"connector_name"`
	Subject     string     `db:"subject" json:"subject"`
	ExtAccount  string     `db:"ext_account" json:"ext_account"`
	ExtName     string     `db:"ext_name" json:"ext_name"`
	PhoneMask   string     `db:"phone_mask" json:"phone_mask"`
	IDNoMask    string     `db:"id_no_mask" json:"id_no_mask"`
	UserID      *int64     `db:"user_id" json:"user_id"`
	Account     *string    `db:"account" json:"account"`
	UserName    *string    `db:"user_name" json:"user_name"`
	Status      string     `db:"status" json:"status"`
	MatchedBy   string     `db:"matched_by" json:"matched_by"`
	RegionCode  string     `db:"region_code" json:"region_code"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	DecidedAt   *time.Time `db:"decided_at" json:"decided_at"`
	LastLoginAt *time.Time `db:"last_login_at" json:"last_login_at"`
}

func normPhone(p string) string {
	var b strings.Builder
	for _, c := range p {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	d := b.String()
	if len(d) == 13 && strings.HasPrefix(d, "86") {
		d = d[2:]
	}
	return d
}

func maskPhone(p string) string {
	if len(p) < 7 {
		return ""
	}
	return p[:3] + "****" + p[len(p)-4:]
}

// notAdmin keeps the three administrators (三员) out of partner bindings: their login needs
// the password (and, per 等保, a second factor), never another platform's word.
const notAdmin = `NOT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = users.id AND r.admin_kind <> '')`

// bind finds or creates the binding of a partner user. An unknown user is matched by the
// connector's rule (same account, same mobile number or same citizen ID number, only when
// exactly one active account matches); otherwise the binding waits for an administrator's
// approval. The ID number is normalised as iam stores it (15 digits → 18, x → X, full-width
// folded) and compared through its blind index; an invalid one matches nothing.
func (s *Service) bind(ctx context.Context, r *http.Request, row *ConnectorRow, id connector.Identity) (*Binding, error) {
	get := func() (*Binding, error) {
		var b Binding
		err := s.db.Get(ctx, &b, bindingSelect+` WHERE b.connector_id = ? AND b.subject = ?`, row.ID, id.Subject)
		if err != nil {
			return nil, err
		}
		return &b, nil
	}
	b, err := get()
	if err == nil {
		switch b.Status {
		case "active":
			return b, nil
		case "rejected":
			return nil, web.Errorf(http.StatusForbidden, "binding_rejected", "您在%s的账号与本系统账号的绑定申请已被驳回，请联系安全管理员", row.Name)
		}
		return b, nil // pending
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	phone := normPhone(id.Phone)
	idMask := ""
	if idno, err := iam.NormalizeIDNo(id.IDNo); err == nil {
		idMask = iam.MaskIDNo(idno)
	}
	var matches []int64
	matchedBy := ""
	err = nil
	switch row.BindingRule {
	case RuleAccount:
		if id.Account != "" {
			err = s.db.Select(ctx, &matches, `SELECT id FROM users WHERE account = ? AND status = 'active' AND `+notAdmin, id.Account)
			matchedBy = RuleAccount
		}
	case RulePhone:
		if len(phone) == 11 {
			err = s.db.Select(ctx, &matches, `SELECT id FROM users WHERE phone_idx = ? AND status = 'active' AND `+notAdmin, gm.BlindIndex(s.keys, gm.PurposePhone, phone))
			matchedBy = RulePhone
		}
	case RuleIDNo:
		if idno, nerr := iam.NormalizeIDNo(id.IDNo); nerr == nil {
			err = s.db.Select(ctx, &matches, `SELECT id FROM users WHERE id_no_idx = ? AND status = 'active' AND `+notAdmin, iam.IDNoIndex(s.keys, idno))
			matchedBy = RuleIDNo
		}
	}
	if err != nil {
		return nil, err
	}
	status := "pending"
	var uid *int64
	if len(matches) == 1 {
		status, uid = "active", &matches[0]
	} else {
		matchedBy = ""
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		res, err := tx.Exec(ctx, `INSERT INTO sso_bindings (connector_id, subject, ext_account, ext_name, phone_mask, id_no_mask, user_id, status, matched_by, region_code, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connector_id, subject) DO NOTHING`,
			row.ID, id.Subject, truncate(id.Account, 64), truncate(id.Name, 64), maskPhone(phone), idMask, uid, status, matchedBy, row.RegionCode, now, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a concurrent callback created it
		}
		if status == "active" {
			return s.record(ctx, tx, r, audit.Entry{Kind: audit.KindOperation, ActorID: *uid, Actor: accountOf(ctx, tx, *uid), Action: "security.sso.binding.auto",
				ObjectType: "sso_binding", ObjectID: row.ID + "/" + id.Subject, Result: "success", RegionCode: row.RegionCode,
				Detail: fmt.Sprintf("%s 用户 %s 按规则（%s）自动绑定到本系统账号", row.Name, id.Subject, ruleNames[row.BindingRule])})
		}
		if err := events.Publish(ctx, tx, "sso.binding.requested", map[string]any{"connector": row.ID, "region": row.RegionCode}); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Kind: audit.KindOperation, Actor: row.ID + ":" + id.Subject, Action: "security.sso.binding.request",
			ObjectType: "sso_binding", ObjectID: row.ID + "/" + id.Subject, Result: "success", RegionCode: row.RegionCode,
			Detail: fmt.Sprintf("%s 用户 %s 首次登录，未找到唯一对应的本系统账号，等待管理员审核绑定", row.Name, id.Subject)})
	})
	if err != nil {
		return nil, err
	}
	return get()
}

// connOutbound takes the logged-in user to a partner platform: through the partner's own
// login with zhsj (it is zhsj's relying party), or with a zhsj ticket in the link.
func (s *Service) connOutbound(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, row, err := s.connector(ctx, r.PathValue("id"), true)
	if err != nil || row.OutboundURL == "" {
		s.errorPage(w, r, http.StatusNotFound, "合作平台入口未配置", "该合作平台未启用或未配置跳转地址。")
		return
	}
	p := iam.FromContext(ctx)
	target := row.OutboundURL
	if row.OutboundClient != "" {
		c, err := s.activeClient(ctx, ProtoTicket, row.OutboundClient)
		if err != nil || !serviceMatches(c.ServicePrefix, row.OutboundURL) {
			s.errorPage(w, r, http.StatusBadRequest, "合作平台入口配置有误", "跳转所用的票据交换应用未登记或地址不符，请联系安全管理员。")
			return
		}
		ticket, err := s.issueTicket(ctx, r, ProtoTicket, c, row.OutboundURL, p, false)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		target = appendTicket(row.OutboundURL, ticket)
	} else {
		s.record(ctx, s.db, r, audit.Entry{Kind: audit.KindLogin, Action: "sso.outbound", ObjectType: "sso_connector", ObjectID: row.ID,
			Result: "success", Detail: "前往合作平台 " + row.Name})
	}
	http.Redirect(w, r, target, http.StatusFound)
}

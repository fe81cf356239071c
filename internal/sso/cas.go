package sso

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

const purposeCASTicket = "sso.cas.ticket"

// renewWindow: a session this young counts as "the password was just presented" for CAS
// renew=true (the re-authentication page leads straight back here).
const renewWindow = 2 * time.Minute

func (s *Service) casRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/cas/login", Permission: web.Public, Summary: "CAS 登录（已登录时直接签发服务票据）", Handler: s.casLogin},
		{Method: "GET", Pattern: "/cas/serviceValidate", Permission: web.Public, Summary: "CAS 2.0 服务票据校验", Handler: s.casValidate(false)},
		{Method: "GET", Pattern: "/cas/p3/serviceValidate", Permission: web.Public, Summary: "CAS 3.0 服务票据校验（含属性）", Handler: s.casValidate(true)},
		{Method: "GET", Pattern: "/cas/logout", Permission: web.Public, Summary: "CAS 退出（向各服务发送单点退出）", Handler: s.casLogout},
		{Method: "POST", Pattern: "/cas/logout", Permission: web.Public, Summary: "CAS 服务端到端退出通知（logoutRequest）", Handler: s.casBackLogout},
	}
}

// ticketRow is an issued one-time ticket.
type ticketRow struct {
	ClientID    string    `db:"client_id"`
	Service     string    `db:"service"`
	UserID      int64     `db:"user_id"`
	SessionID   string    `db:"session_id"`
	Participant int64     `db:"participant"`
	Fresh       bool      `db:"fresh"`
	CreatedAt   time.Time `db:"created_at"`
	ExpiresAt   time.Time `db:"expires_at"`
}

var (
	errTicketUnknown = errors.New("ticket unknown or already used")
	errTicketExpired = errors.New("ticket expired")
)

// issueTicket issues a single-use ticket of kind (cas | ticket) for the session p to client,
// records the client as a participant of that session and audits the sign-in.
func (s *Service) issueTicket(ctx context.Context, r *http.Request, kind string, c *Client, service string, p *iam.Principal, fresh bool) (string, error) {
	prefix, ttl, action := "ST-", s.opt.ServiceTicketTTL, "sso.cas.ticket"
	if kind == ProtoTicket {
		prefix, ttl, action = "TK-", s.opt.TicketTTL, "sso.ticket.issue"
	}
	ticket := prefix + randomID(32)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		sid := randomID(18) // the partner's sessionId for signed logout notices
		var ref []byte
		if kind == ProtoCAS {
			sid = hashToken(ticket) // CAS names the session by its service ticket
			var err error
			if ref, err = s.keys.Seal(purposeCASTicket, []byte(ticket)); err != nil {
				return err
			}
		}
		pid, err := store.InsertID(ctx, tx, `INSERT INTO sso_participants (session_id, user_id, protocol, client_id, sid, ref_enc, service, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.SessionID, p.UserID, kind, c.ClientID, sid, ref, service, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sso_tickets (ticket_hash, kind, client_id, service, user_id, session_id, participant, fresh, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(ticket), kind, c.ClientID, service, p.UserID, p.SessionID, pid, fresh, now, now.Add(ttl)); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Kind: audit.KindLogin, ActorID: p.UserID, Actor: p.Account, RegionCode: p.Region,
			Action: action, ObjectType: "sso_client", ObjectID: c.ClientID, Result: "success",
			Detail: fmt.Sprintf("单点登录到%s应用 %s", protocolNames[kind], c.Name)})
	})
	return ticket, err
}

// consumeTicket redeems a ticket once: the first caller gets it, every later one fails,
// on any instance.
func (s *Service) consumeTicket(ctx context.Context, kind, ticket string) (*ticketRow, error) {
	now := s.now()
	row, err := s.redeemTicket(ctx, kind, ticket, now)
	if err != nil {
		return nil, err
	}
	if !row.ExpiresAt.After(now) {
		return nil, errTicketExpired
	}
	return row, nil
}

func appendTicket(service, ticket string) string {
	sep := "?"
	if strings.Contains(service, "?") {
		sep = "&"
	}
	if i := strings.Index(service, "#"); i >= 0 {
		return service[:i] + sep + "ticket=" + ticket + service[i:]
	}
	return service + sep + "ticket=" + ticket
}

// casLogin is /cas/login: with a live session it redirects straight back to the service with
// a service ticket; otherwise it goes through the normal login page first.
func (s *Service) casLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	c, err := s.casClientFor(ctx, service)
	if err != nil {
		s.errorPage(w, r, http.StatusForbidden, "未登记的服务", "服务地址 "+service+" 未在统一身份平台登记，不能使用单点登录（INVALID_SERVICE）。请联系安全管理员登记。")
		return
	}
	renew, gateway := q.Get("renew") == "true", q.Get("gateway") == "true"
	p := s.session(r)
	fresh := false
	if p != nil {
		fresh = s.now().Sub(s.sessionCreated(ctx, p.SessionID)) < renewWindow
	}
	switch {
	case p == nil && gateway, p != nil && renew && !fresh && gateway:
		http.Redirect(w, r, service, http.StatusFound)
		return
	case p == nil:
		loginRedirect(w, r)
		return
	case p.MustChange:
		http.Redirect(w, r, "/account/password", http.StatusFound)
		return
	case renew && !fresh:
		http.Redirect(w, r, "/sso/reauth?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	ticket, err := s.issueTicket(ctx, r, ProtoCAS, c, service, p, renew && fresh)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.sendBack(w, r, appendTicket(service, ticket))
}

// casValidate is /serviceValidate (CAS 2.0) and /p3/serviceValidate (CAS 3.0, with
// attributes). Failures answer 200 with cas:authenticationFailure, as the protocol says.
func (s *Service) casValidate(v3 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		ticket, service := q.Get("ticket"), q.Get("service")
		fail := func(code, msg string) { writeCAS(w, casFailure(code, msg)) }
		if ticket == "" || service == "" {
			fail(connector.CASInvalidRequest, "缺少 ticket 或 service 参数")
			return
		}
		if !strings.HasPrefix(ticket, "ST-") {
			fail(connector.CASInvalidTicketSpc, "票据 "+ticket+" 不是服务票据")
			return
		}
		row, err := s.consumeTicket(ctx, ProtoCAS, ticket)
		switch {
		case errors.Is(err, errTicketUnknown):
			fail(connector.CASInvalidTicket, "票据 "+ticket+" 无效或已使用")
			return
		case errors.Is(err, errTicketExpired):
			fail(connector.CASInvalidTicket, "票据 "+ticket+" 已过期")
			return
		case err != nil:
			s.log.ErrorContext(ctx, "cas validate", "err", err)
			fail(connector.CASInternalError, "服务器内部错误")
			return
		}
		if row.Service != service {
			fail(connector.CASInvalidService, "票据 "+ticket+" 不是签发给服务 "+service+" 的")
			return
		}
		if q.Get("renew") == "true" && !row.Fresh {
			fail(connector.CASInvalidTicket, "票据 "+ticket+" 不是在重新输入口令后签发的")
			return
		}
		c, err := s.activeClient(ctx, ProtoCAS, row.ClientID)
		if err != nil {
			fail(connector.CASInvalidService, "服务已停用")
			return
		}
		u, err := s.ticketUser(ctx, row)
		if err != nil {
			fail(connector.CASInvalidTicket, err.Error())
			return
		}
		var attrs [][2]string
		if v3 {
			attrs = [][2]string{
				{"authenticationDate", u.SessionCreated.Format(time.RFC3339)},
				{"isFromNewLogin", strconv.FormatBool(row.Fresh)},
				{"longTermAuthenticationRequestTokenUsed", "false"},
			}
			attrs = append(attrs, s.releasedAttributes(c, row.UserID, &u.userClaims)...)
		}
		writeCAS(w, casSuccess(u.Account, attrs))
	}
}

// ticketHolder is the user of a redeemed ticket with the state of the session it came from.
type ticketHolder struct {
	userClaims
	SessionCreated time.Time `db:"session_created"`
	Live           bool      `db:"live"`
}

// ticketUser reads, in one query, the user a ticket was issued to and checks that the session
// it came from is still live and the user active.
func (s *Service) ticketUser(ctx context.Context, row *ticketRow) (*ticketHolder, error) {
	var u ticketHolder
	err := s.db.Get(ctx, &u, `SELECT u.account, u.name, u.phone_enc, u.region_code, r.name AS region_name, COALESCE(d.name, '') AS dept_name, u.status,
		s.created_at AS session_created, CASE WHEN s.revoked_at IS NULL AND s.expires_at > ? THEN 1 ELSE 0 END AS live
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN regions r ON r.code = u.region_code LEFT JOIN departments d ON d.id = u.dept_id
		WHERE s.id = ?`, s.now(), row.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !u.Live):
		return nil, errors.New("签发票据的登录会话已结束")
	case err != nil:
		return nil, err
	case u.Status != "active":
		return nil, errors.New("用户已停用")
	}
	return &u, nil
}

// releasedAttributes are the user attributes a CAS or ticket client's scopes allow.
func (s *Service) releasedAttributes(c *Client, uid int64, u *userClaims) [][2]string {
	var out [][2]string
	if c.allows("profile") {
		out = append(out, [2]string{"userId", strconv.FormatInt(uid, 10)}, [2]string{"account", u.Account}, [2]string{"name", u.Name},
			[2]string{"regionCode", u.RegionCode}, [2]string{"regionName", u.RegionName}, [2]string{"deptName", u.DeptName})
	}
	if c.allows("phone") {
		if ph := s.phone(u); ph != "" {
			out = append(out, [2]string{"mobile", ph})
		}
	}
	return out
}

func writeCAS(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func casSuccess(user string, attrs [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString(`<cas:serviceResponse xmlns:cas="` + connector.CASNamespace + `">` + "\n  <cas:authenticationSuccess>\n    <cas:user>")
	xml.EscapeText(&b, []byte(user))
	b.WriteString("</cas:user>\n")
	if len(attrs) > 0 {
		b.WriteString("    <cas:attributes>\n")
		for _, a := range attrs {
			b.WriteString("      <cas:" + a[0] + ">")
			xml.EscapeText(&b, []byte(a[1]))
			b.WriteString("</cas:" + a[0] + ">\n")
		}
		b.WriteString("    </cas:attributes>\n")
	}
	b.WriteString("  </cas:authenticationSuccess>\n</cas:serviceResponse>\n")
	return b.Bytes()
}

func casFailure(code, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(`<cas:serviceResponse xmlns:cas="` + connector.CASNamespace + `">` + "\n  <cas:authenticationFailure code=\"" + code + "\">")
	xml.EscapeText(&b, []byte(msg))
	b.WriteString("</cas:authenticationFailure>\n</cas:serviceResponse>\n")
	return b.Bytes()
}

// casLogout ends the browser's session (single logout reaches every service) and returns to
// the service given, when it is registered.
func (s *Service) casLogout(w http.ResponseWriter, r *http.Request) {
	if p := s.session(r); p != nil {
		if err := s.iam.Logout(r.Context(), r, p); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	s.iam.ClearSessionCookie(w)
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		service = q.Get("url") // CAS 2.0
	}
	if service != "" {
		if _, err := s.casClientFor(r.Context(), service); err == nil {
			http.Redirect(w, r, service, http.StatusFound)
			return
		}
	}
	http.Redirect(w, r, "/login", http.StatusFound)
}

// casBackLogout accepts a logoutRequest from a service whose own session ended (zhsj's CAS
// connector sends it): the SessionIndex is the service ticket that service validated, a
// secret only the two ends hold, and the zhsj session it came from ends.
func (s *Service) casBackLogout(w http.ResponseWriter, r *http.Request) {
	idx, err := connector.ParseLogoutRequest(r.PostFormValue("logoutRequest"))
	if err != nil {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "bad_logout_request", "%s", err.Error()))
		return
	}
	var pt struct {
		SessionID string `db:"session_id"`
		UserID    int64  `db:"user_id"`
		ClientID  string `db:"client_id"`
	}
	if err := s.db.Get(r.Context(), &pt, `SELECT session_id, user_id, client_id FROM sso_participants WHERE sid = ? AND protocol = 'cas'`, hashToken(idx)); err == nil {
		s.endSession(r.Context(), r, pt.SessionID, pt.UserID, "CAS 服务 "+pt.ClientID+" 通知用户已退出")
	}
	w.WriteHeader(http.StatusOK)
}

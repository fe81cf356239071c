package sso

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/web"
)

// The ticket-exchange API is zhsj's side of the pattern most government platforms use, so
// that partners (and other zhsj instances) can be its relying parties without OIDC or CAS:
//
//	GET  /sso/ticket/authorize?appId=…&redirect_uri=…   → redirect_uri?ticket=TK-…
//	POST /sso/ticket/validate   appId, ticket, timestamp, sign → {"code":"0","data":{…}}
//	POST /sso/ticket/logout     appId, sessionId, timestamp, sign → ends that session
//
// sign = hex(HMAC-SM3(secret, appId+value+timestamp)), or SM3/MD5 of appId+value+timestamp+secret
// as registered for the partner; timestamp in milliseconds within ±5 minutes.
func (s *Service) ticketRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/sso/ticket/authorize", Permission: web.LoggedIn, Summary: "票据交换：为合作平台签发一次性票据", Handler: s.ticketAuthorize},
		{Method: "POST", Pattern: "/sso/ticket/validate", Permission: web.Public, Summary: "票据交换：合作平台签名校验票据", Handler: s.ticketValidate},
		{Method: "POST", Pattern: "/sso/ticket/logout", Permission: web.Public, Summary: "票据交换：合作平台签名通知退出", Handler: s.ticketLogout},
	}
}

type ticketAnswer struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

// ticketParams reads a form or JSON body.
func ticketParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				out[k] = x
			case float64:
				out[k] = strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k := range r.Form {
		out[k] = r.Form.Get(k)
	}
	return out, nil
}

func ticketFail(w http.ResponseWriter, status int, code, msg string) {
	web.JSON(w, status, ticketAnswer{Code: code, Message: msg})
}

// signedClient authenticates a partner's signed request carrying value in param.
func (s *Service) signedClient(r *http.Request, in map[string]string, param string) (*Client, string, error) {
	c, err := s.activeClient(r.Context(), ProtoTicket, in["appId"])
	if err != nil {
		return nil, "", errors.New("INVALID_APP")
	}
	secret, err := s.ticketSecret(c)
	if err != nil {
		return nil, "", err
	}
	value := in[param]
	if err := connector.VerifySign(c.SignAlg, secret, c.ClientID, value, in["timestamp"], in["sign"], s.now()); err != nil {
		s.record(r.Context(), s.db, r, audit.Entry{Actor: c.ClientID, Action: "sso.ticket.sign", ObjectType: "sso_client", ObjectID: c.ClientID,
			Result: "denied", Detail: "票据交换签名校验失败：" + err.Error()})
		return nil, "", errors.New("INVALID_SIGN:" + err.Error())
	}
	return c, value, nil
}

func (s *Service) ticketAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if q.Get("appId") == "" {
		s.infoPage(w, r, "合作平台入口", "此地址供合作平台获取登录票据，请从合作平台或“统一身份 → 合作平台”进入。")
		return
	}
	c, err := s.activeClient(ctx, ProtoTicket, q.Get("appId"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "未登记的应用", "应用 "+q.Get("appId")+" 未在统一身份平台登记或已停用。")
		return
	}
	redirect := q.Get("redirect_uri")
	if !serviceMatches(c.ServicePrefix, redirect) {
		s.errorPage(w, r, http.StatusBadRequest, "回调地址未登记", "回调地址不在应用 "+c.Name+" 登记的地址范围内。")
		return
	}
	p := iam.FromContext(ctx)
	ticket, err := s.issueTicket(ctx, r, ProtoTicket, c, redirect, p, false)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.sendBack(w, r, appendTicket(redirect, ticket))
}

func (s *Service) ticketValidate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	in, err := ticketParams(r)
	if err != nil {
		ticketFail(w, http.StatusBadRequest, "INVALID_REQUEST", "请求格式错误")
		return
	}
	if in["appId"] == "" || in["ticket"] == "" || in["timestamp"] == "" || in["sign"] == "" {
		ticketFail(w, http.StatusBadRequest, "INVALID_REQUEST", "缺少 appId、ticket、timestamp 或 sign")
		return
	}
	c, ticket, err := s.signedClient(r, in, "ticket")
	if err != nil {
		code, msg, _ := strings.Cut(err.Error(), ":")
		if code == "INVALID_APP" {
			ticketFail(w, http.StatusBadRequest, code, "应用未登记或已停用")
		} else {
			ticketFail(w, http.StatusUnauthorized, "INVALID_SIGN", "签名校验失败："+msg)
		}
		return
	}
	row, err := s.consumeTicket(ctx, ProtoTicket, ticket)
	if err != nil || row.ClientID != c.ClientID {
		ticketFail(w, http.StatusBadRequest, "INVALID_TICKET", "票据无效、已使用、已过期或不是签发给该应用的")
		return
	}
	u, err := s.ticketUser(ctx, row)
	if err != nil {
		ticketFail(w, http.StatusBadRequest, "INVALID_TICKET", err.Error())
		return
	}
	var sid string
	if err := s.db.Get(ctx, &sid, `SELECT sid FROM sso_participants WHERE id = ?`, row.Participant); err != nil {
		web.Fail(w, r, err)
		return
	}
	data := map[string]any{"userId": strconv.FormatInt(row.UserID, 10), "sessionId": sid}
	for _, a := range s.releasedAttributes(c, row.UserID, &u.userClaims) {
		data[a[0]] = a[1]
	}
	web.JSON(w, http.StatusOK, ticketAnswer{Code: "0", Message: "成功", Data: data})
}

func (s *Service) ticketLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	in, err := ticketParams(r)
	if err != nil || in["appId"] == "" || in["sessionId"] == "" {
		ticketFail(w, http.StatusBadRequest, "INVALID_REQUEST", "缺少 appId 或 sessionId")
		return
	}
	c, sid, err := s.signedClient(r, in, "sessionId")
	if err != nil {
		code, msg, _ := strings.Cut(err.Error(), ":")
		if code == "INVALID_APP" {
			ticketFail(w, http.StatusBadRequest, code, "应用未登记或已停用")
		} else {
			ticketFail(w, http.StatusUnauthorized, "INVALID_SIGN", "签名校验失败："+msg)
		}
		return
	}
	var pt struct {
		SessionID string `db:"session_id"`
		UserID    int64  `db:"user_id"`
	}
	if err := s.db.Get(ctx, &pt, `SELECT session_id, user_id FROM sso_participants WHERE sid = ? AND client_id = ? AND protocol = 'ticket'`, sid, c.ClientID); err == nil {
		s.endSession(ctx, r, pt.SessionID, pt.UserID, "合作平台 "+c.Name+" 通知用户已退出")
	}
	web.JSON(w, http.StatusOK, ticketAnswer{Code: "0", Message: "成功"})
}

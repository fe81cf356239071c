package iam

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/report"
	"zhsj/internal/web"
)

// Account-security routes: SMS login, accounts kept in the browser, logout, login risks,
// reminders, security settings and permission reviews.

func (s *Service) securityPermissions() []web.Perm {
	g := "统一身份"
	return []web.Perm{
		{Code: "security.risk.read", Name: "查看登录风险（异常登录告警）", Group: g},
		{Code: "security.risk.write", Name: "处置登录风险", Group: g},
		{Code: "security.review.read", Name: "查看权限复核与导出复核报告", Group: g},
		{Code: "security.review.write", Name: "发起权限复核，确认或撤销用户权限", Group: g},
		{Code: "security.settings.read", Name: "查看账户安全设置（短信网关、告警渠道）", Group: g},
		{Code: "security.settings.write", Name: "修改账户安全设置", Group: g},
	}
}

func (s *Service) securityMenu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "统一身份", Title: "登录风险", Path: "/security/risks", Permission: "security.risk.read", Order: 20},
		{Group: "统一身份", Title: "权限复核", Path: "/security/reviews", Permission: "security.review.read", Order: 30},
		{Group: "统一身份", Title: "安全设置", Path: "/security/settings", Permission: "security.settings.read", Order: 40},
	}
}

func (s *Service) securityRoutes() []web.Route {
	return []web.Route{
		{Method: "POST", Pattern: "/api/v1/auth/sms/send", Permission: web.Public, Summary: "获取短信登录验证码", Handler: s.apiSMSSend},
		{Method: "POST", Pattern: "/api/v1/auth/sms/login", Permission: web.Public, Summary: "短信验证码登录", Handler: s.apiSMSLogin},
		{Method: "GET", Pattern: "/api/v1/auth/accounts", Permission: web.Public, Summary: "本浏览器中已登录的账号（凭各账号的会话 Cookie）", Handler: s.apiAccounts},
		{Method: "POST", Pattern: "/api/v1/auth/accounts/{slot}/switch", Permission: web.Public, Summary: "切换到本浏览器中已登录的另一个账号", Handler: s.apiSwitch},
		{Method: "DELETE", Pattern: "/api/v1/auth/accounts/{slot}", Permission: web.Public, Summary: "从本浏览器移除一个已登录的账号（注销其会话）", Handler: s.apiRemoveAccount},
		{Method: "POST", Pattern: "/api/v1/auth/logout/all", Permission: web.LoggedIn, Summary: "退出本浏览器中的全部账号并清除本站浏览器数据", Handler: s.apiLogoutAll},
		{Method: "GET", Pattern: "/api/v1/me/risks", Permission: web.LoggedIn, Summary: "本人的登录异常提醒", Handler: s.apiMyRisks},
		{Method: "POST", Pattern: "/api/v1/me/risks/{id}/answer", Permission: web.LoggedIn, Summary: "确认登录异常是否本人操作", Handler: s.apiAnswerRisk},
		{Method: "GET", Pattern: "/api/v1/me/notices", Permission: web.LoggedIn, Summary: "本人的站内提醒", Handler: s.apiNotices},
		{Method: "POST", Pattern: "/api/v1/me/notices/{id}/read", Permission: web.LoggedIn, Summary: "将站内提醒标为已读", Handler: s.apiReadNotice},
		{Method: "GET", Pattern: "/api/v1/security/risks", Permission: "security.risk.read", Summary: "登录风险列表", Handler: s.apiRisks},
		{Method: "POST", Pattern: "/api/v1/security/risks/{id}/close", Permission: "security.risk.write", Summary: "处置登录风险", Handler: s.apiCloseRisk},
		{Method: "GET", Pattern: "/api/v1/security/settings", Permission: "security.settings.read", Summary: "账户安全设置", Handler: s.apiSettings},
		{Method: "PUT", Pattern: "/api/v1/security/settings", Permission: "security.settings.write", Summary: "修改账户安全设置", Handler: s.apiSaveSettings},
		{Method: "GET", Pattern: "/api/v1/security/reviews", Permission: "security.review.read", Summary: "权限复核列表", Handler: s.apiReviews},
		{Method: "POST", Pattern: "/api/v1/security/reviews", Permission: "security.review.write", Summary: "发起权限复核", Handler: s.apiCreateReview},
		{Method: "GET", Pattern: "/api/v1/security/reviews/{id}/items", Permission: "security.review.read", Summary: "权限复核明细", Handler: s.apiReviewItems},
		{Method: "GET", Pattern: "/api/v1/security/reviews/{id}/export", Permission: "security.review.read", Summary: "导出权限复核报告（XLSX）", Handler: s.apiExportReview},
		{Method: "POST", Pattern: "/api/v1/security/reviews/{id}/items/{item}/decision", Permission: "security.review.write", Summary: "确认或撤销一个账号的权限", Handler: s.apiDecide},
		{Method: "POST", Pattern: "/api/v1/security/reviews/{id}/close", Permission: "security.review.write", Summary: "结束权限复核", Handler: s.apiCloseReview},
		{Method: "GET", Pattern: "/security/risks", Permission: "security.risk.read", Summary: "登录风险", Handler: s.pageRisks},
		{Method: "GET", Pattern: "/security/settings", Permission: "security.settings.read", Summary: "安全设置", Handler: s.pageSettings},
		{Method: "GET", Pattern: "/security/reviews", Permission: "security.review.read", Summary: "权限复核", Handler: s.pageReviews},
		{Method: "GET", Pattern: "/security/reviews/{id}", Permission: "security.review.read", Summary: "权限复核明细", Handler: s.pageReview},
	}
}

func (s *Service) apiSMSSend(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.SendLoginCode(r.Context(), r, in.Phone); err != nil {
		s.fail(w, r, err)
		return
	}
	mins := int(s.SMSLimits.withDefaults().TTL.Minutes())
	web.JSON(w, http.StatusOK, map[string]any{"ok": true, "message": "如该手机号已登记且账号可用，验证码已发送，" + strconv.Itoa(mins) + " 分钟内有效", "cooldown": 60})
}

func (s *Service) apiSMSLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
		Next  string `json:"next"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.LoginBySMS(r.Context(), r, in.Phone, in.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.SetSessionCookie(w, res)
	next := safeNext(in.Next)
	if res.MustChangePassword {
		next = "/account/password"
	}
	web.JSON(w, http.StatusOK, map[string]any{"user_id": res.UserID, "account": res.Account, "name": res.Name,
		"must_change_password": res.MustChangePassword, "session_expires_at": res.ExpiresAt, "next": next})
}

func (s *Service) apiAccounts(w http.ResponseWriter, r *http.Request) {
	list, err := s.SavedAccounts(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiSwitch(w http.ResponseWriter, r *http.Request) {
	a, err := s.SwitchAccount(w, r, r.PathValue("slot"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true, "account": a.Account, "name": a.Name, "ns": s.AccountNS(a.UserID), "message": "已切换到账号 " + a.Account})
}

func (s *Service) apiRemoveAccount(w http.ResponseWriter, r *http.Request) {
	out, err := s.RemoveAccount(w, r, r.PathValue("slot"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

func (s *Service) apiLogoutAll(w http.ResponseWriter, r *http.Request) {
	out, err := s.LogoutBrowser(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

func (s *Service) apiMyRisks(w http.ResponseWriter, r *http.Request) {
	list, err := s.MyRisks(r.Context(), FromContext(r.Context()), r.URL.Query().Get("status") == "open", 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiAnswerRisk(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in struct {
			Mine bool `json:"mine"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		n, err := s.AnswerRisk(r.Context(), r, FromContext(r.Context()), id, in.Mine)
		msg := "已确认为本人操作"
		if !in.Mine {
			msg = "已结束本账号的其他 " + strconv.FormatInt(n, 10) + " 个会话，请立即修改口令"
		}
		return map[string]any{"ok": err == nil, "ended_sessions": n, "message": msg}, err
	})
}

func (s *Service) apiNotices(w http.ResponseWriter, r *http.Request) {
	list, err := s.Notices(r.Context(), FromContext(r.Context()), r.URL.Query().Get("unread") == "1", 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiReadNotice(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.ReadNotice(r.Context(), FromContext(r.Context()), id) })
}

func riskFilter(r *http.Request) RiskFilter {
	q := r.URL.Query()
	return RiskFilter{Kind: q.Get("kind"), Status: q.Get("status"), Account: strings.TrimSpace(q.Get("account"))}
}

func (s *Service) apiRisks(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.ListRisks(r.Context(), FromContext(r.Context()), riskFilter(r), pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

func (s *Service) apiCloseRisk(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in struct {
			Note string `json:"note"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.CloseRisk(r.Context(), r, FromContext(r.Context()), id, in.Note)
	})
}

func (s *Service) apiSettings(w http.ResponseWriter, r *http.Request) {
	v, err := s.SecuritySettingsView(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, v)
}

func (s *Service) apiSaveSettings(w http.ResponseWriter, r *http.Request) {
	var in SecuritySettings
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.SaveSecuritySettings(r.Context(), r, FromContext(r.Context()), in); err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true, "message": "安全设置已保存"})
}

func (s *Service) apiReviews(w http.ResponseWriter, r *http.Request) {
	list, err := s.ListReviews(r.Context(), FromContext(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiCreateReview(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.CreateReview(r.Context(), r, FromContext(r.Context()), false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id, "message": "已发起权限复核"})
}

func (s *Service) apiReviewItems(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		p := FromContext(r.Context())
		if _, err := s.GetReview(r.Context(), p, id); err != nil {
			return nil, err
		}
		list, err := s.ReviewItems(r.Context(), p, id, r.URL.Query().Get("pending") == "1")
		return web.Whole(list), err
	})
}

func (s *Service) apiExportReview(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := FromContext(r.Context())
	rv, err := s.GetReview(r.Context(), p, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.ReviewItems(r.Context(), p, id, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t := report.Table{Title: "权限复核", Columns: []string{"账号", "姓名", "区划代码", "部门", "账号状态", "角色", "辖区与数据范围", "最近登录", "复核结论", "复核人", "复核时间", "说明"},
		Meta: []string{rv.Title, "导出人：" + p.Account, "导出时间：" + time.Now().In(web.Shanghai()).Format("2006-01-02 15:04:05"),
			"共 " + strconv.Itoa(len(items)) + " 个账号，已复核 " + strconv.Itoa(rv.Decided) + " 个，撤销 " + strconv.Itoa(rv.Revoked) + " 个"}}
	for _, it := range items {
		t.Rows = append(t.Rows, []any{it.Account, it.Name, it.Region, it.DeptName, statusName(it.Status), it.Roles, it.Scope, it.LastLoginAt,
			DecisionNames[it.Decision], it.DecidedBy, it.DecidedAt, it.Note})
	}
	if err := s.record(r.Context(), s.db, r, audit.Entry{Action: "security.review.export", ObjectType: "access_review", ObjectID: idStr(id), Result: "success",
		Detail: "导出权限复核报告 " + strconv.Itoa(len(items)) + " 行"}); err != nil {
		s.fail(w, r, err)
		return
	}
	report.ServeXLSX(w, rv.Title+".xlsx", t)
}

func (s *Service) apiDecide(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		item, err := strconv.ParseInt(r.PathValue("item"), 10, 64)
		if err != nil || item <= 0 {
			return nil, web.ErrNotFound
		}
		var in struct {
			Decision string `json:"decision"`
			Note     string `json:"note"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.DecideReviewItem(r.Context(), r, FromContext(r.Context()), id, item, in.Decision, in.Note)
	})
}

func (s *Service) apiCloseReview(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.CloseReview(r.Context(), r, FromContext(r.Context()), id) })
}

// Pages.

func (s *Service) pageRisks(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := riskFilter(r)
	list, err := s.ListRisks(r.Context(), FromContext(r.Context()), f, pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	prev, next := web.PageLinks(r.URL, pg, list.Total)
	s.Pages.Render(w, r, "iam_security_risks.html", web.PageData{Title: "登录风险", Crumbs: []web.Crumb{{Title: "统一身份"}, {Title: "登录风险"}},
		Data: map[string]any{"List": list, "Filter": f, "Kinds": RiskNames, "Levels": RiskLevelNames, "Statuses": RiskStatusNames, "Prev": prev, "Next": next}})
}

func (s *Service) pageSettings(w http.ResponseWriter, r *http.Request) {
	v, err := s.SecuritySettingsView(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var channels []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
		Kind string `db:"kind"`
	}
	s.db.Select(r.Context(), &channels, `SELECT id, name, kind FROM notify_channels ORDER BY id`)
	s.Pages.Render(w, r, "iam_security_settings.html", web.PageData{Title: "安全设置", Crumbs: []web.Crumb{{Title: "统一身份"}, {Title: "安全设置"}},
		Data: map[string]any{"S": v, "Channels": channels, "Order": strings.Join(v.SMS.ParamOrder, ",")}})
}

func (s *Service) pageReviews(w http.ResponseWriter, r *http.Request) {
	list, err := s.ListReviews(r.Context(), FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.Pages.Render(w, r, "iam_reviews.html", web.PageData{Title: "权限复核", Crumbs: []web.Crumb{{Title: "统一身份"}, {Title: "权限复核"}}, Data: list})
}

func (s *Service) pageReview(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p := FromContext(r.Context())
	rv, err := s.GetReview(r.Context(), p, id)
	if err != nil {
		s.Pages.RenderStatus(w, r, http.StatusNotFound, "iam_forbidden.html", web.PageData{Title: "记录不存在", Data: "not_found"})
		return
	}
	pending := r.URL.Query().Get("pending") == "1"
	items, err := s.ReviewItems(r.Context(), p, id, pending)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.Pages.Render(w, r, "iam_review.html", web.PageData{Title: rv.Title, Active: "/security/reviews",
		Crumbs: []web.Crumb{{Title: "权限复核", Path: "/security/reviews"}, {Title: rv.Title}},
		Data:   map[string]any{"Review": rv, "Items": items, "Pending": pending, "Decisions": DecisionNames}})
}

// loginView is the login page: password and SMS forms, and the accounts this browser keeps.
type loginView struct {
	Next, Account, Error string
	Tab                  string         // password | sms
	Adding               bool           // adding another account while one is active
	Saved                []SavedAccount // accounts kept in this browser (picker)
	SMS                  bool           // SMS login configured
	Links                []LoginLink    // partner platforms one can log in with
	Purge                string         // storage namespaces to clear (after a logout)
}

var nsListRe = regexp.MustCompile(`^[0-9a-f]{12}(,[0-9a-f]{12})*$`)

func (s *Service) loginView(r *http.Request, lp loginPage) loginView {
	v := loginView{Next: lp.Next, Account: lp.Account, Error: lp.Error, Tab: "password"}
	q := r.URL.Query()
	if q.Get("tab") == "sms" || r.PostFormValue("tab") == "sms" {
		v.Tab = "sms"
	}
	v.Adding = q.Get("add") == "1" || r.PostFormValue("add") == "1"
	v.Saved, _ = s.SavedAccounts(r.Context(), r)
	if st, err := s.SecuritySettings(r.Context()); err == nil && st.SMS.Provider != "" {
		v.SMS = true
	}
	for _, f := range s.loginLinks {
		v.Links = append(v.Links, f(r.Context(), v.Next)...)
	}
	if p := q.Get("signed_out"); nsListRe.MatchString(p) {
		v.Purge = strings.ReplaceAll(p, ",", " ")
	}
	return v
}

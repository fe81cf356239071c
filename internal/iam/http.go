package iam

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/report"
	"zhsj/internal/web"
)

// passwordChangeAllowed are the routes a user who must change the password may still use.
func passwordChangeAllowed(pattern string) bool {
	for _, p := range []string{"/api/v1/me", "/api/v1/auth/", "/account", "/logout", "/static/"} {
		if strings.HasPrefix(pattern, p) {
			return true
		}
	}
	return false
}

// Require wraps a route's handler with authentication and its permission. Pages without a
// session redirect to the login page; the API answers 401 in the JSON error format.
func (s *Service) Require(rt web.Route) http.Handler {
	if rt.Permission == web.Public {
		return rt.Handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticateRequest(r)
		if err != nil {
			if !web.WantsJSON(r) && r.Method == http.MethodGet {
				s.ClearSessionCookie(w)
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			web.Fail(w, r, err)
			return
		}
		ri := web.Info(r.Context())
		ri.Actor, ri.ActorID, ri.Region = p.Account, p.UserID, p.Region
		ctx := WithPrincipal(r.Context(), p)
		ctx = web.WithViewer(ctx, s.browserViewer(w, r, p))
		r = r.WithContext(ctx)
		// Nothing of one account may be served to another from a cache.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Cookie")
		if err := s.checkCSRF(r, p); err != nil {
			web.Fail(w, r, err)
			return
		}
		if p.MustChange && !passwordChangeAllowed(rt.Pattern) {
			if !web.WantsJSON(r) && r.Method == http.MethodGet {
				http.Redirect(w, r, "/account/password", http.StatusSeeOther)
				return
			}
			web.Fail(w, r, errMustChange)
			return
		}
		if rt.Permission != web.LoggedIn && !p.Can(rt.Permission) {
			s.record(r.Context(), s.db, r, audit.Entry{Action: "access.denied", ObjectType: "route", ObjectID: rt.Method + " " + rt.Pattern, Result: "denied", Detail: "缺少权限 " + rt.Permission})
			if !web.WantsJSON(r) && r.Method == http.MethodGet && s.Pages != nil {
				s.Pages.RenderStatus(w, r, http.StatusForbidden, "iam_forbidden.html", web.PageData{Title: "无权访问", Data: rt.Permission})
				return
			}
			web.Fail(w, r, web.ErrForbidden)
			return
		}
		if rt.ProvinceWide && !p.ProvinceWide() {
			s.record(r.Context(), s.db, r, audit.Entry{Action: "access.denied", ObjectType: "route", ObjectID: rt.Method + " " + rt.Pattern, Result: "denied", Detail: "数据范围不是全省"})
			if !web.WantsJSON(r) && r.Method == http.MethodGet && s.Pages != nil {
				s.Pages.RenderStatus(w, r, http.StatusForbidden, "iam_forbidden.html", web.PageData{Title: "仅限全省数据范围", Data: "province_wide"})
				return
			}
			web.Fail(w, r, ErrNotProvinceWide)
			return
		}
		rt.Handler(w, r)
	})
}

func (s *Service) authenticateRequest(r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return s.AuthenticateToken(r.Context(), strings.TrimPrefix(h, "Bearer "))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, web.ErrUnauthenticated
	}
	return s.Authenticate(r.Context(), c.Value)
}

func (s *Service) viewer(p *Principal) *web.Viewer {
	due := -1
	if !p.PasswordExpiresAt.IsZero() {
		left := time.Until(p.PasswordExpiresAt)
		if left > 0 && left <= s.opt.Policy.WarnBefore {
			due = int(left.Hours() / 24)
		}
	}
	return &web.Viewer{UserID: p.UserID, Account: p.Account, Name: p.Name, DeptName: p.DeptName, RegionName: p.RegionName,
		Roles: p.Roles, Allowed: p.Can, MustChange: p.MustChange, PasswordDue: due}
}

// Permissions names the permissions this module checks.
func (s *Service) Permissions() []web.Perm {
	g := "统一身份"
	return append([]web.Perm{
		{Code: "iam.user.read", Name: "查看用户", Group: g},
		{Code: "iam.user.write", Name: "新增、修改、停用用户，重置口令", Group: g},
		{Code: "iam.user.grant", Name: "给用户分配角色", Group: g},
		{Code: "iam.user.unlock", Name: "解锁账号", Group: g},
		{Code: "iam.user.unmask", Name: "查看完整手机号、身份证号（留审计）", Group: g},
		{Code: "iam.dept.read", Name: "查看部门", Group: g},
		{Code: "iam.dept.write", Name: "新增、修改、删除部门", Group: g},
		{Code: "iam.role.read", Name: "查看角色与权限目录", Group: g},
		{Code: "iam.role.write", Name: "新增、修改、删除角色", Group: g},
		{Code: "iam.session.manage", Name: "强制用户下线", Group: g},
	}, s.securityPermissions()...)
}

// Routes returns the identity module's routes.
func (s *Service) Routes() []web.Route {
	return append(append(s.apiRoutes(), s.pageRoutes()...), s.securityRoutes()...)
}

func (s *Service) apiRoutes() []web.Route {
	return []web.Route{
		{Method: "POST", Pattern: "/api/v1/auth/login", Permission: web.Public, Summary: "口令登录", Handler: s.apiLogin},
		{Method: "POST", Pattern: "/api/v1/auth/logout", Permission: web.LoggedIn, Summary: "退出登录", Handler: s.apiLogout},
		{Method: "GET", Pattern: "/api/v1/me", Permission: web.LoggedIn, Summary: "当前用户、角色、权限、辖区与数据范围", Handler: s.apiMe},
		{Method: "POST", Pattern: "/api/v1/me/password", Permission: web.LoggedIn, Summary: "修改本人口令", Handler: s.apiChangePassword},
		{Method: "POST", Pattern: "/api/v1/me/password/check", Permission: web.LoggedIn, Summary: "口令策略实时检查", Handler: s.apiCheckPassword},
		{Method: "PUT", Pattern: "/api/v1/me/password/rotation", Permission: web.LoggedIn, Summary: "设置本人口令更换周期", Handler: s.apiRotation},
		{Method: "GET", Pattern: "/api/v1/me/sessions", Permission: web.LoggedIn, Summary: "本人在线会话列表", Handler: s.apiMySessions},
		{Method: "DELETE", Pattern: "/api/v1/me/sessions/{id}", Permission: web.LoggedIn, Summary: "注销本人的一个会话", Handler: s.apiRevokeMySession},
		{Method: "GET", Pattern: "/api/v1/me/tokens", Permission: web.LoggedIn, Summary: "本人的 API 令牌列表", Handler: s.apiTokens},
		{Method: "POST", Pattern: "/api/v1/me/tokens", Permission: web.LoggedIn, Summary: "创建 API 令牌（供对接系统使用）", Handler: s.apiCreateToken},
		{Method: "DELETE", Pattern: "/api/v1/me/tokens/{id}", Permission: web.LoggedIn, Summary: "吊销本人的 API 令牌", Handler: s.apiRevokeToken},
		{Method: "GET", Pattern: "/api/v1/regions", Permission: web.LoggedIn, Summary: "辖区内行政区划列表", Handler: s.apiRegions},
		{Method: "GET", Pattern: "/api/v1/users", Permission: "iam.user.read", Summary: "用户列表", Handler: s.apiListUsers},
		{Method: "GET", Pattern: "/api/v1/users/export", Permission: "iam.user.read", Summary: "导出用户（XLSX）", Handler: s.apiExportUsers},
		{Method: "POST", Pattern: "/api/v1/users", Permission: "iam.user.write", Summary: "新增用户", Handler: s.apiCreateUser},
		{Method: "GET", Pattern: "/api/v1/users/{id}", Permission: "iam.user.read", Summary: "用户详情", Handler: s.apiGetUser},
		{Method: "PUT", Pattern: "/api/v1/users/{id}", Permission: "iam.user.write", Summary: "修改用户资料", Handler: s.apiUpdateUser},
		{Method: "POST", Pattern: "/api/v1/users/{id}/status", Permission: "iam.user.write", Summary: "启用或停用用户", Handler: s.apiSetStatus},
		{Method: "POST", Pattern: "/api/v1/users/{id}/reset-password", Permission: "iam.user.write", Summary: "重置用户口令", Handler: s.apiResetPassword},
		{Method: "POST", Pattern: "/api/v1/users/{id}/unlock", Permission: "iam.user.unlock", Summary: "解锁用户", Handler: s.apiUnlock},
		{Method: "PUT", Pattern: "/api/v1/users/{id}/roles", Permission: "iam.user.grant", Summary: "分配用户角色", Handler: s.apiAssignRoles},
		{Method: "POST", Pattern: "/api/v1/users/{id}/logout", Permission: "iam.session.manage", Summary: "强制用户下线", Handler: s.apiForceLogout},
		{Method: "GET", Pattern: "/api/v1/users/{id}/phone", Permission: "iam.user.unmask", Summary: "查看用户完整手机号（留审计）", Handler: s.apiUnmask("phone")},
		{Method: "GET", Pattern: "/api/v1/users/{id}/id-no", Permission: "iam.user.unmask", Summary: "查看用户完整身份证号（留审计）", Handler: s.apiUnmask("id_no")},
		{Method: "GET", Pattern: "/api/v1/depts", Permission: "iam.dept.read", Summary: "部门树", Handler: s.apiListDepts},
		{Method: "POST", Pattern: "/api/v1/depts", Permission: "iam.dept.write", Summary: "新增部门", Handler: s.apiCreateDept},
		{Method: "PUT", Pattern: "/api/v1/depts/{id}", Permission: "iam.dept.write", Summary: "修改部门", Handler: s.apiUpdateDept},
		{Method: "DELETE", Pattern: "/api/v1/depts/{id}", Permission: "iam.dept.write", Summary: "删除部门", Handler: s.apiDeleteDept},
		{Method: "GET", Pattern: "/api/v1/roles", Permission: "iam.role.read", Summary: "角色列表", Handler: s.apiListRoles},
		{Method: "POST", Pattern: "/api/v1/roles", Permission: "iam.role.write", Summary: "新增角色", Handler: s.apiCreateRole},
		{Method: "PUT", Pattern: "/api/v1/roles/{id}", Permission: "iam.role.write", Summary: "修改角色", Handler: s.apiUpdateRole},
		{Method: "DELETE", Pattern: "/api/v1/roles/{id}", Permission: "iam.role.write", Summary: "删除角色", Handler: s.apiDeleteRole},
		{Method: "GET", Pattern: "/api/v1/permissions", Permission: "iam.role.read", Summary: "权限目录", Handler: s.apiPermissions},
	}
}

type loginReq struct {
	Account  string `json:"account"`
	Password string `json:"password"`
}

func (s *Service) apiLogin(w http.ResponseWriter, r *http.Request) {
	var in loginReq
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Login(r.Context(), r, in.Account, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.SetSessionCookie(w, res)
	web.JSON(w, http.StatusOK, res)
}

func (s *Service) apiLogout(w http.ResponseWriter, r *http.Request) {
	out, err := s.LogoutActive(w, r, FromContext(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

// MeResponse is the body of GET /api/v1/me.
type MeResponse struct {
	UserID            int64      `json:"user_id"`
	Account           string     `json:"account"`
	Name              string     `json:"name"`
	Dept              string     `json:"dept"`
	DeptID            int64      `json:"dept_id"`
	Region            string     `json:"region"`
	RegionName        string     `json:"region_name"`
	Roles             []string   `json:"roles"`
	Permissions       []string   `json:"permissions"`
	DataScope         []string   `json:"data_scope"`
	AdminKind         string     `json:"admin_kind,omitempty"`
	MustChange        bool       `json:"must_change_password"`
	PasswordExpiresAt *time.Time `json:"password_expires_at"`
}

func (s *Service) apiMe(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	res := MeResponse{UserID: p.UserID, Account: p.Account, Name: p.Name, Dept: p.DeptName, DeptID: p.DeptID, Region: p.Region, RegionName: p.RegionName,
		Roles: p.Roles, AdminKind: p.AdminKind, MustChange: p.MustChange, Permissions: []string{}, DataScope: []string{}}
	if res.Roles == nil {
		res.Roles = []string{}
	}
	if !p.PasswordExpiresAt.IsZero() {
		t := p.PasswordExpiresAt
		res.PasswordExpiresAt = &t
	}
	for k := range p.Perms {
		res.Permissions = append(res.Permissions, k)
	}
	slices.Sort(res.Permissions)
	for _, sc := range p.Scopes {
		res.DataScope = append(res.DataScope, sc.Kind)
	}
	web.JSON(w, http.StatusOK, res)
}

func (s *Service) apiChangePassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.ChangePassword(r.Context(), r, FromContext(r.Context()), in.Current, in.New); err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true, "message": "口令已修改"})
}

func (s *Service) apiCheckPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p := FromContext(r.Context())
	var enc []byte
	s.db.Get(r.Context(), &enc, `SELECT phone_enc FROM users WHERE id = ?`, p.UserID)
	rules := s.opt.Policy.Check(in.Password, Subject{Account: p.Account, Name: p.Name, Phone: s.openPhone(enc), Admin: p.AdminKind != ""})
	web.JSON(w, http.StatusOK, map[string]any{"ok": Passes(rules), "rules": rules})
}

func (s *Service) apiRotation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Days int `json:"days"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.SetRotation(r.Context(), r, FromContext(r.Context()), in.Days); err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Service) apiMySessions(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	list, err := s.Sessions(r.Context(), p.UserID, p.SessionID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiRevokeMySession(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeSession(r.Context(), r, FromContext(r.Context()), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Service) apiRegions(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	list, err := ListRegions(r.Context(), s.db, p.Region)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func userFilter(r *http.Request) UserFilter {
	q := r.URL.Query()
	f := UserFilter{Q: q.Get("q"), Region: q.Get("region"), Status: q.Get("status"), Phone: q.Get("phone")}
	f.DeptID, _ = strconv.ParseInt(q.Get("dept_id"), 10, 64)
	return f
}

func (s *Service) apiListUsers(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.ListUsers(r.Context(), FromContext(r.Context()), userFilter(r), pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

// maxExport bounds one export; larger ones must be narrowed by filters.
const maxExport = 100000

func (s *Service) apiExportUsers(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	f := userFilter(r)
	list, err := s.ListUsers(r.Context(), p, f, web.Page{Page: 1, Size: maxExport})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list.Total > maxExport {
		s.fail(w, r, web.Errorf(http.StatusBadRequest, "export_too_large", "符合条件的用户有 %d 个，超过单次导出上限 %d，请缩小筛选范围", list.Total, maxExport))
		return
	}
	t := report.Table{Title: "用户清单", Columns: []string{"账号", "姓名", "手机号（脱敏）", "身份证号（脱敏）", "部门", "区划", "状态", "角色", "最近登录", "创建时间"},
		Meta: []string{"导出人：" + p.Account, "导出时间：" + time.Now().In(web.Shanghai()).Format("2006-01-02 15:04:05")}}
	for _, u := range list.Items {
		var last any = ""
		if u.LastLoginAt != nil {
			last = *u.LastLoginAt
		}
		t.Rows = append(t.Rows, []any{u.Account, u.Name, u.PhoneMask, u.IDNoMask, u.DeptName, u.RegionName, statusName(u.Status), strings.Join(u.Roles, ","), last, u.CreatedAt})
	}
	if err := s.record(r.Context(), s.db, r, audit.Entry{Action: "iam.user.export", ObjectType: "user", Result: "success", Detail: "导出用户 " + strconv.Itoa(len(list.Items)) + " 条"}); err != nil {
		s.fail(w, r, err)
		return
	}
	report.ServeXLSX(w, "用户清单.xlsx", t)
}

func statusName(s string) string {
	if s == "active" {
		return "正常"
	}
	return "停用"
}

func (s *Service) apiCreateUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.CreateUser(r.Context(), r, FromContext(r.Context()), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id})
}

func (s *Service) withID(w http.ResponseWriter, r *http.Request, f func(id int64) (any, error)) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := f(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if res == nil {
		res = map[string]any{"ok": true}
	}
	web.JSON(w, http.StatusOK, res)
}

func (s *Service) apiGetUser(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return s.GetUser(r.Context(), FromContext(r.Context()), id) })
}

func (s *Service) apiUpdateUser(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in UserInput
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.UpdateUser(r.Context(), r, FromContext(r.Context()), id, in)
	})
}

func (s *Service) apiSetStatus(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in struct {
			Status string `json:"status"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.SetStatus(r.Context(), r, FromContext(r.Context()), id, in.Status)
	})
}

func (s *Service) apiResetPassword(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in struct {
			Password string `json:"password"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.ResetPassword(r.Context(), r, FromContext(r.Context()), id, in.Password)
	})
}

func (s *Service) apiUnlock(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.Unlock(r.Context(), r, FromContext(r.Context()), id) })
}

func (s *Service) apiAssignRoles(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in struct {
			Roles []string `json:"roles"`
		}
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.AssignRoles(r.Context(), r, FromContext(r.Context()), id, in.Roles)
	})
}

func (s *Service) apiForceLogout(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		n, err := s.ForceLogout(r.Context(), r, FromContext(r.Context()), id)
		return map[string]any{"ok": err == nil, "sessions": n}, err
	})
}

func (s *Service) apiUnmask(field string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withID(w, r, func(id int64) (any, error) {
			v, err := s.Unmask(r.Context(), r, FromContext(r.Context()), id, field)
			shown := v
			if shown == "" {
				shown = "未登记"
			}
			// message: what the console's 查看完整号码 button shows.
			return map[string]any{field: v, "message": "完整" + sealedFields[field].label + "：" + shown + "（本次查看已记入审计日志）"}, err
		})
	}
}

func (s *Service) apiListDepts(w http.ResponseWriter, r *http.Request) {
	list, err := s.ListDepts(r.Context(), FromContext(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiCreateDept(w http.ResponseWriter, r *http.Request) {
	var in DeptInput
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.CreateDept(r.Context(), r, FromContext(r.Context()), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id})
}

func (s *Service) apiUpdateDept(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in DeptInput
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.UpdateDept(r.Context(), r, FromContext(r.Context()), id, in)
	})
}

func (s *Service) apiDeleteDept(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.DeleteDept(r.Context(), r, FromContext(r.Context()), id) })
}

func (s *Service) apiListRoles(w http.ResponseWriter, r *http.Request) {
	list, err := s.ListRoles(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiCreateRole(w http.ResponseWriter, r *http.Request) {
	var in RoleInput
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.CreateRole(r.Context(), r, FromContext(r.Context()), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id})
}

func (s *Service) apiUpdateRole(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) {
		var in RoleInput
		if err := web.Decode(r, &in); err != nil {
			return nil, err
		}
		return nil, s.UpdateRole(r.Context(), r, FromContext(r.Context()), id, in)
	})
}

func (s *Service) apiDeleteRole(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.DeleteRole(r.Context(), r, FromContext(r.Context()), id) })
}

func (s *Service) apiPermissions(w http.ResponseWriter, r *http.Request) {
	var list []web.Perm
	if s.Catalogue != nil {
		list = s.Catalogue()
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

// fail answers with err and audits refusals by business rules (scope, separation of duties,
// grant limits) the way missing permissions are audited.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var we *web.Error
	if errors.As(err, &we) && we.Status == http.StatusForbidden {
		s.record(r.Context(), s.db, r, audit.Entry{Action: "access.denied", ObjectType: "route", ObjectID: r.Method + " " + r.URL.Path, Result: "denied", Detail: we.Message})
	}
	web.Fail(w, r, err)
}

func (s *Service) apiTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.Tokens(r.Context(), FromContext(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        string   `json:"name"`
		Permissions []string `json:"permissions"`
		Days        int      `json:"days"`
	}
	if err := web.Decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Days < 0 || in.Days > 366 {
		s.fail(w, r, web.Errorf(http.StatusBadRequest, "bad_days", "有效期须在 0（不过期）到 366 天之间"))
		return
	}
	tok, id, err := s.CreateToken(r.Context(), r, FromContext(r.Context()), in.Name, in.Permissions, time.Duration(in.Days)*24*time.Hour)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id, "token": tok, "message": "令牌已创建，只显示这一次，请复制后妥善保存：" + tok})
}

func (s *Service) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	s.withID(w, r, func(id int64) (any, error) { return nil, s.RevokeToken(r.Context(), r, FromContext(r.Context()), id) })
}

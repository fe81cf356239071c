package iam

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates returns the module's page templates.
func Templates() fs.FS { return templates }

// Menu returns the module's menu entries.
func (s *Service) Menu() []web.MenuItem {
	return append([]web.MenuItem{
		{Group: "系统管理", Title: "用户管理", Path: "/admin/users", Permission: "iam.user.read", Order: 10},
		{Group: "系统管理", Title: "部门管理", Path: "/admin/depts", Permission: "iam.dept.read", Order: 20},
		{Group: "系统管理", Title: "角色与权限", Path: "/admin/roles", Permission: "iam.role.read", Order: 30},
		{Group: "统一身份", Title: "我的账户", Path: "/account", Permission: web.LoggedIn, Order: 10},
	}, s.securityMenu()...)
}

func (s *Service) pageRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/login", Permission: web.Public, Summary: "登录页", Handler: s.pageLogin},
		{Method: "POST", Pattern: "/login", Permission: web.Public, Summary: "登录表单提交", Handler: s.pageLoginPost},
		{Method: "POST", Pattern: "/logout", Permission: web.LoggedIn, Summary: "退出登录", Handler: s.pageLogout},
		{Method: "GET", Pattern: "/{$}", Permission: web.LoggedIn, Summary: "工作台", Handler: s.pageHome},
		{Method: "GET", Pattern: "/account", Permission: web.LoggedIn, Summary: "我的账户", Handler: s.pageAccount},
		{Method: "GET", Pattern: "/account/password", Permission: web.LoggedIn, Summary: "修改口令", Handler: s.pagePassword},
		{Method: "GET", Pattern: "/admin/users", Permission: "iam.user.read", Summary: "用户管理", Handler: s.pageUsers},
		{Method: "GET", Pattern: "/admin/users/new", Permission: "iam.user.write", Summary: "新增用户", Handler: s.pageUserNew},
		{Method: "GET", Pattern: "/admin/users/{id}", Permission: "iam.user.read", Summary: "用户详情", Handler: s.pageUserEdit},
		{Method: "GET", Pattern: "/admin/depts", Permission: "iam.dept.read", Summary: "部门管理", Handler: s.pageDepts},
		{Method: "GET", Pattern: "/admin/roles", Permission: "iam.role.read", Summary: "角色与权限", Handler: s.pageRoles},
		{Method: "GET", Pattern: "/admin/roles/new", Permission: "iam.role.write", Summary: "新增角色", Handler: s.pageRoleForm},
		{Method: "GET", Pattern: "/admin/roles/{id}", Permission: "iam.role.read", Summary: "角色详情", Handler: s.pageRoleForm},
	}
}

func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

type loginPage struct {
	Next, Account, Error string
}

func (s *Service) pageLogin(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && r.URL.Query().Get("add") != "1" {
		if _, err := s.Authenticate(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	s.Pages.Render(w, r, "iam_login.html", web.PageData{Title: "登录", Data: s.loginView(r, loginPage{Next: r.URL.Query().Get("next")})})
}

func (s *Service) pageLoginPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "bad_form", "表单无效"))
		return
	}
	account, next := r.PostForm.Get("account"), safeNext(r.PostForm.Get("next"))
	res, err := s.Login(r.Context(), r, account, r.PostForm.Get("password"))
	if err != nil {
		status, msg := http.StatusUnauthorized, "登录失败"
		var we *web.Error
		if errors.As(err, &we) {
			status, msg = we.Status, we.Message
		}
		s.Pages.RenderStatus(w, r, status, "iam_login.html", web.PageData{Title: "登录", Data: s.loginView(r, loginPage{Next: next, Account: account, Error: msg})})
		return
	}
	s.SetSessionCookie(w, res)
	if res.MustChangePassword {
		next = "/account/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Service) pageLogout(w http.ResponseWriter, r *http.Request) {
	var out BrowserLogout
	var err error
	if r.PostFormValue("all") == "1" {
		out, err = s.LogoutBrowser(w, r)
	} else {
		out, err = s.LogoutActive(w, r, FromContext(r.Context()))
	}
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	// The login page clears the browser storage of the accounts that left (and, with other
	// accounts still logged in, shows them to choose from).
	http.Redirect(w, r, "/login?signed_out="+url.QueryEscape(strings.Join(out.Purge, ",")), http.StatusSeeOther)
}

type homePage struct {
	P         *Principal
	Risks     []LoginRisk
	Notices   []Notice
	RoleNames []string
	Scope     string
	Users     int
	Depts     int
}

func (s *Service) pageHome(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	hp := homePage{P: p}
	roles, _ := s.ListRoles(r.Context())
	for _, ro := range roles {
		for _, c := range p.Roles {
			if ro.Code == c {
				hp.RoleNames = append(hp.RoleNames, ro.Name)
			}
		}
	}
	var scopes []string
	for _, sc := range p.Scopes {
		scopes = append(scopes, ScopeNames[sc.Kind])
	}
	hp.Scope = strings.Join(scopes, "、")
	hp.Risks, _ = s.MyRisks(r.Context(), p, true, 10)
	hp.Notices, _ = s.Notices(r.Context(), p, true, 10)
	if p.Can("iam.user.read") {
		w2, a := p.Filter(userCols)
		s.db.Get(r.Context(), &hp.Users, `SELECT COUNT(*) FROM users u WHERE `+w2, a...)
	}
	if p.Can("iam.dept.read") {
		w2, a := p.Filter(deptCols)
		s.db.Get(r.Context(), &hp.Depts, `SELECT COUNT(*) FROM departments d WHERE `+w2, a...)
	}
	s.Pages.Render(w, r, "iam_home.html", web.PageData{Title: "工作台", Data: hp})
}

type accountPage struct {
	P        *Principal
	Risks    []LoginRisk
	Statuses map[string]string
	Sessions []SessionInfo
	Rotation int
	MaxDays  int
	Tokens   []APIToken
	// TokenPerms are the permissions the user holds, which a new token may carry.
	TokenPerms []web.Perm
}

func (s *Service) pageAccount(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	ap := accountPage{P: p, MaxDays: int(s.opt.Policy.MaxAge.Hours() / 24)}
	var err error
	if ap.Sessions, err = s.Sessions(r.Context(), p.UserID, p.SessionID); err != nil {
		web.Fail(w, r, err)
		return
	}
	s.db.Get(r.Context(), &ap.Rotation, `SELECT password_max_days FROM users WHERE id = ?`, p.UserID)
	ap.Tokens, _ = s.Tokens(r.Context(), p)
	if s.Catalogue != nil {
		for _, perm := range s.Catalogue() {
			if p.Can(perm.Code) {
				ap.TokenPerms = append(ap.TokenPerms, perm)
			}
		}
	}
	ap.Risks, _ = s.MyRisks(r.Context(), p, false, 50)
	ap.Statuses = RiskStatusNames
	s.Pages.Render(w, r, "iam_account.html", web.PageData{Title: "我的账户", Crumbs: []web.Crumb{{Title: "统一身份"}, {Title: "我的账户"}}, Data: ap})
}

func (s *Service) pagePassword(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	rules := s.opt.Policy.Check("", Subject{Account: p.Account, Name: p.Name, Admin: p.AdminKind != ""})
	s.Pages.Render(w, r, "iam_password.html", web.PageData{Title: "修改口令", Crumbs: []web.Crumb{{Title: "我的账户", Path: "/account"}, {Title: "修改口令"}},
		Data: map[string]any{"Rules": rules, "Must": p.MustChange}})
}

type usersPage struct {
	List    web.List[User]
	Filter  UserFilter
	Regions []Region
	Query   template.URL
	Prev    string
	Next    string
}

func (s *Service) pageUsers(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := userFilter(r)
	list, err := s.ListUsers(r.Context(), p, f, pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	regs, _ := ListRegions(r.Context(), s.db, p.Region)
	q := url.Values{"q": {f.Q}, "region": {f.Region}, "status": {f.Status}}
	up := usersPage{List: list, Filter: f, Regions: regs, Query: web.QueryString(q)}
	up.Prev, up.Next = web.PageLinks(r.URL, pg, list.Total)
	s.Pages.Render(w, r, "iam_users.html", web.PageData{Title: "用户管理", Crumbs: []web.Crumb{{Title: "系统管理"}, {Title: "用户管理"}}, Data: up})
}

type userForm struct {
	User     *User
	Regions  []Region
	Depts    []Dept
	Roles    []Role
	Has      map[string]bool
	CanGrant bool
}

func (s *Service) userFormData(r *http.Request, u *User) (*userForm, error) {
	p := FromContext(r.Context())
	f := &userForm{User: u, Has: map[string]bool{}, CanGrant: p.Can("iam.user.grant")}
	var err error
	if f.Regions, err = ListRegions(r.Context(), s.db, p.Region); err != nil {
		return nil, err
	}
	if f.Depts, err = s.ListDepts(r.Context(), p); err != nil {
		return nil, err
	}
	if f.Roles, err = s.ListRoles(r.Context()); err != nil {
		return nil, err
	}
	if u != nil {
		for _, c := range u.Roles {
			f.Has[c] = true
		}
	}
	return f, nil
}

func (s *Service) pageUserNew(w http.ResponseWriter, r *http.Request) {
	f, err := s.userFormData(r, nil)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.Pages.Render(w, r, "iam_user_form.html", web.PageData{Title: "新增用户", Active: "/admin/users", Crumbs: []web.Crumb{{Title: "用户管理", Path: "/admin/users"}, {Title: "新增用户"}}, Data: f})
}

func (s *Service) pageUserEdit(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	u, err := s.GetUser(r.Context(), FromContext(r.Context()), id)
	if err != nil {
		s.Pages.RenderStatus(w, r, http.StatusNotFound, "iam_forbidden.html", web.PageData{Title: "记录不存在", Data: "not_found"})
		return
	}
	f, err := s.userFormData(r, u)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.Pages.Render(w, r, "iam_user_form.html", web.PageData{Title: "用户 " + u.Account, Active: "/admin/users", Crumbs: []web.Crumb{{Title: "用户管理", Path: "/admin/users"}, {Title: u.Account}}, Data: f})
}

func (s *Service) pageDepts(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	depts, err := s.ListDepts(r.Context(), p)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	regs, _ := ListRegions(r.Context(), s.db, p.Region)
	var edit *Dept
	if id, _ := strconv.ParseInt(r.URL.Query().Get("edit"), 10, 64); id > 0 {
		for i := range depts {
			if depts[i].ID == id {
				edit = &depts[i]
			}
		}
	}
	s.Pages.Render(w, r, "iam_depts.html", web.PageData{Title: "部门管理", Crumbs: []web.Crumb{{Title: "系统管理"}, {Title: "部门管理"}},
		Data: map[string]any{"Depts": depts, "Regions": regs, "Edit": edit}})
}

func (s *Service) pageRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := s.ListRoles(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.Pages.Render(w, r, "iam_roles.html", web.PageData{Title: "角色与权限", Crumbs: []web.Crumb{{Title: "系统管理"}, {Title: "角色与权限"}},
		Data: map[string]any{"Roles": roles, "ScopeNames": ScopeNames}})
}

type permGroup struct {
	Group string
	Perms []web.Perm
}

func (s *Service) pageRoleForm(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	var role *Role
	if r.PathValue("id") != "" {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if role, err = s.GetRole(r.Context(), id); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	var groups []permGroup
	if s.Catalogue != nil {
		idx := map[string]int{}
		for _, perm := range s.Catalogue() {
			i, ok := idx[perm.Group]
			if !ok {
				i = len(groups)
				idx[perm.Group] = i
				groups = append(groups, permGroup{Group: perm.Group})
			}
			groups[i].Perms = append(groups[i].Perms, perm)
		}
	}
	has := map[string]bool{}
	hasDept := map[int64]bool{}
	if role != nil {
		for _, c := range role.Permissions {
			has[c] = true
		}
		for _, d := range role.Depts {
			hasDept[d] = true
		}
	}
	depts, _ := s.ListDepts(r.Context(), p)
	title := "新增角色"
	if role != nil {
		title = "角色 " + role.Name
	}
	s.Pages.Render(w, r, "iam_role_form.html", web.PageData{Title: title, Active: "/admin/roles", Crumbs: []web.Crumb{{Title: "角色与权限", Path: "/admin/roles"}, {Title: title}},
		Data: map[string]any{"Role": role, "Groups": groups, "Has": has, "HasDept": hasDept, "Depts": depts, "ScopeNames": ScopeNames,
			"Scopes": []string{ScopeAll, ScopeDeptBelow, ScopeDept, ScopeCustom, ScopeSelf}, "CanWrite": p.Can("iam.role.write")}})
}

package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// publicRoutes is the explicit list of routes that need no login; any other public route
// fails the test.
var publicRoutes = map[string]bool{
	"POST /api/v1/auth/login":  true,
	"GET /login":               true,
	"POST /login":              true,
	"GET /healthz":             true,
	"GET /readyz":              true,
	"GET /metrics":             true,
	"GET /api/v1/openapi.json": true,
	"GET /status":              true, // public status page (issue 6)
	// Account security (issue 5 §3): SMS login, and the accounts kept in one browser,
	// which are authenticated by their own session cookies.
	"POST /api/v1/auth/sms/send":               true,
	"POST /api/v1/auth/sms/login":              true,
	"GET /api/v1/auth/accounts":                true,
	"POST /api/v1/auth/accounts/{slot}/switch": true,
	"DELETE /api/v1/auth/accounts/{slot}":      true,
	// Single sign-on (issue 5): protocol endpoints that relying parties and partner
	// platforms call without a zhsj session; each authenticates its caller itself.
	"GET /.well-known/openid-configuration": true,
	"GET /oidc/authorize":                   true,
	"POST /oidc/token":                      true,
	"GET /oidc/userinfo":                    true,
	"POST /oidc/userinfo":                   true,
	"GET /oidc/keys":                        true,
	"GET /oidc/end_session":                 true,
	"POST /oidc/revoke":                     true,
	"POST /oidc/introspect":                 true,
	"GET /cas/login":                        true,
	"GET /cas/serviceValidate":              true,
	"GET /cas/p3/serviceValidate":           true,
	"GET /cas/logout":                       true,
	"POST /cas/logout":                      true,
	"POST /sso/ticket/validate":             true,
	"POST /sso/ticket/logout":               true,
	"GET /sso/login":                        true,
	"GET /sso/connectors/{id}/login":        true,
	"GET /sso/connectors/{id}/callback":     true,
	"POST /sso/connectors/{id}/callback":    true,
	"POST /sso/connectors/{id}/logout":      true,
}

func TestEveryRouteHasAPermission(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	catalogue := map[string]web.Perm{}
	for _, p := range e.App.Perms {
		catalogue[p.Code] = p
	}
	seen := map[string]bool{}
	for _, r := range e.App.Routes {
		key := r.Method + " " + r.Pattern
		if seen[key] {
			t.Errorf("%s registered twice", key)
		}
		seen[key] = true
		switch r.Permission {
		case "":
			t.Errorf("%s has no permission", key)
		case web.Public:
			if !publicRoutes[key] {
				t.Errorf("%s is public but not in the explicit list of public routes", key)
			}
		case web.LoggedIn:
		default:
			p, ok := catalogue[r.Permission]
			if !ok || p.Name == "" {
				t.Errorf("%s: permission %q missing from the catalogue or without a Chinese name", key, r.Permission)
			}
		}
		if r.Summary == "" {
			t.Errorf("%s has no summary", key)
		}
	}
	for k := range publicRoutes {
		if !seen[k] {
			t.Errorf("listed public route %s does not exist", k)
		}
	}
}

func TestOpenAPIMatchesRouteTable(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	res := e.Client().Do("GET", "/api/v1/openapi.json", nil)
	if res.Status != 200 {
		t.Fatalf("openapi: %d", res.Status)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := res.JSON(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			documented++
			found := false
			for _, r := range e.App.Routes {
				if r.Pattern == path && strings.EqualFold(r.Method, method) {
					found = true
				}
			}
			if !found {
				t.Errorf("documented %s %s is not served", method, path)
			}
		}
	}
	api := 0
	for _, r := range e.App.Routes {
		if !strings.HasPrefix(r.Pattern, "/api/") {
			continue
		}
		api++
		op, ok := doc.Paths[r.Pattern][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("served %s %s is not documented", r.Method, r.Pattern)
		}
		if pw, _ := op["x-province-wide"].(bool); pw != r.ProvinceWide {
			t.Errorf("%s %s: x-province-wide %v, route %v", r.Method, r.Pattern, pw, r.ProvinceWide)
		}
	}
	if api != documented || api < 20 {
		t.Errorf("documented %d operations, served %d API routes", documented, api)
	}
	// Every documented path answers something other than 404/405 (unauthenticated → 401).
	c := e.Client()
	for path, ops := range doc.Paths {
		p := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "1")
		for method := range ops {
			res := c.Do(strings.ToUpper(method), p, nil)
			if res.Status == 404 && res.ErrorCode() == "not_found" && !strings.Contains(string(res.Body), "记录") || res.Status == 405 {
				t.Errorf("%s %s answered %d %s", method, p, res.Status, res.Body)
			}
		}
	}
}

func TestLoginMeLogout(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("alice", "610100", "analyst")
		c := e.Client()
		if res := c.Do("GET", "/api/v1/me", nil); res.Status != 401 || res.ErrorCode() == "" {
			t.Fatalf("me without session: %d %s", res.Status, res.Body)
		}
		res := c.Do("POST", "/api/v1/auth/login", map[string]string{"account": "alice", "password": "wrong-Password1!"})
		if res.Status != 401 || res.ErrorCode() != "bad_credentials" {
			t.Fatalf("wrong password: %d %s", res.Status, res.Body)
		}
		if res := c.Do("POST", "/api/v1/auth/login", map[string]string{"account": "nobody", "password": "x"}); res.Status != 401 {
			t.Fatalf("unknown account: %d", res.Status)
		}
		res = c.Do("POST", "/api/v1/auth/login", map[string]string{"account": "alice", "password": apptest.DefaultPassword})
		if res.Status != 200 {
			t.Fatalf("login: %d %s", res.Status, res.Body)
		}
		if ck := res.Header.Get("Set-Cookie"); !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
			t.Errorf("session cookie flags: %s", ck)
		}
		var me struct {
			Account     string   `json:"account"`
			Region      string   `json:"region"`
			Roles       []string `json:"roles"`
			Permissions []string `json:"permissions"`
			DataScope   []string `json:"data_scope"`
		}
		res = c.Do("GET", "/api/v1/me", nil)
		if err := res.JSON(&me); err != nil || res.Status != 200 {
			t.Fatalf("me: %d %s", res.Status, res.Body)
		}
		if me.Account != "alice" || me.Region != "610100" || len(me.Roles) != 1 || me.Roles[0] != "analyst" || len(me.DataScope) != 1 || me.DataScope[0] != "all" {
			t.Fatalf("me: %+v", me)
		}
		for _, p := range me.Permissions {
			if strings.HasPrefix(p, "iam.") || strings.HasPrefix(p, "audit.") {
				t.Errorf("analyst holds %s", p)
			}
		}
		if res := c.Do("POST", "/api/v1/auth/logout", nil); res.Status != 200 {
			t.Fatalf("logout %d", res.Status)
		}
		if res := c.Do("GET", "/api/v1/me", nil); res.Status != 401 {
			t.Fatalf("me after logout: %d", res.Status)
		}
		// Every attempt is in the login log, without the password.
		var n int
		e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE kind = 'login'`)
		if n != 4 {
			t.Errorf("login log rows: %d, want 4 (wrong, unknown, success, logout)", n)
		}
		var leaked int
		e.App.DB.Get(context.Background(), &leaked, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE ? OR detail LIKE ?`, "%wrong-Password1!%", "%"+apptest.DefaultPassword+"%")
		if leaked != 0 {
			t.Error("password found in audit log")
		}
	})
}

func TestLockoutUnderParallelAttempts(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("bob", "610000", "analyst")
		var wg sync.WaitGroup
		statuses := make(chan int, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- e.Client().Do("POST", "/api/v1/auth/login", map[string]string{"account": "bob", "password": "Wrong#Pass9word"}).Status
			}()
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		var failed int
		var locked *time.Time
		if err := e.App.DB.QueryRow(context.Background(), `SELECT failed_logins, locked_until FROM users WHERE account = 'bob'`).Scan(&failed, &locked); err != nil {
			t.Fatal(err)
		}
		if failed != 5 || locked == nil {
			t.Fatalf("failed_logins=%d locked=%v, want exactly 5 and locked (responses %v)", failed, locked, counts)
		}
		if counts[401] != 4 || counts[423] != 16 {
			t.Fatalf("responses %v, want 4×401 and 16×423", counts)
		}
		// The right password is refused while locked.
		res := e.Client().Do("POST", "/api/v1/auth/login", map[string]string{"account": "bob", "password": apptest.DefaultPassword})
		if res.Status != http.StatusLocked || res.ErrorCode() != "account_locked" {
			t.Fatalf("locked login: %d %s", res.Status, res.Body)
		}
		// After the lock runs out, a fresh count starts and the right password works.
		e.App.DB.Exec(context.Background(), `UPDATE users SET locked_until = ? WHERE account = 'bob'`, store.Now().Add(-time.Second))
		if res := e.Client().Do("POST", "/api/v1/auth/login", map[string]string{"account": "bob", "password": apptest.DefaultPassword}); res.Status != 200 {
			t.Fatalf("after lock expiry: %d %s", res.Status, res.Body)
		}
	})
}

func TestExpiredPasswordForcesChange(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("carol", "610000", "sysadmin")
		e.App.DB.Exec(context.Background(), `UPDATE users SET password_changed_at = ? WHERE account = 'carol'`, store.Now().AddDate(0, 0, -91))
		c := e.Client()
		res := c.Do("POST", "/api/v1/auth/login", map[string]string{"account": "carol", "password": apptest.DefaultPassword})
		var lr struct {
			Must bool `json:"must_change_password"`
		}
		res.JSON(&lr)
		if res.Status != 200 || !lr.Must {
			t.Fatalf("login with expired password: %d %s", res.Status, res.Body)
		}
		if res := c.Do("GET", "/api/v1/users", nil); res.Status != 403 || res.ErrorCode() != "password_change_required" {
			t.Fatalf("users before change: %d %s", res.Status, res.Body)
		}
		if res := c.Do("GET", "/admin/users", nil); res.Status != 303 || res.Header.Get("Location") != "/account/password" {
			t.Fatalf("page before change: %d %s", res.Status, res.Header.Get("Location"))
		}
		// Policy applies to the new password.
		if res := c.Do("POST", "/api/v1/me/password", map[string]string{"current": apptest.DefaultPassword, "new": "Short1!"}); res.Status != 400 || res.ErrorCode() != "weak_password" {
			t.Fatalf("weak new password: %d %s", res.Status, res.Body)
		}
		if res := c.Do("POST", "/api/v1/me/password", map[string]string{"current": apptest.DefaultPassword, "new": apptest.DefaultPassword}); res.Status != 400 {
			t.Fatalf("same password accepted: %d", res.Status)
		}
		if res := c.Do("POST", "/api/v1/me/password", map[string]string{"current": apptest.DefaultPassword, "new": "Nw7&hJq3#pLx9Ev"}); res.Status != 200 {
			t.Fatalf("change: %d %s", res.Status, res.Body)
		}
		if res := c.Do("GET", "/api/v1/users", nil); res.Status != 200 {
			t.Fatalf("users after change: %d %s", res.Status, res.Body)
		}
		// Minimum age: a second change the same day is refused.
		if res := c.Do("POST", "/api/v1/me/password", map[string]string{"current": "Nw7&hJq3#pLx9Ev", "new": "Qz8*bNm4@tYr6Wk"}); res.Status != 400 || res.ErrorCode() != "password_too_young" {
			t.Fatalf("second change same day: %d %s", res.Status, res.Body)
		}
	})
}

func TestDisabledUserSessionRejectedAtOnce(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("admin1", "610000", "sysadmin")
		uid := e.User("dave", "610100", "analyst")
		dave := e.Login("dave")
		if res := dave.Do("GET", "/api/v1/me", nil); res.Status != 200 {
			t.Fatal(res.Status)
		}
		admin := e.Login("admin1")
		if res := admin.Do("POST", "/api/v1/users/"+itoa(uid)+"/status", map[string]string{"status": "disabled"}); res.Status != 200 {
			t.Fatalf("disable: %d %s", res.Status, res.Body)
		}
		if res := dave.Do("GET", "/api/v1/me", nil); res.Status != 401 {
			t.Fatalf("disabled user's session still works: %d", res.Status)
		}
		if res := e.Client().Do("POST", "/api/v1/auth/login", map[string]string{"account": "dave", "password": apptest.DefaultPassword}); res.Status != 403 || res.ErrorCode() != "account_disabled" {
			t.Fatalf("disabled login: %d %s", res.Status, res.Body)
		}
	})
}

func TestSeparationOfDuties(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("sys", "610000", "sysadmin")
		e.User("sec", "610000", "secadmin")
		e.User("aud", "610000", "auditadmin")
		target := e.User("erin", "610000", "analyst")
		sys, sec, aud := e.Login("sys"), e.Login("sec"), e.Login("aud")
		if res := sys.Do("GET", "/api/v1/audit/operations", nil); res.Status != 403 {
			t.Errorf("system admin reads audit logs: %d", res.Status)
		}
		if res := aud.Do("GET", "/api/v1/audit/operations", nil); res.Status != 200 {
			t.Errorf("audit admin cannot read audit logs: %d %s", res.Status, res.Body)
		}
		if res := aud.Do("POST", "/api/v1/users", map[string]any{"account": "x1", "name": "x"}); res.Status != 403 {
			t.Errorf("audit admin creates users: %d", res.Status)
		}
		if res := aud.Do("PUT", "/api/v1/users/"+itoa(target), map[string]any{"name": "改名"}); res.Status != 403 {
			t.Errorf("audit admin changes users: %d", res.Status)
		}
		if res := sys.Do("PUT", "/api/v1/users/"+itoa(target)+"/roles", map[string]any{"roles": []string{"leader"}}); res.Status != 403 {
			t.Errorf("system admin grants roles: %d", res.Status)
		}
		if res := sec.Do("PUT", "/api/v1/users/"+itoa(target)+"/roles", map[string]any{"roles": []string{"sysadmin", "auditadmin"}}); res.Status != 400 || res.ErrorCode() != "separation_of_duties" {
			t.Errorf("two admin roles on one account: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("PUT", "/api/v1/users/"+itoa(target)+"/roles", map[string]any{"roles": []string{"leader"}}); res.Status != 200 {
			t.Errorf("security admin grants leader: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("POST", "/api/v1/roles", map[string]any{"code": "peek", "name": "偷看", "data_scope": "all", "permissions": []string{"audit.log.read"}}); res.Status != 403 {
			t.Errorf("custom role with audit permission: %d %s", res.Status, res.Body)
		}
	})
}

func TestXianAnalystNeverReachesBaoji(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("sec", "610000", "secadmin")
		sec := e.Login("sec")
		// A city-level user manager for Xi'an: reads, edits, exports and grants users, with
		// data scope "own department and below" inside the Xi'an jurisdiction.
		res := sec.Do("POST", "/api/v1/roles", map[string]any{"code": "city_user_admin", "name": "市级用户管理员", "data_scope": "dept_below",
			"permissions": []string{"iam.user.read", "iam.user.write", "iam.dept.read", "iam.dept.write", "iam.user.unlock", "iam.session.manage"}})
		if res.Status != 201 {
			t.Fatalf("create role: %d %s", res.Status, res.Body)
		}
		xaID := e.User("xa_admin", "610100", "city_user_admin")
		e.User("xa_staff", "610113", "inspector")
		bjID := e.User("bj_staff", "610300", "inspector")
		var bjDept, xaDept int64
		e.App.DB.Get(ctx, &bjDept, `SELECT id FROM departments WHERE region_code = '610300' AND parent_id IS NOT NULL ORDER BY id LIMIT 1`)
		e.App.DB.Get(ctx, &xaDept, `SELECT id FROM departments WHERE region_code = '610100' ORDER BY id LIMIT 1`)
		xa := e.Login("xa_admin")

		var list struct {
			Items []struct {
				Account    string `json:"account"`
				RegionCode string `json:"region_code"`
			} `json:"items"`
			Total int `json:"total"`
		}
		res = xa.Do("GET", "/api/v1/users?size=500", nil)
		if err := res.JSON(&list); err != nil || res.Status != 200 {
			t.Fatalf("list: %d %s", res.Status, res.Body)
		}
		accounts := map[string]bool{}
		for _, u := range list.Items {
			accounts[u.Account] = true
			if !strings.HasPrefix(u.RegionCode, "6101") {
				t.Errorf("Xi'an user admin sees %s in %s", u.Account, u.RegionCode)
			}
		}
		if !accounts["xa_staff"] || !accounts["xa_admin"] || accounts["bj_staff"] || list.Total != len(list.Items) {
			t.Fatalf("scoped list wrong: %v total %d", accounts, list.Total)
		}
		// Export holds the same scope.
		res = xa.Do("GET", "/api/v1/users/export", nil)
		if res.Status != 200 {
			t.Fatalf("export: %d", res.Status)
		}
		f, err := excelize.OpenReader(strings.NewReader(string(res.Body)))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := f.GetRows(f.GetSheetList()[0])
		joined := ""
		for _, r := range rows {
			joined += strings.Join(r, "|") + "\n"
		}
		if strings.Contains(joined, "bj_staff") || !strings.Contains(joined, "xa_staff") {
			t.Fatalf("export crosses scope:\n%s", joined)
		}
		// Every route that takes an id refuses the Baoji user and department.
		for _, r := range e.App.Routes {
			if !strings.Contains(r.Pattern, "{id}") || !strings.HasPrefix(r.Pattern, "/api/v1/") {
				continue
			}
			id := bjID
			if strings.Contains(r.Pattern, "/depts/") {
				id = bjDept
			}
			if strings.Contains(r.Pattern, "/roles/") || strings.Contains(r.Pattern, "/me/") {
				continue // roles are global definitions; /me routes only touch the caller
			}
			path := strings.Replace(r.Pattern, "{id}", itoa(id), 1)
			body := map[string]any{"name": "越权", "status": "disabled", "password": "Vb6%kLm2@pQz8Rt", "roles": []string{}, "region_code": "610300"}
			res := xa.Do(r.Method, path, body)
			if res.Status < 400 {
				t.Errorf("%s %s by Xi'an user admin on Baoji data: %d %s", r.Method, path, res.Status, res.Body)
			}
		}
		var name, status string
		e.App.DB.QueryRow(ctx, `SELECT name, status FROM users WHERE id = ?`, bjID).Scan(&name, &status)
		if name == "越权" || status != "active" {
			t.Fatalf("Baoji user was changed: %s %s", name, status)
		}
		// Creating users outside the jurisdiction (Baoji, or the province) is refused.
		for _, region := range []string{"610300", "610000"} {
			res := xa.Do("POST", "/api/v1/users", map[string]any{"account": "new_" + region, "name": "新", "region_code": region, "password": "Vb6%kLm2@pQz8Rt"})
			if res.Status < 400 {
				t.Errorf("created a user in %s: %d", region, res.Status)
			}
		}
		res = xa.Do("POST", "/api/v1/depts", map[string]any{"name": "越权部门", "parent_id": bjDept, "region_code": "610300"})
		if res.Status < 400 {
			t.Errorf("created a department under Baoji: %d", res.Status)
		}
		// It cannot grant at all (no iam.user.grant), and a delegated granter cannot grant a
		// role wider than its own.
		if res := xa.Do("PUT", "/api/v1/users/"+itoa(xaID)+"/roles", map[string]any{"roles": []string{"analyst"}}); res.Status != 403 {
			t.Errorf("grant without permission: %d", res.Status)
		}
		res = sec.Do("POST", "/api/v1/roles", map[string]any{"code": "city_granter", "name": "市级授权员", "data_scope": "dept_below",
			"permissions": []string{"iam.user.read", "iam.user.write", "iam.dept.read"}})
		if res.Status != 201 {
			t.Fatalf("create role: %d %s", res.Status, res.Body)
		}
		// iam.user.grant is reserved to the built-in security administrator role.
		res = sec.Do("POST", "/api/v1/roles", map[string]any{"code": "city_granter2", "name": "市级授权员2", "data_scope": "dept_below", "permissions": []string{"iam.user.grant"}})
		if res.Status != 403 {
			t.Errorf("custom role holding iam.user.grant: %d %s", res.Status, res.Body)
		}
		// The data-scope rule itself: a Xi'an security administrator cannot give province scope.
		e.User("xa_sec", "610100", "secadmin")
		xaSec := e.Login("xa_sec")
		staff := e.User("xa_staff2", "610100")
		if res := xaSec.Do("PUT", "/api/v1/users/"+itoa(staff)+"/roles", map[string]any{"roles": []string{"sysadmin"}}); res.Status != 403 {
			t.Errorf("city security admin granted an administrator role: %d %s", res.Status, res.Body)
		}
		if res := xaSec.Do("POST", "/api/v1/users", map[string]any{"account": "prov_user", "name": "省", "region_code": "610000"}); res.Status < 400 {
			t.Errorf("city admin created a province-level user: %d", res.Status)
		}
		if res := xaSec.Do("PUT", "/api/v1/users/"+itoa(staff)+"/roles", map[string]any{"roles": []string{"analyst"}}); res.Status != 200 {
			t.Errorf("city security admin grants analyst in Xi'an: %d %s", res.Status, res.Body)
		}
		_ = xaDept
	})
}

func TestUserDeptRoleCRUD(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("sys", "610000", "sysadmin")
		e.User("sec", "610000", "secadmin")
		sys, sec := e.Login("sys"), e.Login("sec")
		var root int64
		e.App.DB.Get(context.Background(), &root, `SELECT id FROM departments WHERE parent_id IS NULL`)
		res := sys.Do("POST", "/api/v1/depts", map[string]any{"name": "信息中心", "parent_id": root, "region_code": "610000"})
		var created struct{ ID int64 }
		if res.JSON(&created); res.Status != 201 || created.ID == 0 {
			t.Fatalf("create dept: %d %s", res.Status, res.Body)
		}
		res = sys.Do("POST", "/api/v1/depts", map[string]any{"name": "数据科", "parent_id": created.ID, "region_code": "610000"})
		var child struct{ ID int64 }
		res.JSON(&child)
		var path string
		e.App.DB.Get(context.Background(), &path, `SELECT path FROM departments WHERE id = ?`, child.ID)
		if path != "/"+itoa(root)+"/"+itoa(created.ID)+"/"+itoa(child.ID)+"/" {
			t.Fatalf("path %s", path)
		}
		if res := sys.Do("PUT", "/api/v1/depts/"+itoa(created.ID), map[string]any{"name": "大数据中心", "parent_id": root, "region_code": "610000"}); res.Status != 200 {
			t.Fatalf("update dept: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("DELETE", "/api/v1/depts/"+itoa(created.ID), nil); res.Status != 409 {
			t.Fatalf("delete non-empty dept: %d", res.Status)
		}
		res = sys.Do("POST", "/api/v1/users", map[string]any{"account": "frank", "name": "冯", "phone": "13912345678", "region_code": "610000", "dept_id": child.ID, "password": "Hj5^tRw8!mNq2Zx"})
		var u struct{ ID int64 }
		if res.JSON(&u); res.Status != 201 {
			t.Fatalf("create user: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("POST", "/api/v1/users", map[string]any{"account": "frank", "name": "冯"}); res.Status != 409 {
			t.Fatalf("duplicate account: %d", res.Status)
		}
		var got struct {
			Phone      string `json:"phone"`
			DeptName   string `json:"dept_name"`
			MustChange bool   `json:"must_change_password"`
		}
		sys.Do("GET", "/api/v1/users/"+itoa(u.ID), nil).JSON(&got)
		if got.Phone != "139****5678" || got.DeptName != "数据科" || !got.MustChange {
			t.Fatalf("user: %+v", got)
		}
		var enc []byte
		e.App.DB.Get(context.Background(), &enc, `SELECT phone_enc FROM users WHERE id = ?`, u.ID)
		if len(enc) == 0 || strings.Contains(string(enc), "13912345678") {
			t.Fatal("phone stored in clear")
		}
		if res := sys.Do("GET", "/api/v1/users?phone=13912345678", nil); !strings.Contains(string(res.Body), "frank") {
			t.Fatalf("blind-index lookup: %s", res.Body)
		}
		if res := sec.Do("GET", "/api/v1/users/"+itoa(u.ID)+"/phone", nil); !strings.Contains(string(res.Body), "13912345678") {
			t.Fatalf("unmask: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("PUT", "/api/v1/users/"+itoa(u.ID), map[string]any{"name": "冯二", "region_code": "610000", "dept_id": child.ID}); res.Status != 200 {
			t.Fatalf("update user: %d %s", res.Status, res.Body)
		}
		res = sec.Do("POST", "/api/v1/roles", map[string]any{"code": "viewer", "name": "只读", "data_scope": "custom", "depts": []int64{child.ID}, "permissions": []string{"iam.user.read"}})
		var role struct{ ID int64 }
		if res.JSON(&role); res.Status != 201 {
			t.Fatalf("create role: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("PUT", "/api/v1/roles/"+itoa(role.ID), map[string]any{"name": "只读2", "data_scope": "self", "permissions": []string{"iam.user.read", "iam.dept.read"}}); res.Status != 200 {
			t.Fatalf("update role: %d %s", res.Status, res.Body)
		}
		var builtin int64
		e.App.DB.Get(context.Background(), &builtin, `SELECT id FROM roles WHERE code = 'analyst'`)
		if res := sec.Do("PUT", "/api/v1/roles/"+itoa(builtin), map[string]any{"name": "x", "data_scope": "all"}); res.Status != 403 {
			t.Fatalf("edit built-in role: %d", res.Status)
		}
		if res := sec.Do("PUT", "/api/v1/users/"+itoa(u.ID)+"/roles", map[string]any{"roles": []string{"viewer"}}); res.Status != 200 {
			t.Fatalf("assign: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("DELETE", "/api/v1/roles/"+itoa(role.ID), nil); res.Status != 409 {
			t.Fatalf("delete role in use: %d", res.Status)
		}
		sec.Do("PUT", "/api/v1/users/"+itoa(u.ID)+"/roles", map[string]any{"roles": []string{}})
		if res := sec.Do("DELETE", "/api/v1/roles/"+itoa(role.ID), nil); res.Status != 200 {
			t.Fatalf("delete role: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("DELETE", "/api/v1/depts/"+itoa(child.ID), nil); res.Status != 409 {
			t.Fatalf("delete dept with user: %d", res.Status)
		}
		// Every change above is in the audit log and the chain verifies.
		var n int
		e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE kind = 'operation' AND action LIKE 'iam.%'`)
		if n < 10 {
			t.Errorf("only %d iam operations audited", n)
		}
		rep, err := e.App.Audit.Verify(context.Background())
		if err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

func TestHealthReadyMetrics(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	c := e.Client()
	if res := c.Do("GET", "/healthz", nil); res.Status != 200 {
		t.Fatal(res.Status)
	}
	var ready struct{ Ready bool }
	if res := c.Do("GET", "/readyz", nil); res.JSON(&ready) != nil || !ready.Ready {
		t.Fatalf("readyz %s", res.Body)
	}
	c.Do("GET", "/api/v1/me", nil)
	res := c.Do("GET", "/metrics", nil) // httptest listens on loopback
	if res.Status != 200 || !strings.Contains(string(res.Body), `zhsj_http_requests_total{code="401",method="GET",route="/api/v1/me"} 1`) {
		t.Fatalf("metrics: %d %.500s", res.Status, res.Body)
	}
	req, _ := http.NewRequest("GET", e.Server.URL+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("proxied metrics request allowed: %d", resp.StatusCode)
	}
	// Security headers and the JSON error shape.
	res = c.Do("GET", "/api/v1/nothing", nil)
	var body map[string]map[string]string
	json.Unmarshal(res.Body, &body)
	if res.Status != 404 || body["error"]["code"] == "" || body["error"]["message"] == "" {
		t.Fatalf("error format: %d %s", res.Status, res.Body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "X-Request-Id"} {
		if res.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
}

func TestCrossOriginPostRejected(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	req, _ := http.NewRequest("POST", e.Server.URL+"/api/v1/auth/login", strings.NewReader(`{"account":"a","password":"b"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestProvinceWideRoutesRefuseCityScope: routes acting on the provincial platform as a whole
// (quality rules and settings, indicator definitions, scheduled jobs, monitoring) refuse a
// principal whose data scope is one city, even one holding every permission they need; a
// province-wide principal with the same role passes.
func TestProvinceWideRoutesRefuseCityScope(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	marked := map[string]bool{}
	var perms []string
	for _, rt := range e.App.RouteTable() {
		if rt.ProvinceWide {
			marked[rt.Method+" "+rt.Pattern] = true
			if !slices.Contains(perms, rt.Permission) {
				perms = append(perms, rt.Permission)
			}
		}
	}
	for _, want := range []string{"PUT /api/v1/quality/rules/{id}", "PUT /api/v1/quality/settings", "GET /quality/rules/new",
		"PUT /api/v1/indicators/{code}", "POST /api/v1/indicator-runs", "POST /api/v1/ops/jobs/{name}/run", "GET /ops/jobs",
		"GET /api/v1/monitor/targets", "POST /api/v1/notify/channels", "GET /monitor"} {
		if !marked[want] {
			t.Errorf("%s is not marked ProvinceWide", want)
		}
	}
	if _, err := e.App.IAM.CreateRole(ctx, nil, iam.System(), iam.RoleInput{Code: "platform_all", Name: "全部平台级功能",
		DataScope: iam.ScopeAll, Permissions: perms}); err != nil {
		t.Fatal(err)
	}
	e.User("xa_platform", "610100", "platform_all")
	e.User("sx_platform", "610000", "platform_all")
	city, province := e.Login("xa_platform"), e.Login("sx_platform")
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for key := range marked {
		method, pattern, _ := strings.Cut(key, " ")
		path := param.ReplaceAllString(pattern, "1")
		res := city.Do(method, path, map[string]any{})
		switch {
		case res.Status != http.StatusForbidden:
			t.Errorf("city scope %s: %d", key, res.Status)
		case strings.HasPrefix(path, "/api/") && res.ErrorCode() != "out_of_scope":
			t.Errorf("city scope %s: error %q", key, res.ErrorCode())
		case !strings.HasPrefix(path, "/api/") && !strings.Contains(string(res.Body), `id="province-wide-only"`):
			t.Errorf("city scope %s: page does not explain the refusal", key)
		}
		if method == "GET" {
			if res := province.Do(method, path, nil); res.Status == http.StatusForbidden {
				t.Errorf("province scope %s: 403 %s", key, res.Body)
			}
		}
	}
	var denied int
	e.App.DB.Get(ctx, &denied, `SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied' AND detail = '数据范围不是全省'`)
	if denied != len(marked) {
		t.Errorf("%d refusals audited, want %d", denied, len(marked))
	}
}

package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
)

func TestWrongCurrentPasswordAnswersAndIsAudited(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("hank", "610000", "analyst")
		c := e.Login("hank")
		// On SQLite this used to wait for its own write lock forever.
		res := c.Do("POST", "/api/v1/me/password", map[string]string{"current": "Not-The-Pass1!", "new": "Nw7&hJq3#pLx9Ev"})
		if res.Status != 400 || res.ErrorCode() != "bad_current_password" {
			t.Fatalf("wrong current password: %d %s", res.Status, res.Body)
		}
		var n int
		e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE action = 'iam.password.change' AND result = 'failure'`)
		if n != 1 {
			t.Fatalf("failure audited %d times", n)
		}
	})
}

func TestAdministratorsCannotTakeOverEachOther(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("sys", "610000", "sysadmin")
		secID := e.User("sec", "610000", "secadmin")
		audID := e.User("aud", "610000", "auditadmin")
		sys := e.Login("sys")
		for _, id := range []int64{secID, audID} {
			for _, call := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/api/v1/users/" + itoa(id) + "/reset-password", map[string]string{"password": "Vb6%kLm2@pQz8Rt"}},
				{"POST", "/api/v1/users/" + itoa(id) + "/status", map[string]string{"status": "disabled"}},
				{"PUT", "/api/v1/users/" + itoa(id), map[string]any{"name": "x", "region_code": "610100"}},
			} {
				if res := sys.Do(call.method, call.path, call.body); res.Status != 403 || res.ErrorCode() != "admin_account" {
					t.Errorf("%s %s: %d %s", call.method, call.path, res.Status, res.Body)
				}
			}
		}
		var denied int
		e.App.DB.Get(context.Background(), &denied, `SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied' AND actor = 'sys'`)
		if denied != 6 {
			t.Errorf("refusals audited: %d, want 6", denied)
		}
		// The security administrator can still unlock and force-logout an administrator.
		sec := e.Login("sec")
		if res := sec.Do("POST", "/api/v1/users/"+itoa(audID)+"/unlock", nil); res.Status != 200 {
			t.Errorf("unlock admin: %d %s", res.Status, res.Body)
		}
	})
}

func TestCityAdministratorScopeOnRolesAndOwnBureau(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("sec", "610000", "secadmin")
		e.User("xa_sec", "610100", "secadmin")
		sec, xaSec := e.Login("sec"), e.Login("xa_sec")
		res := sec.Do("POST", "/api/v1/roles", map[string]any{"code": "prov_role", "name": "省级角色", "data_scope": "all", "permissions": []string{"iam.user.read"}})
		var role struct{ ID int64 }
		if res.JSON(&role); res.Status != 201 {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		if res := xaSec.Do("PUT", "/api/v1/roles/"+itoa(role.ID), map[string]any{"name": "改", "data_scope": "all", "permissions": []string{"iam.user.read"}}); res.Status != 403 {
			t.Errorf("city admin edited a province role: %d %s", res.Status, res.Body)
		}
		if res := xaSec.Do("DELETE", "/api/v1/roles/"+itoa(role.ID), nil); res.Status != 403 {
			t.Errorf("city admin deleted a province role: %d", res.Status)
		}
		res = xaSec.Do("POST", "/api/v1/roles", map[string]any{"code": "xa_role", "name": "西安角色", "data_scope": "dept_below", "permissions": []string{"iam.user.read"}})
		var xaRole struct{ ID int64 }
		if res.JSON(&xaRole); res.Status != 201 {
			t.Fatalf("city role: %d %s", res.Status, res.Body)
		}
		if res := xaSec.Do("PUT", "/api/v1/roles/"+itoa(xaRole.ID), map[string]any{"name": "西安角色2", "data_scope": "dept", "permissions": []string{"iam.user.read"}}); res.Status != 200 {
			t.Errorf("city admin edits its own role: %d %s", res.Status, res.Body)
		}
		// A city system administrator renames its own bureau (whose parent is the province).
		e.User("xa_sys", "610100", "sysadmin")
		xaSys := e.Login("xa_sys")
		var bureau, parent int64
		e.App.DB.QueryRow(ctx, `SELECT id, parent_id FROM departments WHERE region_code = '610100' AND parent_id IS NOT NULL ORDER BY id LIMIT 1`).Scan(&bureau, &parent)
		if res := xaSys.Do("PUT", "/api/v1/depts/"+itoa(bureau), map[string]any{"name": "西安市市场监督管理局（本级）", "parent_id": parent, "region_code": "610100"}); res.Status != 200 {
			t.Errorf("city admin edits own bureau: %d %s", res.Status, res.Body)
		}
		if res := xaSys.Do("PUT", "/api/v1/depts/"+itoa(bureau), map[string]any{"name": "挪走", "parent_id": 0, "region_code": "610100"}); res.Status != 403 {
			t.Errorf("city admin moved its bureau to the top: %d", res.Status)
		}
		// A department referenced by a custom role's scope cannot be deleted silently.
		res = xaSys.Do("POST", "/api/v1/depts", map[string]any{"name": "临时科", "parent_id": bureau, "region_code": "610100"})
		var d struct{ ID int64 }
		res.JSON(&d)
		if res := xaSec.Do("POST", "/api/v1/roles", map[string]any{"code": "xa_custom", "name": "自定义", "data_scope": "custom", "depts": []int64{d.ID}, "permissions": []string{"iam.user.read"}}); res.Status != 201 {
			t.Fatalf("custom role: %d %s", res.Status, res.Body)
		}
		if res := xaSys.Do("DELETE", "/api/v1/depts/"+itoa(d.ID), nil); res.Status != 409 || res.ErrorCode() != "dept_in_role" {
			t.Errorf("delete referenced dept: %d %s", res.Status, res.Body)
		}
	})
}

func TestAPITokensCarryASubsetAndCanBeRevoked(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("sys", "610000", "sysadmin")
		c := e.Login("sys")
		if res := c.Do("POST", "/api/v1/me/tokens", map[string]any{"name": "对接", "permissions": []string{"audit.log.read"}}); res.Status != 403 {
			t.Errorf("token with a permission the owner lacks: %d", res.Status)
		}
		res := c.Do("POST", "/api/v1/me/tokens", map[string]any{"name": "交换平台", "permissions": []string{"iam.user.read"}, "days": 30})
		var tok struct {
			ID    int64
			Token string
		}
		if res.JSON(&tok); res.Status != 201 || !strings.HasPrefix(tok.Token, "zhsj_") {
			t.Fatalf("create token: %d %s", res.Status, res.Body)
		}
		var stored int
		e.App.DB.Get(context.Background(), &stored, `SELECT COUNT(*) FROM api_tokens WHERE token_hash = ?`, tok.Token)
		if stored != 0 {
			t.Fatal("token stored in clear")
		}
		call := func(method, path string) int {
			req, _ := http.NewRequest(method, e.Server.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if s := call("GET", "/api/v1/users"); s != 200 {
			t.Errorf("token read: %d", s)
		}
		if s := call("GET", "/api/v1/depts"); s != 403 {
			t.Errorf("token used a permission outside its subset: %d", s)
		}
		if res := c.Do("DELETE", "/api/v1/me/tokens/"+itoa(tok.ID), nil); res.Status != 200 {
			t.Fatalf("revoke: %d", res.Status)
		}
		if s := call("GET", "/api/v1/users"); s != 401 {
			t.Errorf("revoked token works: %d", s)
		}
	})
}

// TestTokensOnMyAccountPage: "我的账户" lists the user's API tokens and offers exactly the
// permissions the user holds for a new one; the token is shown once, in the creation answer.
func TestTokensOnMyAccountPage(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("ana", "610100", "analyst")
		c := e.Login("ana")
		page := string(c.Do("GET", "/account", nil).Body)
		if !strings.Contains(page, `id="token-form"`) || !strings.Contains(page, `value="dataset.enterprise.read"`) || strings.Contains(page, `value="iam.user.grant"`) {
			t.Fatalf("token form offers the wrong permissions: %.400s", page)
		}
		res := c.Do("POST", "/api/v1/me/tokens", map[string]any{"name": "交换平台推送", "permissions": []string{"dataset.enterprise.read"}, "days": 30})
		var created struct {
			ID      int64
			Token   string
			Message string
		}
		if res.Status != 201 || res.JSON(&created) != nil || !strings.HasPrefix(created.Token, "zhsj_") || !strings.Contains(created.Message, created.Token) {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		page = string(c.Do("GET", "/account", nil).Body)
		if !strings.Contains(page, "交换平台推送") || strings.Contains(page, created.Token) {
			t.Fatalf("the page must list the token by name and never show it again")
		}
		if res := c.Do("DELETE", "/api/v1/me/tokens/"+itoa(created.ID), nil); res.Status != 200 {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		if page = string(c.Do("GET", "/account", nil).Body); !strings.Contains(page, "已吊销") {
			t.Fatal("revoked token not shown as revoked")
		}
	})
}

package sso_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
)

// userWithIDNo creates an active user with a citizen ID number.
func userWithIDNo(t testing.TB, e *apptest.Env, account, region, idNo string, roles ...string) int64 {
	t.Helper()
	must := false
	id, err := e.App.IAM.CreateUser(context.Background(), nil, iam.System(), iam.UserInput{Account: account, Name: "测试" + account,
		IDNo: idNo, RegionCode: region, Roles: roles, Password: apptest.DefaultPassword, MustChange: &must})
	if err != nil {
		t.Fatalf("create %s: %v", account, err)
	}
	return id
}

// TestIDNoBinding: a connector with the "same ID number" rule binds a partner user to the
// one local account registered with that number, however either side wrote it (lower-case x,
// full-width digits, the old 15-digit form); a partner user whose number matches nobody, or
// is invalid, waits for approval; an administrator's account is never bound automatically;
// and neither the binding nor its audit record holds the number in clear.
func TestIDNoBinding(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		adm := admin(t, e)
		zhang := userWithIDNo(t, e, "zhang.local", "610300", "61030219850312104x", "inspector") // stored as …104X
		wang := userWithIDNo(t, e, "wang.local", "610300", "610302197205050023", "inspector")
		userWithIDNo(t, e, "sec.bj", "610300", "610302199001011232", "secadmin")
		// Same mobile as nobody, so only the ID number can match.
		partner := fakeTicketPartner(t, map[string]map[string]any{
			"T-1": {"userId": "bj-101", "name": "张三", "idCard": " 61030219850312104X "},
			"T-2": {"userId": "bj-102", "name": "王五", "idCard": "610302720505002"}, // 15-digit form of wang's
			"T-3": {"userId": "bj-103", "name": "赵六", "idCard": "610102198808084568"},
			"T-4": {"userId": "bj-104", "name": "钱七", "idCard": "610302198503122019"}, // wrong check digit
			"T-5": {"userId": "bj-105", "name": "孙八", "idCard": "610302199001011232"}, // an administrator's
			"T-6": {"userId": "bj-106", "name": "李九", "idCard": "６１０３０２１９８５０３１２１０４ｘ"},
		})
		mustStatus(t, adm.Do("PUT", "/api/v1/sso/connectors/baoji", map[string]any{"kind": "ticket", "enabled": true, "binding_rule": "id_no",
			"secret": "baoji-secret-0001", "config": map[string]any{"validate_url": partner.URL, "app_id": "zhsj", "accept_unsolicited": true,
				"fields": map[string]string{"subject": "data.userId", "name": "data.name", "id_no": "data.idCard"}}}), 200)
		// The connector form offers the rule (it lists the rules from ruleNames).
		if res := adm.Do("GET", "/admin/sso/connectors/baoji", nil); res.Status != 200 || !strings.Contains(string(res.Body), `value="id_no" selected`) ||
			!strings.Contains(string(res.Body), "身份证号相同自动绑定") {
			t.Fatalf("connector form: %d, rule missing", res.Status)
		}

		cb := e.Server.URL + "/sso/connectors/baoji/callback?ticket="
		for ticket, want := range map[string]string{"T-1": "zhang.local", "T-2": "wang.local"} {
			br := newBrowser(t)
			if pg := br.get(cb + ticket); pg.Status != 200 || br.me(e.Server.URL) != want {
				t.Fatalf("%s: %d, logged in as %q, want %s: %.200s", ticket, pg.Status, br.me(e.Server.URL), want, pg.Body)
			}
		}
		for _, ticket := range []string{"T-3", "T-4", "T-5"} {
			br := newBrowser(t)
			if pg := br.get(cb + ticket); pg.Status != http.StatusAccepted || !strings.Contains(pg.Body, "待审核") || br.me(e.Server.URL) != "" {
				t.Fatalf("%s should wait for approval: %d %.200s", ticket, pg.Status, pg.Body)
			}
		}

		var list struct {
			Items []struct {
				Subject   string `json:"subject"`
				UserID    *int64 `json:"user_id"`
				Status    string `json:"status"`
				MatchedBy string `json:"matched_by"`
				IDNoMask  string `json:"id_no_mask"`
			}
			Total int
		}
		mustStatus(t, adm.Do("GET", "/api/v1/sso/bindings?connector=baoji&size=50", nil), 200)
		adm.Do("GET", "/api/v1/sso/bindings?connector=baoji&size=50", nil).JSON(&list)
		got := map[string]string{}
		for _, b := range list.Items {
			uid := int64(0)
			if b.UserID != nil {
				uid = *b.UserID
			}
			got[b.Subject] = b.Status + "/" + b.MatchedBy + "/" + itoa(uid)
		}
		want := map[string]string{
			"bj-101": "active/id_no/" + itoa(zhang),
			"bj-102": "active/id_no/" + itoa(wang),
			"bj-103": "pending//0",
			"bj-104": "pending//0",
			"bj-105": "pending//0",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("binding %s = %q, want %q", k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("bindings: %v", got)
		}
		// A pending binding shows the administrator the partner's masked ID number (an invalid
		// one shows none); the bindings page has it too, never the number in clear.
		for _, b := range list.Items {
			if wantMask := map[string]string{"bj-103": "610102********4568", "bj-104": ""}[b.Subject]; (b.Subject == "bj-103" || b.Subject == "bj-104") && b.IDNoMask != wantMask {
				t.Errorf("binding %s shows ID %q, want %q", b.Subject, b.IDNoMask, wantMask)
			}
		}
		if pg := string(adm.Do("GET", "/admin/sso/bindings?connector=baoji", nil).Body); !strings.Contains(pg, "610102********4568") || strings.Contains(pg, "610102198808084568") {
			t.Errorf("bindings page: masked ID missing or clear ID shown")
		}

		// A second, full-width written number still finds zhang (a new partner subject).
		br := newBrowser(t)
		if pg := br.get(cb + "T-6"); pg.Status != 200 || br.me(e.Server.URL) != "zhang.local" {
			t.Fatalf("full-width ID number: %d %q", pg.Status, br.me(e.Server.URL))
		}

		var leaked int
		e.App.DB.Get(t.Context(), &leaked, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%61030219850312104%' OR detail LIKE '%610302197205050023%' OR detail LIKE '%610302720505002%'`)
		if leaked != 0 {
			t.Fatalf("%d audit records hold an ID number in clear", leaked)
		}
		var auto int
		e.App.DB.Get(t.Context(), &auto, `SELECT COUNT(*) FROM audit_log WHERE action = 'security.sso.binding.auto' AND detail LIKE '%身份证号相同自动绑定%'`)
		if auto != 3 {
			t.Fatalf("%d automatic-binding audit records naming the rule, want 3", auto)
		}
	})
}

package desk_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
)

// TestLifecycleRequiredFieldsAndAudit walks a ticket through 受理 → 登记 → 分级 → 响应 → 排查 →
// 处理 → 验证 → 闭环 with 挂起/恢复 and 重新打开, checks every step's required fields, that
// steps cannot be skipped, and that each step is recorded with actor, time and note and
// audited.
func TestLifecycleRequiredFieldsAndAudit(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		engID := e.User("eng", "610000", "engineer")
		e.User("yanta", "610113", "inspector")
		eng := e.Login("eng")
		insp := e.Login("yanta")

		// The inspector submits from the phone page; the ticket is accepted (受理) in his county.
		tk := create(t, insp, map[string]any{"title": "市场主体登记页面打开缓慢", "description": "上午 9 点起页面加载超过 10 秒", "source": "mobile"})
		if tk.State != desk.StateAccepted || tk.Source != "mobile" || tk.RegionCode != "610113" || !strings.HasPrefix(tk.No, "YW20260302") {
			t.Fatalf("created %+v", tk.Ticket)
		}
		// He may read it but not move it.
		mustStatus(t, insp.Do("GET", fmt.Sprintf("/api/v1/desk/tickets/%d", tk.ID), nil), 200, "inspector reads")
		mustError(t, insp.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", tk.ID), map[string]any{"action": "register"}), 403, "forbidden", "inspector registers")
		// Bad input is refused with a Chinese message, nothing changes.
		mustError(t, insp.Do("POST", "/api/v1/desk/tickets", map[string]any{"title": " "}), 400, "missing_title", "empty title")
		mustError(t, insp.Do("POST", "/api/v1/desk/tickets", map[string]any{"title": "x", "category": "其他"}), 400, "bad_category", "bad category")
		mustError(t, insp.Do("POST", "/api/v1/desk/tickets", map[string]any{"title": "x", "region_code": "610100"}), 403, "out_of_scope", "other region")
		mustError(t, insp.Do("POST", "/api/v1/desk/tickets", map[string]any{"title": "x", "source": "alert"}), 400, "bad_source", "alert source by hand")

		id := tk.ID
		tr := func(body map[string]any) *apptest.Response {
			return eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", id), body)
		}
		// No skipping: closing or handling a just-accepted ticket is refused.
		mustError(t, tr(map[string]any{"action": "close", "cause": "原因说明", "method": "处理方法", "verify_result": "已验证"}), 409, "bad_transition", "close from accepted")
		mustError(t, tr(map[string]any{"action": "handle", "note": "直接处理"}), 409, "bad_transition", "handle from accepted")
		mustError(t, tr(map[string]any{"action": "fly"}), 400, "bad_action", "unknown action")

		// 登记: reporter is known, system and category are required.
		mustError(t, tr(map[string]any{"action": "register"}), 400, "missing_system", "register without system")
		mustError(t, tr(map[string]any{"action": "register", "system": "主体服务"}), 400, "missing_category", "register without category")
		mustError(t, tr(map[string]any{"action": "register", "system": "主体服务", "category": "打印"}), 400, "bad_category", "register bad category")
		e.clock.Advance(5 * time.Minute)
		step(t, eng, id, map[string]any{"action": "register", "system": "主体服务", "category": "页面访问", "note": "电话确认现象"})
		// 分级: impact × urgency.
		mustError(t, tr(map[string]any{"action": "grade"}), 400, "missing_grading", "grade without levels")
		mustError(t, tr(map[string]any{"action": "grade", "impact": 5, "urgency": 1}), 400, "bad_impact", "impact 5")
		step(t, eng, id, map[string]any{"action": "grade", "impact": 2, "urgency": 2})
		if g := get(t, eng, id); g.Grade != 2 || g.GradeName() != "重大" {
			t.Fatalf("grade %d", g.Grade)
		}
		// 挂起 needs a reason and returns to the state it left.
		mustError(t, tr(map[string]any{"action": "suspend"}), 400, "missing_note", "suspend without reason")
		step(t, eng, id, map[string]any{"action": "suspend", "note": "等待用户提供截图"})
		if g := get(t, eng, id); g.State != desk.StatePending || g.PendingReason != "等待用户提供截图" || g.ResumeState != desk.StateGraded {
			t.Fatalf("pending %+v", g.Ticket)
		}
		mustError(t, tr(map[string]any{"action": "respond", "assignee_id": engID, "note": "x"}), 409, "bad_transition", "respond while pending")
		e.clock.Advance(20 * time.Minute)
		step(t, eng, id, map[string]any{"action": "resume", "note": "已收到截图"})
		// 响应: an assignee and the feedback given to the user.
		mustError(t, tr(map[string]any{"action": "respond", "note": "已安排"}), 400, "missing_assignee", "respond without assignee")
		mustError(t, tr(map[string]any{"action": "respond", "assignee_id": engID}), 400, "missing_note", "respond without feedback")
		mustError(t, tr(map[string]any{"action": "respond", "assignee_id": 99999, "note": "已安排"}), 400, "bad_assignee", "respond to nobody")
		e.clock.Advance(10 * time.Minute)
		step(t, eng, id, map[string]any{"action": "respond", "assignee_id": engID, "note": "已安排陈工排查，1 小时内回复"})
		g := get(t, eng, id)
		if g.AssigneeID == nil || *g.AssigneeID != engID || g.AckMS == nil || *g.AckMS != (15*time.Minute).Milliseconds() {
			t.Fatalf("ack: assignee %v ack_ms %v (want 15 min without the 20 min pending)", g.AssigneeID, g.AckMS)
		}
		step(t, eng, id, map[string]any{"action": "investigate"})
		// 处理 records the measures taken.
		mustError(t, tr(map[string]any{"action": "handle", "note": "无"}), 400, "vague_note", "handle with placeholder")
		step(t, eng, id, map[string]any{"action": "handle", "note": "扩大数据库连接池"})
		step(t, eng, id, map[string]any{"action": "resolve", "note": "已修复，请用户验证"})
		// 闭环: cause, method and verification result, truthfully filled.
		mustError(t, tr(map[string]any{"action": "close", "verify_result": "正常"}), 400, "missing_cause", "close without cause")
		mustError(t, tr(map[string]any{"action": "close", "cause": "略", "method": "扩大连接池上限", "verify_result": "正常"}), 400, "vague_cause", "close with placeholder cause")
		mustError(t, tr(map[string]any{"action": "close", "cause": "数据库连接池耗尽", "verify_result": "正常"}), 400, "missing_method", "close without method")
		mustError(t, tr(map[string]any{"action": "close", "cause": "数据库连接池耗尽", "method": "扩大连接池上限"}), 400, "missing_verify_result", "close without verification")
		// 重新打开 from 验证 goes back to 排查.
		mustError(t, tr(map[string]any{"action": "reopen"}), 400, "missing_note", "reopen without reason")
		step(t, eng, id, map[string]any{"action": "reopen", "note": "用户反馈仍然缓慢"})
		if g := get(t, eng, id); g.State != desk.StateInvestigating || g.ReopenCount != 1 || g.ResolvedAt != nil {
			t.Fatalf("reopened %+v", g.Ticket)
		}
		step(t, eng, id, map[string]any{"action": "handle", "note": "补建索引优化慢查询"})
		step(t, eng, id, map[string]any{"action": "resolve", "cause": "数据库连接池耗尽，慢查询占用连接", "method": "补建索引并扩大连接池"})
		step(t, eng, id, map[string]any{"action": "close", "verify_result": "用户确认页面 2 秒内打开"})
		g = get(t, eng, id)
		if g.State != desk.StateClosed || g.CloseCode != "resolved" || g.Cause != "数据库连接池耗尽，慢查询占用连接" || g.VerifyResult == "" || g.ClosedAt == nil {
			t.Fatalf("closed %+v", g.Ticket)
		}
		if len(g.NextActions) != 1 || g.NextActions[0] != desk.ActReopen {
			t.Fatalf("next actions of a closed ticket: %v", g.NextActions)
		}

		// Every step is recorded with actor, time and note, in order.
		var actions []string
		for _, x := range g.Transitions {
			actions = append(actions, x.Action)
			if x.Actor == "" || x.At.IsZero() {
				t.Errorf("transition without actor or time: %+v", x)
			}
		}
		want := "create register grade suspend resume respond investigate handle resolve reopen handle resolve close"
		if strings.Join(actions, " ") != want {
			t.Fatalf("transitions %q\nwant %q", strings.Join(actions, " "), want)
		}
		if g.Transitions[1].Actor != "测试eng" || g.Transitions[1].Note != "电话确认现象" || g.Transitions[3].Note != "等待用户提供截图" {
			t.Fatalf("recorded %+v / %+v", g.Transitions[1], g.Transitions[3])
		}
		if g.Transitions[1].ToState != desk.StateRegistered || g.Transitions[1].FromState != desk.StateAccepted {
			t.Fatalf("register recorded as %s → %s", g.Transitions[1].FromState, g.Transitions[1].ToState)
		}
		// …and audited, each in its transaction.
		var audited []string
		if err := e.App.DB.Select(e.ctx, &audited, `SELECT action FROM audit_log WHERE object_type = 'desk_ticket' AND object_id = ? ORDER BY id`, fmt.Sprint(id)); err != nil {
			t.Fatal(err)
		}
		var wantAudit []string
		for _, a := range actions {
			wantAudit = append(wantAudit, "desk.ticket."+a)
		}
		if strings.Join(audited, " ") != strings.Join(wantAudit, " ") {
			t.Fatalf("audited %v\nwant %v", audited, wantAudit)
		}
	})
}

// TestDataScope keeps a county inspector to his county and the ticket list filters honest.
func TestDataScope(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		e.User("eng", "610000", "engineer")
		e.User("yanta", "610113", "inspector")
		e.User("baoji", "610300", "inspector")
		eng, yt, bj := e.Login("eng"), e.Login("yanta"), e.Login("baoji")
		a := create(t, yt, map[string]any{"title": "雁塔区许可系统无法登录", "system": "许可备案", "category": "功能异常"})
		b := create(t, bj, map[string]any{"title": "宝鸡市投诉举报页面报错", "system": "投诉举报", "category": "系统报错"})
		mustError(t, yt.Do("GET", fmt.Sprintf("/api/v1/desk/tickets/%d", b.ID), nil), 404, "not_found", "yt reads baoji")
		list := decode[struct {
			Items []desk.Ticket `json:"items"`
			Total int           `json:"total"`
		}](t, yt.Do("GET", "/api/v1/desk/tickets", nil))
		if list.Total != 1 || list.Items[0].ID != a.ID {
			t.Fatalf("yt sees %+v", list)
		}
		all := decode[struct {
			Total int `json:"total"`
		}](t, eng.Do("GET", "/api/v1/desk/tickets?category=%E7%B3%BB%E7%BB%9F%E6%8A%A5%E9%94%99", nil))
		if all.Total != 1 {
			t.Fatalf("engineer filtered by 系统报错: %d", all.Total)
		}
		if n := decode[struct {
			Total int `json:"total"`
		}](t, eng.Do("GET", "/api/v1/desk/tickets?q="+b.No, nil)).Total; n != 1 {
			t.Fatalf("by number: %d", n)
		}
		// Title search through the term index: phrases, one character, Latin case, renames.
		c := create(t, eng, map[string]any{"title": "APP 无法登录（省局）"})
		search := func(q string) []int64 {
			t.Helper()
			l := decode[struct {
				Items []desk.Ticket `json:"items"`
				Total int           `json:"total"`
			}](t, eng.Do("GET", "/api/v1/desk/tickets?q="+url.QueryEscape(q), nil))
			var ids []int64
			for _, x := range l.Items {
				ids = append(ids, x.ID)
			}
			if l.Total != len(ids) {
				t.Fatalf("search %q: total %d, items %d", q, l.Total, len(ids))
			}
			return ids
		}
		for _, tc := range []struct {
			q    string
			want []int64
		}{
			{"无法登录", []int64{c.ID, a.ID}}, {"许可系统无法", []int64{a.ID}}, {"录", []int64{c.ID, a.ID}}, {"app", []int64{c.ID}},
			{"登录无法", nil}, {"页面报错", []int64{b.ID}}, {"100%", nil}, {"火星", nil},
		} {
			if got := search(tc.q); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("search %q = %v, want %v", tc.q, got, tc.want)
			}
		}
		mustStatus(t, eng.Do("PUT", fmt.Sprintf("/api/v1/desk/tickets/%d", c.ID), map[string]any{"title": "APP 闪退"}), 200, "rename")
		if got := search("无法登录"); fmt.Sprint(got) != fmt.Sprint([]int64{a.ID}) {
			t.Errorf("after rename %v", got)
		}
		if got := search("闪退"); fmt.Sprint(got) != fmt.Sprint([]int64{c.ID}) {
			t.Errorf("new title %v", got)
		}
		// The county inspector's search stays in his county.
		l := decode[struct {
			Total int `json:"total"`
		}](t, yt.Do("GET", "/api/v1/desk/tickets?q="+url.QueryEscape("页面报错"), nil))
		if l.Total != 0 {
			t.Errorf("yanta finds baoji by title: %d", l.Total)
		}
		// The export is scoped and audited.
		res := yt.Do("GET", "/api/v1/desk/tickets/export", nil)
		mustStatus(t, res, 200, "export")
		var n int
		e.App.DB.Get(e.ctx, &n, `SELECT COUNT(*) FROM audit_log WHERE action = 'desk.ticket.export' AND actor = 'yanta'`)
		if n != 1 {
			t.Fatalf("export audited %d times", n)
		}
	})
}

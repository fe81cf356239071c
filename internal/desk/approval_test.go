package desk_test

import (
	"fmt"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
)

// TestApprovalGate: a ticket that changes production cannot move past 排查 without the
// bureau's approval; the requester and the handler cannot approve it; an approval lets it
// proceed; a refusal closes it as refused with the procured wording; every decision is
// audited.
func TestApprovalGate(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		e.approverRole()
		engID := e.User("eng", "610000", "engineer")
		e.User("eng2", "610000", "engineer")
		e.User("approver", "610000", "bureau")
		e.User("yanta", "610113", "inspector")
		eng, eng2, approver, insp := e.Login("eng"), e.Login("eng2"), e.Login("approver"), e.Login("yanta")

		// An upgrade: through 排查, then blocked.
		up := create(t, eng, map[string]any{"title": "许可备案系统版本升级至 3.2", "change_kind": "upgrade"})
		through(t, eng, up.ID, engID, 2, 2, desk.StateInvestigating)
		res := eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", up.ID), map[string]any{"action": "handle", "note": "执行升级脚本"})
		mustError(t, res, 409, "approval_required", "handle without approval")
		if !strings.Contains(string(res.Body), "不得擅自进行处理") {
			t.Fatalf("message %s", res.Body)
		}
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", up.ID), map[string]any{"reason": "略"}), 400, "vague_reason", "vague reason")
		res = eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", up.ID), map[string]any{"reason": "修复许可证打印缺陷，需停机 10 分钟"})
		mustStatus(t, res, 201, "request approval")
		apID := int64(decode[map[string]any](t, res)["id"].(float64))
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", up.ID), map[string]any{"reason": "再次申请升级"}), 409, "approval_pending", "second request")
		// Still blocked while pending.
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", up.ID), map[string]any{"action": "handle", "note": "执行升级脚本"}), 409, "approval_required", "handle while pending")
		// The requester (and handler) cannot approve, even holding desk.approval.decide; an
		// inspector may not decide at all.
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", apID), map[string]any{"approve": true}), 403, "self_approval", "self approval")
		mustError(t, insp.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", apID), map[string]any{"approve": true}), 403, "forbidden", "inspector decides")
		mustStatus(t, approver.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", apID), map[string]any{"approve": true, "comment": "同意，夜间窗口执行"}), 200, "approve")
		mustError(t, approver.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", apID), map[string]any{"approve": false, "comment": "改变主意"}), 409, "decided", "decide twice")
		step(t, eng, up.ID, map[string]any{"action": "handle", "note": "夜间窗口执行升级脚本"})
		if g := get(t, eng, up.ID); g.State != desk.StateHandling || g.Approval != "approved" || len(g.Approvals) != 1 || g.Approvals[0].DecidedName != "测试approver" {
			t.Fatalf("approved ticket %+v approvals %+v", g.Ticket, g.Approvals)
		}

		// A data correction the bureau refuses: closed as refused, not reopenable.
		fix := create(t, eng2, map[string]any{"title": "批量修正 2025 年许可证有效期字段"})
		through(t, eng2, fix.ID, engID, 3, 3, desk.StateInvestigating)
		mustError(t, eng2.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", fix.ID), map[string]any{"reason": "修正 3200 条有效期"}), 400, "missing_change_kind", "no change kind")
		res = eng2.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", fix.ID), map[string]any{"change_kind": "data_fix", "reason": "批量修正 3200 条有效期"})
		mustStatus(t, res, 201, "request")
		fixAp := int64(decode[map[string]any](t, res)["id"].(float64))
		// The handler (eng is the assignee) cannot decide either.
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", fixAp), map[string]any{"approve": true}), 403, "self_approval", "assignee approves")
		mustError(t, approver.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", fixAp), map[string]any{"approve": false}), 400, "missing_comment", "refusal without reason")
		mustStatus(t, approver.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", fixAp), map[string]any{"approve": false, "comment": "源数据需先由业务处室核实"}), 200, "refuse")
		g := get(t, eng2, fix.ID)
		if g.State != desk.StateClosed || g.CloseCode != "refused" || g.Method != desk.RefusalText || g.Approval != "refused" {
			t.Fatalf("refused ticket %+v", g.Ticket)
		}
		for _, c := range g.Clocks {
			if c.Status == desk.ClockRunning || c.Status == desk.ClockPaused {
				t.Fatalf("clock still running after refusal: %+v", c)
			}
		}
		if last := g.Transitions[len(g.Transitions)-1]; last.Action != desk.ActRefuse || last.Actor != "测试approver" || !strings.Contains(last.Note, "源数据需先由业务处室核实") {
			t.Fatalf("refusal step %+v", last)
		}
		mustError(t, eng2.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", fix.ID), map[string]any{"action": "reopen", "note": "再试一次"}), 409, "refused", "reopen refused")

		// Approvals are audited.
		var audited []string
		e.App.DB.Select(e.ctx, &audited, `SELECT action FROM audit_log WHERE action LIKE 'desk.approval.%' ORDER BY id`)
		if strings.Join(audited, " ") != "desk.approval.request desk.approval.approve desk.approval.request desk.approval.refuse" {
			t.Fatalf("audited %v", audited)
		}
		var refuseAudit string
		e.App.DB.Get(e.ctx, &refuseAudit, `SELECT detail FROM audit_log WHERE action = 'desk.approval.refuse'`)
		if !strings.Contains(refuseAudit, desk.RefusalText) {
			t.Fatalf("refusal audit %q", refuseAudit)
		}
		// The approver sees the list; the page renders.
		list := decode[struct {
			Items []desk.Approval `json:"items"`
		}](t, approver.Do("GET", "/api/v1/desk/approvals", nil))
		if len(list.Items) != 2 {
			t.Fatalf("approvals %d", len(list.Items))
		}
		if res := approver.Do("GET", "/desk/approvals", nil); res.Status != 200 || !strings.Contains(string(res.Body), "最近审批") {
			t.Fatalf("approvals page %d", res.Status)
		}
	})
}

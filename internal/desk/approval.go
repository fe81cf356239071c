package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Approval is one request for the bureau's approval of a production change.
type Approval struct {
	ID            int64      `db:"id" json:"id"`
	TicketID      int64      `db:"ticket_id" json:"ticket_id"`
	TicketNo      string     `db:"ticket_no" json:"ticket_no"`
	TicketTitle   string     `db:"ticket_title" json:"ticket_title"`
	System        string     `db:"system" json:"system"`
	ChangeKind    string     `db:"change_kind" json:"change_kind"`
	Reason        string     `db:"reason" json:"reason"`
	RequestedBy   *int64     `db:"requested_by" json:"requested_by,omitempty"`
	RequestedName string     `db:"requested_name" json:"requested_name"`
	RequestedAt   time.Time  `db:"requested_at" json:"requested_at"`
	Status        string     `db:"status" json:"status"`
	DecidedBy     *int64     `db:"decided_by" json:"decided_by,omitempty"`
	DecidedName   string     `db:"decided_name" json:"decided_name"`
	DecidedAt     *time.Time `db:"decided_at" json:"decided_at,omitempty"`
	Comment       string     `db:"comment" json:"comment"`
}

// ApprovalStatusNames are the Chinese names of approval statuses.
var ApprovalStatusNames = map[string]string{"pending": "待审批", "approved": "已同意", "refused": "不同意"}

// StatusName is the Chinese name of the approval's status.
func (a Approval) StatusName() string { return ApprovalStatusNames[a.Status] }

// ChangeName is the Chinese name of the change kind.
func (a Approval) ChangeName() string { return ChangeKinds[a.ChangeKind] }

const approvalSelect = `SELECT a.id, a.ticket_id, t.no AS ticket_no, t.title AS ticket_title, t.system, a.change_kind, a.reason,
	a.requested_by, a.requested_name, a.requested_at, a.status, a.decided_by, a.decided_name, a.decided_at, a.comment
	FROM desk_approvals a JOIN desk_tickets t ON t.id = a.ticket_id`

// ApprovalInput asks the bureau to approve a change.
type ApprovalInput struct {
	ChangeKind string `json:"change_kind"`
	Reason     string `json:"reason"`
}

// RequestApproval asks the bureau to approve the production change a ticket needs.
func (d *Desk) RequestApproval(ctx context.Context, r *http.Request, p *iam.Principal, ticketID int64, in ApprovalInput) (int64, error) {
	reason := strings.TrimSpace(in.Reason)
	if err := checkText("reason", "变更内容与理由", reason, 4, 4000); err != nil {
		return 0, err
	}
	var id int64
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, ticketID)
		if err != nil {
			return err
		}
		if !t.Active() {
			return conflict("not_active", "运维单已进入验证或闭环，不能再申请变更审批")
		}
		kind := firstNonEmpty(in.ChangeKind, t.ChangeKind)
		if kind == "" {
			return badRequest("missing_change_kind", "请选择变更类型（版本升级、数据修正、配置变更）")
		}
		if err := checkChangeKind(kind); err != nil {
			return err
		}
		switch t.Approval {
		case "pending":
			return conflict("approval_pending", "已有待审批的申请，请等待局方审批")
		case "approved":
			return conflict("approval_done", "局方已同意该变更")
		}
		now := d.Now()
		a := actor{p: p, r: r}
		id, err = store.InsertID(ctx, tx, `INSERT INTO desk_approvals(ticket_id, change_kind, reason, requested_by, requested_name, requested_at, status)
			VALUES (?, ?, ?, ?, ?, ?, 'pending')`, t.ID, kind, reason, a.id(), a.name(), now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET change_kind = ?, approval = 'pending', updated_at = ? WHERE id = ?`, kind, now, t.ID); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.approval.request", ObjectType: "desk_approval", ObjectID: fmt.Sprint(id),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("运维单 %s 申请局方审批%s：%s", t.No, ChangeKinds[kind], reason)})
	})
	return id, err
}

// Decision is the bureau's answer.
type Decision struct {
	Approve bool   `json:"approve"`
	Comment string `json:"comment"`
}

// Decide records the bureau's decision. A refusal closes the ticket as refused: 用户方领导不同意
// 进行处理请求，不得擅自进行处理. The approver may be neither the requester nor the handler.
func (d *Desk) Decide(ctx context.Context, r *http.Request, p *iam.Principal, approvalID int64, in Decision) error {
	comment := strings.TrimSpace(in.Comment)
	if !in.Approve {
		if err := checkText("comment", "不同意的理由", comment, 2, 2000); err != nil {
			return err
		}
	} else if err := checkLen("审批意见", comment, 2000); err != nil {
		return err
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		var ap Approval
		if err := tx.Get(ctx, &ap, approvalSelect+` WHERE a.id = ?`, approvalID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return web.ErrNotFound
			}
			return err
		}
		t, err := lockTicket(ctx, tx, p, ap.TicketID)
		if err != nil {
			return err
		}
		if ap.Status != "pending" {
			return conflict("decided", "该审批已处理（%s）", ap.StatusName())
		}
		if (ap.RequestedBy != nil && *ap.RequestedBy == p.UserID) || (t.AssigneeID != nil && *t.AssigneeID == p.UserID) {
			return web.Errorf(http.StatusForbidden, "self_approval", "审批人不能是变更的申请人或处理人")
		}
		now := d.Now()
		a := actor{p: p, r: r}
		status := "refused"
		if in.Approve {
			status = "approved"
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_approvals SET status = ?, decided_by = ?, decided_name = ?, decided_at = ?, comment = ? WHERE id = ?`,
			status, a.id(), a.name(), now, comment, ap.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET approval = ?, updated_at = ? WHERE id = ?`, status, now, t.ID); err != nil {
			return err
		}
		t.Approval = status
		detail := fmt.Sprintf("局方同意运维单 %s 的%s", t.No, ChangeKinds[ap.ChangeKind])
		if !in.Approve {
			detail = fmt.Sprintf("局方不同意运维单 %s 的%s（%s），运维单按“%s”闭环", t.No, ChangeKinds[ap.ChangeKind], comment, RefusalText)
		}
		if comment != "" && in.Approve {
			detail += "，意见：" + comment
		}
		if err := d.record(ctx, tx, r, audit.Entry{Action: "desk.approval." + map[bool]string{true: "approve", false: "refuse"}[in.Approve],
			ObjectType: "desk_approval", ObjectID: fmt.Sprint(ap.ID), RegionCode: t.RegionCode, Detail: detail}); err != nil {
			return err
		}
		if in.Approve {
			return nil
		}
		if !t.Active() {
			return nil
		}
		return d.apply(ctx, tx, a, t, TransitionInput{Action: ActRefuse, Note: "局方不同意：" + comment}, true, now)
	})
}

// Approvals lists approvals within p's data scope; status "" lists all.
func (d *Desk) Approvals(ctx context.Context, p *iam.Principal, status string, ticketID int64) ([]Approval, error) {
	where, args := p.Filter(scopeCols)
	if status != "" {
		where += ` AND a.status = ?`
		args = append(args, status)
	}
	if ticketID != 0 {
		where += ` AND a.ticket_id = ?`
		args = append(args, ticketID)
	}
	out := []Approval{}
	err := d.db.Select(ctx, &out, approvalSelect+` WHERE `+where+` ORDER BY a.id DESC LIMIT 500`, args...)
	return out, err
}

package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

const bindingSelect = `SELECT b.id, b.connector_id, c.name AS connector_name, b.subject, b.ext_account, b.ext_name, b.phone_mask, b.id_no_mask, b.user_id,
	u.account, u.name AS user_name, b.status, b.matched_by, b.region_code, b.created_at, b.decided_at, b.last_login_at
	FROM sso_bindings b JOIN sso_connectors c ON c.id = b.connector_id LEFT JOIN users u ON u.id = b.user_id`

// BindingFilter narrows the binding list.
type BindingFilter struct {
	Status    string
	Connector string
	Q         string
}

// ListBindings lists bindings within the caller's jurisdiction (by the connector's region).
func (s *Service) ListBindings(ctx context.Context, p *iam.Principal, f BindingFilter, pg web.Page) (web.List[Binding], error) {
	where, args := p.Filter(iam.Cols{Region: "b.region_code"})
	if f.Status != "" {
		where += ` AND b.status = ?`
		args = append(args, f.Status)
	}
	if f.Connector != "" {
		where += ` AND b.connector_id = ?`
		args = append(args, f.Connector)
	}
	if q := strings.TrimSpace(f.Q); q != "" {
		where += ` AND (b.subject = ? OR b.ext_account = ? OR b.ext_name = ? OR u.account = ?)`
		args = append(args, q, q, q, q)
	}
	out := web.List[Binding]{Page: pg.Page, Size: pg.Size, Items: []Binding{}}
	if err := s.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM sso_bindings b LEFT JOIN users u ON u.id = b.user_id WHERE `+where, args...); err != nil {
		return out, err
	}
	err := s.db.Select(ctx, &out.Items, bindingSelect+` WHERE `+where+` ORDER BY CASE b.status WHEN 'pending' THEN 0 ELSE 1 END, b.id DESC LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	return out, err
}

func (s *Service) getBinding(ctx context.Context, q store.Q, p *iam.Principal, id int64) (*Binding, error) {
	where, args := p.Filter(iam.Cols{Region: "b.region_code"})
	var b Binding
	err := q.Get(ctx, &b, bindingSelect+` WHERE b.id = ? AND `+where, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &b, err
}

// ApproveBinding links a pending (or rejected) binding to the local account, which must be
// active and within the administrator's data scope.
func (s *Service) ApproveBinding(ctx context.Context, r *http.Request, p *iam.Principal, id int64, account string) error {
	account = strings.TrimSpace(account)
	if account == "" {
		return web.Errorf(http.StatusBadRequest, "invalid_input", "请填写要绑定的本系统账号")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		b, err := s.getBinding(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if b.Status == "active" {
			return web.Errorf(http.StatusConflict, "already_active", "该绑定已生效")
		}
		where, args := p.Filter(iam.Cols{Region: "region_code", Dept: "dept_id"})
		var uid int64
		err = tx.Get(ctx, &uid, `SELECT id FROM users WHERE account = ? AND status = 'active' AND `+notAdmin+` AND `+where, append([]any{account}, args...)...)
		if errors.Is(err, store.ErrNotFound) {
			return web.Errorf(http.StatusBadRequest, "invalid_input", "账号 %s 不存在、已停用、是管理员账号或不在您的数据范围内", account)
		}
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE sso_bindings SET status = 'active', user_id = ?, matched_by = 'admin', decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?`,
			uid, p.UserID, now, now, id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.binding.approve", ObjectType: "sso_binding", ObjectID: fmt.Sprint(id), Result: "success",
			Detail: fmt.Sprintf("批准绑定：%s 用户 %s（%s）→ 本系统账号 %s", b.Connector, b.Subject, b.ExtName, account)})
	})
}

// RejectBinding refuses a pending binding; the partner user cannot log in until approved.
func (s *Service) RejectBinding(ctx context.Context, r *http.Request, p *iam.Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		b, err := s.getBinding(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if b.Status != "pending" {
			return web.Errorf(http.StatusConflict, "not_pending", "只能驳回待审核的绑定")
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE sso_bindings SET status = 'rejected', decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?`, p.UserID, now, now, id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.binding.reject", ObjectType: "sso_binding", ObjectID: fmt.Sprint(id), Result: "success",
			Detail: fmt.Sprintf("驳回绑定：%s 用户 %s（%s）", b.Connector, b.Subject, b.ExtName)})
	})
}

// DeleteBinding removes a binding; the partner user's next arrival is matched afresh.
func (s *Service) DeleteBinding(ctx context.Context, r *http.Request, p *iam.Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		b, err := s.getBinding(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sso_bindings WHERE id = ?`, id); err != nil {
			return err
		}
		acct := ""
		if b.Account != nil {
			acct = *b.Account
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.binding.delete", ObjectType: "sso_binding", ObjectID: fmt.Sprint(id), Result: "success",
			Detail: fmt.Sprintf("解除绑定：%s 用户 %s → %s", b.Connector, b.Subject, acct)})
	})
}

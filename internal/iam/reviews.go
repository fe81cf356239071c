package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Periodic permission review (等保 8.1.4.2; reference/identity-and-crypto.md §5.2): a
// campaign snapshots every user's roles and data scope; the security administrator confirms
// or revokes each line, and every decision is audited. A quarterly job opens one campaign
// per quarter (rerunning it opens nothing new); administrators may open one at any time.

// Review is one campaign.
type Review struct {
	ID        int64      `db:"id" json:"id"`
	Period    string     `db:"period" json:"period"`
	Title     string     `db:"title" json:"title"`
	Status    string     `db:"status" json:"status"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	ClosedAt  *time.Time `db:"closed_at" json:"closed_at"`
	Total     int        `db:"total" json:"total"`
	Decided   int        `db:"decided" json:"decided"`
	Revoked   int        `db:"revoked" json:"revoked"`
}

// ReviewItem is one user's line in a campaign.
type ReviewItem struct {
	ID          int64      `db:"id" json:"id"`
	ReviewID    int64      `db:"review_id" json:"review_id"`
	UserID      int64      `db:"user_id" json:"user_id"`
	Account     string     `db:"account" json:"account"`
	Name        string     `db:"name" json:"name"`
	Region      string     `db:"region_code" json:"region_code"`
	DeptName    string     `db:"dept_name" json:"dept_name"`
	Status      string     `db:"status" json:"status"`
	Roles       string     `db:"roles" json:"roles"`
	Scope       string     `db:"scope" json:"scope"`
	LastLoginAt *time.Time `db:"last_login_at" json:"last_login_at"`
	Decision    string     `db:"decision" json:"decision"`
	DecidedBy   string     `db:"decided_by_account" json:"decided_by"`
	DecidedAt   *time.Time `db:"decided_at" json:"decided_at"`
	Note        string     `db:"note" json:"note"`
}

// DecisionNames are the Chinese names of review decisions.
var DecisionNames = map[string]string{"": "待复核", "confirmed": "已确认", "revoked": "已撤销"}

// reviewCols scope review lines like the users they describe.
var reviewCols = Cols{Region: "i.region_code", Dept: "i.dept_id", Owner: "i.user_id"}

// CreateReview opens a campaign. A scheduled one is named by the quarter and created once
// per quarter (created is false when it existed); a manual one is always new.
func (s *Service) CreateReview(ctx context.Context, r *http.Request, p *Principal, scheduled bool) (id int64, created bool, err error) {
	now := s.now()
	local := now.In(web.Shanghai())
	period := fmt.Sprintf("%dQ%d", local.Year(), (int(local.Month())-1)/3+1)
	title := fmt.Sprintf("%d 年第 %d 季度权限复核", local.Year(), (int(local.Month())-1)/3+1)
	if !scheduled {
		period = "M" + local.Format("20060102150405.000")
		title = "权限复核（" + local.Format("2006-01-02 15:04") + " 发起）"
	}
	roles, err := s.ListRoles(ctx)
	if err != nil {
		return 0, false, err
	}
	roleName := map[string]Role{}
	for _, ro := range roles {
		roleName[ro.Code] = ro
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var creator any
		if p != nil && p.UserID != 0 {
			creator = p.UserID
		}
		if err := tx.Get(ctx, &id, `SELECT id FROM access_reviews WHERE period = ?`, period); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if id, err = store.InsertID(ctx, tx, `INSERT INTO access_reviews(period, title, status, created_by, created_at) VALUES (?, ?, 'open', ?, ?)`,
			period, title, creator, now); err != nil {
			return err
		}
		created = true
		var users []struct {
			ID     int64      `db:"id"`
			Acc    string     `db:"account"`
			Name   string     `db:"name"`
			Region string     `db:"region_code"`
			RName  string     `db:"region_name"`
			Dept   *int64     `db:"dept_id"`
			DName  string     `db:"dept_name"`
			Status string     `db:"status"`
			Last   *time.Time `db:"last_login_at"`
		}
		if err := tx.Select(ctx, &users, `SELECT u.id, u.account, u.name, u.region_code, r.name AS region_name, u.dept_id, COALESCE(d.name, '') AS dept_name,
			u.status, u.last_login_at FROM users u JOIN regions r ON r.code = u.region_code LEFT JOIN departments d ON d.id = u.dept_id ORDER BY u.id`); err != nil {
			return err
		}
		var grants []struct {
			UserID int64  `db:"user_id"`
			Code   string `db:"code"`
		}
		if err := tx.Select(ctx, &grants, `SELECT ur.user_id, r.code FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY ur.user_id, r.id`); err != nil {
			return err
		}
		byUser := map[int64][]string{}
		for _, g := range grants {
			byUser[g.UserID] = append(byUser[g.UserID], g.Code)
		}
		for _, u := range users {
			var names, scopes []string
			seen := map[string]bool{}
			for _, c := range byUser[u.ID] {
				ro := roleName[c]
				names = append(names, ro.Name)
				if sc := ScopeNames[ro.DataScope]; sc != "" && !seen[sc] {
					seen[sc] = true
					scopes = append(scopes, sc)
				}
			}
			sort.Strings(scopes)
			scope := "辖区 " + u.RName + "（" + u.Region + "）；数据范围 " + joinOrNone(scopes)
			if _, err := tx.Exec(ctx, `INSERT INTO access_review_items(review_id, user_id, account, name, region_code, dept_id, dept_name, status, roles, scope, last_login_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, u.ID, u.Acc, u.Name, u.Region, u.Dept, u.DName, u.Status, joinOrNone(names), scope, u.Last); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.review.create", ObjectType: "access_review", ObjectID: idStr(id), Result: "success",
			Detail: fmt.Sprintf("发起%s，共 %d 个账号", title, len(users))})
	})
	return id, created, err
}

// ListReviews returns the campaigns with counts of the lines in the caller's scope.
func (s *Service) ListReviews(ctx context.Context, p *Principal) ([]Review, error) {
	where, args := p.Filter(reviewCols)
	var out []Review
	err := s.db.Select(ctx, &out, `SELECT a.id, a.period, a.title, a.status, a.created_at, a.closed_at,
		(SELECT COUNT(*) FROM access_review_items i WHERE i.review_id = a.id AND `+where+`) AS total,
		(SELECT COUNT(*) FROM access_review_items i WHERE i.review_id = a.id AND i.decision <> '' AND `+where+`) AS decided,
		(SELECT COUNT(*) FROM access_review_items i WHERE i.review_id = a.id AND i.decision = 'revoked' AND `+where+`) AS revoked
		FROM access_reviews a ORDER BY a.created_at DESC, a.id DESC`, append(append(append([]any{}, args...), args...), args...)...)
	return web.NonNil(out), err
}

// GetReview returns one campaign (counts in the caller's scope).
func (s *Service) GetReview(ctx context.Context, p *Principal, id int64) (*Review, error) {
	list, err := s.ListReviews(ctx, p)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], nil
		}
	}
	return nil, web.ErrNotFound
}

// ReviewItems returns a campaign's lines in the caller's scope; pending limits to
// undecided ones.
func (s *Service) ReviewItems(ctx context.Context, p *Principal, id int64, pending bool) ([]ReviewItem, error) {
	where, args := p.Filter(reviewCols)
	if pending {
		where += ` AND i.decision = ''`
	}
	var out []ReviewItem
	err := s.db.Select(ctx, &out, `SELECT i.id, i.review_id, i.user_id, i.account, i.name, i.region_code, i.dept_name, i.status, i.roles, i.scope,
		i.last_login_at, i.decision, COALESCE(u.account, '') AS decided_by_account, i.decided_at, i.note
		FROM access_review_items i LEFT JOIN users u ON u.id = i.decided_by WHERE i.review_id = ? AND `+where+` ORDER BY i.region_code, i.account`,
		append([]any{id}, args...)...)
	return web.NonNil(out), err
}

// DecideReviewItem confirms a line, or revokes it: the user loses every role (with the
// same checks as role assignment) in the same transaction. Each line is decided once.
func (s *Service) DecideReviewItem(ctx context.Context, r *http.Request, p *Principal, reviewID, itemID int64, decision, note string) error {
	if decision != "confirmed" && decision != "revoked" {
		return web.Errorf(http.StatusBadRequest, "bad_decision", "复核结论只能是 confirmed（确认）或 revoked（撤销）")
	}
	note = strings.TrimSpace(note)
	if decision == "revoked" && note == "" {
		return web.Errorf(http.StatusBadRequest, "note_required", "撤销权限须填写理由")
	}
	where, args := p.Filter(reviewCols)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var it struct {
			UserID   int64  `db:"user_id"`
			Account  string `db:"account"`
			Region   string `db:"region_code"`
			Decision string `db:"decision"`
			Status   string `db:"review_status"`
		}
		err := tx.Get(ctx, &it, `SELECT i.user_id, i.account, i.region_code, i.decision, a.status AS review_status
			FROM access_review_items i JOIN access_reviews a ON a.id = i.review_id WHERE i.id = ? AND i.review_id = ? AND `+where,
			append([]any{itemID, reviewID}, args...)...)
		if errors.Is(err, store.ErrNotFound) {
			return web.ErrNotFound
		}
		if err != nil {
			return err
		}
		if it.Status != "open" {
			return web.Errorf(http.StatusConflict, "review_closed", "该次复核已结束")
		}
		if it.Decision != "" {
			return web.Errorf(http.StatusConflict, "already_decided", "账号 %s 已复核为「%s」", it.Account, DecisionNames[it.Decision])
		}
		if decision == "revoked" {
			if err := s.assignRolesTx(ctx, tx, r, p, it.UserID, nil); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE access_review_items SET decision = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?`,
			decision, nullID(p.UserID), s.now(), truncate(note, 500), itemID); err != nil {
			return err
		}
		action, detail := "security.review.confirm", fmt.Sprintf("权限复核：确认账号 %s 的角色与数据范围", it.Account)
		if decision == "revoked" {
			action, detail = "security.review.revoke", fmt.Sprintf("权限复核：撤销账号 %s 的全部角色，理由：%s", it.Account, truncate(note, 200))
		}
		return s.record(ctx, tx, r, audit.Entry{Action: action, ObjectType: "access_review_item", ObjectID: idStr(itemID), Result: "success", RegionCode: it.Region, Detail: detail})
	})
}

// CloseReview ends a campaign; undecided lines stay undecided and visible.
func (s *Service) CloseReview(ctx context.Context, r *http.Request, p *Principal, id int64) error {
	if p.RegionPath != "/"+ProvinceCode+"/" {
		return web.Errorf(http.StatusForbidden, "province_only", "复核覆盖全省账号，只能由省级安全管理员结束")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE access_reviews SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'open'`, s.now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return web.Errorf(http.StatusConflict, "review_closed", "该次复核不存在或已结束")
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.review.close", ObjectType: "access_review", ObjectID: idStr(id), Result: "success", Detail: "结束权限复核"})
	})
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

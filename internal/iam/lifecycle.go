package iam

import (
	"context"
	"fmt"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Account lifecycle (等保 8.1.4.2 c: 及时删除或停用多余的、过期的账户) and password rotation
// reminders. The jobs are wired in internal/app/wire_identity.go; each is idempotent.

// DormantResult is what one run of the dormant-account job did.
type DormantResult struct {
	Disabled []string // accounts disabled
	Admins   []string // 三员 accounts left enabled although dormant
}

// DisableDormant disables accounts unused for Policy.DormantAfter: no login within that
// time (or never logged in and created before it) and no use of one of their API tokens
// (partner systems call with tokens and never log in). Their sessions end.
//
// The three separated administrators are never disabled by the job: with them disabled
// nobody could re-enable anyone from the console (only `zhsj user` on the server could).
// They are reported in the run's notes instead, and the permission review shows their last
// login; this is the documented exception to the 90-day rule.
func (s *Service) DisableDormant(ctx context.Context) (DormantResult, error) {
	var out DormantResult
	after := s.opt.Policy.DormantAfter
	if after <= 0 {
		return out, nil
	}
	cutoff := s.now().Add(-after)
	var rows []struct {
		ID      int64  `db:"id"`
		Account string `db:"account"`
		Region  string `db:"region_code"`
		Admin   int    `db:"admin"`
	}
	err := s.db.Select(ctx, &rows, `SELECT u.id, u.account, u.region_code,
		(SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.admin_kind <> '') AS admin
		FROM users u WHERE u.status = 'active' AND COALESCE(u.last_login_at, u.created_at) < ?
		AND NOT EXISTS (SELECT 1 FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL AND t.last_used_at >= ?) ORDER BY u.id`, cutoff, cutoff)
	if err != nil {
		return out, err
	}
	days := int(after.Hours() / 24)
	for _, u := range rows {
		if u.Admin > 0 {
			out.Admins = append(out.Admins, u.Account)
			continue
		}
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			// Re-checked in the update: a login since the select keeps the account.
			res, err := tx.Exec(ctx, `UPDATE users SET status = 'disabled', disabled_reason = 'dormant', disabled_at = ?, updated_at = ?
				WHERE id = ? AND status = 'active' AND COALESCE(last_login_at, created_at) < ?
				AND NOT EXISTS (SELECT 1 FROM api_tokens t WHERE t.user_id = users.id AND t.revoked_at IS NULL AND t.last_used_at >= ?)`, s.now(), s.now(), u.ID, cutoff, cutoff)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			n, err := s.revokeUserSessions(ctx, tx, u.ID, "dormant")
			if err != nil {
				return err
			}
			out.Disabled = append(out.Disabled, u.Account)
			return s.record(ctx, tx, nil, audit.Entry{Action: "iam.user.dormant_disable", ObjectType: "user", ObjectID: idStr(u.ID), Result: "success", RegionCode: u.Region,
				Detail: fmt.Sprintf("账号 %s 超过 %d 天未登录，自动停用（结束 %d 个会话）", u.Account, days, n)})
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// MarkExpired disables temporary accounts whose validity has ended (login already refuses
// them; this makes the state visible and ends their sessions).
func (s *Service) MarkExpired(ctx context.Context) ([]string, error) {
	now := s.now()
	var rows []struct {
		ID      int64  `db:"id"`
		Account string `db:"account"`
		Region  string `db:"region_code"`
	}
	if err := s.db.Select(ctx, &rows, `SELECT id, account, region_code FROM users WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY id`, now); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range rows {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.Exec(ctx, `UPDATE users SET status = 'disabled', disabled_reason = 'expired', disabled_at = ?, updated_at = ?
				WHERE id = ? AND status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?`, now, now, u.ID, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			if _, err := s.revokeUserSessions(ctx, tx, u.ID, "expired"); err != nil {
				return err
			}
			out = append(out, u.Account)
			return s.record(ctx, tx, nil, audit.Entry{Action: "iam.user.expire", ObjectType: "user", ObjectID: idStr(u.ID), Result: "success", RegionCode: u.Region,
				Detail: "临时账号 " + u.Account + " 已到有效期，标记为停用"})
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Notice is an in-app reminder.
type Notice struct {
	ID        int64      `db:"id" json:"id"`
	Kind      string     `db:"kind" json:"kind"`
	Title     string     `db:"title" json:"title"`
	Body      string     `db:"body" json:"body"`
	Link      string     `db:"link" json:"link"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	ReadAt    *time.Time `db:"read_at" json:"read_at"`
}

// addNotice stores a reminder once per (user, dedup); it reports whether it is new.
func (s *Service) addNotice(ctx context.Context, q store.Q, uid int64, kind, title, body, link, dedup string) (bool, error) {
	res, err := q.Exec(ctx, `INSERT INTO user_notices(user_id, kind, title, body, link, dedup, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, dedup) DO NOTHING`, uid, kind, title, body, link, dedup, s.now())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Notices returns the user's reminders, unread first.
func (s *Service) Notices(ctx context.Context, p *Principal, unreadOnly bool, limit int) ([]Notice, error) {
	var out []Notice
	cond := ""
	if unreadOnly {
		cond = ` AND read_at IS NULL`
	}
	err := s.db.Select(ctx, &out, `SELECT id, kind, title, body, link, created_at, read_at FROM user_notices WHERE user_id = ?`+cond+
		` ORDER BY CASE WHEN read_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT ?`, p.UserID, limit)
	return web.NonNil(out), err
}

// ReadNotice marks one of the user's reminders as read.
func (s *Service) ReadNotice(ctx context.Context, p *Principal, id int64) error {
	res, err := s.db.Exec(ctx, `UPDATE user_notices SET read_at = ? WHERE id = ? AND user_id = ? AND read_at IS NULL`, s.now(), id, p.UserID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var k int
		s.db.Get(ctx, &k, `SELECT COUNT(*) FROM user_notices WHERE id = ? AND user_id = ?`, id, p.UserID)
		if k == 0 {
			return web.ErrNotFound
		}
	}
	return nil
}

// ReminderResult is what one run of the password reminder job did.
type ReminderResult struct {
	Notices  int // new in-app reminders
	Messages int // messages queued on the notification channel
}

// RemindPasswordExpiry reminds every active user whose password expires within the
// warning period (7 days): always in-app, and through the configured notification channel
// when there is one. One reminder per user and expiry date, however often the job runs.
func (s *Service) RemindPasswordExpiry(ctx context.Context) (ReminderResult, error) {
	var out ReminderResult
	now := s.now()
	st, err := s.SecuritySettings(ctx)
	if err != nil {
		return out, err
	}
	warn := s.opt.Policy.WarnBefore
	// Candidates: changed long enough ago that even the shortest allowed period (7 days)
	// could be expiring; the exact expiry is computed per user.
	var rows []struct {
		ID      int64      `db:"id"`
		Account string     `db:"account"`
		Name    string     `db:"name"`
		Changed *time.Time `db:"password_changed_at"`
		Days    int        `db:"password_max_days"`
	}
	if err := s.db.Select(ctx, &rows, `SELECT id, account, name, password_changed_at, password_max_days FROM users
		WHERE status = 'active' AND password_changed_at IS NOT NULL AND password_changed_at <= ? ORDER BY id`, now.Add(warn).Add(-7*24*time.Hour)); err != nil {
		return out, err
	}
	for _, u := range rows {
		exp := s.passwordExpiry(u.Changed, u.Days)
		if exp.IsZero() || !exp.After(now) || exp.Sub(now) > warn {
			continue
		}
		day := exp.In(web.Shanghai()).Format("2006-01-02")
		left := int(exp.Sub(now).Hours()/24) + 1
		if exp.Sub(now) < 24*time.Hour {
			left = 1
		}
		title := fmt.Sprintf("您的口令将于 %s 到期", day)
		body := fmt.Sprintf("口令还有约 %d 天到期，到期后登录时须先修改口令。请在到期前修改。", left)
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			fresh, err := s.addNotice(ctx, tx, u.ID, "password_expiry", title, body, "/account/password", "pwd-expiry-"+day)
			if err != nil || !fresh {
				return err
			}
			out.Notices++
			if st.PasswordChannel != 0 && s.Notify != nil {
				text := fmt.Sprintf("账号 %s（%s）的口令将于 %s 到期，请提醒其及时修改。", u.Account, u.Name, day)
				if err := s.Notify(ctx, tx, st.PasswordChannel, "口令即将到期："+u.Account, text, "info", fmt.Sprintf("iam-pwd-%d-%s", u.ID, day)); err != nil {
					return err
				}
				out.Messages++
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// PruneSecurity deletes login history past the audit retention and spent SMS codes.
func (s *Service) PruneSecurity(ctx context.Context, keep time.Duration) (int64, error) {
	now := s.now()
	var total int64
	for _, q := range []struct {
		sql string
		at  time.Time
	}{
		{`DELETE FROM login_events WHERE at < ?`, now.Add(-keep)},
		{`DELETE FROM sms_codes WHERE created_at < ?`, now.Add(-2 * 24 * time.Hour)},
		{`DELETE FROM sms_gate WHERE last_sent_at < ?`, now.Add(-2 * 24 * time.Hour)},
	} {
		res, err := s.db.Exec(ctx, q.sql, q.at)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

func joinOrNone(list []string) string {
	if len(list) == 0 {
		return "无"
	}
	return strings.Join(list, "、")
}

package iam

import (
	"context"
	"errors"
	"net/http"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// LogoutHook runs after a session of user uid has ended (logout, revocation, force logout,
// disable), e.g. to propagate single logout to SSO relying parties. It must not fail the
// logout; errors are the hook's own to report.
type LogoutHook func(ctx context.Context, uid int64, sessionID string)

// OnLogout registers a hook.
func (s *Service) OnLogout(h LogoutHook) { s.logoutHooks = append(s.logoutHooks, h) }

// LoginLink is another way to log in, offered under the login forms (a partner platform).
type LoginLink struct{ Name, URL string }

// OnLoginPage registers a source of login links; next is the page to return to.
func (s *Service) OnLoginPage(f func(ctx context.Context, next string) []LoginLink) {
	s.loginLinks = append(s.loginLinks, f)
}

func (s *Service) runLogoutHooks(ctx context.Context, uid int64, sids []string) {
	for _, sid := range sids {
		for _, h := range s.logoutHooks {
			h(context.WithoutCancel(ctx), uid, sid)
		}
	}
}

// LoginAs opens a session for a user whose identity another method has already proved (SMS
// code, SSO ticket, partner token). Status and expiry are checked as for a password login,
// and the login is audited with the method ("sms", "oidc:省执法平台", …).
func (s *Service) LoginAs(ctx context.Context, r *http.Request, uid int64, method string) (*LoginResult, error) {
	var u loginRow
	err := s.db.Get(ctx, &u, `SELECT id, account, name, status, expires_at, password_hash, password_changed_at, password_max_days,
		must_change_password, locked_until, region_code, phone_enc FROM users WHERE id = ?`, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	deny := func(detail string, e error) (*LoginResult, error) {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", ActorID: u.ID, Actor: u.Account, Action: "auth.login", Result: "denied",
			Detail: method + "：" + detail, RegionCode: u.RegionCode, ObjectType: "user", ObjectID: idStr(u.ID)})
		s.noteLogin(ctx, nil, r, loginAttempt{UserID: u.ID, Account: u.Account, Region: u.RegionCode, Method: method, Result: "denied"})
		return nil, e
	}
	if u.Status != "active" {
		return deny("账号已停用", ErrDisabled)
	}
	if u.ExpiresAt != nil && !u.ExpiresAt.After(now) {
		return deny("临时账号已过期", ErrExpired)
	}
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		return deny("账号处于锁定期", lockedError(*u.LockedUntil, now))
	}
	expiresAt := s.passwordExpiry(u.PasswordChangedAt, u.PasswordMaxDays)
	res := &LoginResult{UserID: u.ID, Account: u.Account, Name: u.Name, MustChangePassword: u.MustChange, PasswordExpiresAt: expiresAt}
	ip := web.Info(ctx).IP
	dev, fresh := deviceFor(r)
	if fresh {
		res.device = dev
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if res.clearSlots, err = s.admitAccount(ctx, tx, r, u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET last_login_at = ?, last_login_ip = ? WHERE id = ?`, now, ip, u.ID); err != nil {
			return err
		}
		tok, sid, exp, err := s.createSession(ctx, tx, u.ID, ip, r)
		if err != nil {
			return err
		}
		res.Token, res.SessionID, res.ExpiresAt = tok, sid, exp
		s.noteLogin(ctx, tx, r, loginAttempt{UserID: u.ID, Account: u.Account, Region: u.RegionCode, Method: method, Result: "success", Device: s.deviceHash(dev)})
		return s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: u.ID, Actor: u.Account, Action: "auth.login", Result: "success",
			Detail: "登录成功（" + method + "）", RegionCode: u.RegionCode, ObjectType: "user", ObjectID: idStr(u.ID)})
	})
	if err != nil {
		return nil, s.deniedByBrowser(ctx, r, u.ID, u.Account, u.RegionCode, method, err)
	}
	return res, nil
}

package iam

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "zhsj_session"

// Login errors with their HTTP status.
var (
	ErrBadCredentials = web.Errorf(http.StatusUnauthorized, "bad_credentials", "账号或口令错误")
	ErrDisabled       = web.Errorf(http.StatusForbidden, "account_disabled", "账号已停用，请联系系统管理员")
	ErrExpired        = web.Errorf(http.StatusForbidden, "account_expired", "临时账号已过有效期，请联系系统管理员")
	ErrRateLimited    = web.Errorf(http.StatusTooManyRequests, "rate_limited", "登录尝试过于频繁，请稍后再试")
	errMustChange     = web.Errorf(http.StatusForbidden, "password_change_required", "请先修改口令")
	// ErrNotProvinceWide answers a call of a route marked ProvinceWide by a principal whose
	// data scope is not the whole province.
	ErrNotProvinceWide = web.Errorf(http.StatusForbidden, "out_of_scope", "此功能作用于全省平台（不属于某一地区），仅限数据范围为全省的账号使用")
)

func lockedError(until time.Time, now time.Time) *web.Error {
	mins := int(until.Sub(now).Minutes()) + 1
	return web.Errorf(http.StatusLocked, "account_locked", "连续登录失败次数过多，账号已锁定，请 %d 分钟后再试或联系安全管理员解锁", mins)
}

// LoginResult is what a successful login returns.
type LoginResult struct {
	Token              string    `json:"-"`
	SessionID          string    `json:"-"`
	UserID             int64     `json:"user_id"`
	Account            string    `json:"account"`
	Name               string    `json:"name"`
	MustChangePassword bool      `json:"must_change_password"`
	PasswordExpiresAt  time.Time `json:"password_expires_at"`
	ExpiresAt          time.Time `json:"session_expires_at"`

	clearSlots []string // slot cookies of this browser to expire (same user's old session, dead slots)
	device     string   // a new device id to give the browser
}

type loginRow struct {
	ID                int64      `db:"id"`
	Account           string     `db:"account"`
	Name              string     `db:"name"`
	Status            string     `db:"status"`
	ExpiresAt         *time.Time `db:"expires_at"`
	PasswordHash      string     `db:"password_hash"`
	PasswordChangedAt *time.Time `db:"password_changed_at"`
	PasswordMaxDays   int        `db:"password_max_days"`
	MustChange        bool       `db:"must_change_password"`
	LockedUntil       *time.Time `db:"locked_until"`
	RegionCode        string     `db:"region_code"`
	PhoneEnc          []byte     `db:"phone_enc"`
}

// dummyHash keeps the timing of unknown accounts close to that of wrong passwords.
var dummyHash = func() string { h, _ := gm.HashPassword("zhsj-dummy-password"); return h }()

// Login checks a password and opens a session. Failures are counted atomically so that
// parallel attempts cannot exceed the limit; every attempt is audited without the password.
func (s *Service) Login(ctx context.Context, r *http.Request, account, password string) (*LoginResult, error) {
	account = strings.TrimSpace(account)
	ip := web.Info(ctx).IP
	if ip != "" && !s.loginIP.Allow(ip) {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", Actor: account, Action: "auth.login", Result: "denied", Detail: "来源 IP 登录频率超限"})
		return nil, ErrRateLimited
	}
	if account != "" && !s.loginAccount.Allow(account) {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", Actor: account, Action: "auth.login", Result: "denied", Detail: "账号登录频率超限"})
		return nil, ErrRateLimited
	}
	fail := func(result, detail string, uid int64, region string, err error) (*LoginResult, error) {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", ActorID: uid, Actor: account, Action: "auth.login", Result: result, Detail: detail, RegionCode: region, ObjectType: "user", ObjectID: idStr(uid)})
		s.noteLogin(ctx, nil, r, loginAttempt{UserID: uid, Account: account, Region: region, Result: result})
		return nil, err
	}
	if account == "" || password == "" {
		return nil, web.Errorf(http.StatusBadRequest, "missing_credentials", "请输入账号和口令")
	}
	var u loginRow
	err := s.db.Get(ctx, &u, `SELECT id, account, name, status, expires_at, password_hash, password_changed_at, password_max_days,
		must_change_password, locked_until, region_code, phone_enc FROM users WHERE account = ?`, account)
	if errors.Is(err, store.ErrNotFound) {
		gm.VerifyPassword(dummyHash, password)
		return fail("failure", "账号不存在", 0, "", ErrBadCredentials)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		return fail("locked", "账号处于锁定期", u.ID, u.RegionCode, lockedError(*u.LockedUntil, now))
	}
	ok, rehash, err := gm.VerifyPassword(u.PasswordHash, password)
	if err != nil && !errors.Is(err, gm.ErrBadHash) {
		return nil, err
	}
	if !ok {
		n, until, locked, err := s.countFailure(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if locked {
			return fail("locked", fmt.Sprintf("口令错误，连续失败 %d 次，账号锁定", n), u.ID, u.RegionCode, lockedError(until, now))
		}
		// The same answer as for an unknown account, so that it reveals nothing.
		return fail("failure", fmt.Sprintf("口令错误（连续第 %d 次）", n), u.ID, u.RegionCode, ErrBadCredentials)
	}
	if u.Status != "active" {
		return fail("denied", "账号已停用", u.ID, u.RegionCode, ErrDisabled)
	}
	if u.ExpiresAt != nil && !u.ExpiresAt.After(now) {
		return fail("denied", "临时账号已过期", u.ID, u.RegionCode, ErrExpired)
	}
	mustChange := u.MustChange
	reason := ""
	expiresAt := s.passwordExpiry(u.PasswordChangedAt, u.PasswordMaxDays)
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		mustChange, reason = true, "口令已过期"
	}
	// Weak-password detection at login: a password that fails today's policy must change.
	phone := s.openPhone(u.PhoneEnc)
	weak := !Passes(s.opt.Policy.Check(password, Subject{Account: u.Account, Name: u.Name, Phone: phone, Admin: s.isAdmin(ctx, u.ID)}))
	if weak {
		mustChange, reason = true, "口令不符合当前口令策略"
	}
	res := &LoginResult{UserID: u.ID, Account: u.Account, Name: u.Name, MustChangePassword: mustChange, PasswordExpiresAt: expiresAt}
	dev, fresh := deviceFor(r)
	if fresh {
		res.device = dev
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if res.clearSlots, err = s.admitAccount(ctx, tx, r, u.ID); err != nil {
			return err
		}
		set := `failed_logins = 0, locked_until = NULL, last_login_at = ?, last_login_ip = ?, weak_password = ?, must_change_password = ?`
		args := []any{now, ip, weak, mustChange}
		if rehash {
			h, err := gm.HashPassword(password)
			if err != nil {
				return err
			}
			set += `, password_hash = ?`
			args = append(args, h)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET `+set+` WHERE id = ?`, append(args, u.ID)...); err != nil {
			return err
		}
		tok, sid, exp, err := s.createSession(ctx, tx, u.ID, ip, r)
		if err != nil {
			return err
		}
		res.Token, res.SessionID, res.ExpiresAt = tok, sid, exp
		detail := "登录成功"
		if mustChange {
			detail += "，须修改口令：" + firstNonEmpty(reason, "首次登录或管理员重置")
		}
		s.noteLogin(ctx, tx, r, loginAttempt{UserID: u.ID, Account: u.Account, Region: u.RegionCode, Result: "success", Device: s.deviceHash(dev)})
		return s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: u.ID, Actor: u.Account, Action: "auth.login", Result: "success",
			Detail: detail, RegionCode: u.RegionCode, ObjectType: "user", ObjectID: idStr(u.ID)})
	})
	if err != nil {
		return nil, s.deniedByBrowser(ctx, r, u.ID, u.Account, u.RegionCode, "password", err)
	}
	return res, nil
}

// countFailure adds one failed attempt in a single statement; the lock is set by the attempt
// that reaches the limit, and attempts against a locked account are not counted.
func (s *Service) countFailure(ctx context.Context, uid int64) (n int, until time.Time, locked bool, err error) {
	now := s.now()
	lockUntil := now.Add(s.opt.Policy.LockFor)
	max := s.opt.Policy.MaxFailures
	// A lock that has run out starts a fresh count.
	newCount := `CASE WHEN locked_until IS NOT NULL AND locked_until <= ? THEN 1 ELSE failed_logins + 1 END`
	var lu *time.Time
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `UPDATE users SET
			locked_until = CASE WHEN `+newCount+` >= ? THEN ? WHEN locked_until IS NOT NULL AND locked_until <= ? THEN NULL ELSE locked_until END,
			failed_logins = `+newCount+`
			WHERE id = ? AND (locked_until IS NULL OR locked_until <= ?)
			RETURNING failed_logins, locked_until`,
			now, max, lockUntil, now, now, uid, now).Scan(&n, &lu)
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Another attempt locked the account meanwhile.
		var cur *time.Time
		if e := s.db.Get(ctx, &cur, `SELECT locked_until FROM users WHERE id = ?`, uid); e != nil || cur == nil {
			return max, lockUntil, true, nil
		}
		return max, *cur, true, nil
	}
	if err != nil {
		return 0, time.Time{}, false, err
	}
	if lu != nil && lu.After(now) {
		return n, *lu, true, nil
	}
	return n, time.Time{}, false, nil
}

func (s *Service) passwordExpiry(changed *time.Time, userDays int) time.Time {
	if changed == nil {
		return time.Time{}
	}
	maxAge := s.opt.Policy.MaxAge
	if userDays > 0 && time.Duration(userDays)*24*time.Hour < maxAge {
		maxAge = time.Duration(userDays) * 24 * time.Hour
	}
	return changed.Add(maxAge)
}

func (s *Service) createSession(ctx context.Context, tx *store.Tx, uid int64, ip string, r *http.Request) (token, sid string, exp time.Time, err error) {
	token = gm.RandomToken()
	sid = gm.SM3Hex(token)
	now := s.now()
	exp = now.Add(s.opt.SessionAbsolute)
	ua := ""
	if r != nil {
		ua = truncate(r.UserAgent(), 300)
	}
	_, err = tx.Exec(ctx, `INSERT INTO sessions(id, user_id, created_at, last_seen_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		sid, uid, now, now, exp, ip, ua)
	return
}

type sessionRow struct {
	UserID            int64      `db:"user_id"`
	LastSeen          time.Time  `db:"last_seen_at"`
	ExpiresAt         time.Time  `db:"expires_at"`
	RevokedAt         *time.Time `db:"revoked_at"`
	Account           string     `db:"account"`
	Name              string     `db:"name"`
	Status            string     `db:"status"`
	UserExpires       *time.Time `db:"user_expires"`
	DeptID            *int64     `db:"dept_id"`
	DeptPath          string     `db:"dept_path"`
	DeptName          string     `db:"dept_name"`
	Region            string     `db:"region_code"`
	RegionPath        string     `db:"region_path"`
	RegionName        string     `db:"region_name"`
	MustChange        bool       `db:"must_change_password"`
	PasswordChangedAt *time.Time `db:"password_changed_at"`
	PasswordMaxDays   int        `db:"password_max_days"`
	RolesVersion      string     `db:"roles_version"`
}

// ErrSessionInvalid is returned for a missing, expired, revoked or disabled session.
var ErrSessionInvalid = web.Errorf(http.StatusUnauthorized, "session_invalid", "会话已失效，请重新登录")

// Authenticate resolves a session token to its principal, enforcing idle and absolute
// timeouts and the user's status on every request.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, web.ErrUnauthenticated
	}
	sid := gm.SM3Hex(token)
	now := s.now()
	// One query per request, with the validity checks (revoked, absolute and idle timeouts,
	// user status and expiry) done by the database on bound times; departments, regions and
	// role assignments come from the per-version cache. The authenticated /api/v1/me
	// benchmark in docs/benchmarks.md depends on this. Stored times are UTC and compare as
	// text on SQLite.
	var (
		uid             int64
		account, name   string
		deptID          sql.NullInt64
		region, version string
		mustChange      bool
		changed         sql.NullTime
		maxDays, stale  int
	)
	err := s.db.QueryRow(ctx, `SELECT s.user_id, u.account, u.name, u.dept_id, u.region_code, u.must_change_password,
		u.password_changed_at, u.password_max_days, COALESCE((SELECT value FROM settings WHERE key = 'iam.roles_version'), '0'),
		CASE WHEN s.last_seen_at < ? THEN 1 ELSE 0 END
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?
		AND u.status = 'active' AND (u.expires_at IS NULL OR u.expires_at > ?)`,
		now.Add(-time.Minute), sid, now, now.Add(-s.opt.SessionIdle), now).Scan(
		&uid, &account, &name, &deptID, &region, &mustChange, &changed, &maxDays, &version, &stale)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrSessionInvalid
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{UserID: uid, Account: account, Name: name, Region: region, SessionID: sid, MustChange: mustChange}
	if deptID.Valid {
		p.DeptID = deptID.Int64
	}
	var changedAt *time.Time
	if changed.Valid {
		changedAt = &changed.Time
	}
	p.PasswordExpiresAt = s.passwordExpiry(changedAt, maxDays)
	if !p.PasswordExpiresAt.IsZero() && !p.PasswordExpiresAt.After(now) {
		p.MustChange = true
	}
	if err := s.fillPrincipal(ctx, p, version); err != nil {
		return nil, err
	}
	// Touching last_seen on every request would make every read a write; a minute of
	// slack on a 30-minute idle timeout is acceptable.
	if stale == 1 {
		if _, err := s.db.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND revoked_at IS NULL`, now, sid); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// iamCache holds what principals are built from and rarely changes: roles with their
// permissions and scopes, users' role assignments, departments and regions. It is reloaded
// whenever the version row (bumped by every such change, on any instance) moves.
type iamCache struct {
	version   string
	roles     map[int64]roleInfo
	userRoles map[int64][]int64
	depts     map[int64][2]string // path, name
	regions   map[string][2]string
}

// fillPrincipal adds department, region, roles, permissions and scopes to p.
func (s *Service) fillPrincipal(ctx context.Context, p *Principal, version string) error {
	c, err := s.iamCache(ctx, version)
	if err != nil {
		return err
	}
	if d, ok := c.depts[p.DeptID]; ok {
		p.DeptPath, p.DeptName = d[0], d[1]
	}
	if r, ok := c.regions[p.Region]; ok {
		p.RegionPath, p.RegionName = r[0], r[1]
	}
	if s.db.Dialect() == store.Postgres && p.RegionPath != "/"+ProvinceCode+"/" {
		// PostgreSQL weighs each code named in a scope condition with the column's statistics;
		// through the regions subquery it cannot (a Xi'an count of API calls, where it has
		// none: 0.56 s, 4 ms with the codes named). SQLite keeps the subquery: given the codes
		// it skip-scans the status index for a city's count (1.7 s instead of 0.09 s).
		p.regionCodes = c.codesUnder(p.RegionPath)
	}
	p.Perms = map[string]bool{}
	for _, id := range c.userRoles[p.UserID] {
		ri, ok := c.roles[id]
		if !ok {
			continue
		}
		p.Roles = append(p.Roles, ri.Code)
		p.Scopes = append(p.Scopes, ri.Scope)
		if ri.AdminKind != "" {
			p.AdminKind = ri.AdminKind
		}
		for _, perm := range ri.Perms {
			p.Perms[perm] = true
		}
	}
	return nil
}

// codesUnder lists the region codes of the jurisdiction rooted at path, sorted.
func (c *iamCache) codesUnder(path string) []string {
	var out []string
	for code, r := range c.regions {
		if strings.HasPrefix(r[0], path) {
			out = append(out, code)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Service) iamCache(ctx context.Context, version string) (*iamCache, error) {
	s.rolesMu.RLock()
	c := s.cache
	s.rolesMu.RUnlock()
	if c != nil && c.version == version {
		return c, nil
	}
	s.rolesMu.Lock()
	defer s.rolesMu.Unlock()
	if s.cache != nil && s.cache.version == version {
		return s.cache, nil
	}
	c, err := s.loadIAMCache(ctx, version)
	if err != nil {
		return nil, err
	}
	s.cache = c
	return c, nil
}

func (s *Service) loadIAMCache(ctx context.Context, version string) (*iamCache, error) {
	c := &iamCache{version: version, roles: map[int64]roleInfo{}, userRoles: map[int64][]int64{}, depts: map[int64][2]string{}, regions: map[string][2]string{}}
	var roles []struct {
		ID        int64  `db:"id"`
		Code      string `db:"code"`
		Scope     string `db:"data_scope"`
		AdminKind string `db:"admin_kind"`
	}
	if err := s.db.Select(ctx, &roles, `SELECT id, code, data_scope, admin_kind FROM roles`); err != nil {
		return nil, err
	}
	for _, r := range roles {
		c.roles[r.ID] = roleInfo{Code: r.Code, AdminKind: r.AdminKind, Scope: RoleScope{Kind: r.Scope}}
	}
	var pairs []struct {
		A int64  `db:"a"`
		B string `db:"b"`
	}
	if err := s.db.Select(ctx, &pairs, `SELECT role_id AS a, permission AS b FROM role_permissions ORDER BY role_id, permission`); err != nil {
		return nil, err
	}
	for _, p := range pairs {
		ri := c.roles[p.A]
		ri.Perms = append(ri.Perms, p.B)
		c.roles[p.A] = ri
	}
	var ids []struct {
		A int64 `db:"a"`
		B int64 `db:"b"`
	}
	if err := s.db.Select(ctx, &ids, `SELECT role_id AS a, dept_id AS b FROM role_depts ORDER BY role_id, dept_id`); err != nil {
		return nil, err
	}
	for _, d := range ids {
		ri := c.roles[d.A]
		ri.Scope.Depts = append(ri.Scope.Depts, d.B)
		c.roles[d.A] = ri
	}
	ids = ids[:0]
	if err := s.db.Select(ctx, &ids, `SELECT user_id AS a, role_id AS b FROM user_roles ORDER BY user_id, role_id`); err != nil {
		return nil, err
	}
	for _, ur := range ids {
		c.userRoles[ur.A] = append(c.userRoles[ur.A], ur.B)
	}
	var depts []struct {
		ID   int64  `db:"id"`
		Path string `db:"path"`
		Name string `db:"name"`
	}
	if err := s.db.Select(ctx, &depts, `SELECT id, path, name FROM departments`); err != nil {
		return nil, err
	}
	for _, d := range depts {
		c.depts[d.ID] = [2]string{d.Path, d.Name}
	}
	var regs []struct {
		Code string `db:"code"`
		Path string `db:"path"`
		Name string `db:"name"`
	}
	if err := s.db.Select(ctx, &regs, `SELECT code, path, name FROM regions`); err != nil {
		return nil, err
	}
	for _, r := range regs {
		c.regions[r.Code] = [2]string{r.Path, r.Name}
	}
	return c, nil
}

// Logout revokes the session.
func (s *Service) Logout(ctx context.Context, r *http.Request, p *Principal) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = 'logout' WHERE id = ? AND revoked_at IS NULL`, s.now(), p.SessionID); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: p.UserID, Actor: p.Account, Action: "auth.logout", Result: "success", Detail: "退出登录", RegionCode: p.Region})
	})
	if err == nil {
		s.runLogoutHooks(ctx, p.UserID, []string{p.SessionID})
	}
	return err
}

// revokeUserSessions ends every live session of a user (disable, force logout, reset).
// Logout hooks run once the caller's transaction has committed.
func (s *Service) revokeUserSessions(ctx context.Context, tx *store.Tx, uid int64, reason string) (int64, error) {
	var sids []string
	if err := tx.Select(ctx, &sids, `SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL`, uid); err != nil {
		return 0, err
	}
	res, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL`, s.now(), reason, uid)
	if err != nil {
		return 0, err
	}
	if len(sids) > 0 && len(s.logoutHooks) > 0 {
		tx.AfterCommit(func() { s.runLogoutHooks(ctx, uid, sids) })
	}
	return res.RowsAffected()
}

// SessionInfo is one session as its owner or an administrator sees it.
type SessionInfo struct {
	ID        string    `db:"id" json:"id"`
	UserID    int64     `db:"user_id" json:"user_id"`
	Account   string    `db:"account" json:"account"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	LastSeen  time.Time `db:"last_seen_at" json:"last_seen_at"`
	ExpiresAt time.Time `db:"expires_at" json:"expires_at"`
	IP        string    `db:"ip" json:"ip"`
	UserAgent string    `db:"user_agent" json:"user_agent"`
	Current   bool      `db:"-" json:"current"`
}

// Sessions lists the live sessions of a user.
func (s *Service) Sessions(ctx context.Context, uid int64, current string) ([]SessionInfo, error) {
	now := s.now()
	var out []SessionInfo
	err := s.db.Select(ctx, &out, `SELECT s.id, s.user_id, u.account, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ? ORDER BY s.created_at DESC`,
		uid, now, now.Add(-s.opt.SessionIdle))
	for i := range out {
		out[i].Current = out[i].ID == current
		// The id is the hash of the token: safe to show, but shorten it.
		out[i].ID = out[i].ID[:16]
	}
	return out, err
}

// RevokeSession ends one of the user's own sessions by its shown (shortened) id.
func (s *Service) RevokeSession(ctx context.Context, r *http.Request, p *Principal, shortID string) error {
	if len(shortID) != 16 {
		return web.ErrNotFound
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = 'revoked_by_user' WHERE user_id = ? AND revoked_at IS NULL AND substr(id, 1, 16) = ?`,
			s.now(), p.UserID, shortID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return web.ErrNotFound
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "auth.session.revoke", ObjectType: "session", ObjectID: shortID, Result: "success", Detail: "用户注销自己的一个会话"})
	})
}

// SetSessionCookie makes the new login the browser's active account: the session cookie,
// the account's slot cookie (so that accounts logged in before stay available for
// switching), the expiry of replaced or dead slots, and a device cookie for a new browser.
func (s *Service) SetSessionCookie(w http.ResponseWriter, res *LoginResult) {
	s.setActive(w, res.Token, res.UserID, res.ExpiresAt)
	if res.SessionID != "" {
		http.SetCookie(w, s.cookie(slotCookiePrefix+slotLabel(res.SessionID), res.Token, res.ExpiresAt, true))
	}
	for _, label := range res.clearSlots {
		s.clearSlot(w, label)
	}
	if res.device != "" {
		http.SetCookie(w, s.cookie(deviceCookie, res.device, s.now().AddDate(1, 0, 0), true))
	}
}

// ClearSessionCookie removes the active-account pointer (the session cookie). Other
// accounts kept in the browser stay logged in; LogoutActive also clears the account's slot
// and browser data.
func (s *Service) ClearSessionCookie(w http.ResponseWriter) {
	s.clearActive(w)
}

func (s *Service) isAdmin(ctx context.Context, uid int64) bool {
	var n int
	s.db.Get(ctx, &n, `SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? AND r.admin_kind <> ''`, uid)
	return n > 0
}

func (s *Service) openPhone(enc []byte) string {
	if len(enc) == 0 {
		return ""
	}
	b, err := s.keys.Open(gm.PurposePhone, enc)
	if err != nil {
		return ""
	}
	return string(b)
}

func idStr(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}

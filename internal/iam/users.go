package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// User is a user as the console shows it; the phone is masked unless unmasked on purpose, and
// the citizen ID number is only ever shown masked.
type User struct {
	ID          int64      `db:"id" json:"id"`
	Account     string     `db:"account" json:"account"`
	Name        string     `db:"name" json:"name"`
	PhoneMask   string     `db:"phone_mask" json:"phone"`
	IDNoMask    string     `db:"id_no_mask" json:"id_no"`
	DeptID      *int64     `db:"dept_id" json:"dept_id"`
	DeptName    string     `db:"dept_name" json:"dept_name"`
	RegionCode  string     `db:"region_code" json:"region_code"`
	RegionName  string     `db:"region_name" json:"region_name"`
	Status      string     `db:"status" json:"status"`
	ExpiresAt   *time.Time `db:"expires_at" json:"expires_at"`
	MustChange  bool       `db:"must_change_password" json:"must_change_password"`
	LockedUntil *time.Time `db:"locked_until" json:"locked_until"`
	LastLoginAt *time.Time `db:"last_login_at" json:"last_login_at"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	Roles       []string   `db:"-" json:"roles"`
	Locked      bool       `db:"-" json:"locked"`
}

// UserInput is what creating or editing a user takes.
type UserInput struct {
	Account    string     `json:"account"`
	Name       string     `json:"name"`
	Phone      string     `json:"phone"`
	IDNo       string     `json:"id_no"` // 身份证号; sealed, blind-indexed and masked, never returned
	DeptID     int64      `json:"dept_id"`
	RegionCode string     `json:"region_code"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Roles      []string   `json:"roles"`
	Password   string     `json:"password"`
	MustChange *bool      `json:"must_change_password"`
}

var accountRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{2,31}$`)
var phoneRe = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

func maskPhone(p string) string {
	if len(p) != 11 {
		return ""
	}
	return p[:3] + "****" + p[7:]
}

// userCols are the scope columns of the users table (alias u).
var userCols = Cols{Region: "u.region_code", Dept: "u.dept_id", Owner: "u.id"}

const userSelect = `SELECT u.id, u.account, u.name, u.phone_mask, u.id_no_mask, u.dept_id, COALESCE(d.name, '') AS dept_name, u.region_code, r.name AS region_name,
	u.status, u.expires_at, u.must_change_password, u.locked_until, u.last_login_at, u.created_at
	FROM users u JOIN regions r ON r.code = u.region_code LEFT JOIN departments d ON d.id = u.dept_id`

// UserFilter narrows the user list.
type UserFilter struct {
	Q      string
	DeptID int64
	Region string
	Status string
	Phone  string // exact, looked up through the blind index
}

// ListUsers returns the users in the caller's scope.
func (s *Service) ListUsers(ctx context.Context, p *Principal, f UserFilter, pg web.Page) (web.List[User], error) {
	where, args := p.Filter(userCols)
	if f.Q != "" {
		where += ` AND (u.account LIKE ? OR u.name LIKE ?)`
		args = append(args, "%"+f.Q+"%", "%"+f.Q+"%")
	}
	if f.DeptID != 0 {
		where += ` AND u.dept_id IN (SELECT id FROM departments WHERE path LIKE (SELECT path FROM departments WHERE id = ?) || '%')`
		args = append(args, f.DeptID)
	}
	if f.Region != "" {
		where += ` AND u.region_code IN (SELECT code FROM regions WHERE path LIKE (SELECT path FROM regions WHERE code = ?) || '%')`
		args = append(args, f.Region)
	}
	if f.Status != "" {
		where += ` AND u.status = ?`
		args = append(args, f.Status)
	}
	if f.Phone != "" {
		where += ` AND u.phone_idx = ?`
		args = append(args, gm.BlindIndex(s.keys, gm.PurposePhone, f.Phone))
	}
	out := web.List[User]{Page: pg.Page, Size: pg.Size, Items: []User{}}
	if err := s.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM users u WHERE `+where, args...); err != nil {
		return out, err
	}
	if err := s.db.Select(ctx, &out.Items, userSelect+` WHERE `+where+` ORDER BY u.id LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...); err != nil {
		return out, err
	}
	return out, s.fillRoles(ctx, out.Items)
}

func (s *Service) fillRoles(ctx context.Context, users []User) error {
	now := s.now()
	for i := range users {
		users[i].Locked = users[i].LockedUntil != nil && users[i].LockedUntil.After(now)
		if err := s.db.Select(ctx, &users[i].Roles, `SELECT r.code FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.id`, users[i].ID); err != nil {
			return err
		}
	}
	return nil
}

// GetUser returns one user if it lies in the caller's scope.
func (s *Service) GetUser(ctx context.Context, p *Principal, id int64) (*User, error) {
	where, args := p.Filter(userCols)
	var u User
	err := s.db.Get(ctx, &u, userSelect+` WHERE u.id = ? AND `+where, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	us := []User{u}
	if err := s.fillRoles(ctx, us); err != nil {
		return nil, err
	}
	return &us[0], nil
}

// sealedFields are the personal fields of users kept sealed, by the name Unmask takes.
var sealedFields = map[string]struct{ column, purpose, label string }{
	"phone": {"phone_enc", gm.PurposePhone, "手机号"},
	"id_no": {"id_no_enc", gm.PurposeIDNo, "身份证号"},
}

// Unmask returns a user's full phone number or ID number (field "phone" or "id_no"); the
// viewing is audited, the value is not.
func (s *Service) Unmask(ctx context.Context, r *http.Request, p *Principal, id int64, field string) (string, error) {
	f, ok := sealedFields[field]
	if !ok {
		return "", web.ErrNotFound
	}
	if _, err := s.GetUser(ctx, p, id); err != nil {
		return "", err
	}
	var enc []byte
	if err := s.db.Get(ctx, &enc, `SELECT `+f.column+` FROM users WHERE id = ?`, id); err != nil {
		return "", err
	}
	value := ""
	if len(enc) > 0 {
		b, err := s.keys.Open(f.purpose, enc)
		if err != nil {
			return "", err
		}
		value = string(b)
	}
	err := s.record(ctx, s.db, r, audit.Entry{Action: "iam.user.unmask", ObjectType: "user", ObjectID: idStr(id), Result: "success", Detail: "查看完整" + f.label})
	return value, err
}

func (s *Service) validateUser(ctx context.Context, q store.Q, p *Principal, in *UserInput, creating bool) error {
	in.Account = strings.TrimSpace(in.Account)
	in.Name = strings.TrimSpace(in.Name)
	in.Phone = strings.TrimSpace(in.Phone)
	fields := map[string]string{}
	if strings.TrimSpace(in.IDNo) != "" {
		id, err := NormalizeIDNo(in.IDNo)
		if err != nil {
			fields["id_no"] = "身份证号不正确：" + err.Error()
		}
		in.IDNo = id
	} else {
		in.IDNo = ""
	}
	if creating && !accountRe.MatchString(in.Account) {
		fields["account"] = "账号须以字母开头，3–32 位字母、数字、下划线、点或横线"
	}
	if in.Name == "" || len([]rune(in.Name)) > 50 {
		fields["name"] = "请填写姓名（不超过 50 字）"
	}
	if in.Phone != "" && !phoneRe.MatchString(in.Phone) {
		fields["phone"] = "手机号格式不正确"
	}
	if in.RegionCode == "" {
		in.RegionCode = p.Region
	}
	rp, err := RegionPath(ctx, q, in.RegionCode)
	if err != nil {
		fields["region_code"] = err.Error()
	} else if !p.WithinJurisdiction(rp) {
		fields["region_code"] = "所属区划超出您的管辖范围"
	}
	if in.DeptID != 0 {
		var d struct {
			Region string `db:"region_code"`
		}
		dw, dargs := p.Filter(Cols{Region: "d.region_code", Dept: "d.id"})
		if err := q.Get(ctx, &d, `SELECT d.region_code FROM departments d WHERE d.id = ? AND `+dw, append([]any{in.DeptID}, dargs...)...); err != nil {
			fields["dept_id"] = "部门不存在或不在您的数据范围内"
		}
	}
	if len(fields) > 0 {
		return &web.Error{Status: http.StatusBadRequest, Code: "invalid_user", Message: "用户信息有误：" + joinFields(fields), Fields: fields}
	}
	return nil
}

func joinFields(m map[string]string) string {
	var parts []string
	for _, k := range []string{"account", "name", "phone", "id_no", "region_code", "dept_id", "roles", "password"} {
		if v, ok := m[k]; ok {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "；")
}

// CreateUser creates a user inside the caller's scope with roles the caller may grant. The
// password, when given, must satisfy the policy; without one the user cannot log in until an
// administrator resets it.
func (s *Service) CreateUser(ctx context.Context, r *http.Request, p *Principal, in UserInput) (int64, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.validateUser(ctx, tx, p, &in, true); err != nil {
			return err
		}
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = ?`, in.Account); err != nil {
			return err
		}
		if n > 0 {
			return &web.Error{Status: http.StatusConflict, Code: "account_taken", Message: "账号 " + in.Account + " 已存在", Fields: map[string]string{"account": "账号已存在"}}
		}
		roleIDs, err := s.checkGrant(ctx, tx, p, in.Roles, in.RegionCode)
		if err != nil {
			return err
		}
		now := s.now()
		hash := ""
		var changed any
		must := true
		if in.MustChange != nil {
			must = *in.MustChange
		}
		if in.Password != "" {
			if rs := s.opt.Policy.Check(in.Password, Subject{Account: in.Account, Name: in.Name, Phone: in.Phone, Admin: s.rolesAreAdmin(ctx, tx, roleIDs)}); !Passes(rs) {
				return web.Errorf(http.StatusBadRequest, "weak_password", "口令不符合策略：%s", strings.Join(Failed(rs), "；"))
			}
			if hash, err = gm.HashPassword(in.Password); err != nil {
				return err
			}
			changed = now
		}
		var phoneEnc []byte
		var phoneIdx any
		if in.Phone != "" {
			if phoneEnc, err = s.keys.Seal(gm.PurposePhone, []byte(in.Phone)); err != nil {
				return err
			}
			phoneIdx = gm.BlindIndex(s.keys, gm.PurposePhone, in.Phone)
		}
		idEnc, idIdx, err := s.sealIDNo(in.IDNo)
		if err != nil {
			return err
		}
		var dept any
		if in.DeptID != 0 {
			dept = in.DeptID
		}
		var creator any
		if p.UserID != 0 {
			creator = p.UserID
		}
		id, err = store.InsertID(ctx, tx, `INSERT INTO users(account, name, phone_enc, phone_idx, phone_mask, id_no_enc, id_no_idx, id_no_mask, dept_id, region_code, status, expires_at,
			password_hash, password_changed_at, must_change_password, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)`,
			in.Account, in.Name, phoneEnc, phoneIdx, maskPhone(in.Phone), idEnc, idIdx, MaskIDNo(in.IDNo), dept, in.RegionCode, in.ExpiresAt, hash, changed, must, creator, now, now)
		if err != nil {
			return err
		}
		if hash != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO password_history(user_id, password_hash, created_at) VALUES (?, ?, ?)`, id, hash, now); err != nil {
				return err
			}
		}
		for _, rid := range roleIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO user_roles(user_id, role_id) VALUES (?, ?)`, id, rid); err != nil {
				return err
			}
		}
		if len(roleIDs) > 0 {
			if err := bumpIAMVersion(ctx, tx); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("创建用户 %s（%s），区划 %s，角色 %s", in.Account, in.Name, in.RegionCode, strings.Join(in.Roles, ","))
		if in.IDNo != "" {
			detail += "，身份证号 " + MaskIDNo(in.IDNo) // masked: audit never holds the number
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.create", ObjectType: "user", ObjectID: idStr(id), Result: "success", RegionCode: in.RegionCode,
			Detail: detail})
	})
	return id, err
}

// UpdateUser edits profile fields (not account, password or roles).
func (s *Service) UpdateUser(ctx context.Context, r *http.Request, p *Principal, id int64, in UserInput) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.getUserTx(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if err := s.guardAdminAccount(ctx, tx, p, id); err != nil {
			return err
		}
		in.Account = cur.Account
		if err := s.validateUser(ctx, tx, p, &in, false); err != nil {
			return err
		}
		set := `name = ?, dept_id = ?, region_code = ?, expires_at = ?, updated_at = ?`
		var dept any
		if in.DeptID != 0 {
			dept = in.DeptID
		}
		args := []any{in.Name, dept, in.RegionCode, in.ExpiresAt, s.now()}
		if in.Phone != "" {
			enc, err := s.keys.Seal(gm.PurposePhone, []byte(in.Phone))
			if err != nil {
				return err
			}
			set += `, phone_enc = ?, phone_idx = ?, phone_mask = ?`
			args = append(args, enc, gm.BlindIndex(s.keys, gm.PurposePhone, in.Phone), maskPhone(in.Phone))
		}
		detail := fmt.Sprintf("修改用户 %s 资料：姓名 %s，区划 %s，部门 %d", cur.Account, in.Name, in.RegionCode, in.DeptID)
		if in.IDNo != "" { // empty leaves the ID number unchanged, like the phone
			enc, idx, err := s.sealIDNo(in.IDNo)
			if err != nil {
				return err
			}
			set += `, id_no_enc = ?, id_no_idx = ?, id_no_mask = ?`
			args = append(args, enc, idx, MaskIDNo(in.IDNo))
			detail += "，身份证号改为 " + MaskIDNo(in.IDNo)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET `+set+` WHERE id = ?`, append(args, id)...); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.update", ObjectType: "user", ObjectID: idStr(id), Result: "success", RegionCode: in.RegionCode,
			Detail: detail})
	})
}

// sealIDNo seals a normalised ID number and computes its blind index (nil for none).
func (s *Service) sealIDNo(id string) (enc []byte, idx any, err error) {
	if id == "" {
		return nil, nil, nil
	}
	if enc, err = s.keys.Seal(gm.PurposeIDNo, []byte(id)); err != nil {
		return nil, nil, err
	}
	return enc, IDNoIndex(s.keys, id), nil
}

// IDNoIndex is the blind index of a normalised ID number (column users.id_no_idx).
func IDNoIndex(k gm.Keyring, id string) string { return gm.BlindIndex(k, gm.PurposeIDNo, id) }

// guardAdminAccount refuses web changes to a 三员 account's profile, status or password:
// otherwise one administrator could take over another's account. Such accounts are
// maintained from the command line (zhsj user …), which is audited as "system".
func (s *Service) guardAdminAccount(ctx context.Context, q store.Q, p *Principal, id int64) error {
	if p.isSystem() || !s.isAdminTx(ctx, q, id) {
		return nil
	}
	return web.Errorf(http.StatusForbidden, "admin_account", "三员管理员账号的资料、状态和口令只能由本人或在服务器上用 zhsj user 命令维护")
}

func (s *Service) getUserTx(ctx context.Context, q store.Q, p *Principal, id int64) (*User, error) {
	where, args := p.Filter(userCols)
	var u User
	err := q.Get(ctx, &u, userSelect+` WHERE u.id = ? AND `+where, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &u, err
}

// SetStatus enables or disables a user; disabling ends its sessions at once.
func (s *Service) SetStatus(ctx context.Context, r *http.Request, p *Principal, id int64, status string) error {
	if status != "active" && status != "disabled" {
		return web.Errorf(http.StatusBadRequest, "bad_status", "状态只能是 active 或 disabled")
	}
	if id == p.UserID {
		return web.Errorf(http.StatusBadRequest, "self", "不能停用自己的账号")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.getUserTx(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if err := s.guardAdminAccount(ctx, tx, p, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET status = ?, updated_at = ? WHERE id = ?`, status, s.now(), id); err != nil {
			return err
		}
		detail := "启用账号 " + u.Account
		if status == "disabled" {
			n, err := s.revokeUserSessions(ctx, tx, id, "disabled")
			if err != nil {
				return err
			}
			detail = fmt.Sprintf("停用账号 %s，结束 %d 个会话", u.Account, n)
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.status", ObjectType: "user", ObjectID: idStr(id), Result: "success", Detail: detail, RegionCode: u.RegionCode})
	})
}

// ResetPassword sets a new password chosen by an administrator and forces a change at the
// next login; all sessions of the user end.
func (s *Service) ResetPassword(ctx context.Context, r *http.Request, p *Principal, id int64, password string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.getUserTx(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if err := s.guardAdminAccount(ctx, tx, p, id); err != nil {
			return err
		}
		if err := s.setPassword(ctx, tx, id, password, true, false); err != nil {
			return err
		}
		if _, err := s.revokeUserSessions(ctx, tx, id, "password_reset"); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.reset_password", ObjectType: "user", ObjectID: idStr(id), Result: "success",
			Detail: "重置用户 " + u.Account + " 的口令（下次登录须修改）", RegionCode: u.RegionCode})
	})
}

// Unlock clears a login lock.
func (s *Service) Unlock(ctx context.Context, r *http.Request, p *Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.getUserTx(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?`, id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.unlock", ObjectType: "user", ObjectID: idStr(id), Result: "success", Detail: "解锁账号 " + u.Account, RegionCode: u.RegionCode})
	})
}

// ForceLogout ends every session of a user (security administrator).
func (s *Service) ForceLogout(ctx context.Context, r *http.Request, p *Principal, id int64) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.getUserTx(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if n, err = s.revokeUserSessions(ctx, tx, id, "force_logout"); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.session.force_logout", ObjectType: "user", ObjectID: idStr(id), Result: "success",
			Detail: fmt.Sprintf("强制下线 %s，结束 %d 个会话", u.Account, n), RegionCode: u.RegionCode})
	})
	return n, err
}

// setPassword checks policy and history and stores a new hash.
func (s *Service) setPassword(ctx context.Context, tx *store.Tx, uid int64, password string, mustChange, byOwner bool) error {
	var u struct {
		Account string     `db:"account"`
		Name    string     `db:"name"`
		Phone   []byte     `db:"phone_enc"`
		Changed *time.Time `db:"password_changed_at"`
	}
	if err := tx.Get(ctx, &u, `SELECT account, name, phone_enc, password_changed_at FROM users WHERE id = ?`, uid); err != nil {
		return err
	}
	admin := s.isAdminTx(ctx, tx, uid)
	rs := s.opt.Policy.Check(password, Subject{Account: u.Account, Name: u.Name, Phone: s.openPhone(u.Phone), Admin: admin})
	if !Passes(rs) {
		return &web.Error{Status: http.StatusBadRequest, Code: "weak_password", Message: "口令不符合策略：" + strings.Join(Failed(rs), "；"), Fields: map[string]string{"password": strings.Join(Failed(rs), "；")}}
	}
	hist := s.opt.Policy.History
	if admin {
		hist = s.opt.Policy.AdminHistory
	}
	var old []string
	if err := tx.Select(ctx, &old, `SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?`, uid, hist); err != nil {
		return err
	}
	for _, h := range old {
		if ok, _, _ := gm.VerifyPassword(h, password); ok {
			return web.Errorf(http.StatusBadRequest, "password_reused", "新口令不能与最近 %d 次使用过的口令相同", hist)
		}
	}
	hash, err := gm.HashPassword(password)
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ?, must_change_password = ?, weak_password = FALSE,
		failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?`, hash, now, mustChange, now, uid); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO password_history(user_id, password_hash, created_at) VALUES (?, ?, ?)`, uid, hash, now)
	return err
}

// ChangePassword is the user's own change: the current password is required, and the
// minimum age applies unless a change is forced.
func (s *Service) ChangePassword(ctx context.Context, r *http.Request, p *Principal, current, next string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var u struct {
			Hash    string     `db:"password_hash"`
			Changed *time.Time `db:"password_changed_at"`
			Must    bool       `db:"must_change_password"`
		}
		if err := tx.Get(ctx, &u, `SELECT password_hash, password_changed_at, must_change_password FROM users WHERE id = ?`, p.UserID); err != nil {
			return err
		}
		if ok, _, _ := gm.VerifyPassword(u.Hash, current); !ok {
			return errBadCurrent
		}
		if current == next {
			return web.Errorf(http.StatusBadRequest, "password_reused", "新口令不能与当前口令相同")
		}
		forced := u.Must || p.MustChange
		if !forced && u.Changed != nil && s.now().Sub(*u.Changed) < s.opt.Policy.MinAge {
			return web.Errorf(http.StatusBadRequest, "password_too_young", "口令修改间隔不能少于 %d 小时", int(s.opt.Policy.MinAge.Hours()))
		}
		if err := s.setPassword(ctx, tx, p.UserID, next, false, true); err != nil {
			return err
		}
		// Other sessions end; the current one stays.
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = 'password_changed' WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`,
			s.now(), p.UserID, p.SessionID); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.password.change", ObjectType: "user", ObjectID: idStr(p.UserID), Result: "success", Detail: "用户修改口令"})
	})
	if err == errBadCurrent {
		// Recorded after the transaction: SQLite has a single writer connection.
		s.record(ctx, s.db, r, audit.Entry{Action: "iam.password.change", ObjectType: "user", ObjectID: idStr(p.UserID), Result: "failure", Detail: "当前口令不正确"})
	}
	return err
}

var errBadCurrent = web.Errorf(http.StatusBadRequest, "bad_current_password", "当前口令不正确")

// SetRotation sets the user's own password rotation period in days (0 = policy maximum).
func (s *Service) SetRotation(ctx context.Context, r *http.Request, p *Principal, days int) error {
	max := int(s.opt.Policy.MaxAge.Hours() / 24)
	if days < 0 || days > max || (days > 0 && days < 7) {
		return web.Errorf(http.StatusBadRequest, "bad_rotation", "口令更换周期须在 7 到 %d 天之间（0 表示按策略上限）", max)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_max_days = ?, updated_at = ? WHERE id = ?`, days, s.now(), p.UserID); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.password.rotation", ObjectType: "user", ObjectID: idStr(p.UserID), Result: "success", Detail: fmt.Sprintf("设置口令更换周期 %d 天", days)})
	})
}

func (s *Service) isAdminTx(ctx context.Context, q store.Q, uid int64) bool {
	var n int
	q.Get(ctx, &n, `SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? AND r.admin_kind <> ''`, uid)
	return n > 0
}

func (s *Service) rolesAreAdmin(ctx context.Context, q store.Q, ids []int64) bool {
	for _, id := range ids {
		var kind string
		if q.Get(ctx, &kind, `SELECT admin_kind FROM roles WHERE id = ?`, id) == nil && kind != "" {
			return true
		}
	}
	return false
}

package iam

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// APIToken is a credential for a partner system: hashed at rest, limited to a subset of its
// owner's permissions and scope, revocable.
type APIToken struct {
	ID          int64      `db:"id" json:"id"`
	Name        string     `db:"name" json:"name"`
	Permissions string     `db:"permissions" json:"permissions"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt   *time.Time `db:"expires_at" json:"expires_at"`
	LastUsedAt  *time.Time `db:"last_used_at" json:"last_used_at"`
	RevokedAt   *time.Time `db:"revoked_at" json:"revoked_at"`
}

const tokenPrefix = "zhsj_"

// CreateToken issues a token for the caller limited to perms (each must be held by the caller).
// The plain token is returned once and never stored.
func (s *Service) CreateToken(ctx context.Context, r *http.Request, p *Principal, name string, perms []string, ttl time.Duration) (string, int64, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(perms) == 0 {
		return "", 0, web.Errorf(http.StatusBadRequest, "invalid_token", "请填写令牌名称并至少选择一个权限")
	}
	for _, perm := range perms {
		if !p.Can(perm) {
			return "", 0, web.Errorf(http.StatusForbidden, "grant_beyond_own", "令牌不能包含您没有的权限 %s", perm)
		}
	}
	plain := tokenPrefix + gm.RandomToken()
	var exp any
	if ttl > 0 {
		exp = s.now().Add(ttl)
	}
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = store.InsertID(ctx, tx, `INSERT INTO api_tokens(name, token_hash, user_id, permissions, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			name, gm.SM3Hex(plain), p.UserID, strings.Join(perms, " "), s.now(), exp)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.token.create", ObjectType: "api_token", ObjectID: idStr(id), Result: "success", Detail: "创建 API 令牌 " + name + "，权限 " + strings.Join(perms, ",")})
	})
	return plain, id, err
}

// RevokeToken revokes one of the caller's tokens.
func (s *Service) RevokeToken(ctx context.Context, r *http.Request, p *Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, s.now(), id, p.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return web.ErrNotFound
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.token.revoke", ObjectType: "api_token", ObjectID: idStr(id), Result: "success", Detail: "吊销 API 令牌"})
	})
}

// Tokens lists the caller's tokens.
func (s *Service) Tokens(ctx context.Context, p *Principal) ([]APIToken, error) {
	var out []APIToken
	err := s.db.Select(ctx, &out, `SELECT id, name, permissions, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = ? ORDER BY id DESC`, p.UserID)
	return out, err
}

// AuthenticateToken resolves an API token to a principal whose permissions are the token's
// permissions that its owner still holds.
func (s *Service) AuthenticateToken(ctx context.Context, plain string) (*Principal, error) {
	if !strings.HasPrefix(plain, tokenPrefix) {
		return nil, ErrSessionInvalid
	}
	var t struct {
		ID        int64      `db:"id"`
		UserID    int64      `db:"user_id"`
		Perms     string     `db:"permissions"`
		ExpiresAt *time.Time `db:"expires_at"`
		RevokedAt *time.Time `db:"revoked_at"`
		LastUsed  *time.Time `db:"last_used_at"`
	}
	err := s.db.Get(ctx, &t, `SELECT id, user_id, permissions, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = ?`, gm.SM3Hex(plain))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionInvalid
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !t.ExpiresAt.After(now)) {
		return nil, ErrSessionInvalid
	}
	p, err := s.PrincipalFor(ctx, t.UserID)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, perm := range strings.Fields(t.Perms) {
		if p.Perms[perm] {
			allowed[perm] = true
		}
	}
	p.Perms, p.TokenID, p.MustChange = allowed, t.ID, false
	if t.LastUsed == nil || now.Sub(*t.LastUsed) > time.Minute {
		s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, t.ID)
	}
	return p, nil
}

// PrincipalFor builds the principal of an active user without a session (tokens, SSO, jobs).
func (s *Service) PrincipalFor(ctx context.Context, uid int64) (*Principal, error) {
	var row sessionRow
	err := s.db.Get(ctx, &row, `SELECT u.id AS user_id, u.account, u.name, u.status, u.expires_at AS user_expires, u.dept_id,
		COALESCE(d.path, '') AS dept_path, COALESCE(d.name, '') AS dept_name, u.region_code, r.path AS region_path, r.name AS region_name,
		u.must_change_password, u.password_changed_at, u.password_max_days,
		COALESCE((SELECT value FROM settings WHERE key = 'iam.roles_version'), '0') AS roles_version,
		u.created_at AS last_seen_at, u.created_at AS expires_at
		FROM users u JOIN regions r ON r.code = u.region_code LEFT JOIN departments d ON d.id = u.dept_id WHERE u.id = ?`, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionInvalid
	}
	if err != nil {
		return nil, err
	}
	if row.Status != "active" || (row.UserExpires != nil && !row.UserExpires.After(s.now())) {
		return nil, ErrSessionInvalid
	}
	p := &Principal{UserID: row.UserID, Account: row.Account, Name: row.Name, DeptPath: row.DeptPath, DeptName: row.DeptName,
		Region: row.Region, RegionPath: row.RegionPath, RegionName: row.RegionName, MustChange: row.MustChange}
	if row.DeptID != nil {
		p.DeptID = *row.DeptID
	}
	return p, s.fillPrincipal(ctx, p, row.RolesVersion)
}

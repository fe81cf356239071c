package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Role is a role with its permissions and data scope.
type Role struct {
	ID          int64     `db:"id" json:"id"`
	Code        string    `db:"code" json:"code"`
	Name        string    `db:"name" json:"name"`
	Description string    `db:"description" json:"description"`
	DataScope   string    `db:"data_scope" json:"data_scope"`
	Builtin     bool      `db:"builtin" json:"builtin"`
	AdminKind   string    `db:"admin_kind" json:"admin_kind"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
	Permissions []string  `db:"-" json:"permissions"`
	Depts       []int64   `db:"-" json:"depts"`
	Users       int       `db:"users" json:"users"`
}

// RoleInput creates or edits a custom role.
type RoleInput struct {
	Code        string   `json:"code"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	DataScope   string   `json:"data_scope"`
	Permissions []string `json:"permissions"`
	Depts       []int64  `json:"depts"`
}

// System returns the principal of local command-line operations (zhsj user …, seeding):
// whoever can run the binary against the database already controls it; it is audited as
// "system".
func System() *Principal {
	return &Principal{Account: "system", Name: "系统（命令行）", Region: ProvinceCode, RegionPath: "/" + ProvinceCode + "/",
		Scopes: []RoleScope{{Kind: ScopeAll}}, Perms: map[string]bool{"*": true}, AdminKind: "cli"}
}

func (p *Principal) isSystem() bool { return p != nil && p.AdminKind == "cli" && p.UserID == 0 }

// ListRoles returns every role with its permissions and user counts.
func (s *Service) ListRoles(ctx context.Context) ([]Role, error) {
	var out []Role
	if err := s.db.Select(ctx, &out, `SELECT r.id, r.code, r.name, r.description, r.data_scope, r.builtin, r.admin_kind, r.updated_at,
		(SELECT COUNT(*) FROM user_roles ur WHERE ur.role_id = r.id) AS users FROM roles r ORDER BY r.builtin DESC, r.id`); err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.db.Select(ctx, &out[i].Permissions, `SELECT permission FROM role_permissions WHERE role_id = ? ORDER BY permission`, out[i].ID); err != nil {
			return nil, err
		}
		if err := s.db.Select(ctx, &out[i].Depts, `SELECT dept_id FROM role_depts WHERE role_id = ? ORDER BY dept_id`, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GetRole returns one role.
func (s *Service) GetRole(ctx context.Context, id int64) (*Role, error) {
	roles, err := s.ListRoles(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.ID == id {
			return &r, nil
		}
	}
	return nil, web.ErrNotFound
}

var roleCodeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)

func (s *Service) validateRole(ctx context.Context, q store.Q, p *Principal, in *RoleInput) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return web.Errorf(http.StatusBadRequest, "invalid_role", "请填写角色名称")
	}
	if _, ok := ScopeNames[in.DataScope]; !ok {
		return web.Errorf(http.StatusBadRequest, "invalid_role", "数据范围无效：%q", in.DataScope)
	}
	if !p.isSystem() && scopeRank[in.DataScope] > p.widestRank() {
		return web.Errorf(http.StatusForbidden, "scope_too_wide", "不能设置比自己更宽的数据范围")
	}
	known := map[string]bool{}
	if s.Catalogue != nil {
		for _, c := range s.Catalogue() {
			known[c.Code] = true
		}
	}
	sort.Strings(in.Permissions)
	for _, perm := range in.Permissions {
		if !known[perm] {
			return web.Errorf(http.StatusBadRequest, "unknown_permission", "未知权限 %s", perm)
		}
		if strings.HasPrefix(perm, "audit.") || strings.HasPrefix(perm, "iam.role.") || perm == "iam.user.grant" {
			return web.Errorf(http.StatusForbidden, "separation_of_duties", "权限 %s 只属于内置的三员角色，不能放入自定义角色", perm)
		}
		if !p.isSystem() && !p.Can(perm) && p.AdminKind != AdminSecurity {
			return web.Errorf(http.StatusForbidden, "grant_beyond_own", "不能授予自己没有的权限 %s", perm)
		}
	}
	if in.DataScope == ScopeCustom {
		if len(in.Depts) == 0 {
			return web.Errorf(http.StatusBadRequest, "invalid_role", "自定义数据范围须选择部门")
		}
		w, args := p.Filter(Cols{Region: "d.region_code", Dept: "d.id"})
		for _, d := range in.Depts {
			var n int
			if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM departments d WHERE d.id = ? AND `+w, append([]any{d}, args...)...); err != nil {
				return err
			}
			if n == 0 {
				return web.Errorf(http.StatusForbidden, "scope_too_wide", "部门 %d 不在您的数据范围内", d)
			}
		}
	} else {
		in.Depts = nil
	}
	return nil
}

// CreateRole creates a custom role.
func (s *Service) CreateRole(ctx context.Context, r *http.Request, p *Principal, in RoleInput) (int64, error) {
	if !roleCodeRe.MatchString(in.Code) {
		return 0, web.Errorf(http.StatusBadRequest, "invalid_role", "角色代码须为小写字母开头的 2–32 位小写字母、数字或下划线")
	}
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.validateRole(ctx, tx, p, &in); err != nil {
			return err
		}
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM roles WHERE code = ?`, in.Code); err != nil {
			return err
		}
		if n > 0 {
			return web.Errorf(http.StatusConflict, "role_exists", "角色代码 %s 已存在", in.Code)
		}
		now := s.now()
		var err error
		var creator any
		if p.UserID != 0 {
			creator = p.UserID
		}
		id, err = store.InsertID(ctx, tx, `INSERT INTO roles(code, name, description, data_scope, builtin, admin_kind, region_code, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, FALSE, '', ?, ?, ?, ?)`,
			in.Code, in.Name, in.Description, in.DataScope, p.Region, creator, now, now)
		if err != nil {
			return err
		}
		if err := s.writeRoleGrants(ctx, tx, id, in); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.role.create", ObjectType: "role", ObjectID: idStr(id), Result: "success",
			Detail: fmt.Sprintf("创建角色 %s（%s），数据范围 %s，权限 %s", in.Code, in.Name, ScopeNames[in.DataScope], strings.Join(in.Permissions, ","))})
	})
	return id, err
}

// UpdateRole edits a custom role; built-in roles cannot be edited.
func (s *Service) UpdateRole(ctx context.Context, r *http.Request, p *Principal, id int64, in RoleInput) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var cur Role
		if err := tx.Get(ctx, &cur, `SELECT id, code, name, description, data_scope, builtin, admin_kind, updated_at, 0 AS users FROM roles WHERE id = ?`, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return web.ErrNotFound
			}
			return err
		}
		if cur.Builtin {
			return web.Errorf(http.StatusForbidden, "builtin_role", "内置角色不可修改")
		}
		if err := s.roleInJurisdiction(ctx, tx, p, id); err != nil {
			return err
		}
		if err := s.validateRole(ctx, tx, p, &in); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE roles SET name = ?, description = ?, data_scope = ?, updated_at = ? WHERE id = ?`, in.Name, in.Description, in.DataScope, s.now(), id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM role_permissions WHERE role_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM role_depts WHERE role_id = ?`, id); err != nil {
			return err
		}
		if err := s.writeRoleGrants(ctx, tx, id, in); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.role.update", ObjectType: "role", ObjectID: idStr(id), Result: "success",
			Detail: fmt.Sprintf("修改角色 %s，数据范围 %s，权限 %s", cur.Code, ScopeNames[in.DataScope], strings.Join(in.Permissions, ","))})
	})
}

// DeleteRole removes a custom role that no user holds.
func (s *Service) DeleteRole(ctx context.Context, r *http.Request, p *Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var cur struct {
			Code    string `db:"code"`
			Builtin bool   `db:"builtin"`
		}
		if err := tx.Get(ctx, &cur, `SELECT code, builtin FROM roles WHERE id = ?`, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return web.ErrNotFound
			}
			return err
		}
		if cur.Builtin {
			return web.Errorf(http.StatusForbidden, "builtin_role", "内置角色不可删除")
		}
		if err := s.roleInJurisdiction(ctx, tx, p, id); err != nil {
			return err
		}
		var n int
		tx.Get(ctx, &n, `SELECT COUNT(*) FROM user_roles WHERE role_id = ?`, id)
		if n > 0 {
			return web.Errorf(http.StatusConflict, "role_in_use", "仍有 %d 个用户持有该角色，请先收回", n)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE id = ?`, id); err != nil {
			return err
		}
		if err := bumpIAMVersion(ctx, tx); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.role.delete", ObjectType: "role", ObjectID: idStr(id), Result: "success", Detail: "删除角色 " + cur.Code})
	})
}

// roleInJurisdiction refuses changes to a custom role created for a wider jurisdiction.
func (s *Service) roleInJurisdiction(ctx context.Context, q store.Q, p *Principal, id int64) error {
	var region string
	if err := q.Get(ctx, &region, `SELECT region_code FROM roles WHERE id = ?`, id); err != nil {
		return err
	}
	rp, err := RegionPath(ctx, q, region)
	if err != nil {
		return err
	}
	if !p.isSystem() && !p.WithinJurisdiction(rp) {
		return web.Errorf(http.StatusForbidden, "scope_too_wide", "该角色由上级机关创建，不能在本级修改或删除")
	}
	return nil
}

func (s *Service) writeRoleGrants(ctx context.Context, tx *store.Tx, id int64, in RoleInput) error {
	for _, perm := range in.Permissions {
		if _, err := tx.Exec(ctx, `INSERT INTO role_permissions(role_id, permission) VALUES (?, ?)`, id, perm); err != nil {
			return err
		}
	}
	for _, d := range in.Depts {
		if _, err := tx.Exec(ctx, `INSERT INTO role_depts(role_id, dept_id) VALUES (?, ?)`, id, d); err != nil {
			return err
		}
	}
	return bumpIAMVersion(ctx, tx)
}

// checkGrant resolves role codes and checks that p may give them to a user of region:
//   - only holders of iam.user.grant (the built-in security administrator role; the
//     permission cannot be put in custom roles) grant roles; nobody grants to themselves;
//   - the three administrator roles are granted only by a province-level security
//     administrator (or the command line), and one account holds at most one of them;
//   - a role's data scope is never wider than the granter's own.
func (s *Service) checkGrant(ctx context.Context, q store.Q, p *Principal, codes []string, region string) ([]int64, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	if !p.isSystem() && !p.Can("iam.user.grant") {
		return nil, web.Errorf(http.StatusForbidden, "forbidden", "您没有分配角色的权限")
	}
	var ids []int64
	admins := 0
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] {
			continue
		}
		seen[c] = true
		var ro Role
		if err := q.Get(ctx, &ro, `SELECT id, code, name, description, data_scope, builtin, admin_kind, updated_at, 0 AS users FROM roles WHERE code = ?`, c); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, web.Errorf(http.StatusBadRequest, "unknown_role", "角色 %s 不存在", c)
			}
			return nil, err
		}
		if ro.AdminKind != "" {
			admins++
			if !p.isSystem() && !(p.AdminKind == AdminSecurity && p.RegionPath == "/"+ProvinceCode+"/") {
				return nil, web.Errorf(http.StatusForbidden, "grant_admin_role", "三员角色只能由省级安全管理员分配")
			}
		}
		if !p.isSystem() {
			if scopeRank[ro.DataScope] > p.widestRank() {
				return nil, web.Errorf(http.StatusForbidden, "scope_too_wide", "角色 %s 的数据范围宽于您自己的，不能分配", ro.Name)
			}
			if p.AdminKind != AdminSecurity {
				var perms []string
				if err := q.Select(ctx, &perms, `SELECT permission FROM role_permissions WHERE role_id = ?`, ro.ID); err != nil {
					return nil, err
				}
				for _, perm := range perms {
					if !p.Can(perm) {
						return nil, web.Errorf(http.StatusForbidden, "grant_beyond_own", "角色 %s 含有您没有的权限 %s，不能分配", ro.Name, perm)
					}
				}
			}
		}
		ids = append(ids, ro.ID)
	}
	if admins > 1 {
		return nil, web.Errorf(http.StatusBadRequest, "separation_of_duties", "系统管理员、安全管理员、审计管理员三个角色不能由同一账号兼任")
	}
	if admins == 1 && len(ids) > 1 {
		return nil, web.Errorf(http.StatusBadRequest, "separation_of_duties", "三员账号只能持有其管理员角色，不能兼任业务角色")
	}
	if region != "" && !p.isSystem() {
		rp, err := RegionPath(ctx, q, region)
		if err != nil {
			return nil, err
		}
		if !p.WithinJurisdiction(rp) {
			return nil, web.Errorf(http.StatusForbidden, "scope_too_wide", "用户所属区划超出您的管辖范围")
		}
	}
	return ids, nil
}

// AssignRoles replaces a user's roles.
func (s *Service) AssignRoles(ctx context.Context, r *http.Request, p *Principal, uid int64, codes []string) error {
	if uid == p.UserID {
		return web.Errorf(http.StatusForbidden, "self_grant", "不能给自己分配角色")
	}
	if !p.isSystem() && !p.Can("iam.user.grant") {
		return web.Errorf(http.StatusForbidden, "forbidden", "您没有分配角色的权限")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.assignRolesTx(ctx, tx, r, p, uid, codes) })
}

// assignRolesTx replaces a user's roles inside tx (AssignRoles, permission reviews).
func (s *Service) assignRolesTx(ctx context.Context, tx *store.Tx, r *http.Request, p *Principal, uid int64, codes []string) error {
	u, err := s.getUserTx(ctx, tx, p, uid)
	if err != nil {
		return err
	}
	ids, err := s.checkGrant(ctx, tx, p, codes, u.RegionCode)
	if err != nil {
		return err
	}
	// Roles the granter could not grant are also roles it cannot take away.
	var current []string
	if err := tx.Select(ctx, &current, `SELECT r.code FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ?`, uid); err != nil {
		return err
	}
	if _, err := s.checkGrant(ctx, tx, p, current, ""); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE user_id = ?`, uid); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO user_roles(user_id, role_id) VALUES (?, ?)`, uid, id); err != nil {
			return err
		}
	}
	if err := bumpIAMVersion(ctx, tx); err != nil {
		return err
	}
	return s.record(ctx, tx, r, audit.Entry{Action: "iam.user.grant", ObjectType: "user", ObjectID: idStr(uid), Result: "success", RegionCode: u.RegionCode,
		Detail: fmt.Sprintf("用户 %s 的角色：%s → %s", u.Account, strings.Join(current, ","), strings.Join(codes, ","))})
}

package iam

import (
	"context"
	"path"
	"sort"

	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Built-in role codes. Their permissions are fixed patterns expanded over the permission
// catalogue at every start, so new modules' permissions reach them without a migration, and
// nobody can merge the three administrators (三员分立) by editing them.
const (
	RoleSysAdmin   = "sysadmin"
	RoleSecAdmin   = "secadmin"
	RoleAuditAdmin = "auditadmin"
	RoleLeader     = "leader"
	RoleAnalyst    = "analyst"
	RoleInspector  = "inspector"
	RoleEngineer   = "engineer"
)

// Admin kinds of the three separated administrators.
const (
	AdminSystem   = "system"
	AdminSecurity = "security"
	AdminAudit    = "audit"
)

type builtinRole struct {
	Code, Name, Description, Scope, AdminKind string
	Patterns                                  []string
}

var builtinRoles = []builtinRole{
	{RoleSysAdmin, "系统管理员", "三员之一：管理账号、部门和系统配置；不能查看审计日志，不能分配权限", ScopeAll, AdminSystem,
		[]string{"iam.user.read", "iam.user.write", "iam.dept.*", "iam.role.read", "sys.*", "jobs.*"}},
	{RoleSecAdmin, "安全管理员", "三员之一：分配角色与权限、解锁账号、强制下线、安全策略与风险告警；不能修改账号资料，不能查看审计日志", ScopeAll, AdminSecurity,
		[]string{"iam.user.read", "iam.user.grant", "iam.user.unlock", "iam.user.unmask", "iam.role.*", "iam.session.*", "iam.dept.read", "security.*"}},
	{RoleAuditAdmin, "审计管理员", "三员之一：只读查看与导出审计日志、校验审计链；不能修改账号和权限", ScopeAll, AdminAudit,
		[]string{"audit.*"}},
	{RoleLeader, "局领导", "查看辖区内全部看板与报告", ScopeAll, "",
		[]string{"dashboard.*", "indicator.*.read", "*.report.read", "quality.result.read"}},
	{RoleAnalyst, "数据分析员", "辖区内数据集、数据质量、指标与看板", ScopeAll, "",
		[]string{"dataset.*", "quality.*", "dashboard.*", "indicator.*"}},
	{RoleInspector, "县级检查员", "本辖区（县区）的业务记录与任务", ScopeAll, "",
		[]string{"dataset.*.read", "dashboard.*", "inspect.task.*", "desk.ticket.create", "desk.ticket.read"}},
	{RoleEngineer, "运维工程师", "运维中心与服务台：监控、巡检、工单、知识库", ScopeAll, "",
		[]string{"monitor.*", "inspect.*", "desk.*", "ops.*", "jobs.*", "notify.*"}},
}

// BuiltinRoleCodes lists the built-in role codes.
func BuiltinRoleCodes() []string {
	out := make([]string, len(builtinRoles))
	for i, r := range builtinRoles {
		out[i] = r.Code
	}
	return out
}

func expand(patterns []string, catalogue []web.Perm) []string {
	set := map[string]bool{}
	for _, p := range catalogue {
		for _, pat := range patterns {
			if ok, _ := path.Match(pat, p.Code); ok || matchDotted(pat, p.Code) {
				set[p.Code] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// matchDotted lets "*" span dots, so "dataset.*" covers "dataset.enterprise.read".
func matchDotted(pat, code string) bool {
	if len(pat) > 0 && pat[len(pat)-1] == '*' && len(code) >= len(pat)-1 && code[:len(pat)-1] == pat[:len(pat)-1] {
		return true
	}
	if len(pat) > 1 && pat[0] == '*' && len(code) >= len(pat)-1 && code[len(code)-len(pat)+1:] == pat[1:] {
		return true
	}
	return false
}

// SyncBuiltinRoles creates or refreshes the built-in roles from the permission catalogue.
func SyncBuiltinRoles(ctx context.Context, db *store.DB, catalogue []web.Perm) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		now := store.Now()
		for _, b := range builtinRoles {
			_, err := tx.Exec(ctx, `INSERT INTO roles(code, name, description, data_scope, builtin, admin_kind, created_at, updated_at)
				VALUES (?, ?, ?, ?, TRUE, ?, ?, ?)
				ON CONFLICT (code) DO UPDATE SET name = excluded.name, description = excluded.description,
				data_scope = excluded.data_scope, builtin = TRUE, admin_kind = excluded.admin_kind`,
				b.Code, b.Name, b.Description, b.Scope, b.AdminKind, now, now)
			if err != nil {
				return err
			}
			var id int64
			if err := tx.Get(ctx, &id, `SELECT id FROM roles WHERE code = ?`, b.Code); err != nil {
				return err
			}
			want := expand(b.Patterns, catalogue)
			var have []string
			if err := tx.Select(ctx, &have, `SELECT permission FROM role_permissions WHERE role_id = ? ORDER BY permission`, id); err != nil {
				return err
			}
			if equalStrings(have, want) {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM role_permissions WHERE role_id = ?`, id); err != nil {
				return err
			}
			for _, p := range want {
				if _, err := tx.Exec(ctx, `INSERT INTO role_permissions(role_id, permission) VALUES (?, ?)`, id, p); err != nil {
					return err
				}
			}
			if err := bumpIAMVersion(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bumpIAMVersion invalidates every instance's cache of what principals are made of: roles,
// their permissions and scopes, users' role assignments, departments. Every change to those
// calls it inside its transaction.
func bumpIAMVersion(ctx context.Context, q store.Q) error {
	_, err := q.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES ('iam.roles_version', '1', ?)
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at`, store.Now())
	return err
}

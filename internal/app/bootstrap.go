package app

import (
	"context"
	"crypto/rand"
	"math/big"

	"zhsj/internal/iam"
)

// Credential is a one-time password handed out at first start or demo seeding.
type Credential struct {
	Account, Name, Role, Password, Purpose string
}

// OneTimePassword returns a random 16-character password that satisfies the administrator
// policy. It is shown once and must be changed at first login.
func OneTimePassword(p iam.Policy, s iam.Subject) string {
	const sets = "ABCDEFGHJKLMNPQRSTUVWXYZ" + "abcdefghijkmnpqrstuvwxyz" + "23456789" + "@#%+=!?"
	for {
		b := make([]byte, 16)
		for i := range b {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(sets))))
			b[i] = sets[n.Int64()]
		}
		pw := string(b)
		s.Admin = true
		if iam.Passes(p.Check(pw, s)) {
			return pw
		}
	}
}

// firstAdmins are created at the first start of an empty database: the three separated
// administrators (三员), none of which can do the others' work.
var firstAdmins = []struct{ Account, Name, Role, Purpose string }{
	{"sysadmin", "系统管理员", iam.RoleSysAdmin, "管理账号、部门和系统配置"},
	{"secadmin", "安全管理员", iam.RoleSecAdmin, "分配角色权限、解锁账号、强制下线"},
	{"auditadmin", "审计管理员", iam.RoleAuditAdmin, "查看和导出审计日志、校验审计链"},
}

// EnsureAdmins creates the three administrators when the database has no user yet and returns
// their one-time passwords (forced to change at first login). It returns nothing afterwards.
func (a *App) EnsureAdmins(ctx context.Context) ([]Credential, error) {
	var n int
	if err := a.DB.Get(ctx, &n, `SELECT COUNT(*) FROM users`); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, nil
	}
	var out []Credential
	must := true
	for _, ad := range firstAdmins {
		pw := OneTimePassword(a.IAM.Policy(), iam.Subject{Account: ad.Account, Name: ad.Name})
		if _, err := a.IAM.CreateUser(ctx, nil, iam.System(), iam.UserInput{Account: ad.Account, Name: ad.Name, RegionCode: iam.ProvinceCode,
			Roles: []string{ad.Role}, Password: pw, MustChange: &must, DeptID: a.provinceDept(ctx)}); err != nil {
			return nil, err
		}
		out = append(out, Credential{Account: ad.Account, Name: ad.Name, Role: ad.Role, Password: pw, Purpose: ad.Purpose})
	}
	return out, nil
}

func (a *App) provinceDept(ctx context.Context) int64 {
	var id int64
	a.DB.Get(ctx, &id, `SELECT id FROM departments WHERE region_code = ? AND parent_id IS NULL ORDER BY id LIMIT 1`, iam.ProvinceCode)
	return id
}

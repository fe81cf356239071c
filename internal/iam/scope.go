package iam

import (
	"context"
	"strings"
	"time"
)

// Data scope kinds of a role (RuoYi's five).
const (
	ScopeAll       = "all"        // 全部数据（在辖区内）
	ScopeCustom    = "custom"     // 自定义部门
	ScopeDept      = "dept"       // 本部门
	ScopeDeptBelow = "dept_below" // 本部门及以下
	ScopeSelf      = "self"       // 仅本人
)

// ScopeNames are the Chinese names of the scope kinds.
var ScopeNames = map[string]string{
	ScopeAll: "全部数据", ScopeCustom: "自定义部门", ScopeDept: "本部门", ScopeDeptBelow: "本部门及以下", ScopeSelf: "仅本人",
}

var scopeRank = map[string]int{ScopeSelf: 1, ScopeDept: 2, ScopeCustom: 2, ScopeDeptBelow: 3, ScopeAll: 4}

// RoleScope is the data scope one role grants.
type RoleScope struct {
	Kind  string
	Depts []int64 // for ScopeCustom
}

// Principal is the authenticated caller: a person with a session, or a partner system with an
// API token (whose permissions are the token's subset of its owner's).
type Principal struct {
	UserID            int64
	Account           string
	Name              string
	DeptID            int64
	DeptPath          string
	DeptName          string
	Region            string // jurisdiction root (GB/T 2260)
	RegionPath        string
	RegionName        string
	Roles             []string
	AdminKind         string // system | security | audit, for the 三员 roles
	Perms             map[string]bool
	Scopes            []RoleScope
	SessionID         string
	TokenID           int64
	MustChange        bool
	PasswordExpiresAt time.Time

	// regionCodes, when set, are the codes of the jurisdiction (RegionPath and below), named
	// in Filter instead of selected from the regions table: see Service.fillPrincipal.
	regionCodes []string
}

// Can reports whether the principal holds permission.
func (p *Principal) Can(permission string) bool {
	return p != nil && p.Perms[permission]
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Cols names the columns of a scoped table in a query; leave one empty when the table has none.
type Cols struct {
	Region string // six-digit region code column
	Dept   string // department id column
	Owner  string // creating user id column
}

// Filter returns a SQL condition with bound parameters restricting rows to the principal's
// jurisdiction and data scope. It fails closed: nil principal, no roles, or a scope the table
// cannot express yields a condition that matches nothing.
func (p *Principal) Filter(c Cols) (string, []any) {
	if p == nil || len(p.Scopes) == 0 {
		return "1=0", nil
	}
	var conds []string
	var args []any
	if p.RegionPath != "/"+ProvinceCode+"/" {
		if c.Region == "" || p.RegionPath == "" {
			return "1=0", nil
		}
		if len(p.regionCodes) > 0 {
			conds = append(conds, c.Region+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(p.regionCodes)), ",")+")")
			for _, code := range p.regionCodes {
				args = append(args, code)
			}
		} else {
			conds = append(conds, c.Region+" IN (SELECT code FROM regions WHERE path LIKE ?)")
			args = append(args, p.RegionPath+"%")
		}
	}
	var ors []string
	all := false
	for _, s := range p.Scopes {
		switch s.Kind {
		case ScopeAll:
			all = true
		case ScopeCustom:
			if c.Dept != "" && len(s.Depts) > 0 {
				ph := strings.TrimSuffix(strings.Repeat("?,", len(s.Depts)), ",")
				ors = append(ors, c.Dept+" IN ("+ph+")")
				for _, d := range s.Depts {
					args = append(args, d)
				}
			}
		case ScopeDept:
			if c.Dept != "" && p.DeptID != 0 {
				ors = append(ors, c.Dept+" = ?")
				args = append(args, p.DeptID)
			}
		case ScopeDeptBelow:
			if c.Dept != "" && p.DeptPath != "" {
				ors = append(ors, c.Dept+" IN (SELECT id FROM departments WHERE path LIKE ?)")
				args = append(args, p.DeptPath+"%")
			}
		case ScopeSelf:
			if c.Owner != "" {
				ors = append(ors, c.Owner+" = ?")
				args = append(args, p.UserID)
			}
		}
	}
	if !all {
		if len(ors) == 0 {
			return "1=0", nil
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if len(conds) == 0 {
		return "1=1", nil
	}
	// Args were appended region first, then dept axis, matching the order of conds.
	return strings.Join(conds, " AND "), args
}

// WidestScope returns the rank of the principal's widest data scope.
func (p *Principal) widestRank() int {
	r := 0
	for _, s := range p.Scopes {
		if scopeRank[s.Kind] > r {
			r = scopeRank[s.Kind]
		}
	}
	return r
}

// ProvinceWide reports whether the principal's data scope is the whole province (no row
// filter): what platform-wide operations (routes marked ProvinceWide) require.
func (p *Principal) ProvinceWide() bool {
	where, _ := p.Filter(Cols{})
	return where == "1=1"
}

// WithinJurisdiction reports whether region path rp lies inside the principal's jurisdiction.
func (p *Principal) WithinJurisdiction(rp string) bool {
	return p != nil && p.RegionPath != "" && strings.HasPrefix(rp, p.RegionPath)
}

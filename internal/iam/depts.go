package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Dept is a department; Path is the chain of ids from the root (/1/4/17/).
type Dept struct {
	ID         int64     `db:"id" json:"id"`
	ParentID   *int64    `db:"parent_id" json:"parent_id"`
	Name       string    `db:"name" json:"name"`
	RegionCode string    `db:"region_code" json:"region_code"`
	RegionName string    `db:"region_name" json:"region_name"`
	Path       string    `db:"path" json:"path"`
	Sort       int       `db:"sort" json:"sort"`
	Status     string    `db:"status" json:"status"`
	UpdatedAt  time.Time `db:"updated_at" json:"updated_at"`
	Users      int       `db:"users" json:"users"`
	Depth      int       `db:"-" json:"depth"`
}

// DeptInput creates or edits a department.
type DeptInput struct {
	ParentID   int64  `json:"parent_id"`
	Name       string `json:"name"`
	RegionCode string `json:"region_code"`
	Sort       int    `json:"sort"`
}

var deptCols = Cols{Region: "d.region_code", Dept: "d.id"}

// ListDepts returns the departments in the caller's scope in tree order.
func (s *Service) ListDepts(ctx context.Context, p *Principal) ([]Dept, error) {
	w, args := p.Filter(deptCols)
	var out []Dept
	err := s.db.Select(ctx, &out, `SELECT d.id, d.parent_id, d.name, d.region_code, r.name AS region_name, d.path, d.sort, d.status, d.updated_at,
		(SELECT COUNT(*) FROM users u WHERE u.dept_id = d.id) AS users
		FROM departments d JOIN regions r ON r.code = d.region_code WHERE `+w+` ORDER BY d.path`, args...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Depth = strings.Count(out[i].Path, "/") - 2
	}
	return sortTree(out), nil
}

// sortTree orders departments depth-first by sort then id (path order sorts ids as text).
func sortTree(in []Dept) []Dept {
	children := map[int64][]Dept{}
	ids := map[int64]bool{}
	for _, d := range in {
		ids[d.ID] = true
	}
	var roots []Dept
	for _, d := range in {
		if d.ParentID == nil || !ids[*d.ParentID] {
			roots = append(roots, d)
		} else {
			children[*d.ParentID] = append(children[*d.ParentID], d)
		}
	}
	less := func(a, b Dept) bool {
		if a.Sort != b.Sort {
			return a.Sort < b.Sort
		}
		return a.ID < b.ID
	}
	var out []Dept
	var walk func(ds []Dept)
	walk = func(ds []Dept) {
		sortBy(ds, less)
		for _, d := range ds {
			out = append(out, d)
			walk(children[d.ID])
		}
	}
	walk(roots)
	return out
}

func sortBy(ds []Dept, less func(a, b Dept) bool) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && less(ds[j], ds[j-1]); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

func (s *Service) getDept(ctx context.Context, q store.Q, p *Principal, id int64) (*Dept, error) {
	w, args := p.Filter(deptCols)
	var d Dept
	err := q.Get(ctx, &d, `SELECT d.id, d.parent_id, d.name, d.region_code, r.name AS region_name, d.path, d.sort, d.status, d.updated_at, 0 AS users
		FROM departments d JOIN regions r ON r.code = d.region_code WHERE d.id = ? AND `+w, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &d, err
}

func (s *Service) checkDeptFields(ctx context.Context, q store.Q, p *Principal, in *DeptInput) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len([]rune(in.Name)) > 60 {
		return web.Errorf(http.StatusBadRequest, "invalid_dept", "请填写部门名称（不超过 60 字）")
	}
	rp, err := RegionPath(ctx, q, in.RegionCode)
	if err != nil {
		return web.Errorf(http.StatusBadRequest, "invalid_dept", "%s", err.Error())
	}
	if !p.WithinJurisdiction(rp) {
		return web.Errorf(http.StatusForbidden, "scope_too_wide", "部门所属区划超出您的管辖范围")
	}
	return nil
}

func (s *Service) checkDeptInput(ctx context.Context, q store.Q, p *Principal, in *DeptInput) (*Dept, error) {
	if err := s.checkDeptFields(ctx, q, p, in); err != nil {
		return nil, err
	}
	if in.ParentID == 0 {
		if !p.isSystem() && p.RegionPath != "/"+ProvinceCode+"/" {
			return nil, web.Errorf(http.StatusForbidden, "scope_too_wide", "只有省级管理员可以创建顶级部门")
		}
		return nil, nil
	}
	parent, err := s.getDept(ctx, q, p, in.ParentID)
	if err != nil {
		return nil, web.Errorf(http.StatusBadRequest, "invalid_dept", "上级部门不存在或不在您的数据范围内")
	}
	return parent, nil
}

// CreateDept adds a department under a parent in the caller's scope.
func (s *Service) CreateDept(ctx context.Context, r *http.Request, p *Principal, in DeptInput) (int64, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		parent, err := s.checkDeptInput(ctx, tx, p, &in)
		if err != nil {
			return err
		}
		id, err = s.insertDept(ctx, tx, parent, in)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.dept.create", ObjectType: "dept", ObjectID: idStr(id), Result: "success", RegionCode: in.RegionCode,
			Detail: fmt.Sprintf("创建部门 %s（区划 %s）", in.Name, in.RegionCode)})
	})
	return id, err
}

func (s *Service) insertDept(ctx context.Context, tx *store.Tx, parent *Dept, in DeptInput) (int64, error) {
	now := s.now()
	var pid any
	prefix := "/"
	if parent != nil {
		pid, prefix = parent.ID, parent.Path
	}
	id, err := store.InsertID(ctx, tx, `INSERT INTO departments(parent_id, name, region_code, path, sort, status, created_at, updated_at) VALUES (?, ?, ?, '', ?, 'active', ?, ?)`,
		pid, in.Name, in.RegionCode, in.Sort, now, now)
	if err != nil {
		return 0, err
	}
	if _, err = tx.Exec(ctx, `UPDATE departments SET path = ? WHERE id = ?`, fmt.Sprintf("%s%d/", prefix, id), id); err != nil {
		return 0, err
	}
	return id, bumpIAMVersion(ctx, tx)
}

// UpdateDept renames, re-sorts or moves a department; moving rewrites the subtree's paths.
func (s *Service) UpdateDept(ctx context.Context, r *http.Request, p *Principal, id int64, in DeptInput) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.getDept(ctx, tx, p, id)
		if err != nil {
			return err
		}
		var parent *Dept
		if cur.ParentID != nil && *cur.ParentID == in.ParentID {
			// The parent stays: a city administrator may edit its own bureau even though the
			// province bureau above it is outside its scope.
			if err := s.checkDeptFields(ctx, tx, p, &in); err != nil {
				return err
			}
			parent = &Dept{ID: *cur.ParentID, Path: strings.TrimSuffix(cur.Path, fmt.Sprintf("%d/", id))}
		} else if parent, err = s.checkDeptInput(ctx, tx, p, &in); err != nil {
			return err
		}
		newPath := fmt.Sprintf("/%d/", id)
		var pid any
		if parent != nil {
			if strings.HasPrefix(parent.Path, cur.Path) {
				return web.Errorf(http.StatusBadRequest, "invalid_dept", "不能把部门移到它自己的下级")
			}
			newPath, pid = fmt.Sprintf("%s%d/", parent.Path, id), parent.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE departments SET parent_id = ?, name = ?, region_code = ?, sort = ?, updated_at = ? WHERE id = ?`,
			pid, in.Name, in.RegionCode, in.Sort, s.now(), id); err != nil {
			return err
		}
		if newPath != cur.Path {
			if _, err := tx.Exec(ctx, `UPDATE departments SET path = CAST(? AS TEXT) || substr(path, CAST(? AS INTEGER)) WHERE path LIKE ?`, newPath, len(cur.Path)+1, cur.Path+"%"); err != nil {
				return err
			}
		}
		if err := bumpIAMVersion(ctx, tx); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.dept.update", ObjectType: "dept", ObjectID: idStr(id), Result: "success", RegionCode: in.RegionCode,
			Detail: fmt.Sprintf("修改部门 %s → %s（区划 %s）", cur.Name, in.Name, in.RegionCode)})
	})
}

// DeleteDept removes an empty department (no sub-departments, no users).
func (s *Service) DeleteDept(ctx context.Context, r *http.Request, p *Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.getDept(ctx, tx, p, id)
		if err != nil {
			return err
		}
		var kids, users int
		tx.Get(ctx, &kids, `SELECT COUNT(*) FROM departments WHERE parent_id = ?`, id)
		tx.Get(ctx, &users, `SELECT COUNT(*) FROM users WHERE dept_id = ?`, id)
		if kids > 0 || users > 0 {
			return web.Errorf(http.StatusConflict, "dept_not_empty", "部门下还有 %d 个下级部门、%d 个用户，不能删除", kids, users)
		}
		var roles []string
		if err := tx.Select(ctx, &roles, `SELECT r.name FROM role_depts rd JOIN roles r ON r.id = rd.role_id WHERE rd.dept_id = ?`, id); err != nil {
			return err
		}
		if len(roles) > 0 {
			return web.Errorf(http.StatusConflict, "dept_in_role", "部门被角色“%s”的自定义数据范围引用，请先修改角色", strings.Join(roles, "、"))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM departments WHERE id = ?`, id); err != nil {
			return err
		}
		if err := bumpIAMVersion(ctx, tx); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "iam.dept.delete", ObjectType: "dept", ObjectID: idStr(id), Result: "success", RegionCode: cur.RegionCode, Detail: "删除部门 " + cur.Name})
	})
}

// EnsureOrgTree creates the provincial bureau, the 12 city-level bureaus and their county
// bureaus when they are missing (idempotent; names are the keys).
//
// It runs once per database: afterwards the tree belongs to its administrators, and renamed
// or removed bureaus are not brought back.
func (s *Service) EnsureOrgTree(ctx context.Context) error {
	regs, err := ParseRegions()
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var done int
		if err := tx.Get(ctx, &done, `SELECT COUNT(*) FROM settings WHERE key = 'iam.org_seeded'`); err != nil || done > 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES ('iam.org_seeded', '1', ?)`, s.now()); err != nil {
			return err
		}
		ids := map[string]*Dept{}
		find := func(region, name string) (*Dept, error) {
			var d Dept
			err := tx.Get(ctx, &d, `SELECT id, parent_id, name, region_code, '' AS region_name, path, sort, status, updated_at, 0 AS users FROM departments WHERE region_code = ? AND name = ?`, region, name)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return &d, err
		}
		ensure := func(parent *Dept, region, name string, sort int) error {
			d, err := find(region, name)
			if err != nil {
				return err
			}
			if d == nil {
				id, err := s.insertDept(ctx, tx, parent, DeptInput{Name: name, RegionCode: region, Sort: sort})
				if err != nil {
					return err
				}
				if d, err = find(region, name); err != nil || d == nil {
					return fmt.Errorf("department %d not found after insert: %v", id, err)
				}
			}
			ids[region] = d
			return nil
		}
		if err := ensure(nil, ProvinceCode, "陕西省市场监督管理局", 0); err != nil {
			return err
		}
		for i, r := range regs {
			if r.Level == "province" {
				continue
			}
			unit := r.Level == "city" || r.Code == r.ReportingUnit
			if !unit {
				continue
			}
			name := r.Name + "市场监督管理局"
			if n, ok := UnitNames[r.Code]; ok && r.Code == "610403" {
				name = n + "市场监督管理局"
			}
			if err := ensure(ids[ProvinceCode], r.Code, name, i); err != nil {
				return err
			}
		}
		for i, r := range regs {
			if r.Level != "county" || r.Code == r.ReportingUnit {
				continue
			}
			if err := ensure(ids[r.ReportingUnit], r.Code, r.Name+"市场监督管理局", i); err != nil {
				return err
			}
		}
		return nil
	})
}

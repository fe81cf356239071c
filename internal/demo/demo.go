// Package demo seeds the deterministic demo and training data: people with documented
// purposes, and (from other modules) business data at a chosen scale. Seeding is idempotent
// and refuses to run over a database that holds real data.
package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Person is one demo account and why it exists.
type Person struct {
	Account, Name, Role, Region, Dept, Purpose string
}

// People are the demo accounts besides the three administrators created at first start.
var People = []Person{
	{"leader", "王局长", iam.RoleLeader, "610000", "陕西省市场监督管理局", "省局领导：查看全省看板与报告"},
	{"analyst", "李分析", iam.RoleAnalyst, "610000", "陕西省市场监督管理局", "省级数据分析员：全省数据集、数据质量与看板"},
	{"xa_analyst", "张西安", iam.RoleAnalyst, "610100", "西安市市场监督管理局", "西安市数据分析员：只能看到西安市及其区县的数据"},
	{"yt_inspector", "赵雁塔", iam.RoleInspector, "610113", "雁塔区市场监督管理局", "雁塔区检查员：只能看到雁塔区的记录和任务"},
	{"engineer", "陈运维", iam.RoleEngineer, "610000", "陕西省市场监督管理局", "运维工程师：运维中心与服务台"},
}

// Scale is how much business data to generate.
type Scale string

const (
	Small  Scale = "small"
	Medium Scale = "medium"
	Large  Scale = "large"
)

// Env is what seeders get.
type Env struct {
	DB    *store.DB
	IAM   *iam.Service
	Scale Scale
	// NewPassword returns a one-time password for an account.
	NewPassword func(account, name string) string
	// Modules are the seeders of the wired modules, run after the people in this order except
	// that those marked Last run at the end.
	Modules []Seeder
	// Progress, when set, is told when each seeder starts and (done) how long it took: the
	// large scale takes many minutes.
	Progress Progress
}

// Progress is told when a part of the demo data starts and (done) how long it took.
type Progress func(title string, done bool, took time.Duration)

// Start reports that the part titled title starts, and returns what reports its end; a nil
// Progress reports nothing.
func (p Progress) Start(title string) (done func()) {
	if p == nil {
		return func() {}
	}
	start := time.Now()
	p(title, false, 0)
	return func() { p(title, true, time.Since(start)) }
}

// Seeder adds one module's demo data; it must be idempotent.
type Seeder struct {
	Name  string
	Title string                                                // what it writes, in Chinese, for progress lines
	Run   func(ctx context.Context, env *Env) ([]string, error) // returns lines to print
	// Last seeders run after all the others (in their own order), whatever the wiring order:
	// for seeders that look at the data the others write, such as the first quality run.
	Last bool
}

// ErrRealData means the database holds accounts that the demo did not create.
var ErrRealData = errors.New("数据库中已有非演示数据，拒绝写入演示数据")

const marker = "demo.seeded"

// Seed runs every seeder. The first run marks the database as a demo database; later runs
// only add what is missing.
func Seed(ctx context.Context, env *Env) ([]string, error) {
	var seeded int
	if err := env.DB.Get(ctx, &seeded, `SELECT COUNT(*) FROM settings WHERE key = ?`, marker); err != nil {
		return nil, err
	}
	if seeded == 0 {
		var real int
		if err := env.DB.Get(ctx, &real, `SELECT COUNT(*) FROM users WHERE account NOT IN ('sysadmin', 'secadmin', 'auditadmin')`); err != nil {
			return nil, err
		}
		if real > 0 {
			return nil, ErrRealData
		}
		if _, err := env.DB.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?)`, marker, string(env.Scale), store.Now()); err != nil {
			return nil, err
		}
	}
	seeders := []Seeder{{Name: "people", Title: "演示账号", Run: seedPeople}}
	for _, last := range []bool{false, true} {
		for _, s := range env.Modules {
			if s.Last == last {
				seeders = append(seeders, s)
			}
		}
	}
	var out []string
	for _, s := range seeders {
		done := env.Progress.Start(s.Title)
		lines, err := s.Run(ctx, env)
		if err != nil {
			return out, fmt.Errorf("演示数据 %s: %w", s.Name, err)
		}
		done()
		out = append(out, lines...)
	}
	return out, nil
}

func seedPeople(ctx context.Context, env *Env) ([]string, error) {
	var out []string
	must := true
	for _, p := range People {
		var n int
		if err := env.DB.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = ?`, p.Account); err != nil {
			return nil, err
		}
		if n > 0 {
			continue
		}
		var dept int64
		env.DB.Get(ctx, &dept, `SELECT id FROM departments WHERE region_code = ? AND name = ?`, p.Region, p.Dept)
		pw := env.NewPassword(p.Account, p.Name)
		if _, err := env.IAM.CreateUser(ctx, nil, iam.System(), iam.UserInput{Account: p.Account, Name: p.Name, RegionCode: p.Region,
			DeptID: dept, Roles: []string{p.Role}, Password: pw, MustChange: &must}); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Account, err)
		}
		out = append(out, fmt.Sprintf("  %-13s %-8s 一次性口令 %s  （%s）", p.Account, p.Name, pw, p.Purpose))
	}
	return out, nil
}

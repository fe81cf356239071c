package quality

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Permissions of the quality module (the analyst role holds quality.*, leaders
// quality.result.read and *.report.read).
const (
	PermRuleRead      = "quality.rule.read"
	PermRuleWrite     = "quality.rule.write"
	PermRunExecute    = "quality.run.execute"
	PermResultRead    = "quality.result.read"
	PermReportRead    = "quality.report.read"
	PermReportPublish = "quality.report.publish"
)

//go:embed templates
var templates embed.FS

// Templates are the module's page templates.
func Templates() fs.FS { return templates }

// Module is the data-quality engine with its API and pages.
type Module struct {
	db    *store.DB
	cat   Catalog
	audit *audit.Log
	pages *web.Pages
	now   func() time.Time
}

// Options configure New.
type Options struct {
	Audit *audit.Log
	Now   func() time.Time // clock; default time.Now
}

// New builds the module on db for the datasets of cat.
func New(db *store.DB, cat Catalog, o Options) (*Module, error) {
	if err := cat.Check(); err != nil {
		return nil, err
	}
	m := &Module{db: db, cat: cat, audit: o.Audit, now: o.Now}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// Catalog returns the datasets the module checks.
func (m *Module) Catalog() *Catalog { return &m.cat }

// SetPages gives the module the page renderer.
func (m *Module) SetPages(p *web.Pages) { m.pages = p }

// Init prepares the database: the region codes behind zhsj_region_valid on PostgreSQL, and
// the built-in rules of the catalog's datasets (added once; edits by users are kept).
func (m *Module) Init(ctx context.Context, builtins []*Rule) error {
	if err := m.syncRegionCodes(ctx); err != nil {
		return fmt.Errorf("区划代码表: %w", err)
	}
	return m.ensureBuiltins(ctx, builtins)
}

// syncRegionCodes stores every current and historical Shaanxi code the validator knows
// (enumerated through it, so there is one source of truth).
func (m *Module) syncRegionCodes(ctx context.Context) error {
	var n int
	if err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM quality_region_codes`); err != nil {
		return err
	}
	type pair struct{ code, cur string }
	var codes []pair
	for i := 610000; i <= 619999; i++ {
		code := fmt.Sprint(i)
		if cur, ok := validate.CurrentRegion(code); ok {
			codes = append(codes, pair{code, cur})
		}
	}
	if n == len(codes) {
		return nil
	}
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM quality_region_codes`); err != nil {
			return err
		}
		for start := 0; start < len(codes); start += 200 {
			end := min(start+200, len(codes))
			q := `INSERT INTO quality_region_codes(code, current_code) VALUES `
			var args []any
			for i, p := range codes[start:end] {
				if i > 0 {
					q += ","
				}
				q += "(?,?)"
				args = append(args, p.code, p.cur)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ensureBuiltins adds the built-in rules that are not stored yet (by code).
func (m *Module) ensureBuiltins(ctx context.Context, builtins []*Rule) error {
	for _, r := range builtins {
		var n int
		if err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM quality_rules WHERE code = ?`, r.Code); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, ok := m.cat.Get(r.Dataset); !ok {
			continue
		}
		b := *r
		b.Builtin = true
		if err := m.CreateRule(ctx, &b, "system", nil); err != nil {
			var we *web.Error
			if errors.As(err, &we) {
				// The dataset changed under the rule: keep starting, say which rule is missing.
				slog.WarnContext(ctx, "quality: built-in rule skipped", "rule", r.Code, "reason", we.Message)
				continue
			}
			return fmt.Errorf("内置规则 %s: %w", r.Code, err)
		}
	}
	return nil
}

// Permissions declares the module's permissions.
func (m *Module) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermRuleRead, Name: "查看数据质量规则", Group: "数据治理"},
		{Code: PermRuleWrite, Name: "编辑数据质量规则与设置", Group: "数据治理"},
		{Code: PermRunExecute, Name: "执行数据质量核查", Group: "数据治理"},
		{Code: PermResultRead, Name: "查看数据质量核查结果", Group: "数据治理"},
		{Code: PermReportRead, Name: "查看数据质量报告", Group: "数据治理"},
		{Code: PermReportPublish, Name: "发布数据质量报告", Group: "数据治理"},
	}
}

// Menu is the module's part of the left menu.
func (m *Module) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "数据治理", Title: "数据质量概览", Path: "/quality", Permission: PermResultRead, Order: 30},
		{Group: "数据治理", Title: "质量规则", Path: "/quality/rules", Permission: PermRuleRead, Order: 31},
		{Group: "数据治理", Title: "核查记录", Path: "/quality/runs", Permission: PermResultRead, Order: 32},
		{Group: "数据治理", Title: "质量报告", Path: "/quality/reports", Permission: PermReportRead, Order: 33},
	}
}

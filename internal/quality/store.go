package quality

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// ruleRow is quality_rules as stored.
type ruleRow struct {
	ID          int64      `db:"id"`
	Code        string     `db:"code"`
	Name        string     `db:"name"`
	Description string     `db:"description"`
	Dataset     string     `db:"dataset"`
	Template    string     `db:"template"`
	Params      string     `db:"params"`
	Dimension   string     `db:"dimension"`
	Severity    string     `db:"severity"`
	Threshold   float64    `db:"threshold"`
	Filter      string     `db:"filter"`
	Exceptions  string     `db:"exceptions"`
	Schedule    string     `db:"schedule"`
	SampleCap   int        `db:"sample_cap"`
	Enabled     bool       `db:"enabled"`
	Builtin     bool       `db:"builtin"`
	Version     int        `db:"version"`
	NextRunAt   *time.Time `db:"next_run_at"`
	CreatedBy   string     `db:"created_by"`
	UpdatedBy   string     `db:"updated_by"`
	CreatedAt   time.Time  `db:"created_at"`
	UpdatedAt   time.Time  `db:"updated_at"`
}

const ruleCols = `id, code, name, description, dataset, template, params, dimension, severity, threshold, filter,
	exceptions, schedule, sample_cap, enabled, builtin, version, next_run_at, created_by, updated_by, created_at, updated_at`

func (rr ruleRow) rule() *Rule {
	r := &Rule{ID: rr.ID, Code: rr.Code, Name: rr.Name, Description: rr.Description, Dataset: rr.Dataset, Template: rr.Template,
		Dimension: rr.Dimension, Severity: rr.Severity, Threshold: rr.Threshold, Filter: rr.Filter, Schedule: rr.Schedule,
		SampleCap: rr.SampleCap, Enabled: rr.Enabled, Builtin: rr.Builtin, Version: rr.Version, NextRunAt: rr.NextRunAt,
		CreatedBy: rr.CreatedBy, UpdatedBy: rr.UpdatedBy, CreatedAt: rr.CreatedAt, UpdatedAt: rr.UpdatedAt}
	_ = json.Unmarshal([]byte(rr.Params), &r.Params)
	_ = json.Unmarshal([]byte(rr.Exceptions), &r.Exceptions)
	if r.Exceptions == nil {
		r.Exceptions = []string{}
	}
	return r
}

// RuleFilter narrows ListRules.
type RuleFilter struct {
	Dataset   string
	Dimension string
	Template  string
	Q         string
}

// ListRules returns the rules matching f, by dataset and code.
func (m *Module) ListRules(ctx context.Context, f RuleFilter) ([]*Rule, error) {
	q := `SELECT ` + ruleCols + ` FROM quality_rules WHERE 1=1`
	var args []any
	if f.Dataset != "" {
		q += ` AND dataset = ?`
		args = append(args, f.Dataset)
	}
	if f.Dimension != "" {
		q += ` AND dimension = ?`
		args = append(args, f.Dimension)
	}
	if f.Template != "" {
		q += ` AND template = ?`
		args = append(args, f.Template)
	}
	if f.Q != "" {
		q += ` AND (code LIKE ? OR name LIKE ?)`
		like := "%" + strings.NewReplacer("%", "", "_", "").Replace(f.Q) + "%"
		args = append(args, like, like)
	}
	q += ` ORDER BY dataset, code`
	var rows []ruleRow
	if err := m.db.Select(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]*Rule, len(rows))
	for i, rr := range rows {
		out[i] = rr.rule()
	}
	return out, nil
}

// GetRule returns one rule.
func (m *Module) GetRule(ctx context.Context, id int64) (*Rule, error) {
	var rr ruleRow
	if err := m.db.Get(ctx, &rr, `SELECT `+ruleCols+` FROM quality_rules WHERE id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return rr.rule(), nil
}

// RuleByCode returns one rule by code.
func (m *Module) RuleByCode(ctx context.Context, code string) (*Rule, error) {
	var rr ruleRow
	if err := m.db.Get(ctx, &rr, `SELECT `+ruleCols+` FROM quality_rules WHERE code = ?`, code); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return rr.rule(), nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// nextRun computes the next occurrence of a rule's schedule after t (nil when unscheduled).
func nextRun(spec string, t time.Time) *time.Time {
	if spec == "" {
		return nil
	}
	s, err := jobs.ParseSpec(spec)
	if err != nil {
		return nil
	}
	n := s.Next(t.In(web.Shanghai())).UTC().Truncate(time.Millisecond)
	return &n
}

// CreateRule validates and stores a new rule; actor names who, entry (optional) is audited in
// the same transaction.
func (m *Module) CreateRule(ctx context.Context, r *Rule, actor string, entry *audit.Entry) error {
	if err := r.Validate(&m.cat); err != nil {
		return err
	}
	if err := m.dryRun(ctx, r); err != nil {
		return err
	}
	now := store.Now()
	r.Version, r.CreatedAt, r.UpdatedAt, r.CreatedBy, r.UpdatedBy = 1, now, now, actor, actor
	r.NextRunAt = nextRun(r.Schedule, now)
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM quality_rules WHERE code = ?`, r.Code); err != nil {
			return err
		}
		if n > 0 {
			return fieldErr("code", "规则代码 %s 已存在", r.Code)
		}
		id, err := store.InsertID(ctx, tx, `INSERT INTO quality_rules(code, name, description, dataset, template, params, dimension,
			severity, threshold, filter, exceptions, schedule, sample_cap, enabled, builtin, version, next_run_at, created_by,
			updated_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.Code, r.Name, r.Description, r.Dataset, r.Template, jsonText(r.Params), r.Dimension, r.Severity, r.Threshold,
			r.Filter, jsonText(r.Exceptions), r.Schedule, r.SampleCap, r.Enabled, r.Builtin, r.Version, r.NextRunAt, actor,
			actor, now, now)
		if err != nil {
			return err
		}
		r.ID = id
		if err := m.recordVersion(ctx, tx, r, actor, now); err != nil {
			return err
		}
		if entry != nil && m.audit != nil {
			e := *entry
			e.ObjectType, e.ObjectID = "quality_rule", strconv.FormatInt(id, 10)
			e.Detail = fmt.Sprintf("新增数据质量规则 %s（%s），数据集 %s，模板 %s", r.Code, r.Name, r.Dataset, r.Template)
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
}

func (m *Module) recordVersion(ctx context.Context, tx *store.Tx, r *Rule, actor string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO quality_rule_versions(rule_id, version, definition, changed_by, changed_at) VALUES (?,?,?,?,?)`,
		r.ID, r.Version, r.definition(), actor, at)
	return err
}

// UpdateRule replaces a rule's definition, incrementing its version. Built-in rules keep
// their code, dataset and template.
func (m *Module) UpdateRule(ctx context.Context, id int64, r *Rule, actor string, entry *audit.Entry) error {
	old, err := m.GetRule(ctx, id)
	if err != nil {
		return err
	}
	if old.Builtin && (r.Code != old.Code || r.Dataset != old.Dataset || r.Template != old.Template) {
		return web.Errorf(http.StatusBadRequest, "builtin_rule", "内置规则不能修改代码、数据集和模板（可调整参数、阈值、计划，或停用）")
	}
	if err := r.Validate(&m.cat); err != nil {
		return err
	}
	if err := m.dryRun(ctx, r); err != nil {
		return err
	}
	now := store.Now()
	r.ID, r.Builtin, r.CreatedAt, r.CreatedBy, r.UpdatedAt, r.UpdatedBy = id, old.Builtin, old.CreatedAt, old.CreatedBy, now, actor
	r.NextRunAt = old.NextRunAt
	if r.Schedule != old.Schedule {
		r.NextRunAt = nextRun(r.Schedule, now)
	}
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM quality_rules WHERE code = ? AND id <> ?`, r.Code, id); err != nil {
			return err
		}
		if n > 0 {
			return fieldErr("code", "规则代码 %s 已存在", r.Code)
		}
		if err := tx.Get(ctx, &r.Version, `SELECT version + 1 FROM quality_rules WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE quality_rules SET code = ?, name = ?, description = ?, dataset = ?, template = ?, params = ?,
			dimension = ?, severity = ?, threshold = ?, filter = ?, exceptions = ?, schedule = ?, sample_cap = ?, enabled = ?,
			version = ?, next_run_at = ?, updated_by = ?, updated_at = ? WHERE id = ?`,
			r.Code, r.Name, r.Description, r.Dataset, r.Template, jsonText(r.Params), r.Dimension, r.Severity, r.Threshold,
			r.Filter, jsonText(r.Exceptions), r.Schedule, r.SampleCap, r.Enabled, r.Version, r.NextRunAt, actor, now, id); err != nil {
			return err
		}
		if err := m.recordVersion(ctx, tx, r, actor, now); err != nil {
			return err
		}
		if entry != nil && m.audit != nil {
			e := *entry
			e.ObjectType, e.ObjectID = "quality_rule", strconv.FormatInt(id, 10)
			e.Detail = fmt.Sprintf("修改数据质量规则 %s（%s），版本 %d", r.Code, r.Name, r.Version)
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
}

// DeleteRule removes a custom rule; its results stay in the history.
func (m *Module) DeleteRule(ctx context.Context, id int64, entry *audit.Entry) error {
	old, err := m.GetRule(ctx, id)
	if err != nil {
		return err
	}
	if old.Builtin {
		return web.Errorf(http.StatusBadRequest, "builtin_rule", "内置规则不能删除，可停用")
	}
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM quality_rules WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM quality_rule_versions WHERE rule_id = ?`, id); err != nil {
			return err
		}
		if entry != nil && m.audit != nil {
			e := *entry
			e.ObjectType, e.ObjectID = "quality_rule", strconv.FormatInt(id, 10)
			e.Detail = fmt.Sprintf("删除数据质量规则 %s（%s），历史结果保留", old.Code, old.Name)
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
}

// dryRun prepares the rule's SQL on the database (read-only, no rows), so that syntax errors
// and unknown columns in custom SQL are reported when the rule is saved, not when it runs.
func (m *Module) dryRun(ctx context.Context, r *Rule) error {
	ds, _ := m.cat.Get(r.Dataset)
	c, err := compile(r, ds, &m.cat, compileEnv{dialect: m.db.Dialect(), now: m.now()})
	if err != nil {
		return err
	}
	st, err := m.Settings(ctx)
	if err != nil {
		return err
	}
	var q frag
	switch {
	case c.tpl.Level == "row":
		both := and(c.check(), c.fail)
		q = sqlf("SELECT CASE WHEN "+both.sql+" THEN 1 ELSE 0 END FROM "+quote(ds.Table)+" t WHERE 1 = 0", both.args...)
	case r.Template == "custom_query":
		keys := make([]string, len(ds.Key))
		for i, k := range ds.Key {
			keys[i] = col("q", k)
		}
		q = sqlf("SELECT " + strings.Join(keys, ", ") + " FROM (" + r.Params.Query + ") q WHERE 1 = 0")
	case !c.base.empty():
		q = sqlf("SELECT 1 FROM "+quote(ds.Table)+" t WHERE ("+c.base.sql+") AND 1 = 0", c.base.args...)
	default:
		return nil
	}
	err = m.readOnly(ctx, st.Timeout, func(ctx context.Context, x *roExec) error {
		rows, err := x.query(ctx, q)
		if err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		msg := describeError(err, st.Timeout)
		if r.Template == "custom_query" && strings.Contains(strings.ToLower(err.Error()), "column") {
			msg += "（自定义查询须返回与数据集键同名的字段：" + strings.Join(ds.Key, "、") + "）"
		}
		return web.Errorf(http.StatusBadRequest, "invalid_rule", "规则无法在数据库上执行：%s", msg)
	}
	return nil
}

// Settings are the engine's configurable values.
type Settings struct {
	Weights   map[string]float64 `json:"weights"`    // dimension → weight (equal by default)
	SampleCap int                `json:"sample_cap"` // failed rows kept per rule per run
	Timeout   time.Duration      `json:"-"`          // time limit of one read-only session
	TimeoutS  int                `json:"timeout_seconds"`
}

// Defaults of the settings.
const (
	DefaultSampleCap = 1000
	DefaultTimeout   = 300
)

// Settings reads the settings, with defaults for what is not stored.
func (m *Module) Settings(ctx context.Context) (Settings, error) {
	s := Settings{Weights: map[string]float64{}, SampleCap: DefaultSampleCap, TimeoutS: DefaultTimeout}
	for _, d := range Dimensions {
		s.Weights[d] = 1
	}
	var rows []struct {
		Key   string `db:"key"`
		Value string `db:"value"`
	}
	if err := m.db.Select(ctx, &rows, `SELECT key, value FROM quality_settings`); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, err
	}
	for _, r := range rows {
		switch r.Key {
		case "weights":
			var w map[string]float64
			if json.Unmarshal([]byte(r.Value), &w) == nil {
				for k, v := range w {
					if _, ok := s.Weights[k]; ok {
						s.Weights[k] = v
					}
				}
			}
		case "sample_cap":
			if n, err := strconv.Atoi(r.Value); err == nil {
				s.SampleCap = n
			}
		case "timeout_seconds":
			if n, err := strconv.Atoi(r.Value); err == nil && n > 0 {
				s.TimeoutS = n
			}
		}
	}
	s.Timeout = time.Duration(s.TimeoutS) * time.Second
	return s, nil
}

// SaveSettings validates and stores the settings.
func (m *Module) SaveSettings(ctx context.Context, s Settings, actor string, entry *audit.Entry) error {
	sum := 0.0
	for k, v := range s.Weights {
		if !slices.Contains(Dimensions, k) {
			return web.Errorf(http.StatusBadRequest, "invalid_settings", "未知的质量维度 %q", k)
		}
		if v < 0 || v > 100 {
			return web.Errorf(http.StatusBadRequest, "invalid_settings", "维度 %s 的权重须在 0 到 100 之间", k)
		}
		sum += v
	}
	if sum == 0 {
		return web.Errorf(http.StatusBadRequest, "invalid_settings", "维度权重不能全为 0")
	}
	if s.SampleCap < 0 || s.SampleCap > maxSampleCap {
		return web.Errorf(http.StatusBadRequest, "invalid_settings", "保留的不合格记录数须在 0 到 %d 之间", maxSampleCap)
	}
	if s.TimeoutS < 1 || s.TimeoutS > 3600 {
		return web.Errorf(http.StatusBadRequest, "invalid_settings", "执行时限须在 1 到 3600 秒之间")
	}
	now := store.Now()
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		for k, v := range map[string]string{"weights": jsonText(s.Weights), "sample_cap": strconv.Itoa(s.SampleCap), "timeout_seconds": strconv.Itoa(s.TimeoutS)} {
			if _, err := tx.Exec(ctx, `INSERT INTO quality_settings(key, value, updated_by, updated_at) VALUES (?,?,?,?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
				k, v, actor, now); err != nil {
				return err
			}
		}
		if entry != nil && m.audit != nil {
			e := *entry
			e.ObjectType, e.ObjectID = "quality_settings", "quality"
			e.Detail = fmt.Sprintf("修改数据质量设置：维度权重 %s，每条规则保留不合格记录 %d 条，执行时限 %d 秒", jsonText(s.Weights), s.SampleCap, s.TimeoutS)
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
}

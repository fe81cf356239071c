package quality

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/events"
	"zhsj/internal/store"
)

// EventBelowThreshold is published, in the run's transaction, for every rule whose pass rate
// falls below its threshold.
const EventBelowThreshold = "quality.rule.below_threshold"

// BelowThreshold is the payload of EventBelowThreshold.
type BelowThreshold struct {
	Rule      string   `json:"rule"`
	RuleID    int64    `json:"rule_id"`
	Dataset   string   `json:"dataset"`
	Run       int64    `json:"run"`
	Result    int64    `json:"result"`
	PassRate  *float64 `json:"pass_rate"`
	Threshold float64  `json:"threshold"`
	Severity  string   `json:"severity"`
}

// Result statuses.
const (
	StatusPass  = "pass"
	StatusFail  = "fail"
	StatusError = "error"
)

// Result is the outcome of one rule in one run.
type Result struct {
	ID          int64    `json:"id" db:"id"`
	RunID       int64    `json:"run_id" db:"run_id"`
	RuleID      *int64   `json:"rule_id" db:"rule_id"`
	RuleCode    string   `json:"rule" db:"rule_code"`
	RuleName    string   `json:"rule_name" db:"rule_name"`
	RuleVersion int      `json:"rule_version" db:"rule_version"`
	Dataset     string   `json:"dataset" db:"dataset"`
	Template    string   `json:"template" db:"template"`
	Dimension   string   `json:"dimension" db:"dimension"`
	Severity    string   `json:"severity" db:"severity"`
	Threshold   float64  `json:"threshold" db:"threshold"`
	Checked     int64    `json:"checked" db:"checked"`
	Failed      int64    `json:"failed" db:"failed"`
	PassRate    *float64 `json:"pass_rate" db:"pass_rate"`
	Status      string   `json:"status" db:"status"`
	Metric      *float64 `json:"metric,omitempty" db:"metric"`
	Message     string   `json:"message,omitempty" db:"message"`
	Sampled     int      `json:"sampled" db:"sampled"`
	Regional    bool     `json:"regional" db:"regional"`
	DurationMS  int64    `json:"duration_ms" db:"duration_ms"`

	regions map[string][2]int64
	samples []sample
	rule    *Rule
}

// Run is one execution of rules.
type Run struct {
	ID          int64     `json:"id" db:"id"`
	Trigger     string    `json:"trigger" db:"trigger_kind"`
	Actor       string    `json:"actor" db:"actor"`
	Dataset     string    `json:"dataset" db:"dataset"`
	RuleCode    string    `json:"rule" db:"rule_code"`
	Status      string    `json:"status" db:"status"`
	RulesTotal  int       `json:"rules_total" db:"rules_total"`
	RulesPassed int       `json:"rules_passed" db:"rules_passed"`
	RulesFailed int       `json:"rules_failed" db:"rules_failed"`
	RulesError  int       `json:"rules_error" db:"rules_error"`
	Score       *float64  `json:"score" db:"score"`
	StartedAt   time.Time `json:"started_at" db:"started_at"`
	FinishedAt  time.Time `json:"finished_at" db:"finished_at"`
}

// Run triggers.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerCLI      = "cli"
)

// RunOptions select the rules of a run and say who asked.
type RunOptions struct {
	Dataset string  // only this dataset's rules
	Rule    string  // only this rule (by code; runs even when disabled)
	RuleIDs []int64 // only these rules (scheduled runs)
	Trigger string
	Actor   string
	// Audit, when set, is recorded in the run's transaction with the run id as object.
	Audit *audit.Entry
	// scheduled rules get next_run_at advanced in the run's transaction.
	nextRuns map[int64]time.Time
}

// Errors of the rule selection.
var (
	ErrNoRules     = errors.New("没有符合条件的已启用规则")
	ErrUnknownRule = errors.New("规则不存在（或不属于所选数据集）")
)

// Execute runs the selected rules — one scan per dataset for all of its row-level rules plus a
// query or two per set-level rule — and stores the run, its results, region counts and failed
// rows in one transaction, publishing EventBelowThreshold there for every failing rule.
func (m *Module) Execute(ctx context.Context, o RunOptions) (*Run, []*Result, error) {
	rules, err := m.selectRules(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	if len(rules) == 0 {
		return nil, nil, ErrNoRules
	}
	st, err := m.Settings(ctx)
	if err != nil {
		return nil, nil, err
	}
	run := &Run{Trigger: o.Trigger, Actor: o.Actor, Dataset: o.Dataset, RuleCode: o.Rule, StartedAt: store.Now()}
	env := compileEnv{dialect: m.db.Dialect(), now: m.now()}

	var results []*Result
	byDataset := map[string][]*Rule{}
	var order []string
	for _, r := range rules {
		if _, seen := byDataset[r.Dataset]; !seen {
			order = append(order, r.Dataset)
		}
		byDataset[r.Dataset] = append(byDataset[r.Dataset], r)
	}
	for _, name := range order {
		results = append(results, m.checkDataset(ctx, name, byDataset[name], env, st)...)
	}
	for _, res := range results {
		res.finish()
		switch res.Status {
		case StatusPass:
			run.RulesPassed++
		case StatusFail:
			run.RulesFailed++
		default:
			run.RulesError++
		}
	}
	run.RulesTotal = len(results)
	run.Status = "passed"
	if run.RulesFailed+run.RulesError > 0 {
		run.Status = "failed"
	}
	run.Score = Score(results, st.Weights).Overall
	run.FinishedAt = store.Now()
	if err := m.save(ctx, run, results, o); err != nil {
		return nil, nil, err
	}
	return run, results, nil
}

func (m *Module) selectRules(ctx context.Context, o RunOptions) ([]*Rule, error) {
	all, err := m.ListRules(ctx, RuleFilter{Dataset: o.Dataset})
	if err != nil {
		return nil, err
	}
	var out []*Rule
	for _, r := range all {
		switch {
		case o.Rule != "":
			if r.Code != o.Rule {
				continue
			}
		case len(o.RuleIDs) > 0:
			if !slices.Contains(o.RuleIDs, r.ID) || !r.Enabled {
				continue
			}
		case !r.Enabled:
			continue
		}
		out = append(out, r)
	}
	if o.Rule != "" && len(out) == 0 {
		return nil, fmt.Errorf("%w：%s", ErrUnknownRule, o.Rule)
	}
	return out, nil
}

func newResult(r *Rule) *Result {
	id := r.ID
	return &Result{RuleID: &id, RuleCode: r.Code, RuleName: r.Name, RuleVersion: r.Version, Dataset: r.Dataset,
		Template: r.Template, Dimension: r.Dimension, Severity: r.Severity, Threshold: r.Threshold,
		Regional: true, rule: r, regions: map[string][2]int64{}}
}

// finish computes the totals, pass rate and status from the region counts.
func (res *Result) finish() {
	if res.Status == StatusError {
		return
	}
	if res.Regional {
		res.Checked, res.Failed = 0, 0
		for _, c := range res.regions {
			res.Checked += c[0]
			res.Failed += c[1]
		}
	}
	res.Sampled = len(res.samples)
	res.Status = StatusPass
	if res.Checked > 0 {
		pr := math.Round(float64(res.Checked-res.Failed)/float64(res.Checked)*1e6) / 1e4
		res.PassRate = &pr
		if pr < res.Threshold {
			res.Status = StatusFail
		}
	}
}

func (res *Result) fail(err error, timeout time.Duration) {
	res.Status = StatusError
	res.Message = describeError(err, timeout)
	res.regions = nil
	res.samples = nil
}

// describeError turns a database error into a Chinese message (without internals).
func describeError(err error, timeout time.Duration) string {
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "statement timeout") || strings.Contains(msg, "interrupted"):
		return fmt.Sprintf("执行超时（超过 %d 秒），已中止", int(timeout.Seconds()))
	case strings.Contains(msg, "read-only") || strings.Contains(msg, "readonly") || strings.Contains(msg, "query_only"):
		return "规则试图写入数据，已被拒绝（只读执行）"
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return "执行失败：" + msg
}

// checkDataset runs every rule of one dataset.
func (m *Module) checkDataset(ctx context.Context, name string, rules []*Rule, env compileEnv, st Settings) []*Result {
	var out []*Result
	ds, ok := m.cat.Get(name)
	if !ok {
		for _, r := range rules {
			res := newResult(r)
			res.Status, res.Message = StatusError, "数据集 "+name+" 不存在"
			out = append(out, res)
		}
		return out
	}
	var rows []*compiled
	var rowRes []*Result
	for _, r := range rules {
		res := newResult(r)
		out = append(out, res)
		c, err := compile(r, ds, &m.cat, env)
		if err != nil {
			res.Status, res.Message = StatusError, "规则无效："+err.Error()
			continue
		}
		if c.tpl.Level == "row" {
			rows = append(rows, c)
			rowRes = append(rowRes, res)
			continue
		}
		start := time.Now()
		err = m.readOnly(ctx, st.Timeout, func(ctx context.Context, x *roExec) error { return m.runSet(ctx, x, c, res, st) })
		res.DurationMS = time.Since(start).Milliseconds()
		if err != nil {
			res.fail(err, st.Timeout)
		}
	}
	if len(rows) == 0 {
		return out
	}
	caps := make([]int, len(rows))
	for i, c := range rows {
		caps[i] = st.SampleCap
		if c.rule.SampleCap > 0 {
			caps[i] = c.rule.SampleCap
		}
	}
	start := time.Now()
	var sr *scanResult
	err := m.readOnly(ctx, st.Timeout, func(ctx context.Context, x *roExec) error {
		var err error
		if x.dialect == store.Postgres {
			sr, err = scanPostgres(ctx, x, ds, rows, caps)
		} else {
			sr, err = scanSQLite(ctx, x, ds, rows, caps)
		}
		return err
	})
	d := time.Since(start).Milliseconds()
	if err != nil && len(rows) > 1 {
		// One bad expression (e.g. a custom condition the database rejects) must not hide the
		// others: fall back to one scan per rule.
		for i, c := range rows {
			one := []*compiled{c}
			var r1 *scanResult
			e1 := m.readOnly(ctx, st.Timeout, func(ctx context.Context, x *roExec) error {
				var err error
				if x.dialect == store.Postgres {
					r1, err = scanPostgres(ctx, x, ds, one, caps[i:i+1])
				} else {
					r1, err = scanSQLite(ctx, x, ds, one, caps[i:i+1])
				}
				return err
			})
			if e1 != nil {
				rowRes[i].fail(e1, st.Timeout)
				continue
			}
			rowRes[i].take(r1, 0)
			rowRes[i].DurationMS = time.Since(start).Milliseconds()
		}
		return out
	}
	for i, res := range rowRes {
		if err != nil {
			res.fail(err, st.Timeout)
			continue
		}
		res.take(sr, i)
		res.DurationMS = d
	}
	return out
}

// take copies rule i's counts and samples out of a scan result.
func (res *Result) take(sr *scanResult, i int) {
	for region, rc := range sr.Regions {
		if rc.Checked[i] > 0 || rc.Failed[i] > 0 {
			res.regions[region] = [2]int64{rc.Checked[i], rc.Failed[i]}
		}
	}
	if i < len(sr.Samples) {
		res.samples = sr.Samples[i]
	}
}

// roExec runs read-only queries: on PostgreSQL inside a READ ONLY transaction with a
// statement_timeout, on SQLite on the read-only (query_only) connection pool under a deadline.
type roExec struct {
	dialect store.Dialect
	q       interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (x *roExec) query(ctx context.Context, f frag) (*sql.Rows, error) {
	return x.q.QueryContext(ctx, x.dialect.Rebind(f.sql), f.args...)
}

func (x *roExec) exec(ctx context.Context, q string) error {
	e, ok := x.q.(interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	})
	if !ok {
		return nil
	}
	_, err := e.ExecContext(ctx, q)
	return err
}

func (x *roExec) row(ctx context.Context, f frag) *sql.Row {
	return x.q.QueryRowContext(ctx, x.dialect.Rebind(f.sql), f.args...)
}

func (m *Module) readOnly(ctx context.Context, timeout time.Duration, fn func(ctx context.Context, x *roExec) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if m.db.Dialect() != store.Postgres {
		return fn(ctx, &roExec{dialect: store.SQLite, q: m.db.Reader()})
	}
	tx, err := m.db.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(timeout.Milliseconds(), 10)); err != nil {
		return err
	}
	return fn(ctx, &roExec{dialect: store.Postgres, q: tx})
}

// valueColumns collects the offending-value fields of the rules: their union (physical
// expressions and logical names) and each rule's indexes into it.
func valueColumns(ds *Dataset, rules []*compiled) (exprs, names []string, idx [][]int) {
	idx = make([][]int, len(rules))
	for i, c := range rules {
		for _, n := range c.vals {
			cl, ok := ds.Column(n)
			if !ok {
				continue
			}
			j := slices.Index(names, n)
			if j < 0 {
				j = len(names)
				names = append(names, n)
				exprs = append(exprs, cl.expr("t", c.dialect))
			}
			idx[i] = append(idx[i], j)
		}
	}
	return
}

// ruleMasks builds, per chunk of rulesPerMask rules, one integer per row with two bits per rule:
// bit 2i when rule i applies to the row, bit 2i+1 when it also fails. Each rule's applicability
// and failure conditions are evaluated once per row.
func ruleMasks(rules []*compiled) []frag {
	var out []frag
	for start := 0; start < len(rules); start += rulesPerMask {
		end := min(start+rulesPerMask, len(rules))
		var m frag
		for i := start; i < end; i++ {
			c := rules[i]
			if m.sql != "" {
				m.sql += " + "
			}
			w := strconv.FormatInt(int64(1)<<(2*(i-start)), 10)
			chk := c.check()
			if chk.empty() {
				m.sql += "(CASE WHEN " + c.fail.sql + " THEN 3 ELSE 1 END) * " + w
				m.args = append(m.args, c.fail.args...)
			} else {
				m.sql += "(CASE WHEN " + chk.sql + " THEN (CASE WHEN " + c.fail.sql + " THEN 3 ELSE 1 END) ELSE 0 END) * " + w
				m.args = append(m.args, chk.args...)
				m.args = append(m.args, c.fail.args...)
			}
		}
		out = append(out, m)
	}
	return out
}

// failBits has bit 2i+1 set for the n rules of a chunk.
func failBits(n int) int64 {
	var b int64
	for i := 0; i < n; i++ {
		b |= 1 << (2*i + 1)
	}
	return b
}

func keyCols(ds *Dataset) []string {
	out := make([]string, len(ds.Key))
	for i, k := range ds.Key {
		out[i] = col("t", k)
	}
	return out
}

// scanSQLite evaluates the rules in one pass with the zhsj_qagg aggregate. The masks are
// computed once per row in a co-routine subquery (LIMIT -1 keeps SQLite from flattening it), and
// the key and offending values reach Go, as one JSON array, only for rows that fail a rule.
func scanSQLite(ctx context.Context, x *roExec, ds *Dataset, rules []*compiled, caps []int) (*scanResult, error) {
	vexprs, vnames, vidx := valueColumns(ds, rules)
	ms := ruleMasks(rules)
	cfg, _ := json.Marshal(scanConfig{Rules: len(rules), Chunks: len(ms), Keys: len(ds.Key), Vals: len(vexprs),
		Caps: caps, RVals: vidx, VNames: vnames})
	inner := sqlf("SELECT " + regionExpr(ds, "t") + " AS r")
	var failing, cells []string
	for i, m := range ms {
		name := "m" + strconv.Itoa(i)
		inner.sql += ", " + m.sql + " AS " + name
		inner.args = append(inner.args, m.args...)
		n := min(rulesPerMask, len(rules)-i*rulesPerMask)
		failing = append(failing, "(s."+name+" & "+strconv.FormatInt(failBits(n), 10)+") <> 0")
	}
	for i, e := range append(keyCols(ds), vexprs...) {
		inner.sql += ", " + e + " AS c" + strconv.Itoa(i)
		cells = append(cells, "s.c"+strconv.Itoa(i))
	}
	inner.sql += " FROM " + quote(ds.Table) + " t LIMIT -1"
	q := sqlf("SELECT zhsj_qagg(?, s.r", string(cfg))
	for i := range ms {
		q.sql += ", s.m" + strconv.Itoa(i)
	}
	q.sql += ", CASE WHEN " + strings.Join(failing, " OR ") + " THEN json_array(" + strings.Join(cells, ", ") + ") END) FROM (" + inner.sql + ") s"
	q.args = append(q.args, inner.args...)
	var out sql.NullString
	if err := x.row(ctx, q).Scan(&out); err != nil {
		return nil, err
	}
	var sr scanResult
	if err := json.Unmarshal([]byte(out.String), &sr); err != nil {
		return nil, err
	}
	if sr.Regions == nil {
		sr.Regions = map[string]*regionCounts{}
	}
	return &sr, nil
}

// scanPostgres counts with SUM(CASE …) per rule grouped by region (hash aggregation, parallel
// where PostgreSQL chooses) in one scan, then reads the failing rows kept for drill-down.
func scanPostgres(ctx context.Context, x *roExec, ds *Dataset, rules []*compiled, caps []int) (*scanResult, error) {
	q := sqlf("SELECT " + regionExpr(ds, "t") + ", COUNT(*)")
	for _, c := range rules {
		chk := c.check()
		if chk.empty() {
			q.sql += ", COUNT(*)"
		} else {
			q.sql += ", SUM(CASE WHEN " + chk.sql + " THEN 1 ELSE 0 END)"
			q.args = append(q.args, chk.args...)
		}
		both := and(chk, c.fail)
		q.sql += ", SUM(CASE WHEN " + both.sql + " THEN 1 ELSE 0 END)"
		q.args = append(q.args, both.args...)
	}
	q.sql += " FROM " + quote(ds.Table) + " t GROUP BY 1"
	rows, err := x.query(ctx, q)
	if err != nil {
		return nil, err
	}
	sr := &scanResult{Regions: map[string]*regionCounts{}, Samples: make([][]sample, len(rules))}
	total := make([]int64, len(rules))
	for rows.Next() {
		var region sql.NullString
		vals := make([]sql.NullInt64, 1+2*len(rules))
		dest := []any{&region}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		rc := &regionCounts{Rows: vals[0].Int64, Checked: make([]int64, len(rules)), Failed: make([]int64, len(rules))}
		for i := range rules {
			rc.Checked[i], rc.Failed[i] = vals[1+2*i].Int64, vals[2+2*i].Int64
			total[i] += rc.Failed[i]
		}
		sr.Regions[region.String] = rc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Samples: one query per failing rule, testing only that rule's condition and stopping at
	// the cap. Rules with many failures stop almost at once; expensive conditions are evaluated
	// only on the rows scanned for their own rule. JIT is off: these queries usually stop early.
	if err := x.exec(ctx, "SET LOCAL jit = off"); err != nil {
		return nil, err
	}
	nk := len(ds.Key)
	for i, c := range rules {
		if total[i] == 0 || caps[i] == 0 {
			continue
		}
		vexprs, vnames, _ := valueColumns(ds, []*compiled{c})
		w := and(c.check(), c.fail)
		q := sqlf("SELECT "+strings.Join(append(append(keyCols(ds), regionExpr(ds, "t")), vexprs...), ", ")+" FROM "+quote(ds.Table)+
			" t WHERE "+w.sql+" LIMIT "+strconv.Itoa(caps[i]), w.args...)
		rows, err := x.query(ctx, q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			cells := make([]sql.NullString, nk+1+len(vexprs))
			dest := make([]any, len(cells))
			for j := range cells {
				dest[j] = &cells[j]
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			sr.Samples[i] = append(sr.Samples[i], sampleFromCells(cells, nk, vnames))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return sr, nil
}

// sampleFromCells builds a sample from a row of key columns, the region and value columns.
func sampleFromCells(cells []sql.NullString, nk int, vnames []string) sample {
	sm := sample{Key: make([]string, nk), Region: cells[nk].String}
	for k := 0; k < nk; k++ {
		sm.Key[k] = cells[k].String
	}
	if len(vnames) > 0 {
		sm.Vals = map[string]*string{}
		for i, n := range vnames {
			if c := cells[nk+1+i]; c.Valid {
				v := c.String
				sm.Vals[n] = &v
			} else {
				sm.Vals[n] = nil
			}
		}
	}
	return sm
}

// runSet runs one set-level rule.
func (m *Module) runSet(ctx context.Context, x *roExec, c *compiled, res *Result, st Settings) error {
	ds := c.ds
	p := c.rule.Params
	from := " FROM " + quote(ds.Table) + " t"
	capN := st.SampleCap
	if c.rule.SampleCap > 0 {
		capN = c.rule.SampleCap
	}
	switch c.rule.Template {
	case "unique", "custom_query":
		var inFail frag
		if c.rule.Template == "unique" {
			cols := make([]string, len(c.cols))
			for i, cl := range c.cols {
				cols[i] = cl.expr("t", x.dialect)
			}
			tuple := strings.Join(cols, ", ")
			if len(cols) > 1 {
				tuple = "(" + tuple + ")"
			}
			dup := sqlf("SELECT "+strings.Join(cols, ", ")+from, c.check().args...)
			if w := c.check(); !w.empty() {
				dup.sql += " WHERE " + w.sql
			}
			dup.sql += " GROUP BY " + strings.Join(cols, ", ") + " HAVING COUNT(*) > 1"
			inFail = sqlf(tuple+" IN ("+dup.sql+")", dup.args...)
		} else {
			keys := keyCols(ds)
			qk := make([]string, len(ds.Key))
			for i, k := range ds.Key {
				qk[i] = col("q", k)
			}
			tuple := strings.Join(keys, ", ")
			if len(keys) > 1 {
				tuple = "(" + tuple + ")"
			}
			inFail = sqlf(tuple + " IN (SELECT " + strings.Join(qk, ", ") + " FROM (" + p.Query + ") q)")
			c.vals = referencedColumns(p.Query, ds)
		}
		chk := c.check()
		// Counts per region.
		q := sqlf("SELECT "+regionExpr(ds, "t")+", COUNT(*), SUM(CASE WHEN "+inFail.sql+" THEN 1 ELSE 0 END)"+from, inFail.args...)
		if !chk.empty() {
			q.sql += " WHERE " + chk.sql
			q.args = append(q.args, chk.args...)
		}
		q.sql += " GROUP BY 1"
		rows, err := x.query(ctx, q)
		if err != nil {
			return err
		}
		var failed int64
		for rows.Next() {
			var region sql.NullString
			var n, f sql.NullInt64
			if err := rows.Scan(&region, &n, &f); err != nil {
				rows.Close()
				return err
			}
			res.regions[region.String] = [2]int64{n.Int64, f.Int64}
			failed += f.Int64
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if failed == 0 || capN == 0 {
			return nil
		}
		vexprs, vnames, _ := valueColumns(ds, []*compiled{c})
		s := sqlf("SELECT "+strings.Join(append(append(keyCols(ds), regionExpr(ds, "t")), vexprs...), ", ")+from+" WHERE "+
			and(chk, inFail).sql, and(chk, inFail).args...)
		s.sql += " ORDER BY " + strings.Join(append(append([]string{}, vexprsOrKeys(c, ds)...), keyCols(ds)...), ", ")
		s.sql += " LIMIT " + strconv.Itoa(capN)
		rows, err = x.query(ctx, s)
		if err != nil {
			return err
		}
		defer rows.Close()
		nk := len(ds.Key)
		for rows.Next() {
			cells := make([]sql.NullString, nk+1+len(vexprs))
			dest := make([]any, len(cells))
			for i := range cells {
				dest[i] = &cells[i]
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			res.samples = append(res.samples, sampleFromCells(cells, nk, vnames))
		}
		return rows.Err()

	case "freshness":
		res.Regional = false
		cl := c.cols[0]
		q := sqlf("SELECT MAX(" + cl.expr("t", x.dialect) + ")" + from)
		if !c.base.empty() {
			q.sql += " WHERE " + c.base.sql
			q.args = c.base.args
		}
		var v any
		if err := x.row(ctx, q).Scan(&v); err != nil {
			return err
		}
		t, ok := parseDBTime(v)
		if !ok {
			// No rows (or no times): nothing to judge; emptiness is the availability rule's business.
			res.Message = "数据集没有记录（或没有更新时间），本次不判断及时性"
			return nil
		}
		res.Checked = 1
		hours := m.now().Sub(t).Hours()
		h := math.Round(hours*100) / 100
		res.Metric = &h
		if hours > p.Hours {
			res.Failed = 1
		}
		res.Message = fmt.Sprintf("最近更新 %s，距今 %.1f 小时（要求不超过 %g 小时）", t.In(validate.CST).Format("2006-01-02 15:04"), hours, p.Hours)
		return nil

	case "volume", "available":
		res.Regional = false
		q := sqlf("SELECT COUNT(*)" + from)
		if !c.base.empty() {
			q.sql += " WHERE " + c.base.sql
			q.args = c.base.args
		}
		var n int64
		res.Checked = 1
		if err := x.row(ctx, q).Scan(&n); err != nil {
			if c.rule.Template == "available" && ctx.Err() == nil {
				res.Failed = 1
				res.Message = "数据集无法查询：" + describeError(err, st.Timeout)
				return nil
			}
			return err
		}
		f := float64(n)
		res.Metric = &f
		if c.rule.Template == "available" {
			minRows := int64(1)
			if p.MinRows != nil {
				minRows = *p.MinRows
			}
			if n < minRows {
				res.Failed = 1
			}
			res.Message = fmt.Sprintf("数据集可查询，记录数 %d（要求不少于 %d）", n, minRows)
			return nil
		}
		prev, ok, err := m.previousMetric(ctx, c.rule.ID)
		if err != nil {
			return err
		}
		if !ok {
			res.Message = fmt.Sprintf("记录数 %d；首次核查，无可比较的上次结果", n)
			return nil
		}
		var change float64
		switch {
		case prev == 0 && n == 0:
		case prev == 0:
			change = math.Inf(1)
		default:
			change = (f - prev) / prev * 100
		}
		if p.MinChange != nil && change < *p.MinChange || p.MaxChange != nil && change > *p.MaxChange {
			res.Failed = 1
		}
		res.Message = fmt.Sprintf("记录数 %d，上次 %d，变化 %s（允许范围 %s）", n, int64(prev), pct(change), band(p.MinChange, p.MaxChange))
		return nil
	}
	return fmt.Errorf("quality: set-level template %s", c.rule.Template)
}

// vexprsOrKeys orders unique samples by the duplicated values so that groups sit together.
func vexprsOrKeys(c *compiled, ds *Dataset) []string {
	if c.rule.Template != "unique" {
		return nil
	}
	out := make([]string, len(c.cols))
	for i, cl := range c.cols {
		out[i] = cl.expr("t", c.dialect)
	}
	return out
}

func pct(v float64) string {
	if math.IsInf(v, 1) {
		return "+∞"
	}
	return fmt.Sprintf("%+.2f%%", v)
}

func band(lo, hi *float64) string {
	l, h := "-∞", "+∞"
	if lo != nil {
		l = fmt.Sprintf("%g%%", *lo)
	}
	if hi != nil {
		h = fmt.Sprintf("%g%%", *hi)
	}
	return l + " ~ " + h
}

func (m *Module) previousMetric(ctx context.Context, ruleID int64) (float64, bool, error) {
	var v sql.NullFloat64
	err := m.db.Get(ctx, &v, `SELECT metric FROM quality_results WHERE rule_id = ? AND status <> 'error' AND metric IS NOT NULL ORDER BY id DESC LIMIT 1`, ruleID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	return v.Float64, v.Valid, err
}

// parseDBTime reads a MAX() of a timestamp or date column, which SQLite returns as text.
func parseDBTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case []byte:
		return parseDBTime(string(x))
	case string:
		for _, l := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(l, x); err == nil {
				return t, true
			}
		}
		if t, err := time.ParseInLocation(time.DateOnly, x, validate.CST); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// save writes the run in one transaction.
func (m *Module) save(ctx context.Context, run *Run, results []*Result, o RunOptions) error {
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := store.InsertID(ctx, tx, `INSERT INTO quality_runs(trigger_kind, actor, dataset, rule_code, status, rules_total,
			rules_passed, rules_failed, rules_error, score, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			run.Trigger, run.Actor, run.Dataset, run.RuleCode, run.Status, run.RulesTotal, run.RulesPassed, run.RulesFailed,
			run.RulesError, run.Score, run.StartedAt, run.FinishedAt)
		if err != nil {
			return err
		}
		run.ID = id
		for _, res := range results {
			res.RunID = id
			res.ID, err = store.InsertID(ctx, tx, `INSERT INTO quality_results(run_id, rule_id, rule_code, rule_name, rule_version,
				dataset, template, dimension, severity, threshold, checked, failed, pass_rate, status, metric, message, sampled,
				regional, duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
				id, res.RuleID, res.RuleCode, res.RuleName, res.RuleVersion, res.Dataset, res.Template, res.Dimension, res.Severity,
				res.Threshold, res.Checked, res.Failed, res.PassRate, res.Status, res.Metric, res.Message, res.Sampled, res.Regional,
				res.DurationMS)
			if err != nil {
				return err
			}
			if err := insertRegions(ctx, tx, res); err != nil {
				return err
			}
			if err := insertSamples(ctx, tx, res); err != nil {
				return err
			}
			if res.Status == StatusFail {
				if err := events.Publish(ctx, tx, EventBelowThreshold, BelowThreshold{Rule: res.RuleCode, RuleID: *res.RuleID,
					Dataset: res.Dataset, Run: id, Result: res.ID, PassRate: res.PassRate, Threshold: res.Threshold, Severity: res.Severity}); err != nil {
					return err
				}
			}
		}
		for rid, next := range o.nextRuns {
			if _, err := tx.Exec(ctx, `UPDATE quality_rules SET next_run_at = ? WHERE id = ?`, next, rid); err != nil {
				return err
			}
		}
		if o.Audit != nil && m.audit != nil {
			e := *o.Audit
			e.ObjectType, e.ObjectID = "quality_run", strconv.FormatInt(id, 10)
			if e.Detail == "" {
				e.Detail = fmt.Sprintf("执行数据质量核查：%d 条规则，通过 %d，未达阈值 %d，出错 %d", run.RulesTotal, run.RulesPassed, run.RulesFailed, run.RulesError)
			}
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
}

func insertRegions(ctx context.Context, tx *store.Tx, res *Result) error {
	regions := make([]string, 0, len(res.regions))
	for r := range res.regions {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for start := 0; start < len(regions); start += 200 {
		end := min(start+200, len(regions))
		q := "INSERT INTO quality_result_regions(result_id, region_code, checked, failed) VALUES "
		var args []any
		for i, r := range regions[start:end] {
			if i > 0 {
				q += ","
			}
			q += "(?,?,?,?)"
			c := res.regions[r]
			args = append(args, res.ID, r, c[0], c[1])
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func insertSamples(ctx context.Context, tx *store.Tx, res *Result) error {
	for start := 0; start < len(res.samples); start += 200 {
		end := min(start+200, len(res.samples))
		q := "INSERT INTO quality_failed_rows(result_id, run_id, dataset, row_key, key_values, region_code, vals) VALUES "
		var args []any
		for i, s := range res.samples[start:end] {
			if i > 0 {
				q += ","
			}
			q += "(?,?,?,?,?,?,?)"
			kb, _ := json.Marshal(s.Key)
			vals := s.Vals
			if vals == nil {
				vals = map[string]*string{}
			}
			vb, _ := json.Marshal(vals)
			args = append(args, res.ID, res.RunID, res.Dataset, strings.Join(s.Key, "|"), string(kb), s.Region, string(vb))
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Data scope of results: the history is one for the province; what a viewer sees of it is cut
// to their jurisdiction. Row-level counts come from the per-region counts of each result, failed
// rows carry their region, and records are read with the dataset's region column — all through
// iam's Filter, so a city user sees only its own region's numbers, failing rows and records.
// Set-level measures without a region (freshness, volume, availability) are dataset-wide facts
// and are shown as they are.

type viewScope struct {
	all     bool // the whole province with an unrestricted data scope
	p       *iam.Principal
	regions func(col string) (string, []any)
}

func scopeOf(ctx context.Context) viewScope {
	p := iam.FromContext(ctx)
	sc := viewScope{p: p, regions: func(c string) (string, []any) { return p.Filter(iam.Cols{Region: c}) }}
	if w, _ := sc.regions("x"); w == "1=1" {
		sc.all = true
	}
	return sc
}

// allScope is the unrestricted view (CLI, jobs).
func allScope() viewScope {
	return viewScope{all: true, regions: func(string) (string, []any) { return "1=1", nil }}
}

const resultCols = `id, run_id, rule_id, rule_code, rule_name, rule_version, dataset, template, dimension, severity, threshold,
	checked, failed, pass_rate, status, metric, message, sampled, regional, duration_ms`

// loadResults reads results (of the given runs, or by extra condition) as the scope sees them,
// with their per-region counts in scope.
func (m *Module) loadResults(ctx context.Context, sc viewScope, where string, args ...any) ([]*Result, error) {
	var rows []Result
	if err := m.db.Select(ctx, &rows, `SELECT `+resultCols+` FROM quality_results WHERE `+where+` ORDER BY run_id, dataset, rule_code`, args...); err != nil {
		return nil, err
	}
	// Datasets in catalog order, rules by code within.
	order := map[string]int{}
	for i, d := range m.cat.Datasets {
		order[d.Name] = i
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.RunID != b.RunID {
			return a.RunID < b.RunID
		}
		if order[a.Dataset] != order[b.Dataset] {
			return order[a.Dataset] < order[b.Dataset]
		}
		return a.RuleCode < b.RuleCode
	})
	out := make([]*Result, len(rows))
	ids := make([]any, len(rows))
	byID := map[int64]*Result{}
	for i := range rows {
		out[i] = &rows[i]
		out[i].regions = map[string][2]int64{}
		ids[i] = rows[i].ID
		byID[rows[i].ID] = out[i]
	}
	if len(out) == 0 {
		return out, nil
	}
	rw, rargs := sc.regions("rr.region_code")
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		q := `SELECT rr.result_id, rr.region_code, rr.checked, rr.failed FROM quality_result_regions rr WHERE rr.result_id IN (` +
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + `) AND ` + rw
		var rr []struct {
			ResultID int64  `db:"result_id"`
			Region   string `db:"region_code"`
			Checked  int64  `db:"checked"`
			Failed   int64  `db:"failed"`
		}
		if err := m.db.Select(ctx, &rr, q, append(append([]any{}, chunk...), rargs...)...); err != nil {
			return nil, err
		}
		for _, x := range rr {
			byID[x.ResultID].regions[x.Region] = [2]int64{x.Checked, x.Failed}
		}
	}
	if sc.all {
		return out, nil
	}
	// Restricted viewers: counts, pass rate, status and kept rows of their regions only.
	fw, fargs := sc.regions("f.region_code")
	for _, r := range out {
		if !r.Regional || r.Status == StatusError {
			continue
		}
		r.Checked, r.Failed = 0, 0
		for _, c := range r.regions {
			r.Checked += c[0]
			r.Failed += c[1]
		}
		r.PassRate = nil
		status := StatusPass
		if r.Checked > 0 {
			pr := math.Round(float64(r.Checked-r.Failed)/float64(r.Checked)*1e6) / 1e4
			r.PassRate = &pr
			if pr < r.Threshold {
				status = StatusFail
			}
		}
		r.Status = status
		if err := m.db.Get(ctx, &r.Sampled, `SELECT COUNT(*) FROM quality_failed_rows f WHERE f.result_id = ? AND `+fw, append([]any{r.ID}, fargs...)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RunView is a run with its results and scores as one viewer sees them.
type RunView struct {
	Run
	Results []*Result     `json:"results"`
	Scores  Scores        `json:"scores"`
	Regions []RegionScore `json:"regions"`
	Scoped  bool          `json:"scoped"` // counts are the viewer's jurisdiction only
}

const runCols = `id, trigger_kind, actor, dataset, rule_code, status, rules_total, rules_passed, rules_failed, rules_error, score, started_at, finished_at`

// RunDetail returns one run with results, scores and region scores in the viewer's scope.
func (m *Module) RunDetail(ctx context.Context, sc viewScope, id int64) (*RunView, error) {
	var r Run
	if err := m.db.Get(ctx, &r, `SELECT `+runCols+` FROM quality_runs WHERE id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	results, err := m.loadResults(ctx, sc, "run_id = ?", id)
	if err != nil {
		return nil, err
	}
	return m.view(ctx, r, results, sc)
}

func (m *Module) view(ctx context.Context, r Run, results []*Result, sc viewScope) (*RunView, error) {
	st, err := m.Settings(ctx)
	if err != nil {
		return nil, err
	}
	v := &RunView{Run: r, Results: results, Scoped: !sc.all}
	v.Scores = Score(results, st.Weights)
	if !sc.all {
		v.Score = v.Scores.Overall
		v.recount()
	}
	regional := make([]map[string][2]int64, len(results))
	for i, res := range results {
		regional[i] = res.regions
	}
	v.Regions = regionScores(results, regional, st.Weights)
	return v, nil
}

func (v *RunView) recount() {
	v.RulesPassed, v.RulesFailed, v.RulesError = 0, 0, 0
	for _, r := range v.Results {
		switch r.Status {
		case StatusPass:
			v.RulesPassed++
		case StatusFail:
			v.RulesFailed++
		default:
			v.RulesError++
		}
	}
	v.RulesTotal = len(v.Results)
}

// RunFilter narrows ListRuns.
type RunFilter struct {
	Dataset  string
	From, To time.Time
}

// ListRuns returns a page of runs, newest first, with scores in the viewer's scope.
func (m *Module) ListRuns(ctx context.Context, sc viewScope, f RunFilter, offset, limit int) ([]*RunView, int, error) {
	where, args := "1=1", []any{}
	if f.Dataset != "" {
		where += " AND id IN (SELECT run_id FROM quality_results WHERE dataset = ?)"
		args = append(args, f.Dataset)
	}
	if !f.From.IsZero() {
		where += " AND started_at >= ?"
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		where += " AND started_at < ?"
		args = append(args, f.To)
	}
	var total int
	if err := m.db.Get(ctx, &total, `SELECT COUNT(*) FROM quality_runs WHERE `+where, args...); err != nil {
		return nil, 0, err
	}
	var runs []Run
	if err := m.db.Select(ctx, &runs, `SELECT `+runCols+` FROM quality_runs WHERE `+where+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, limit, offset)...); err != nil {
		return nil, 0, err
	}
	out := make([]*RunView, 0, len(runs))
	if len(runs) == 0 {
		return out, total, nil
	}
	ids := make([]any, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	results, err := m.loadResults(ctx, sc, "run_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+")", ids...)
	if err != nil {
		return nil, 0, err
	}
	byRun := map[int64][]*Result{}
	for _, r := range results {
		byRun[r.RunID] = append(byRun[r.RunID], r)
	}
	for _, r := range runs {
		v, err := m.view(ctx, r, byRun[r.ID], sc)
		if err != nil {
			return nil, 0, err
		}
		v.Regions = nil
		out = append(out, v)
	}
	return out, total, nil
}

// ResultDetail returns one result in the viewer's scope.
func (m *Module) ResultDetail(ctx context.Context, sc viewScope, id int64) (*Result, error) {
	rs, err := m.loadResults(ctx, sc, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, web.ErrNotFound
	}
	return rs[0], nil
}

// FailedRow is one kept failing row.
type FailedRow struct {
	ID        int64              `json:"id" db:"id"`
	ResultID  int64              `json:"result_id" db:"result_id"`
	RowKey    string             `json:"key" db:"row_key"`
	KeyValues []string           `json:"key_values" db:"-"`
	Region    string             `json:"region_code" db:"region_code"`
	Values    map[string]*string `json:"values" db:"-"`
	KeyJSON   string             `json:"-" db:"key_values"`
	ValsJSON  string             `json:"-" db:"vals"`
}

// FailedRows returns a page of a result's kept failing rows in the viewer's scope.
func (m *Module) FailedRows(ctx context.Context, sc viewScope, resultID int64, offset, limit int) ([]FailedRow, int, error) {
	w, args := sc.regions("f.region_code")
	var total int
	if err := m.db.Get(ctx, &total, `SELECT COUNT(*) FROM quality_failed_rows f WHERE f.result_id = ? AND `+w, append([]any{resultID}, args...)...); err != nil {
		return nil, 0, err
	}
	var rows []FailedRow
	if err := m.db.Select(ctx, &rows, `SELECT f.id, f.result_id, f.row_key, f.key_values, f.region_code, f.vals FROM quality_failed_rows f
		WHERE f.result_id = ? AND `+w+` ORDER BY f.id LIMIT ? OFFSET ?`, append(append([]any{resultID}, args...), limit, offset)...); err != nil {
		return nil, 0, err
	}
	for i := range rows {
		json.Unmarshal([]byte(rows[i].KeyJSON), &rows[i].KeyValues)
		json.Unmarshal([]byte(rows[i].ValsJSON), &rows[i].Values)
	}
	return rows, total, nil
}

// RecordField is one field of a record's full detail.
type RecordField struct {
	Name  string  `json:"name"`
	Title string  `json:"title"`
	Value *string `json:"value"`
}

// Record returns the full current record of a dataset by key, in the viewer's scope. Only
// records that a quality check found failing (and kept) can be opened here; reading any other
// record is the dataset module's business.
func (m *Module) Record(ctx context.Context, sc viewScope, dataset, key string) ([]RecordField, []FailedRow, error) {
	ds, ok := m.cat.Get(dataset)
	if !ok {
		return nil, nil, web.ErrNotFound
	}
	fw, fargs := sc.regions("f.region_code")
	var kv []string
	var hist []FailedRow
	if err := m.db.Select(ctx, &hist, `SELECT f.id, f.result_id, f.row_key, f.key_values, f.region_code, f.vals FROM quality_failed_rows f
		WHERE f.dataset = ? AND f.row_key = ? AND `+fw+` ORDER BY f.id DESC LIMIT 50`, append([]any{dataset, key}, fargs...)...); err != nil {
		return nil, nil, err
	}
	if len(hist) == 0 {
		return nil, nil, web.ErrNotFound
	}
	for i := range hist {
		json.Unmarshal([]byte(hist[i].ValsJSON), &hist[i].Values)
	}
	if err := json.Unmarshal([]byte(hist[0].KeyJSON), &kv); err != nil || len(kv) != len(ds.Key) {
		return nil, nil, fmt.Errorf("quality: bad key of failed row %d", hist[0].ID)
	}
	var cols []string
	var fields []Column
	for _, c := range ds.Columns {
		cols = append(cols, c.expr("t", m.db.Dialect()))
		fields = append(fields, c)
	}
	where := make([]string, len(ds.Key))
	args := make([]any, len(ds.Key))
	for i, k := range ds.Key {
		where[i] = ds.keyEquals("t", k)
		args[i] = kv[i]
	}
	if ds.Region != "" {
		rw, rargs := sc.regions(col("t", ds.Region))
		where = append(where, rw)
		args = append(args, rargs...)
	} else if !sc.all {
		return nil, nil, web.ErrNotFound
	}
	rows, err := m.db.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quote(ds.Table)+` t WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		// The record is gone or has moved out of the viewer's region since it was checked.
		return nil, hist, web.Errorf(http.StatusNotFound, "record_gone", "该记录已不存在或已不在您的数据范围内（下方为核查时记录的值）")
	}
	cells := make([]any, len(cols))
	vals := make([]any, len(cols))
	for i := range cells {
		cells[i] = &vals[i]
	}
	if err := rows.Scan(cells...); err != nil {
		return nil, nil, err
	}
	out := make([]RecordField, len(fields))
	for i, c := range fields {
		out[i] = RecordField{Name: c.Name, Title: c.Title, Value: display(vals[i], c)}
	}
	return out, hist, rows.Err()
}

// display formats a database value of column c for people.
func display(v any, c Column) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		s = string(x)
	case string:
		s = x
	case time.Time:
		s = x.In(web.Shanghai()).Format("2006-01-02 15:04:05")
	case bool:
		s = map[bool]string{true: "是", false: "否"}[x]
	case int64:
		s = fmt.Sprint(x)
		if c.Type == TypeBool {
			s = map[bool]string{true: "是", false: "否"}[x != 0]
		}
	default:
		s = fmt.Sprint(x)
	}
	return &s
}

// TrendPoint is one run's score (or one rule's pass rate) for trend charts.
type TrendPoint struct {
	RunID int64     `json:"run_id"`
	At    time.Time `json:"at"`
	Value *float64  `json:"value"`
}

// currentResults returns, in the viewer's scope, the newest result of every enabled rule
// among the results matching filter, in runs up to upTo (0: all runs): the data's quality as
// the rules last saw it. A run of one rule or one dataset updates only its own part of it, so
// scores do not jump with whichever subset ran last.
func (m *Module) currentResults(ctx context.Context, sc viewScope, filter string, args []any, upTo int64) ([]*Result, error) {
	where := "id IN (SELECT MAX(id) FROM quality_results WHERE " + filter
	a := append([]any{}, args...)
	if upTo > 0 {
		where += " AND run_id <= ?"
		a = append(a, upTo)
	}
	where += " GROUP BY rule_id) AND rule_id IN (SELECT id FROM quality_rules WHERE enabled)"
	return m.loadResults(ctx, sc, where, a...)
}

// Current is the quality as of the newest result of every enabled rule, presented as a view of
// the newest run (its number and time), with scores and rule counts over all rules.
func (m *Module) Current(ctx context.Context, sc viewScope) (*RunView, error) {
	var r Run
	if err := m.db.Get(ctx, &r, `SELECT `+runCols+` FROM quality_runs ORDER BY id DESC LIMIT 1`); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	results, err := m.currentResults(ctx, sc, "1=1", nil, 0)
	if err != nil {
		return nil, err
	}
	v, err := m.view(ctx, r, results, sc)
	if err != nil {
		return nil, err
	}
	v.Score = v.Scores.Overall
	v.recount()
	return v, nil
}

// Trend returns, for the last limit runs that checked the dataset (or rule, or dimension), the
// score in the viewer's scope as of each run — overall, of one dataset, of one dimension (over
// the newest result of every rule up to that run, see currentResults) or a rule's pass rate.
func (m *Module) Trend(ctx context.Context, sc viewScope, dataset, dimension, rule string, limit int) ([]TrendPoint, error) {
	where, args := "1=1", []any{}
	if dataset != "" {
		where += " AND dataset = ?"
		args = append(args, dataset)
	}
	if rule != "" {
		where += " AND rule_code = ?"
		args = append(args, rule)
	}
	if dimension != "" {
		where += " AND dimension = ?"
		args = append(args, dimension)
	}
	var runs []Run
	if err := m.db.Select(ctx, &runs, `SELECT `+runCols+` FROM quality_runs WHERE id IN (SELECT run_id FROM quality_results WHERE `+where+`)
		ORDER BY id DESC LIMIT ?`, append(args, limit)...); err != nil {
		return nil, err
	}
	slices.Reverse(runs)
	return m.trendOver(ctx, sc, runs, where, args, dimension, rule)
}

// trendOver scores each of runs (oldest first) as of that run: over the newest result of every
// enabled rule matching where up to the run (see currentResults) — overall, or of dimension —
// or, for a rule, that run's pass rate.
func (m *Module) trendOver(ctx context.Context, sc viewScope, runs []Run, where string, args []any, dimension, rule string) ([]TrendPoint, error) {
	if len(runs) == 0 {
		return []TrendPoint{}, nil
	}
	// The state before the window, then every result inside it in run order.
	first, last := runs[0].ID, runs[len(runs)-1].ID
	state := map[int64]*Result{}
	before, err := m.currentResults(ctx, sc, where, args, first-1)
	if err != nil {
		return nil, err
	}
	for _, r := range before {
		state[*r.RuleID] = r
	}
	inside, err := m.loadResults(ctx, sc, where+" AND run_id >= ? AND run_id <= ? AND rule_id IN (SELECT id FROM quality_rules WHERE enabled)",
		append(append([]any{}, args...), first, last)...)
	if err != nil {
		return nil, err
	}
	st, err := m.Settings(ctx)
	if err != nil {
		return nil, err
	}
	byRun := map[int64][]*Result{}
	for _, r := range inside {
		byRun[r.RunID] = append(byRun[r.RunID], r)
	}
	out := make([]TrendPoint, 0, len(runs))
	for _, run := range runs {
		p := TrendPoint{RunID: run.ID, At: run.StartedAt}
		if rule != "" {
			if rs := byRun[run.ID]; len(rs) == 1 {
				p.Value = rs[0].PassRate
			}
			out = append(out, p)
			continue
		}
		for _, r := range byRun[run.ID] {
			state[*r.RuleID] = r
		}
		s := Score(slices.Collect(maps.Values(state)), st.Weights)
		if dimension != "" {
			if v, ok := s.Dimensions[dimension]; ok {
				p.Value = &v
			}
		} else {
			p.Value = s.Overall
		}
		out = append(out, p)
	}
	return out, nil
}

package indicator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Reading. Every read is limited to the caller's jurisdiction in SQL (iam data scope on the
// value's region), whatever region the caller asks for.

// Sel selects the values of one region and period: Period "" is the whole time, "YYYY" a
// year, "YYYY-MM" a month, "YYYY-MM-DD" a day.
type Sel struct {
	Region string `json:"region"`
	Period string `json:"period"`
}

// Kind is the period kind of the selection.
func (s Sel) Kind() string { return periodKind(s.Period) }

func periodKind(p string) string {
	switch len(p) {
	case 0:
		return PeriodAll
	case 4:
		return PeriodYear
	case 7:
		return PeriodMonth
	}
	return PeriodDay
}

// PeriodLabel is how a period is shown: 全部, 2025年, 2025年3月, 2025年3月5日.
func PeriodLabel(p string) string {
	switch periodKind(p) {
	case PeriodAll:
		return "全部"
	case PeriodYear:
		return p + "年"
	case PeriodMonth:
		t, err := time.Parse("2006-01", p)
		if err != nil {
			return p
		}
		return t.Format("2006年1月")
	}
	t, err := time.Parse("2006-01-02", p)
	if err != nil {
		return p
	}
	return t.Format("2006年1月2日")
}

// ParsePeriod checks a period parameter.
func ParsePeriod(p string) (string, error) {
	p = strings.TrimSpace(p)
	layouts := map[int]string{0: "", 4: "2006", 7: "2006-01", 10: "2006-01-02"}
	l, ok := layouts[len(p)]
	if ok && l != "" {
		if _, err := time.Parse(l, p); err != nil {
			ok = false
		}
	}
	if !ok {
		return "", web.Errorf(http.StatusBadRequest, "bad_period", "统计期 %q 无效：应为空（全部）、年份（2025）、月份（2025-03）或日期（2025-03-05）", p)
	}
	return p, nil
}

// Cell is one read value: nil Value means undefined (a ratio without denominator).
type Cell struct {
	Value      *float64   `json:"value"`
	ComputedAt *time.Time `json:"computed_at"`
}

type rkey struct{ region, period, dim string }

// fetchQuery reads stored values of one aggregate indicator.
type fetchQuery struct {
	level   string
	regions []string // one or more region codes at level
	kind    string
	periods []string // exact periods of kind; nil = every period
	upTo    string   // with cumulative: every period ≤ upTo
	allDims bool     // every breakdown value; otherwise dim '' only
}

func (s *Service) fetch(ctx context.Context, p *iam.Principal, code string, q fetchQuery) (map[rkey]Cell, error) {
	where, args := p.Filter(iam.Cols{Region: "v.region_code"})
	qs := `SELECT v.region_code, v.period, v.dim, v.value, v.computed_at FROM ind_values v
		WHERE v.code = ? AND v.region_level = ? AND v.period_kind = ? AND v.region_code IN (` + placeholders(len(q.regions)) + `) AND ` + where
	a := []any{code, q.level, q.kind}
	for _, r := range q.regions {
		a = append(a, r)
	}
	a = append(a, args...)
	if q.upTo != "" {
		qs += ` AND v.period <= ?`
		a = append(a, q.upTo)
	} else if q.periods != nil {
		if len(q.periods) == 0 {
			return map[rkey]Cell{}, nil
		}
		qs += ` AND v.period IN (` + placeholders(len(q.periods)) + `)`
		for _, p := range q.periods {
			a = append(a, p)
		}
	}
	if !q.allDims {
		qs += ` AND v.dim = ''`
	}
	var rows []struct {
		Region string    `db:"region_code"`
		Period string    `db:"period"`
		Dim    string    `db:"dim"`
		Value  float64   `db:"value"`
		At     time.Time `db:"computed_at"`
	}
	if err := s.db.Select(ctx, &rows, qs, a...); err != nil {
		return nil, err
	}
	out := make(map[rkey]Cell, len(rows))
	for _, r := range rows {
		v, at := r.Value, r.At
		out[rkey{r.Region, r.Period, r.Dim}] = Cell{Value: &v, ComputedAt: &at}
	}
	return out, nil
}

// query is what a read asks of one indicator: cells of regions × periods × dims.
type query struct {
	level   string
	regions []string
	kind    string
	periods []string // exact periods ('' for the whole time)
	allDims bool
}

// eval computes an indicator's cells for q, recursing through ratios and weighted sums.
func (s *Service) eval(ctx context.Context, p *iam.Principal, defs map[string]*Definition, code string, q query, depth int) (map[rkey]Cell, error) {
	d, ok := defs[code]
	if !ok || depth > 8 {
		return nil, fmt.Errorf("指标 %s 不存在", code)
	}
	sp := &d.Spec
	switch sp.Kind {
	case KindAggregate:
		return s.evalAggregate(ctx, p, d, q)
	case KindRatio:
		num, err := s.eval(ctx, p, defs, sp.Numerator, q, depth+1)
		if err != nil {
			return nil, err
		}
		dq := q
		if sp.DenAll {
			dq.kind, dq.periods, dq.allDims = PeriodAll, []string{""}, false
		}
		den, err := s.eval(ctx, p, defs, sp.Denominator, dq, depth+1)
		if err != nil {
			return nil, err
		}
		scale := sp.Scale
		if scale == 0 {
			scale = 1
		}
		out := map[rkey]Cell{}
		keys := map[rkey]bool{}
		for k := range num {
			keys[k] = true
		}
		for k := range den {
			if !sp.DenAll {
				keys[k] = true
			}
		}
		if !q.allDims {
			for _, r := range q.regions {
				for _, per := range q.periods {
					keys[rkey{r, per, ""}] = true
				}
			}
		}
		for k := range keys {
			dk := k
			if sp.DenAll {
				dk = rkey{k.region, "", ""}
			}
			n, dn := num[k], den[dk]
			c := Cell{ComputedAt: latest(n.ComputedAt, dn.ComputedAt)}
			if dn.Value != nil && *dn.Value != 0 {
				nv := 0.0
				if n.Value != nil {
					nv = *n.Value
				}
				v := nv / *dn.Value * scale
				c.Value = &v
			}
			out[k] = c
		}
		return out, nil
	case KindWeighted:
		out := map[rkey]Cell{}
		for _, part := range sp.Parts {
			cs, err := s.eval(ctx, p, defs, part.Code, q, depth+1)
			if err != nil {
				return nil, err
			}
			keys := map[rkey]bool{}
			for k := range cs {
				keys[k] = true
			}
			for k := range out {
				keys[k] = true
			}
			for k := range keys {
				c := out[k]
				v := 0.0
				if c.Value != nil {
					v = *c.Value
				}
				if pc := cs[k]; pc.Value != nil {
					v += *pc.Value * part.Weight
				}
				out[k] = Cell{Value: &v, ComputedAt: latest(c.ComputedAt, cs[k].ComputedAt)}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("指标 %s 类型未知", code)
}

func latest(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.After(*a):
		return b
	}
	return a
}

func (s *Service) evalAggregate(ctx context.Context, p *iam.Principal, d *Definition, q query) (map[rkey]Cell, error) {
	sp := &d.Spec
	if !sp.HasPeriod(q.kind) {
		return map[rkey]Cell{}, nil // not materialised for that period kind: undefined
	}
	fq := fetchQuery{level: q.level, regions: q.regions, kind: q.kind, periods: q.periods, allDims: q.allDims}
	cumulative := sp.Cumulative && q.kind != PeriodAll
	if cumulative {
		fq.periods = nil
		for _, per := range q.periods {
			if per > fq.upTo {
				fq.upTo = per
			}
		}
	}
	got, err := s.fetch(ctx, p, sp.Code, fq)
	if err != nil {
		return nil, err
	}
	zero := 0.0
	out := map[rkey]Cell{}
	if cumulative {
		// A stock: the value at a period's end is everything up to and including it.
		for _, per := range q.periods {
			for k, c := range got {
				if k.period > per {
					continue
				}
				ok := rkey{k.region, per, k.dim}
				cur := out[ok]
				v := *c.Value
				if cur.Value != nil {
					v += *cur.Value
				}
				out[ok] = Cell{Value: &v, ComputedAt: latest(cur.ComputedAt, c.ComputedAt)}
			}
		}
	} else {
		out = got
	}
	// Absent cells are zero, computed when the indicator last was.
	if !q.allDims {
		for _, r := range q.regions {
			for _, per := range q.periods {
				k := rkey{r, per, ""}
				if _, ok := out[k]; !ok {
					out[k] = Cell{Value: &zero, ComputedAt: d.ComputedAt}
				}
			}
		}
	}
	return out, nil
}

// Reader reads an indicator for one caller.
type Reader struct {
	s    *Service
	p    *iam.Principal
	defs map[string]*Definition
	at   map[string]*time.Time
}

// Reader returns a reader for the caller p.
func (s *Service) Reader(ctx context.Context, p *iam.Principal) (*Reader, error) {
	defs, _, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	at, err := s.computedAt(ctx)
	if err != nil {
		return nil, err
	}
	// Computation times move with every run; the cached definitions do not.
	cp := make(map[string]*Definition, len(defs))
	for k, d := range defs {
		dd := *d
		dd.ComputedAt = at[k]
		cp[k] = &dd
	}
	return &Reader{s: s, p: p, defs: cp, at: at}, nil
}

// Definition returns the definition of code.
func (r *Reader) Definition(code string) (*Definition, error) {
	d, ok := r.defs[code]
	if !ok {
		return nil, web.Errorf(http.StatusNotFound, "not_found", "指标 %s 不存在", code)
	}
	return d, nil
}

// ComputedAt is when code (or, for derived indicators, its newest input) was last computed.
func (r *Reader) ComputedAt(code string) *time.Time {
	d, ok := r.defs[code]
	if !ok {
		return nil
	}
	if d.Kind == KindAggregate {
		return d.ComputedAt
	}
	var t *time.Time
	for _, c := range d.Refs() {
		t = latest(t, r.ComputedAt(c))
	}
	return t
}

// Value reads one cell.
func (r *Reader) Value(ctx context.Context, code string, sel Sel) (Cell, error) {
	if _, err := r.Definition(code); err != nil {
		return Cell{}, err
	}
	got, err := r.s.eval(ctx, r.p, r.defs, code, query{level: LevelOf(sel.Region), regions: []string{sel.Region}, kind: sel.Kind(), periods: []string{sel.Period}}, 0)
	if err != nil {
		return Cell{}, err
	}
	c := got[rkey{sel.Region, sel.Period, ""}]
	if c.ComputedAt == nil {
		c.ComputedAt = r.ComputedAt(code)
	}
	return c, nil
}

// Point is one labelled value of a series.
type Point struct {
	Key        string     `json:"key"`   // region code, period or breakdown value
	Label      string     `json:"label"` // Chinese label
	Value      *float64   `json:"value"`
	ComputedAt *time.Time `json:"computed_at"`
}

// ByRegion reads the value of each child region of sel.Region.
func (r *Reader) ByRegion(ctx context.Context, code string, sel Sel) ([]Point, error) {
	if _, err := r.Definition(code); err != nil {
		return nil, err
	}
	kids := Children(sel.Region)
	if len(kids) == 0 {
		return nil, nil
	}
	regs := make([]string, len(kids))
	for i, k := range kids {
		regs[i] = k.Code
	}
	got, err := r.s.eval(ctx, r.p, r.defs, code, query{level: kids[0].Level, regions: regs, kind: sel.Kind(), periods: []string{sel.Period}}, 0)
	if err != nil {
		return nil, err
	}
	var out []Point
	for _, k := range kids {
		c := got[rkey{k.Code, sel.Period, ""}]
		if k.Code == iam.ProvinceCode || strings.HasSuffix(k.Name, "本级") {
			// 省本级 / 市本级 only when there is something there.
			if c.Value == nil || *c.Value == 0 {
				continue
			}
		}
		out = append(out, Point{Key: k.Code, Label: k.Name, Value: c.Value, ComputedAt: c.ComputedAt})
	}
	return out, nil
}

// Trend reads the values of the last n periods of kind (year or month) up to sel's period
// (or up to the latest period with values when sel is the whole time). Years without an upper
// bound run from the first year with values.
func (r *Reader) Trend(ctx context.Context, code string, sel Sel, kind string, n int) ([]Point, error) {
	if _, err := r.Definition(code); err != nil {
		return nil, err
	}
	end := sel.Period
	switch {
	case end == "":
		last, err := r.s.lastPeriod(ctx, r.p, r.defs, code, LevelOf(sel.Region), sel.Region, kind)
		if err != nil {
			return nil, err
		}
		if last == "" {
			return nil, nil
		}
		end = last
	case kind == PeriodYear:
		end = end[:4]
	case kind == PeriodMonth && len(end) == 4:
		end += "-12"
	case kind == PeriodMonth:
		end = end[:7]
	case kind == PeriodDay && len(end) == 7:
		t, _ := time.Parse("2006-01", end)
		end = t.AddDate(0, 1, -1).Format("2006-01-02")
	}
	periods := periodsBack(end, kind, n)
	got, err := r.s.eval(ctx, r.p, r.defs, code, query{level: LevelOf(sel.Region), regions: []string{sel.Region}, kind: kind, periods: periods}, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Point, 0, len(periods))
	for _, per := range periods {
		c := got[rkey{sel.Region, per, ""}]
		out = append(out, Point{Key: per, Label: PeriodLabel(per), Value: c.Value, ComputedAt: c.ComputedAt})
	}
	return out, nil
}

// periodsBack returns the n periods of kind ending at end, oldest first.
func periodsBack(end, kind string, n int) []string {
	layout := map[string]string{PeriodYear: "2006", PeriodMonth: "2006-01", PeriodDay: "2006-01-02"}[kind]
	t, err := time.Parse(layout, end)
	if err != nil {
		return nil
	}
	out := make([]string, n)
	for i := 0; i < n; i++ {
		var u time.Time
		switch kind {
		case PeriodYear:
			u = t.AddDate(-(n - 1 - i), 0, 0)
		case PeriodMonth:
			u = t.AddDate(0, -(n - 1 - i), 0)
		default:
			u = t.AddDate(0, 0, -(n - 1 - i))
		}
		out[i] = u.Format(layout)
	}
	return out
}

// lastPeriod finds the latest period of kind with a value of the indicator (or of its first
// aggregate input) in the region.
func (s *Service) lastPeriod(ctx context.Context, p *iam.Principal, defs map[string]*Definition, code, level, region, kind string) (string, error) {
	base := code
	for i := 0; i < 8; i++ {
		d := defs[base]
		if d == nil || d.Kind == KindAggregate {
			break
		}
		if d.Kind == KindRatio {
			base = d.Numerator
			if d.Drill != "" {
				base = d.Drill
			}
		} else {
			base = d.Parts[0].Code
		}
	}
	where, args := p.Filter(iam.Cols{Region: "region_code"})
	var last *string
	a := append([]any{base, level, region, kind}, args...)
	err := s.db.Get(ctx, &last, `SELECT MAX(period) FROM ind_values WHERE code = ? AND region_level = ? AND region_code = ? AND period_kind = ? AND `+where, a...)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if last == nil {
		return "", nil
	}
	return *last, nil
}

// Breakdown reads an indicator with a breakdown by its breakdown values, labelled from its
// code table, largest first.
func (r *Reader) Breakdown(ctx context.Context, code string, sel Sel) ([]Point, error) {
	d, err := r.Definition(code)
	if err != nil {
		return nil, err
	}
	got, err := r.s.eval(ctx, r.p, r.defs, code, query{level: LevelOf(sel.Region), regions: []string{sel.Region}, kind: sel.Kind(), periods: []string{sel.Period}, allDims: true}, 0)
	if err != nil {
		return nil, err
	}
	labels, err := r.s.dimLabels(ctx, r.defs, d)
	if err != nil {
		return nil, err
	}
	var out []Point
	for k, c := range got {
		if k.region != sel.Region || k.period != sel.Period {
			continue
		}
		label := labels[k.dim]
		if label == "" {
			label = k.dim
		}
		if k.dim == "" {
			label = "未填写"
		}
		out = append(out, Point{Key: k.dim, Label: label, Value: c.Value, ComputedAt: c.ComputedAt})
	}
	sort.Slice(out, func(i, j int) bool {
		vi, vj := val(out[i].Value), val(out[j].Value)
		if vi != vj {
			return vi > vj
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

func val(v *float64) float64 {
	if v == nil {
		return -1
	}
	return *v
}

// dimLabels maps breakdown values to names from the indicator's code table.
func (s *Service) dimLabels(ctx context.Context, defs map[string]*Definition, d *Definition) (map[string]string, error) {
	ct := d.CodeTable
	for i := 0; ct == "" && d.Kind == KindRatio && i < 8; i++ {
		n := defs[d.Numerator]
		if n == nil {
			break
		}
		d, ct = n, n.CodeTable
	}
	out := map[string]string{}
	if ct == "" {
		return out, nil
	}
	var items []dataset.CodeItem
	if err := s.db.Select(ctx, &items, `SELECT table_name, code, name, parent_code, sort, enabled, origin FROM ds_code_items WHERE table_name = ?`, ct); err != nil {
		return nil, err
	}
	for _, it := range items {
		out[it.Code] = it.Name
	}
	return out, nil
}

// DrillCode is the aggregate indicator whose records a drill-down from code lists.
func (r *Reader) DrillCode(code string) string {
	for i := 0; i < 8; i++ {
		d := r.defs[code]
		if d == nil || d.Kind == KindAggregate {
			return code
		}
		switch {
		case d.Drill != "":
			code = d.Drill
		case d.Kind == KindRatio:
			code = d.Numerator
		default:
			code = d.Parts[0].Code
		}
	}
	return code
}

package indicator

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Computation. Aggregate indicators are computed straight from the dataset tables with one
// GROUP BY per dataset (all indicators of a dataset with the same period column and breakdown
// share the scan, each as a conditional aggregate).
//
// Additive indicators (count, sum) are computed at the finest cell — stored region code
// (county level) × finest period — and rolled up in memory to reporting units, the province,
// coarser periods and the whole time; an incremental refresh recomputes only the finest cells
// of the affected regions and months from the raw rows and re-rolls the affected targets from
// the stored finest cells. Distinct counts cannot be summed, so each (level, period kind) is
// its own GROUP BY, restricted to the affected targets.

// Scope says what to recompute: every cell, or the cells touched by changes to rows of the
// given stored region codes and months ("YYYY-MM"). A nil set means "all".
type Scope struct {
	Counties map[string]bool
	Months   map[string]bool
}

// Full reports whether the scope is everything.
func (sc Scope) Full() bool { return sc.Counties == nil && sc.Months == nil }

type cellKey struct{ level, region, kind, period, dim string }

// group is the aggregate indicators sharing one scan.
type group struct {
	ds        *dataset.Dataset
	periodCol string
	ts        bool // the period column holds timestamps
	breakdown string
	additive  bool
	finest    string
	specs     []*Spec
}

func (g *group) codes() []string {
	out := make([]string, len(g.specs))
	for i, s := range g.specs {
		out[i] = s.Code
	}
	return out
}

// groupSpecs sorts aggregate specs into scan groups.
func groupSpecs(specs []*Spec) ([]*group, error) {
	byKey := map[string]*group{}
	var out []*group
	for _, s := range specs {
		if s.Kind != KindAggregate {
			continue
		}
		ds, ok := Dataset(s.Dataset)
		if !ok {
			return nil, fmt.Errorf("指标 %s: 未知的数据集 %s", s.Code, s.Dataset)
		}
		col, err := s.periodColumn(ds)
		if err != nil {
			return nil, fmt.Errorf("指标 %s: %w", s.Code, err)
		}
		key := strings.Join([]string{ds.Name, col, s.Breakdown, fmt.Sprint(s.Additive()), s.finest(), strings.Join(s.periods(), ",")}, "|")
		g := byKey[key]
		if g == nil {
			g = &group{ds: ds, periodCol: col, ts: isTimestamp(ds, col), breakdown: s.Breakdown, additive: s.Additive(), finest: s.finest()}
			byKey[key] = g
			out = append(out, g)
		}
		g.specs = append(g.specs, s)
	}
	// Distinct counts first: they always read every row (a distinct count cannot be rolled up),
	// so started first they overlap the many short groups instead of running after them.
	sort.SliceStable(out, func(i, j int) bool { return !out[i].additive && out[j].additive })
	return out, nil
}

// periodExpr is the SQL of a row's period of kind.
func (g *group) periodExpr(d store.Dialect, kind string) string {
	base := "t." + g.periodCol
	if g.ts {
		if d == store.Postgres {
			base = "to_char(t." + g.periodCol + " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
		} else {
			base = "date(t." + g.periodCol + ", '+8 hours')"
		}
	}
	switch kind {
	case PeriodDay:
		if !g.ts {
			return base // a date column holds YYYY-MM-DD: the column itself keeps its index usable
		}
		return "substr(" + base + ", 1, 10)"
	case PeriodMonth:
		return "substr(" + base + ", 1, 7)"
	case PeriodYear:
		return "substr(" + base + ", 1, 4)"
	}
	return "''"
}

// readsDays reports whether cells of kind are read at day granularity and cut (a date
// column, month or year cells).
func (g *group) readsDays(kind string) bool {
	return !g.ts && (kind == PeriodMonth || kind == PeriodYear)
}

// periodLen is the length of a period of each kind ("2024", "2024-05").
var periodLen = map[string]int{PeriodYear: 4, PeriodMonth: 7, PeriodDay: 10}

func (g *group) dimExpr() string {
	if g.breakdown == "" {
		return "''"
	}
	if f, ok := g.ds.Field(g.breakdown); ok && f.Type == dataset.TypeBool {
		return "CASE WHEN t." + g.breakdown + " THEN '是' WHEN NOT t." + g.breakdown + " THEN '否' ELSE '' END"
	}
	return "COALESCE(CAST(t." + g.breakdown + " AS TEXT), '')"
}

func regionExpr(level string) string {
	switch level {
	case LevelProvince:
		return "'" + iam.ProvinceCode + "'"
	case LevelUnit:
		return "COALESCE(NULLIF(r.reporting_unit, ''), t.region_code)"
	}
	return "t.region_code"
}

// measure is the conditional aggregate of one spec.
func measure(s *Spec) string {
	cond := s.Filter
	if cond == "" {
		cond = "1=1"
	}
	switch s.Agg {
	case AggSum:
		return "SUM(CASE WHEN (" + cond + ") THEN CAST((" + s.Expr + ") AS DOUBLE PRECISION) ELSE 0 END)"
	case AggCountDistinct:
		return "COUNT(DISTINCT CASE WHEN (" + cond + ") THEN (" + s.Expr + ") END)"
	}
	if s.Filter == "" {
		return "COUNT(*)"
	}
	return "SUM(CASE WHEN (" + cond + ") THEN 1 ELSE 0 END)"
}

// SQL is the query computing the spec at one level and period kind, for the catalogue.
func (s *Spec) SQL(d store.Dialect, level, kind string) string {
	gs, err := groupSpecs([]*Spec{s})
	if err != nil || len(gs) == 0 {
		return ""
	}
	g := gs[0]
	q, _ := g.query(d, level, kind, []*Spec{s}, nil)
	return q
}

// query builds the GROUP BY of specs at level × kind with an optional extra condition.
func (g *group) query(d store.Dialect, level, kind string, specs []*Spec, where []string) (string, []any) {
	var b strings.Builder
	period := g.periodExpr(d, kind)
	if g.readsDays(kind) {
		// Months and years of a date column are read as days and cut in rawCells: grouping by
		// the column itself follows an index on it instead of sorting every row.
		period = g.periodExpr(d, PeriodDay)
	}
	b.WriteString("SELECT " + regionExpr(level) + " AS region, " + period + " AS period, " + g.dimExpr() + " AS dim")
	for _, s := range specs {
		b.WriteString(",\n       " + measure(s))
	}
	b.WriteString("\nFROM " + g.ds.Table + " t")
	if level == LevelUnit {
		b.WriteString(" LEFT JOIN regions r ON r.code = t.region_code")
	}
	if len(where) > 0 {
		b.WriteString("\nWHERE " + strings.Join(where, " AND "))
	}
	// Group by the underlying columns, constants left out, so that a covering index on
	// (region_code, period column, breakdown) is read in order without a sort (SQLite).
	// NULL and '' breakdowns then come as two rows of the same cell; rawCells adds them up.
	var keys []string
	if level != LevelProvince {
		keys = append(keys, regionExpr(level))
	}
	if period != "''" {
		keys = append(keys, period)
	}
	if g.breakdown != "" {
		keys = append(keys, "t."+g.breakdown)
	}
	if len(keys) > 0 {
		b.WriteString("\nGROUP BY " + strings.Join(keys, ", "))
	}
	return b.String(), nil
}

// rawCells runs the query and returns per spec index the non-zero cells.
// keepEmpty keeps rows without a period (as period "") for kinds other than all.
func (g *group) rawCells(ctx context.Context, db *store.DB, level, kind string, specs []*Spec, where []string, args []any, keepEmpty bool) ([]map[cellKey]float64, error) {
	q, _ := g.query(db.Dialect(), level, kind, specs, where)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("计算指标 %s: %w", strings.Join(g.codes(), ","), err)
	}
	defer rows.Close()
	out := make([]map[cellKey]float64, len(specs))
	for i := range out {
		out[i] = map[cellKey]float64{}
	}
	vals := make([]sql.NullFloat64, len(specs))
	dest := make([]any, 3+len(specs))
	var region, period, dim sql.NullString
	dest[0], dest[1], dest[2] = &region, &period, &dim
	for i := range vals {
		dest[3+i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		k := cellKey{level: level, region: region.String, kind: kind, period: period.String, dim: dim.String}
		if cut := periodLen[kind]; g.readsDays(kind) && len(k.period) > cut {
			k.period = k.period[:cut]
		}
		if kind == PeriodAll {
			k.period = ""
		} else if k.period == "" && !keepEmpty {
			continue
		}
		for i, v := range vals {
			if v.Valid && v.Float64 != 0 {
				out[i][k] += v.Float64
			}
		}
	}
	return out, rows.Err()
}

// periodRanges turns months into [start, end) date ranges at granularity month or year,
// merged where they touch.
func periodRanges(months map[string]bool, gran string) [][2]string {
	set := map[string]bool{}
	for m := range months {
		if gran == PeriodYear {
			set[m[:4]] = true
		} else {
			set[m] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		start, end := k+"-01", nextPeriod(k)+"-01"
		if gran == PeriodYear {
			start, end = k+"-01-01", nextPeriod(k)+"-01-01"
		}
		if n := len(out); n > 0 && out[n-1][1] == start {
			out[n-1][1] = end
			continue
		}
		out = append(out, [2]string{start, end})
	}
	return out
}

// nextPeriod returns the month after "YYYY-MM" or the year after "YYYY".
func nextPeriod(p string) string {
	if len(p) == 4 {
		t, _ := time.Parse("2006", p)
		return t.AddDate(1, 0, 0).Format("2006")
	}
	t, _ := time.Parse("2006-01", p)
	return t.AddDate(0, 1, 0).Format("2006-01")
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rawWhere restricts raw rows to region codes and month ranges (granularity gran).
func (g *group) rawWhere(counties map[string]bool, months map[string]bool, gran string) ([]string, []any) {
	var where []string
	var args []any
	if counties != nil {
		codes := sortedKeys(counties)
		where = append(where, "t.region_code IN ("+placeholders(len(codes))+")")
		for _, c := range codes {
			args = append(args, c)
		}
	}
	if months != nil && gran != PeriodAll {
		var ors []string
		for _, r := range periodRanges(months, gran) {
			ors = append(ors, "(t."+g.periodCol+" >= ? AND t."+g.periodCol+" < ?)")
			args = append(args, r[0], r[1])
		}
		if len(ors) == 0 {
			ors = []string{"1=0"}
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	return where, args
}

// coarser maps a finest-period value to kind.
func coarser(period, kind string) string {
	switch {
	case kind == PeriodAll:
		return ""
	case period == "":
		return ""
	case kind == PeriodYear && len(period) >= 4:
		return period[:4]
	case kind == PeriodMonth && len(period) >= 7:
		return period[:7]
	}
	return period
}

// rollup derives every materialised cell of s from its finest county cells.
func rollup(s *Spec, finest map[cellKey]float64) map[cellKey]float64 {
	out := map[cellKey]float64{}
	kinds := s.periods()
	for k, v := range finest {
		for _, kind := range kinds {
			p := coarser(k.period, kind)
			if kind != PeriodAll && p == "" {
				continue // a row without a period counts only in the whole time
			}
			for _, level := range Levels {
				out[cellKey{level: level, region: atLevel(k.region, level), kind: kind, period: p, dim: k.dim}] += v
			}
		}
	}
	return out
}

// target is a set of cells to replace: one level and period kind, restricted to regions and
// periods (nil = all of them).
type target struct {
	level, kind string
	regions     map[string]bool
	months      map[string]bool // the scope's months; periods of kind are derived from them
}

func (t target) contains(k cellKey) bool {
	if k.level != t.level || k.kind != t.kind {
		return false
	}
	if t.regions != nil && !t.regions[k.region] {
		return false
	}
	if t.months == nil || t.kind == PeriodAll || k.period == "" {
		return true
	}
	switch t.kind {
	case PeriodYear:
		for m := range t.months {
			if m[:4] == k.period {
				return true
			}
		}
		return false
	default:
		return len(k.period) >= 7 && t.months[k.period[:7]]
	}
}

// targets lists what a scope touches for a spec with the given period kinds.
func targets(sc Scope, kinds []string) []target {
	var out []target
	for _, level := range Levels {
		var regs map[string]bool
		if sc.Counties != nil {
			regs = map[string]bool{}
			for c := range sc.Counties {
				regs[atLevel(c, level)] = true
			}
		}
		for _, kind := range kinds {
			out = append(out, target{level: level, kind: kind, regions: regs, months: sc.Months})
		}
	}
	return out
}

// targetWhere is the condition selecting the stored cells of code in t.
func targetWhere(code string, t target) (string, []any) {
	q := "code = ? AND region_level = ? AND period_kind = ?"
	args := []any{code, t.level, t.kind}
	if t.regions != nil {
		regs := sortedKeys(t.regions)
		q += " AND region_code IN (" + placeholders(len(regs)) + ")"
		for _, r := range regs {
			args = append(args, r)
		}
	}
	if t.months != nil && t.kind != PeriodAll {
		var ors []string
		if t.kind == PeriodYear {
			years := map[string]bool{}
			for m := range t.months {
				years[m[:4]] = true
			}
			for _, y := range sortedKeys(years) {
				ors = append(ors, "period = ?")
				args = append(args, y)
			}
		} else {
			for _, r := range periodRanges(t.months, PeriodMonth) {
				// Month and day periods both sort inside [YYYY-MM, next YYYY-MM).
				ors = append(ors, "(period >= ? AND period < ?)")
				args = append(args, r[0][:7], r[1][:7])
			}
		}
		ors = append(ors, "period = ''") // finest cells of rows without a period
		q += " AND (" + strings.Join(ors, " OR ") + ")"
	}
	return q, args
}

// deleteTarget removes the stored cells of code in t.
func deleteTarget(ctx context.Context, tx *store.Tx, code string, t target) error {
	w, args := targetWhere(code, t)
	_, err := tx.Exec(ctx, "DELETE FROM ind_values WHERE "+w, args...)
	return err
}

// storedTarget reads the stored cells of code in t.
func (s *Service) storedTarget(ctx context.Context, code string, t target) (map[cellKey]float64, error) {
	w, args := targetWhere(code, t)
	var rows []struct {
		Region string  `db:"region_code"`
		Period string  `db:"period"`
		Dim    string  `db:"dim"`
		Value  float64 `db:"value"`
	}
	if err := s.db.Select(ctx, &rows, "SELECT region_code, period, dim, value FROM ind_values WHERE "+w, args...); err != nil {
		return nil, err
	}
	out := make(map[cellKey]float64, len(rows))
	for _, r := range rows {
		out[cellKey{level: t.level, region: r.Region, kind: t.kind, period: r.Period, dim: r.Dim}] = r.Value
	}
	return out, nil
}

// insertCells writes cells of one code in batches.
func insertCells(ctx context.Context, tx *store.Tx, code string, cells map[cellKey]float64, at time.Time, runID int64) (int64, error) {
	const per = 400
	keys := make([]cellKey, 0, len(cells))
	for k, v := range cells {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.level != b.level {
			return a.level < b.level
		}
		if a.region != b.region {
			return a.region < b.region
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.period != b.period {
			return a.period < b.period
		}
		return a.dim < b.dim
	})
	if tx.Dialect() == store.Postgres {
		// One statement per 5,000 cells: arrays unnested, instead of thousands of parameters.
		const perPG = 5000
		for start := 0; start < len(keys); start += perPG {
			end := min(start+perPG, len(keys))
			n := end - start
			lv, rg, kd, pd, dm := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			vs := make([]float64, n)
			for i, k := range keys[start:end] {
				lv[i], rg[i], kd[i], pd[i], dm[i], vs[i] = k.level, k.region, k.kind, k.period, k.dim, cells[k]
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ind_values(code, region_level, region_code, period_kind, period, dim, value, computed_at, run_id)
				SELECT ?, l, r, k, p, d, v, ?, ? FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS DOUBLE PRECISION[])) AS u(l, r, k, p, d, v)`,
				code, at, runID, lv, rg, kd, pd, dm, vs); err != nil {
				return 0, err
			}
		}
		return int64(len(keys)), nil
	}
	for start := 0; start < len(keys); start += per {
		end := min(start+per, len(keys))
		var b strings.Builder
		b.WriteString("INSERT INTO ind_values(code, region_level, region_code, period_kind, period, dim, value, computed_at, run_id) VALUES ")
		args := make([]any, 0, (end-start)*9)
		for i, k := range keys[start:end] {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?)")
			args = append(args, code, k.level, k.region, k.kind, k.period, k.dim, cells[k], at, runID)
		}
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return 0, err
		}
	}
	return int64(len(keys)), nil
}

// computed is the new cells of one spec and the targets they replace.
type computed struct {
	spec    *Spec
	full    bool // replace every stored cell of the spec
	targets []target
	cells   map[cellKey]float64
}

// computeGroup computes the group's specs for the scope without writing.
func (s *Service) computeGroup(ctx context.Context, g *group, sc Scope) ([]computed, error) {
	// Timestamp periods and rows placed by another column than the one events report cannot be
	// restricted by month: recompute every period of the affected regions.
	if sc.Months != nil && (g.ts || g.periodCol != g.ds.PeriodField) {
		sc.Months = nil
	}
	if g.additive {
		return s.computeAdditive(ctx, g, sc)
	}
	return s.computeDistinct(ctx, g, sc)
}

func (s *Service) computeAdditive(ctx context.Context, g *group, sc Scope) ([]computed, error) {
	gran := g.finest
	if gran == PeriodDay {
		gran = PeriodMonth
	}
	where, args := g.rawWhere(sc.Counties, sc.Months, gran)
	fresh, err := g.rawCells(ctx, s.db, LevelCounty, g.finest, g.specs, where, args, true)
	if err != nil {
		return nil, err
	}
	if sc.Full() {
		out := make([]computed, len(g.specs))
		for i, sp := range g.specs {
			c := computed{spec: sp, full: true, cells: rollup(sp, fresh[i])}
			for k, v := range fresh[i] { // the finest county cells are stored even when not a declared kind
				c.cells[k] = v
			}
			out[i] = c
		}
		return out, nil
	}
	if sc.Months != nil && gran != PeriodAll {
		// Rows without a period count only in the whole time; a separate query keeps the
		// period condition above usable with the period index.
		nw, na := g.rawWhere(sc.Counties, nil, gran)
		nw = append(nw, "(t."+g.periodCol+" IS NULL OR t."+g.periodCol+" = '')")
		nulls, err := g.rawCells(ctx, s.db, LevelCounty, g.finest, g.specs, nw, na, true)
		if err != nil {
			return nil, err
		}
		for i := range fresh {
			for k, v := range nulls[i] {
				fresh[i][k] += v
			}
		}
	}
	// Incremental: the change of each finest cell in the scope is added to every stored cell
	// it rolls up to, so only the affected cells are read and written.
	out := make([]computed, len(g.specs))
	for i, sp := range g.specs {
		in := target{level: LevelCounty, kind: g.finest, regions: sc.Counties, months: sc.Months}
		old, err := s.storedTarget(ctx, sp.Code, in)
		if err != nil {
			return nil, err
		}
		delta := map[cellKey]float64{}
		for k, v := range fresh[i] {
			delta[k] += v
		}
		for k, v := range old {
			delta[k] -= v
		}
		kinds := sp.periods()
		if !sp.HasPeriod(g.finest) {
			kinds = append(kinds, g.finest)
		}
		c := computed{spec: sp, targets: targets(sc, kinds), cells: map[cellKey]float64{}}
		for _, t := range c.targets {
			cur := old
			if t.level != LevelCounty || t.kind != g.finest {
				if cur, err = s.storedTarget(ctx, sp.Code, t); err != nil {
					return nil, err
				}
			} else {
				cur = make(map[cellKey]float64, len(old))
				for k, v := range old {
					cur[k] = v
				}
			}
			for k, d := range delta {
				p := k.period
				if t.kind != g.finest {
					p = coarser(k.period, t.kind)
				}
				if p == "" && t.kind != PeriodAll && (t.level != LevelCounty || t.kind != g.finest) {
					continue // a row without a period counts only in the whole time (and its finest county cell)
				}
				mk := cellKey{level: t.level, region: atLevel(k.region, t.level), kind: t.kind, period: p, dim: k.dim}
				if t.contains(mk) {
					cur[mk] += d
				}
			}
			for k, v := range cur {
				if math.Abs(v) > 1e-9 {
					c.cells[k] = v
				}
			}
		}
		out[i] = c
	}
	return out, nil
}

// computeDistinct computes distinct counts: one scan per indicator reads the distinct
// (region, finest period, breakdown, value) tuples, and every level and period kind is counted
// from them in memory (distinct counts cannot be rolled up from counts). The whole-time cells of
// the province need every row, so the scan is never restricted; only the targets are written.
func (s *Service) computeDistinct(ctx context.Context, g *group, sc Scope) ([]computed, error) {
	out := make([]computed, len(g.specs))
	for i, sp := range g.specs {
		c := computed{spec: sp, full: sc.Full(), targets: targets(sc, sp.periods()), cells: map[cellKey]float64{}}
		cond := sp.Filter
		if cond == "" {
			cond = "1=1"
		}
		q := "SELECT t.region_code, " + g.periodExpr(s.db.Dialect(), g.finest) + ", " + g.dimExpr() + ", CAST((" + sp.Expr + ") AS TEXT)" +
			"\nFROM " + g.ds.Table + " t\nWHERE (" + cond + ") AND (" + sp.Expr + ") IS NOT NULL\nGROUP BY 1, 2, 3, 4"
		rows, err := s.db.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("计算指标 %s: %w", sp.Code, err)
		}
		sets := map[cellKey]map[string]struct{}{}
		kinds := sp.periods()
		var region, period, dim, v sql.NullString
		for rows.Next() {
			if err := rows.Scan(&region, &period, &dim, &v); err != nil {
				rows.Close()
				return nil, err
			}
			for _, kind := range kinds {
				p := coarser(period.String, kind)
				if kind != PeriodAll && p == "" {
					continue
				}
				for _, level := range Levels {
					k := cellKey{level: level, region: atLevel(region.String, level), kind: kind, period: p, dim: dim.String}
					set := sets[k]
					if set == nil {
						set = map[string]struct{}{}
						sets[k] = set
					}
					set[v.String] = struct{}{}
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for k, set := range sets {
			for _, t := range c.targets {
				if t.contains(k) {
					c.cells[k] = float64(len(set))
					break
				}
			}
		}
		out[i] = c
	}
	return out, nil
}

// write replaces the targets of the computed specs in one transaction.
func (s *Service) write(ctx context.Context, cs []computed, runID int64) (int64, error) {
	var n int64
	now := store.Now()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		for _, c := range cs {
			if c.full {
				if _, err := tx.Exec(ctx, `DELETE FROM ind_values WHERE code = ?`, c.spec.Code); err != nil {
					return err
				}
			}
			for _, t := range c.targets {
				if c.full {
					break
				}
				if err := deleteTarget(ctx, tx, c.spec.Code, t); err != nil {
					return err
				}
			}
			k, err := insertCells(ctx, tx, c.spec.Code, c.cells, now, runID)
			if err != nil {
				return err
			}
			n += k
			if _, err := tx.Exec(ctx, `UPDATE ind_definitions SET computed_at = ?, computed_run_id = ? WHERE code = ?`, now, runID, c.spec.Code); err != nil {
				return err
			}
		}
		return bumpState(ctx, tx, 1)
	})
	return n, err
}

// bumpState increments row id of ind_state (1 values, 2 definitions).
func bumpState(ctx context.Context, q store.Q, id int) error {
	_, err := q.Exec(ctx, `UPDATE ind_state SET version = version + 1, updated_at = ? WHERE id = ?`, store.Now(), id)
	return err
}

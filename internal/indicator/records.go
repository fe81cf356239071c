package indicator

import (
	"fmt"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// CellRef identifies the rows behind one value: an aggregate indicator, a region read at a level,
// a period and optionally a breakdown value.
type CellRef struct {
	Code   string
	Level  string // default LevelOf(Region)
	Region string
	Period string
	Dim    *string // nil: every breakdown value
}

// RecordCondition returns the dataset holding the rows behind a cell and the SQL condition (on
// the row alias t) that selects them: the indicator's filter, the region, the period (up to its
// end for a stock) and the breakdown value. Callers add the data scope.
func (r *Reader) RecordCondition(d store.Dialect, ref CellRef) (*dataset.Dataset, string, []any, error) {
	code := r.DrillCode(ref.Code)
	def, err := r.Definition(code)
	if err != nil {
		return nil, "", nil, err
	}
	sp := &def.Spec
	gs, err := groupSpecs([]*Spec{sp})
	if err != nil || len(gs) == 0 {
		return nil, "", nil, fmt.Errorf("指标 %s 不能下钻到明细记录", code)
	}
	g := gs[0]
	conds := []string{}
	var args []any
	if sp.Filter != "" {
		conds = append(conds, "("+sp.Filter+")")
	}
	level := ref.Level
	if level == "" {
		level = LevelOf(ref.Region)
	}
	switch level {
	case LevelProvince:
	case LevelUnit:
		codes := countyCodes(ref.Region)
		conds = append(conds, "t.region_code IN ("+placeholders(len(codes))+")")
		for _, c := range codes {
			args = append(args, c)
		}
	default:
		conds = append(conds, "t.region_code = ?")
		args = append(args, ref.Region)
	}
	if ref.Period != "" {
		start, end := periodBounds(ref.Period)
		col := "t." + g.periodCol
		if g.ts {
			col = g.periodExpr(d, PeriodDay)
		}
		if !sp.Cumulative {
			conds = append(conds, col+" >= ?")
			args = append(args, start)
		}
		conds = append(conds, col+" < ?")
		args = append(args, end)
	}
	if ref.Dim != nil && g.breakdown != "" {
		conds = append(conds, g.dimExpr()+" = ?")
		args = append(args, *ref.Dim)
	}
	if len(conds) == 0 {
		conds = append(conds, "1=1")
	}
	where := conds[0]
	for _, c := range conds[1:] {
		where += " AND " + c
	}
	return g.ds, where, args, nil
}

// periodBounds are the first day of a period and the first day after it (YYYY-MM-DD).
func periodBounds(p string) (string, string) {
	switch periodKind(p) {
	case PeriodYear:
		t, _ := time.Parse("2006", p)
		return t.Format("2006-01-02"), t.AddDate(1, 0, 0).Format("2006-01-02")
	case PeriodMonth:
		t, _ := time.Parse("2006-01", p)
		return t.Format("2006-01-02"), t.AddDate(0, 1, 0).Format("2006-01-02")
	}
	t, _ := time.Parse("2006-01-02", p)
	return t.Format("2006-01-02"), t.AddDate(0, 0, 1).Format("2006-01-02")
}

// ScopeFilter returns the caller's data-scope condition on a table's region column.
func ScopeFilter(p *iam.Principal, col string) (string, []any) {
	return p.Filter(iam.Cols{Region: col})
}

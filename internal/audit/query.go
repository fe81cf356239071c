package audit

import (
	"context"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/web"
)

// Filter selects records of one kind. Empty fields do not filter.
type Filter struct {
	Kind   string
	From   time.Time // inclusive
	To     time.Time // exclusive
	Actor  string    // exact account
	Action string    // the action or any of its dotted sub-actions ("iam.user" matches "iam.user.create")
	Result string
	IP     string // exact address
}

// FilterForm is the filter as typed on the page or in the query string.
type FilterForm struct {
	From, To, Actor, Action, Result, IP string
}

// parseFilter reads from, to (YYYY-MM-DD in Asia/Shanghai, both inclusive days), actor,
// action, result and ip from the query string.
func parseFilter(r *http.Request, kind string) (Filter, FilterForm, error) {
	q := r.URL.Query()
	ff := FilterForm{
		From:   strings.TrimSpace(q.Get("from")),
		To:     strings.TrimSpace(q.Get("to")),
		Actor:  strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action")),
		Result: strings.TrimSpace(q.Get("result")),
		IP:     strings.TrimSpace(q.Get("ip")),
	}
	f := Filter{Kind: kind, Actor: ff.Actor, Action: ff.Action, Result: ff.Result, IP: ff.IP}
	day := func(s, name string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation("2006-01-02", s, web.Shanghai())
		if err != nil {
			return t, web.Errorf(http.StatusBadRequest, "bad_date", "%s须为 YYYY-MM-DD 格式的日期", name)
		}
		return t, nil
	}
	var err error
	if f.From, err = day(ff.From, "开始日期"); err != nil {
		return f, ff, err
	}
	if f.To, err = day(ff.To, "结束日期"); err != nil {
		return f, ff, err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // the end day is included
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, ff, web.Errorf(http.StatusBadRequest, "bad_date", "开始日期不能晚于结束日期")
	}
	if _, ok := resultLabels[f.Result]; f.Result != "" && !ok {
		return f, ff, web.Errorf(http.StatusBadRequest, "bad_result", "结果须为 success、failure、denied 或 locked")
	}
	return f, ff, nil
}

// where returns the SQL condition and arguments of f.
func (f Filter) where() (string, []any) {
	conds := []string{"kind = ?"}
	args := []any{f.Kind}
	if !f.From.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, f.From)
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, f.To)
	}
	if f.Actor != "" {
		conds, args = append(conds, "actor = ?"), append(args, f.Actor)
	}
	if f.Action != "" {
		conds = append(conds, `(action = ? OR action LIKE ? ESCAPE '\')`)
		args = append(args, f.Action, escapeLike(f.Action)+".%")
	}
	if f.Result != "" {
		conds, args = append(conds, "result = ?"), append(args, f.Result)
	}
	if f.IP != "" {
		conds, args = append(conds, "ip = ?"), append(args, f.IP)
	}
	return strings.Join(conds, " AND "), args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Describe is the filter in words, for export metadata and the export's own audit record.
func (f Filter) Describe() string {
	var parts []string
	sh := web.Shanghai()
	switch {
	case !f.From.IsZero() && !f.To.IsZero():
		parts = append(parts, "日期 "+f.From.In(sh).Format("2006-01-02")+" 至 "+f.To.In(sh).AddDate(0, 0, -1).Format("2006-01-02"))
	case !f.From.IsZero():
		parts = append(parts, "日期自 "+f.From.In(sh).Format("2006-01-02"))
	case !f.To.IsZero():
		parts = append(parts, "日期至 "+f.To.In(sh).AddDate(0, 0, -1).Format("2006-01-02"))
	}
	if f.Actor != "" {
		parts = append(parts, "账号 "+f.Actor)
	}
	if f.Action != "" {
		parts = append(parts, "操作 "+f.Action)
	}
	if f.Result != "" {
		parts = append(parts, "结果 "+resultLabels[f.Result])
	}
	if f.IP != "" {
		parts = append(parts, "IP "+f.IP)
	}
	if len(parts) == 0 {
		return "无"
	}
	return strings.Join(parts, "；")
}

// Count returns how many records match f.
func (l *Log) Count(ctx context.Context, f Filter) (int, error) {
	w, args := f.where()
	var n int
	err := l.db.Get(ctx, &n, "SELECT COUNT(*) FROM audit_log WHERE "+w, args...)
	return n, err
}

// Find returns matching records, newest first, skipping offset and returning at most limit.
func (l *Log) Find(ctx context.Context, f Filter, offset, limit int) ([]Record, error) {
	w, args := f.where()
	rows, err := l.db.Query(ctx, "SELECT "+recordCols+" FROM audit_log WHERE "+w+" ORDER BY id DESC LIMIT ? OFFSET ?",
		append(args, limit, offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

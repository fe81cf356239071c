package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/web"
)

// Data is a widget's content, the same for the page, the JSON API and the export.
type Data struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Kind        string     `json:"kind"`
	Unit        string     `json:"unit"`
	Region      string     `json:"region"`
	RegionName  string     `json:"region_name"`
	Period      string     `json:"period"`
	PeriodLabel string     `json:"period_label"`
	ComputedAt  *time.Time `json:"computed_at"`
	Fresh       string     `json:"freshness"` // 计算于 …

	// Cards.
	Code  string   `json:"code,omitempty"`
	Value *float64 `json:"value,omitempty"`
	Text  string   `json:"text,omitempty"`
	Drill string   `json:"drill,omitempty"`
	MoM   *MoM     `json:"mom,omitempty"`

	// Charts.
	Labels []string       `json:"labels,omitempty"`
	Series []Series       `json:"series,omitempty"`
	Option map[string]any `json:"option,omitempty"` // Apache ECharts option

	// Tables.
	Table *Table `json:"table,omitempty"`

	Empty bool   `json:"empty"`
	Note  string `json:"note,omitempty"`
	Wide  bool   `json:"-"`
}

// Series is one series of a chart.
type Series struct {
	Code   string     `json:"code"`
	Name   string     `json:"name"`
	Unit   string     `json:"unit"`
	Keys   []string   `json:"keys"` // region codes, periods or breakdown values
	Values []*float64 `json:"values"`
	Drill  []string   `json:"drill,omitempty"`
}

// MoM is a month-on-month comparison.
type MoM struct {
	Month    string   `json:"month"`
	Current  *float64 `json:"current"`
	Previous *float64 `json:"previous"`
	Change   *float64 `json:"change_pct"` // nil without a previous value
	Text     string   `json:"text"`
}

// Table is a table widget's rows.
type Table struct {
	Columns []string `json:"columns"`
	Rows    []Row    `json:"rows"`
	Total   int      `json:"total"`
	Page    int      `json:"page"`
	Size    int      `json:"size"`
	More    string   `json:"more,omitempty"` // the full list
	Prev    string   `json:"-"`
	Next    string   `json:"-"`
}

// Row is one table row with the link to its record.
type Row struct {
	Cells []string `json:"cells"`
	Link  string   `json:"link,omitempty"`
}

// view is one request's reading context.
type view struct {
	m   *Module
	r   *http.Request
	p   *iam.Principal
	rd  *indicator.Reader
	sel indicator.Sel
}

func (m *Module) newView(r *http.Request) (*view, error) {
	sel, err := indicator.SelFromRequest(r)
	if err != nil {
		return nil, err
	}
	p := iam.FromContext(r.Context())
	rd, err := m.ind.Reader(r.Context(), p)
	if err != nil {
		return nil, err
	}
	return &view{m: m, r: r, p: p, rd: rd, sel: sel}, nil
}

func (v *view) base(w *Widget) Data {
	d := Data{ID: w.ID, Title: w.Title, Kind: w.Kind, Wide: w.Wide, Region: v.sel.Region, RegionName: indicator.RegionName(v.sel.Region),
		Period: v.sel.Period, PeriodLabel: indicator.PeriodLabel(v.sel.Period)}
	if len(w.Codes) > 0 {
		if def, err := v.rd.Definition(w.Codes[0]); err == nil {
			d.Unit = def.Unit
			if def.Cumulative && v.sel.Period != "" {
				d.PeriodLabel = "截至" + indicator.PeriodLabel(v.sel.Period) + "末"
			}
		}
	}
	return d
}

func (d *Data) fresh(t *time.Time) {
	d.ComputedAt = newest(d.ComputedAt, t)
	if d.ComputedAt != nil {
		d.Fresh = "计算于 " + d.ComputedAt.In(web.Shanghai()).Format("2006-01-02 15:04:05")
	} else {
		d.Fresh = "尚未计算"
	}
}

func newest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.After(*a)) {
		return b
	}
	return a
}

// build computes one widget.
func (v *view) build(ctx context.Context, w *Widget) (Data, error) {
	d := v.base(w)
	var err error
	switch w.Kind {
	case KindCard:
		err = v.card(ctx, w, &d)
	case KindBarRegion:
		err = v.barRegion(ctx, w, &d)
	case KindTrend:
		err = v.trend(ctx, w, &d)
	case KindPie, KindBarDim:
		err = v.breakdown(ctx, w, &d)
	case KindTable:
		err = v.table(ctx, w, &d)
	}
	if d.Fresh == "" {
		d.fresh(nil)
	}
	return d, err
}

// drillURL links a value to the records behind it.
func (v *view) drillURL(code, region, level, period string, dim *string) string {
	if !v.p.Can(PermDrill) {
		return ""
	}
	q := url.Values{"ind": {v.rd.DrillCode(code)}, "region": {region}}
	if level != "" && level != indicator.LevelOf(region) {
		q.Set("level", level)
	}
	if period != "" {
		q.Set("period", period)
	}
	if dim != nil {
		q.Set("dim", *dim)
	}
	return "/dashboard/records?" + q.Encode()
}

func (v *view) card(ctx context.Context, w *Widget, d *Data) error {
	code := w.Codes[0]
	c, err := v.rd.Value(ctx, code, v.sel)
	if err != nil {
		return err
	}
	d.Code, d.Value, d.Text = code, c.Value, format(c.Value, d.Unit)
	d.Drill = v.drillURL(code, v.sel.Region, "", v.sel.Period, nil)
	d.fresh(c.ComputedAt)
	if w.Mode == "mom" {
		month := v.sel.Period
		if len(month) != 7 {
			month = time.Now().In(web.Shanghai()).Format("2006-01")
		}
		t, _ := time.Parse("2006-01", month)
		prev := t.AddDate(0, -1, 0).Format("2006-01")
		cur, err := v.rd.Value(ctx, code, indicator.Sel{Region: v.sel.Region, Period: month})
		if err != nil {
			return err
		}
		pv, err := v.rd.Value(ctx, code, indicator.Sel{Region: v.sel.Region, Period: prev})
		if err != nil {
			return err
		}
		mm := &MoM{Month: month, Current: cur.Value, Previous: pv.Value}
		label := indicator.PeriodLabel(month)
		switch {
		case cur.Value == nil || pv.Value == nil || *pv.Value == 0:
			mm.Text = label + " " + format(cur.Value, d.Unit) + d.Unit + "，上月无数据，无法计算环比"
		default:
			ch := (*cur.Value - *pv.Value) / *pv.Value * 100
			mm.Change = &ch
			mm.Text = fmt.Sprintf("%s %s%s，较上月 %+.1f%%", label, format(cur.Value, d.Unit), d.Unit, ch)
		}
		d.MoM = mm
	}
	return nil
}

func (v *view) barRegion(ctx context.Context, w *Widget, d *Data) error {
	for i, code := range w.Codes {
		def, err := v.rd.Definition(code)
		if err != nil {
			return err
		}
		pts, err := v.rd.ByRegion(ctx, code, v.sel)
		if err != nil {
			return err
		}
		kids := map[string]indicator.Child{}
		for _, k := range indicator.Children(v.sel.Region) {
			kids[k.Code] = k
		}
		s := Series{Code: code, Name: def.Name, Unit: def.Unit}
		for _, pt := range pts {
			if i == 0 {
				d.Labels = append(d.Labels, pt.Label)
			}
			s.Keys = append(s.Keys, pt.Key)
			s.Values = append(s.Values, pt.Value)
			s.Drill = append(s.Drill, v.drillURL(code, pt.Key, kids[pt.Key].Level, v.sel.Period, nil))
			d.fresh(pt.ComputedAt)
		}
		d.Series = append(d.Series, s)
	}
	d.Empty = allEmpty(d.Series)
	d.Option = barOption(d, false)
	return nil
}

func (v *view) trend(ctx context.Context, w *Widget, d *Data) error {
	for i, code := range w.Codes {
		def, err := v.rd.Definition(code)
		if err != nil {
			return err
		}
		pts, err := v.rd.Trend(ctx, code, v.sel, w.Period, w.N)
		if err != nil {
			return err
		}
		s := Series{Code: code, Name: def.Name, Unit: def.Unit}
		for _, pt := range pts {
			if i == 0 {
				d.Labels = append(d.Labels, pt.Label)
			}
			s.Keys = append(s.Keys, pt.Key)
			s.Values = append(s.Values, pt.Value)
			s.Drill = append(s.Drill, v.drillURL(code, v.sel.Region, "", pt.Key, nil))
			d.fresh(pt.ComputedAt)
		}
		if i > 0 && len(s.Values) != len(d.Labels) {
			continue // a later series with another time range is left out rather than misaligned
		}
		d.Series = append(d.Series, s)
	}
	if v.sel.Period == "" {
		d.PeriodLabel = "近 " + strconv.Itoa(w.N) + map[string]string{indicator.PeriodYear: " 年", indicator.PeriodMonth: " 个月", indicator.PeriodDay: " 天"}[w.Period]
	} else {
		d.PeriodLabel = "截至" + indicator.PeriodLabel(v.sel.Period) + "的近 " + strconv.Itoa(w.N) + map[string]string{indicator.PeriodYear: " 年", indicator.PeriodMonth: " 个月", indicator.PeriodDay: " 天"}[w.Period]
	}
	d.Empty = allEmpty(d.Series)
	d.Option = lineOption(d)
	return nil
}

func (v *view) breakdown(ctx context.Context, w *Widget, d *Data) error {
	code := w.Codes[0]
	def, err := v.rd.Definition(code)
	if err != nil {
		return err
	}
	pts, err := v.rd.Breakdown(ctx, code, v.sel)
	if err != nil {
		return err
	}
	s := Series{Code: code, Name: def.Name, Unit: def.Unit}
	for _, pt := range pts {
		if pt.Value == nil {
			continue
		}
		d.Labels = append(d.Labels, pt.Label)
		s.Keys = append(s.Keys, pt.Key)
		s.Values = append(s.Values, pt.Value)
		dim := pt.Key
		s.Drill = append(s.Drill, v.drillURL(code, v.sel.Region, "", v.sel.Period, &dim))
		d.fresh(pt.ComputedAt)
	}
	if len(pts) == 0 {
		d.fresh(v.rd.ComputedAt(code))
	}
	d.Series = []Series{s}
	d.Empty = allEmpty(d.Series)
	if w.Kind == KindPie {
		d.Option = pieOption(d)
	} else {
		d.Option = barOption(d, true)
	}
	return nil
}

func allEmpty(ss []Series) bool {
	for _, s := range ss {
		for _, v := range s.Values {
			if v != nil && *v != 0 {
				return false
			}
		}
	}
	return true
}

// format shows a number: percentages and fractions with one or two decimals, counts with
// thousands separators; nil as —.
func format(v *float64, unit string) string {
	if v == nil {
		return "—"
	}
	x := *v
	if unit == "%" || unit == "分" {
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	if x != math.Trunc(x) {
		return group(strconv.FormatFloat(x, 'f', 2, 64))
	}
	return group(strconv.FormatFloat(x, 'f', 0, 64))
}

// group inserts thousands separators into a decimal string.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// Chart options: one calm palette for every chart (DESIGN §11).
var palette = []string{"#0b4f9c", "#2f9e8f", "#e0a030", "#c25b56", "#6b5fb5", "#4c9bd6", "#8a9a3b", "#b0719e"}

func dataItems(s Series, withName []string) []any {
	out := make([]any, len(s.Values))
	for i, v := range s.Values {
		item := map[string]any{"value": v}
		if withName != nil {
			item["name"] = withName[i]
		}
		if i < len(s.Drill) && s.Drill[i] != "" {
			item["url"] = s.Drill[i]
		}
		out[i] = item
	}
	return out
}

// barOption draws bars per category; horizontal puts the categories on the vertical axis
// (long category names, e.g. the eight product categories).
func barOption(d *Data, horizontal bool) map[string]any {
	var series []any
	for _, s := range d.Series {
		series = append(series, map[string]any{"type": "bar", "name": s.Name, "data": dataItems(s, nil), "barMaxWidth": 28})
	}
	rotate := 0
	if len(d.Labels) > 6 {
		rotate = 30
	}
	cat := map[string]any{"type": "category", "data": d.Labels, "axisLabel": map[string]any{"interval": 0, "rotate": rotate}}
	val := map[string]any{"type": "value", "name": d.Unit}
	opt := map[string]any{
		"color":   palette,
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": 48, "right": 24, "top": 36, "bottom": 24, "containLabel": true},
		"xAxis":   cat,
		"yAxis":   val,
		"series":  series,
	}
	if horizontal {
		cat["inverse"] = true
		cat["axisLabel"] = map[string]any{"interval": 0}
		opt["xAxis"], opt["yAxis"] = val, cat
	}
	if len(d.Series) > 1 {
		opt["legend"] = map[string]any{"top": 0}
	}
	return opt
}

func lineOption(d *Data) map[string]any {
	var series []any
	for _, s := range d.Series {
		series = append(series, map[string]any{"type": "line", "name": s.Name, "data": dataItems(s, nil), "smooth": false, "symbolSize": 7})
	}
	opt := map[string]any{
		"color":   palette,
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": 48, "right": 16, "top": 36, "bottom": 32, "containLabel": true},
		"xAxis":   map[string]any{"type": "category", "data": d.Labels, "boundaryGap": false},
		"yAxis":   map[string]any{"type": "value", "name": d.Unit},
		"series":  series,
	}
	if len(d.Series) > 1 {
		opt["legend"] = map[string]any{"top": 0}
	}
	return opt
}

func pieOption(d *Data) map[string]any {
	s := d.Series[0]
	return map[string]any{
		"color":   palette,
		"tooltip": map[string]any{"trigger": "item", "formatter": "{b}：{c}（{d}%）"},
		"legend":  map[string]any{"type": "scroll", "bottom": 0},
		"series": []any{map[string]any{"type": "pie", "name": s.Name, "radius": []string{"30%", "55%"}, "center": []string{"50%", "46%"},
			"label": map[string]any{"formatter": "{b}\n{d}%"}, "data": dataItems(s, d.Labels)}},
	}
}

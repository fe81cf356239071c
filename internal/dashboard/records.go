package dashboard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/web"
)

// Records behind the numbers: the drill-down list of a cell, single records, the e-bike
// search, the tracking list of unqualified products and the push-task runs. Every query
// carries the viewer's data scope.

// Record is one dataset row for display.
type Record struct {
	ID     int64             `json:"id"`
	Title  string            `json:"title"`
	Fields []RecordField     `json:"fields"`
	Values map[string]string `json:"values"`
}

// RecordField is one labelled value.
type RecordField struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Value string `json:"value"`
}

// listColumns are the columns a record list shows.
func listColumns(ds *dataset.Dataset) []*dataset.Field {
	var out []*dataset.Field
	for _, n := range ds.ListFields {
		if f, ok := ds.Field(n); ok && f.Column() != "" {
			out = append(out, f)
		}
	}
	return out
}

// codeNames maps code-table codes to names for display ("电子电器（02）").
type codeNames map[string]map[string]string

func (m *Module) codeNames(ctx context.Context, fields []*dataset.Field) codeNames {
	out := codeNames{}
	for _, f := range fields {
		if f.Type != dataset.TypeCode || f.CodeTable == "" || out[f.CodeTable] != nil {
			continue
		}
		items, err := dataset.CodeItems(ctx, m.db, f.CodeTable)
		if err != nil {
			continue
		}
		out[f.CodeTable] = map[string]string{}
		for _, it := range items {
			out[f.CodeTable][it.Code] = it.Name
		}
	}
	return out
}

func (c codeNames) display(f *dataset.Field, v any) string {
	s := display(f, v)
	if f.Type == dataset.TypeCode && s != "" {
		if n := c[f.CodeTable][s]; n != "" {
			return n + "（" + s + "）"
		}
	}
	return s
}

// display formats a scanned value of field f.
func display(f *dataset.Field, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		v = string(x)
	}
	switch f.Type {
	case dataset.TypeBool:
		switch x := v.(type) {
		case bool:
			return map[bool]string{true: "是", false: "否"}[x]
		case int64:
			return map[bool]string{true: "是", false: "否"}[x != 0]
		case string:
			return map[bool]string{true: "是", false: "否"}[x == "1" || x == "true"]
		}
	case dataset.TypeRegion:
		s := fmt.Sprint(v)
		if n := indicator.RegionName(s); n != s {
			return n + "（" + s + "）"
		}
		return s
	}
	switch x := v.(type) {
	case time.Time:
		return x.In(web.Shanghai()).Format("2006-01-02 15:04:05")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// query lists rows of ds matching where (on alias t) within the viewer's scope.
func (m *Module) query(ctx context.Context, p *iam.Principal, ds *dataset.Dataset, where string, args []any, order string, page web.Page) ([]Record, int, error) {
	scope, sargs := indicator.ScopeFilter(p, "t.region_code")
	cond := "(" + where + ") AND " + scope
	all := append(append([]any(nil), args...), sargs...)
	var total int
	if err := m.db.Get(ctx, &total, "SELECT COUNT(*) FROM "+ds.Table+" t WHERE "+cond, all...); err != nil {
		return nil, 0, err
	}
	cols := listColumns(ds)
	sel := []string{"t.id"}
	for _, f := range cols {
		sel = append(sel, "t."+f.Column())
	}
	if order == "" {
		order = "t.id DESC"
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + ds.Table + " t WHERE " + cond + " ORDER BY " + order + " LIMIT ? OFFSET ?"
	// The code names first: a query inside the loop over open rows would hold a second read
	// connection, and concurrent requests holding one each can then wait on each other forever.
	names := m.codeNames(ctx, cols)
	rows, err := m.db.Query(ctx, q, append(all, page.Size, page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		vals := make([]any, len(sel))
		ptrs := make([]any, len(sel))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, 0, err
		}
		rec := Record{Values: map[string]string{}}
		rec.ID, _ = toInt64(vals[0])
		for i, f := range cols {
			s := names.display(f, vals[i+1])
			rec.Fields = append(rec.Fields, RecordField{Name: f.Name, Title: f.TitleZh, Value: s})
			rec.Values[f.Name] = s
		}
		rec.Title = rec.Values[ds.NameField]
		out = append(out, rec)
	}
	return out, total, rows.Err()
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// drillRef reads a drill-down request.
func drillRef(r *http.Request) (indicator.CellRef, error) {
	q := r.URL.Query()
	ref := indicator.CellRef{Code: strings.ToUpper(q.Get("ind")), Level: q.Get("level")}
	if ref.Code == "" {
		return ref, web.Errorf(http.StatusBadRequest, "bad_indicator", "请指定指标（ind 参数）")
	}
	sel, err := indicator.SelFromRequest(r)
	if err != nil {
		return ref, err
	}
	ref.Region, ref.Period = sel.Region, sel.Period
	switch ref.Level {
	case "", indicator.LevelProvince, indicator.LevelUnit, indicator.LevelCounty:
	default:
		return ref, web.Errorf(http.StatusBadRequest, "bad_level", "地区层级须为 province、unit 或 county")
	}
	if q.Has("dim") {
		d := q.Get("dim")
		ref.Dim = &d
	}
	return ref, nil
}

// drillList is a drill-down: the records behind one cell.
type drillList struct {
	Code        string   `json:"code"`
	Name        string   `json:"name"`
	Dataset     string   `json:"dataset"`
	DatasetName string   `json:"dataset_title"`
	Region      string   `json:"region"`
	RegionName  string   `json:"region_name"`
	Period      string   `json:"period"`
	PeriodLabel string   `json:"period_label"`
	Dim         *string  `json:"dim,omitempty"`
	Condition   string   `json:"condition"`
	Columns     []string `json:"columns"`
	web.List[Record]
}

func (m *Module) drill(r *http.Request, page web.Page) (*drillList, *dataset.Dataset, error) {
	ctx := r.Context()
	ref, err := drillRef(r)
	if err != nil {
		return nil, nil, err
	}
	p := iam.FromContext(ctx)
	rd, err := m.ind.Reader(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	def, err := rd.Definition(ref.Code)
	if err != nil {
		return nil, nil, err
	}
	ds, where, args, err := rd.RecordCondition(m.db.Dialect(), ref)
	if err != nil {
		return nil, nil, web.Errorf(http.StatusBadRequest, "no_drill", "%v", err)
	}
	recs, total, err := m.query(ctx, p, ds, where, args, "", page)
	if err != nil {
		return nil, nil, err
	}
	out := &drillList{Code: ref.Code, Name: def.Name, Dataset: ds.Name, DatasetName: ds.TitleZh, Region: ref.Region, RegionName: indicator.RegionName(ref.Region),
		Period: ref.Period, PeriodLabel: indicator.PeriodLabel(ref.Period), Dim: ref.Dim, Condition: where,
		List: web.List[Record]{Items: recs, Total: total, Page: page.Page, Size: page.Size}}
	if out.Items == nil {
		out.Items = []Record{}
	}
	for _, f := range listColumns(ds) {
		out.Columns = append(out.Columns, f.TitleZh)
	}
	return out, ds, nil
}

func (m *Module) apiRecords(w http.ResponseWriter, r *http.Request) {
	page, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d, _, err := m.drill(r, page)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, d)
}

type recordsPage struct {
	List       *drillList
	Error      string
	Query      template.URL
	Prev, Next string
	Back       string
	CanExport  bool
}

func (m *Module) pageRecords(w http.ResponseWriter, r *http.Request) {
	d := recordsPage{CanExport: canSee(r, PermExport), Back: r.Referer()}
	if r.URL.Query().Get("ind") == "" {
		d.Error = "请从看板的卡片或图表点击进入明细记录。"
	} else {
		page, err := web.Paging(r)
		if err == nil {
			d.List, _, err = m.drill(r, page)
		}
		if err != nil {
			var we *web.Error
			if !errors.As(err, &we) {
				web.Fail(w, r, err)
				return
			}
			d.Error = we.Message
		} else {
			d.Prev, d.Next = web.PageLinks(r.URL, web.Page{Page: d.List.Page, Size: d.List.Size}, d.List.Total)
			q := r.URL.Query()
			q.Del("page")
			d.Query = web.QueryString(q)
		}
	}
	title := "明细记录"
	if d.List != nil {
		title = d.List.Name + " · 明细记录"
	}
	m.pages.Render(w, r, "dashboard_records.html", web.PageData{Title: title, Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "明细记录"}}, Data: d})
}

// record reads one row with every field, within the viewer's scope.
func (m *Module) record(ctx context.Context, p *iam.Principal, name string, id int64) (*dataset.Dataset, *Record, error) {
	ds, ok := indicator.Dataset(name)
	if !ok {
		return nil, nil, web.Errorf(http.StatusNotFound, "not_found", "数据集 %s 不存在", name)
	}
	var fields []*dataset.Field
	cols := []string{"t.id"}
	for i := range ds.Fields {
		f := &ds.Fields[i]
		if c := f.Column(); c != "" {
			fields = append(fields, f)
			cols = append(cols, "t."+c)
		}
	}
	if ds.ExtraColumn != "" {
		cols = append(cols, "t."+ds.ExtraColumn)
	}
	cols = append(cols, "t.source", "t.first_seen_at", "t.last_updated_at")
	scope, args := indicator.ScopeFilter(p, "t.region_code")
	row := m.db.QueryRow(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+ds.Table+" t WHERE t.id = ? AND "+scope, append([]any{id}, args...)...)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, web.ErrNotFound
		}
		return nil, nil, err
	}
	rec := &Record{ID: id, Values: map[string]string{}}
	names := m.codeNames(ctx, fields)
	for i, f := range fields {
		s := names.display(f, vals[i+1])
		rec.Fields = append(rec.Fields, RecordField{Name: f.Name, Title: f.TitleZh, Value: s})
		rec.Values[f.Name] = s
	}
	n := len(fields) + 1
	if ds.ExtraColumn != "" {
		var extra map[string]any
		raw := vals[n]
		if b, ok := raw.([]byte); ok {
			raw = string(b)
		}
		if s, ok := raw.(string); ok {
			json.Unmarshal([]byte(s), &extra)
		}
		for i := range ds.Fields {
			f := &ds.Fields[i]
			if f.Extra {
				s := display(f, extra[f.Name])
				rec.Fields = append(rec.Fields, RecordField{Name: f.Name, Title: f.TitleZh, Value: s})
				rec.Values[f.Name] = s
			}
		}
		n++
	}
	sys := []*dataset.Field{{Name: "source", TitleZh: "来源"}, {Name: "first_seen_at", TitleZh: "首次入库时间", Type: dataset.TypeDateTime}, {Name: "last_updated_at", TitleZh: "最近更新时间", Type: dataset.TypeDateTime}}
	for i, f := range sys {
		s := display(f, vals[n+i])
		rec.Fields = append(rec.Fields, RecordField{Name: f.Name, Title: f.TitleZh, Value: s})
	}
	rec.Title = rec.Values[ds.NameField]
	return ds, rec, nil
}

func (m *Module) apiRecord(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ds, rec, err := m.record(r.Context(), iam.FromContext(r.Context()), r.PathValue("dataset"), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"dataset": ds.Name, "dataset_title": ds.TitleZh, "record": rec})
}

func (m *Module) pageRecord(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ds, rec, err := m.record(r.Context(), iam.FromContext(r.Context()), r.PathValue("dataset"), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	title := ds.TitleZh + " · " + rec.Title
	m.pages.Render(w, r, "dashboard_record.html", web.PageData{Title: title,
		Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "明细记录"}, {Title: rec.Title}},
		Data:   map[string]any{"Dataset": ds, "Record": rec, "Back": r.Referer()}})
}

func recordLink(ds string, id int64) string {
	return "/dashboard/records/" + ds + "/" + strconv.FormatInt(id, 10)
}

// tablePage is the page of a record table: the request's (10 rows by default), or every row up
// to the export limit when exporting.
func (v *view) tablePage() (web.Page, error) {
	if exporting(v.r.Context()) {
		return web.Page{Page: 1, Size: maxExportRows}, nil
	}
	page, err := web.Paging(v.r)
	if err == nil && v.r.URL.Query().Get("size") == "" {
		page.Size = 10
	}
	return page, err
}

// table builds a table widget.
func (v *view) table(ctx context.Context, w *Widget, d *Data) error {
	switch w.Table {
	case "unqualified":
		return v.unqualified(ctx, w, d)
	case "assessment":
		return v.assessment(ctx, w, d)
	case "push_runs":
		page, err := v.tablePage()
		if err != nil {
			return err
		}
		t, err := v.m.pushRuns(ctx, v.p, v.r, page)
		if err != nil {
			return err
		}
		t.More = ""
		d.Table = t
		d.Empty = t.Total == 0
		d.Fresh = "实时查询于 " + time.Now().In(web.Shanghai()).Format("2006-01-02 15:04:05")
		d.PeriodLabel = "全部推送记录"
		return nil
	case "ebike":
		page, err := v.tablePage()
		if err != nil {
			return err
		}
		t, err := v.m.ebikeSearch(ctx, v.p, v.r, v.sel.Region, page)
		if err != nil {
			return err
		}
		d.Table = t
		d.Empty = t.Total == 0
		d.fresh(v.rd.ComputedAt("EBK_TOTAL"))
		d.PeriodLabel = "全部备案"
		return nil
	}
	return fmt.Errorf("unknown table %s", w.Table)
}

func (v *view) unqualified(ctx context.Context, w *Widget, d *Data) error {
	ds, where, args, err := v.rd.RecordCondition(v.m.db.Dialect(), indicator.CellRef{Code: "SMP_UNQUALIFIED", Region: v.sel.Region, Period: v.sel.Period})
	if err != nil {
		return err
	}
	page := web.Page{Page: 1, Size: 10}
	if exporting(ctx) {
		page.Size = maxExportRows
	}
	recs, total, err := v.m.query(ctx, v.p, ds, where, args, "t.sampling_date DESC, t.id DESC", page)
	if err != nil {
		return err
	}
	cols := []string{"batch_no", "product_name", "category_code", "producer_name", "sampling_date", "region_code", "followup_status"}
	t := &Table{Total: total, Page: 1, Size: page.Size, More: v.drillURL("SMP_UNQUALIFIED", v.sel.Region, "", v.sel.Period, nil)}
	for _, c := range cols {
		f, _ := ds.Field(c)
		t.Columns = append(t.Columns, f.TitleZh)
	}
	for _, rec := range recs {
		row := Row{Link: recordLink(ds.Name, rec.ID)}
		for _, c := range cols {
			val := rec.Values[c]
			if c == "followup_status" && val == "" {
				val = "未处置"
			}
			row.Cells = append(row.Cells, val)
		}
		t.Rows = append(t.Rows, row)
	}
	if !v.p.Can(PermDrill) {
		t.More = ""
		for i := range t.Rows {
			t.Rows[i].Link = ""
		}
	}
	d.Table, d.Empty = t, total == 0
	d.fresh(v.rd.ComputedAt("SMP_UNQUALIFIED"))
	return nil
}

// assessment is the quantitative assessment table of the child regions.
func (v *view) assessment(ctx context.Context, w *Widget, d *Data) error {
	codes := []string{"SUP_INSPECTIONS", "SUP_FOUND", "SUP_RECTIFY", "SUP_REINSPECT", "SUP_RECTIFIED", "SUP_CASES", "SUP_RECTIFY_RATE", "SUP_REINSPECT_RATE", "SUP_RECTIFIED_RATE", "SUP_SCORE"}
	type line struct {
		key, label string
		vals       []*float64
	}
	byKey := map[string]*line{}
	var order []string
	for _, code := range codes {
		pts, err := v.rd.ByRegion(ctx, code, v.sel)
		if err != nil {
			return err
		}
		for _, pt := range pts {
			l := byKey[pt.Key]
			if l == nil {
				l = &line{key: pt.Key, label: pt.Label}
				byKey[pt.Key] = l
				order = append(order, pt.Key)
			}
			l.vals = append(l.vals, pt.Value)
			d.fresh(pt.ComputedAt)
		}
	}
	lines := make([]*line, 0, len(order))
	for _, k := range order {
		if l := byKey[k]; len(l.vals) == len(codes) {
			lines = append(lines, l)
		}
	}
	score := func(l *line) float64 {
		if s := l.vals[len(codes)-1]; s != nil {
			return *s
		}
		return -1
	}
	sort.SliceStable(lines, func(i, j int) bool { return score(lines[i]) > score(lines[j]) })
	t := &Table{Columns: []string{"排名", "地区", "检查户次", "发现问题", "责令整改", "复查", "整改到位", "立案", "整改率（%）", "复查率（%）", "整改到位率（%）", "考核得分"}}
	for i, l := range lines {
		row := Row{Cells: []string{strconv.Itoa(i + 1), l.label}}
		for j, x := range l.vals {
			unit := ""
			if j >= 6 {
				unit = "%"
			}
			row.Cells = append(row.Cells, format(x, unit))
		}
		row.Link = v.drillURL("SUP_INSPECTIONS", l.key, "", v.sel.Period, nil)
		t.Rows = append(t.Rows, row)
	}
	t.Total, t.Page, t.Size = len(t.Rows), 1, len(t.Rows)
	d.Table = t
	d.Empty = len(t.Rows) == 0
	d.Note = "考核得分 = 整改率 × 0.4 + 复查率 × 0.3 + 整改到位率 × 0.3（口径见指标维护 SUP_SCORE）"
	return nil
}

// ebikeSearch searches e-bike registrations by brand, model, CCC certificate number and
// producer (contains, case-insensitive for Latin letters), within region and the scope.
func (m *Module) ebikeSearch(ctx context.Context, p *iam.Principal, r *http.Request, region string, page web.Page) (*Table, error) {
	ds, ok := indicator.Dataset("ebike")
	if !ok {
		return nil, errors.New("ebike dataset missing")
	}
	q := r.URL.Query()
	conds := []string{"1=1"}
	var args []any
	for _, f := range []struct{ param, col string }{{"brand", "brand"}, {"model", "model"}, {"ccc", "ccc_cert_no"}, {"producer", "producer_name"}} {
		if v := strings.TrimSpace(q.Get(f.param)); v != "" {
			if len([]rune(v)) > 100 {
				return nil, web.Errorf(http.StatusBadRequest, "bad_query", "检索条件过长")
			}
			conds = append(conds, "LOWER(t."+f.col+") LIKE ?")
			args = append(args, "%"+strings.ToLower(escapeLike(v))+"%")
		}
	}
	if region != iam.ProvinceCode {
		rg, _ := indicator.RegionByCode(region)
		if rg != nil {
			conds = append(conds, "t.region_code IN (SELECT code FROM regions WHERE path LIKE ?)")
			args = append(args, rg.Path+"%")
		}
	}
	recs, total, err := m.query(ctx, p, ds, strings.Join(conds, " AND "), args, "t.registration_date DESC, t.id DESC", page)
	if err != nil {
		return nil, err
	}
	t := &Table{Total: total, Page: page.Page, Size: page.Size}
	cols := listColumns(ds)
	for _, f := range cols {
		t.Columns = append(t.Columns, f.TitleZh)
	}
	for _, rec := range recs {
		row := Row{}
		if p.Can(PermDrill) {
			row.Link = recordLink(ds.Name, rec.ID)
		}
		for _, f := range cols {
			row.Cells = append(row.Cells, rec.Values[f.Name])
		}
		t.Rows = append(t.Rows, row)
	}
	t.Prev, t.Next = web.PageLinks(r.URL, page, total)
	return t, nil
}

// escapeLike neutralises LIKE wildcards in user input (both databases treat \ as the default
// escape only on PostgreSQL, so the wildcards are simply dropped).
func escapeLike(s string) string {
	return strings.NewReplacer("%", "", "_", "").Replace(s)
}

// Schedule and status labels of push-task runs (the data hub's ds_ingest_runs).
var (
	scheduleLabels = map[string]string{"manual": "手动", "scheduled": "定时", "realtime": "实时"}
	statusLabels   = map[string]string{"running": "运行中", "committed": "成功", "failed": "失败", "interrupted": "中断"}
)

// pushRuns lists ingestion runs, newest first, filtered by task name, schedule type, status
// and start date range, within the viewer's jurisdiction.
func (m *Module) pushRuns(ctx context.Context, p *iam.Principal, r *http.Request, page web.Page) (*Table, error) {
	q := r.URL.Query()
	scope, args := indicator.ScopeFilter(p, "region_code")
	conds := []string{scope}
	if v := strings.TrimSpace(q.Get("task")); v != "" {
		conds = append(conds, "task_name LIKE ?")
		args = append(args, "%"+escapeLike(v)+"%")
	}
	if v := q.Get("schedule"); v != "" {
		if scheduleLabels[v] == "" {
			return nil, web.Errorf(http.StatusBadRequest, "bad_schedule", "调度类型须为 manual、scheduled 或 realtime")
		}
		conds = append(conds, "schedule_type = ?")
		args = append(args, v)
	}
	if v := q.Get("status"); v != "" {
		if statusLabels[v] == "" {
			return nil, web.Errorf(http.StatusBadRequest, "bad_status", "运行状态须为 running、committed、failed 或 interrupted")
		}
		conds = append(conds, "status = ?")
		args = append(args, v)
	}
	for _, b := range []struct{ param, op string }{{"from", ">="}, {"to", "<"}} {
		v := q.Get(b.param)
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", v, web.Shanghai())
		if err != nil {
			return nil, web.Errorf(http.StatusBadRequest, "bad_date", "日期 %q 无效，应为 YYYY-MM-DD", v)
		}
		if b.param == "to" {
			t = t.AddDate(0, 0, 1)
		}
		conds = append(conds, "started_at "+b.op+" ?")
		args = append(args, t.UTC())
	}
	where := strings.Join(conds, " AND ")
	var total int
	if err := m.db.Get(ctx, &total, "SELECT COUNT(*) FROM ds_ingest_runs WHERE "+where, args...); err != nil {
		return nil, err
	}
	var rows []struct {
		ID          int64     `db:"id"`
		Dataset     string    `db:"dataset"`
		TaskName    string    `db:"task_name"`
		Schedule    string    `db:"schedule_type"`
		Status      string    `db:"status"`
		StartedAt   time.Time `db:"started_at"`
		DurationMS  int64     `db:"duration_ms"`
		Read        int64     `db:"read_count"`
		Upserted    int64     `db:"upserted"`
		Quarantined int64     `db:"quarantined"`
		Error       string    `db:"error"`
	}
	if err := m.db.Select(ctx, &rows, `SELECT id, dataset, task_name, schedule_type, status, started_at, duration_ms, read_count, upserted, quarantined, error
		FROM ds_ingest_runs WHERE `+where+` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, page.Size, page.Offset())...); err != nil {
		return nil, err
	}
	t := &Table{Columns: []string{"推送时间", "任务名称", "调度类型", "运行状态", "数据集", "读取", "写入", "隔离", "耗时（秒）", "错误"}, Total: total, Page: page.Page, Size: page.Size}
	for _, x := range rows {
		title := x.Dataset
		if ds, ok := indicator.Dataset(x.Dataset); ok {
			title = ds.TitleZh
		}
		t.Rows = append(t.Rows, Row{Cells: []string{x.StartedAt.In(web.Shanghai()).Format("2006-01-02 15:04:05"), x.TaskName, scheduleLabels[x.Schedule], statusLabels[x.Status],
			title, strconv.FormatInt(x.Read, 10), strconv.FormatInt(x.Upserted, 10), strconv.FormatInt(x.Quarantined, 10),
			strconv.FormatFloat(float64(x.DurationMS)/1000, 'f', 1, 64), x.Error}})
	}
	u := url.URL{Path: "/api/v1/dashboard/push-runs", RawQuery: r.URL.RawQuery}
	t.More = u.String()
	t.Prev, t.Next = web.PageLinks(r.URL, page, total)
	return t, nil
}

func (m *Module) apiPushRuns(w http.ResponseWriter, r *http.Request) {
	page, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	t, err := m.pushRuns(r.Context(), iam.FromContext(r.Context()), r, page)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, t)
}

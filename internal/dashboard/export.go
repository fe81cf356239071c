package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/indicator"
	"zhsj/internal/report"
	"zhsj/internal/web"
)

// maxExportRows bounds one export of records.
const maxExportRows = 50000

type exportKey struct{}

// exporting reports whether the request builds an export (tables then hold every row).
func exporting(ctx context.Context) bool { return ctx.Value(exportKey{}) != nil }

// tables turns widgets into report sheets: the cards together, then one sheet per chart or
// table, each with the numbers exactly as the page shows them.
func tables(ws []Data) []report.Table {
	var out []report.Table
	cards := report.Table{Title: "核心指标", Columns: []string{"指标", "数值", "单位", "统计期", "地区", "计算时间", "环比"}}
	for _, d := range ws {
		switch {
		case d.Kind == KindCard:
			mom := ""
			if d.MoM != nil {
				mom = d.MoM.Text
			}
			cards.Rows = append(cards.Rows, []any{d.Title, num(d.Value), d.Unit, d.PeriodLabel, d.RegionName, d.ComputedAt, mom})
		case d.Table != nil:
			t := report.Table{Title: d.Title, Columns: d.Table.Columns, Meta: []string{"地区：" + d.RegionName, "统计期：" + d.PeriodLabel, d.Fresh,
				fmt.Sprintf("共 %d 条，本表 %d 条", d.Table.Total, len(d.Table.Rows))}}
			for _, r := range d.Table.Rows {
				row := make([]any, len(r.Cells))
				for i, c := range r.Cells {
					row[i] = c
				}
				t.Rows = append(t.Rows, row)
			}
			out = append(out, t)
		default:
			t := report.Table{Title: d.Title, Columns: []string{"分类"}, Meta: []string{"地区：" + d.RegionName, "统计期：" + d.PeriodLabel, d.Fresh}}
			for _, s := range d.Series {
				t.Columns = append(t.Columns, s.Name+"（"+s.Unit+"）")
			}
			for i, l := range d.Labels {
				row := []any{l}
				for _, s := range d.Series {
					var v *float64
					if i < len(s.Values) {
						v = s.Values[i]
					}
					row = append(row, num(v))
				}
				t.Rows = append(t.Rows, row)
			}
			out = append(out, t)
		}
	}
	if len(cards.Rows) > 0 {
		out = append([]report.Table{cards}, out...)
	}
	return out
}

func num(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// send records the export and writes the workbook; the record is written before any byte.
func (m *Module) send(w http.ResponseWriter, r *http.Request, name, objectID, detail string, ts []report.Table) {
	now := time.Now().In(web.Shanghai())
	ri := web.Info(r.Context())
	for i := range ts {
		ts[i].Meta = append([]string{"导出人：" + ri.Actor, "导出时间：" + now.Format(report.TimeLayout)}, ts[i].Meta...)
	}
	if m.audit != nil {
		if err := m.audit.Record(r.Context(), m.db, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "dashboard.export", ObjectType: "dashboard", ObjectID: objectID,
			Result: audit.ResultSuccess, Detail: detail})); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	report.ServeXLSX(w, name+"-"+now.Format("20060102150405")+".xlsx", ts...)
}

func (m *Module) apiExport(p *Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		only := r.URL.Query().Get("widget")
		r = r.WithContext(context.WithValue(r.Context(), exportKey{}, true))
		v, ws, err := m.buildPage(r, p, only)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		ts := tables(ws)
		what := "全部卡片、图表与表格"
		if only != "" {
			what = "“" + ws[0].Title + "”"
		}
		detail := fmt.Sprintf("导出看板“%s”%s（地区：%s，统计期：%s）", p.Title, what, indicator.RegionName(v.sel.Region), indicator.PeriodLabel(v.sel.Period))
		m.send(w, r, p.Section+"-"+p.Title, p.Key+ifs(only != "", ":"+only), detail, ts)
	}
}

func ifs(c bool, s string) string {
	if c {
		return s
	}
	return ""
}

func (m *Module) apiRecordsExport(w http.ResponseWriter, r *http.Request) {
	d, _, err := m.drill(r, web.Page{Page: 1, Size: maxExportRows + 1})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if d.Total > maxExportRows {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "export_too_large", "符合条件的记录有 %d 条，超过单次导出上限 %d 条，请缩小地区或统计期后再导出", d.Total, maxExportRows))
		return
	}
	t := report.Table{Title: d.Name + "明细", Columns: d.Columns, Meta: []string{"指标：" + d.Name + "（" + d.Code + "）", "数据集：" + d.DatasetName,
		"地区：" + d.RegionName, "统计期：" + d.PeriodLabel, fmt.Sprintf("记录数：%d", d.Total)}}
	for _, rec := range d.Items {
		row := make([]any, len(rec.Fields))
		for i, f := range rec.Fields {
			row[i] = f.Value
		}
		t.Rows = append(t.Rows, row)
	}
	dim := ""
	if d.Dim != nil {
		dim = "，分类：" + *d.Dim
	}
	detail := fmt.Sprintf("导出指标“%s”明细记录 %d 条（数据集：%s，地区：%s，统计期：%s%s）", d.Name, d.Total, d.DatasetName, d.RegionName, d.PeriodLabel, dim)
	m.send(w, r, strings.TrimSpace(d.Name)+"明细", "records:"+d.Code, detail, []report.Table{t})
}

package report

import (
	"bytes"
	"database/sql"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestWriteXLSX(t *testing.T) {
	at := time.Date(2026, 3, 10, 16, 4, 5, 700e6, time.UTC) // 2026-03-11 00:04:05.7 in Shanghai
	var nilTime *time.Time
	ops := Table{
		Title:   "操作日志",
		Meta:    []string{"导出人：auditor", "筛选条件：无"},
		Columns: []string{"编号", "时间", "操作人", "金额", "启用", "空"},
		Rows: [][]any{
			{int64(7), at, "张三", 12.5, true, nilTime},
			{8, &at, "=1+1", uint8(3), false, nil},
		},
	}
	type money int64
	n := int64(42)
	var nilInt *int64
	ops.Columns = append(ops.Columns, "指针", "空指针", "可空", "命名类型")
	ops.Rows[0] = append(ops.Rows[0], &n, nilInt, sql.NullString{String: "有值", Valid: true}, money(1000))
	ops.Rows[1] = append(ops.Rows[1], nil, nil, sql.NullString{}, nil)
	second := Table{Title: "a/b:c", Columns: []string{"x"}, Rows: [][]any{{"y"}}}
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, ops, second); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); len(got) != 2 || got[0] != "操作日志" || got[1] != "a_b_c" {
		t.Fatalf("sheets = %q", got)
	}
	want := map[string]string{
		"A1": "操作日志", "A2": "导出人：auditor", "A3": "筛选条件：无",
		"A4": "编号", "B4": "时间", "C4": "操作人", "D4": "金额", "E4": "启用", "F4": "空",
		"A5": "7", "B5": "2026-03-11 00:04:05", "C5": "张三", "D5": "12.5", "E5": "是", "F5": "",
		"A6": "8", "B6": "2026-03-11 00:04:05", "C6": "=1+1", "D6": "3", "E6": "否",
		"G5": "42", "H5": "", "I5": "有值", "J5": "1000", "I6": "",
	}
	for ref, w := range want {
		if got, err := f.GetCellValue("操作日志", ref); err != nil || got != w {
			t.Errorf("%s = %q (%v), want %q", ref, got, err, w)
		}
	}
	// Numbers are numbers, times are dates, text stays text (no formula).
	// (Numeric cells carry no type attribute, which means number.)
	for _, ref := range []string{"A5", "B5", "D5", "A6", "D6", "G5", "J5"} {
		if got, _ := f.GetCellType("操作日志", ref); got != excelize.CellTypeUnset && got != excelize.CellTypeNumber {
			t.Errorf("type of %s = %v, want number", ref, got)
		}
	}
	if got, _ := f.GetCellType("操作日志", "C6"); got != excelize.CellTypeInlineString {
		t.Errorf("type of C6 = %v, want string", got)
	}
	if raw, _ := f.GetCellValue("操作日志", "A5", excelize.Options{RawCellValue: true}); raw != "7" {
		t.Errorf("raw A5 = %q", raw)
	}
	if raw, _ := f.GetCellValue("操作日志", "B5", excelize.Options{RawCellValue: true}); !strings.HasPrefix(raw, "46092.") {
		t.Errorf("raw B5 = %q, want an Excel date serial", raw)
	}
	if fm, _ := f.GetCellFormula("操作日志", "C6"); fm != "" {
		t.Errorf("C6 became a formula %q", fm)
	}
	// Header is bold and frozen.
	sid, _ := f.GetCellStyle("操作日志", "B4")
	st, err := f.GetStyle(sid)
	if err != nil || st.Font == nil || !st.Font.Bold {
		t.Errorf("header not bold: %+v %v", st, err)
	}
	p, err := f.GetPanes("操作日志")
	if err != nil || !p.Freeze || p.YSplit != 4 || p.TopLeftCell != "A5" {
		t.Errorf("panes = %+v %v", p, err)
	}
	// Chinese columns are wider than the minimum.
	if w, _ := f.GetColWidth("操作日志", "B"); w < 19 {
		t.Errorf("time column width %v", w)
	}
	if v, _ := f.GetCellValue("a_b_c", "A3"); v != "y" {
		t.Errorf("second sheet A3 = %q", v)
	}
}

func TestServeXLSX(t *testing.T) {
	rec := httptest.NewRecorder()
	ServeXLSX(rec, "登录日志 2026", Table{Title: "登录日志", Columns: []string{"账号"}, Rows: [][]any{{"alice"}}})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("content type %q", ct)
	}
	cd := rec.Header().Get("Content-Disposition")
	_, enc, ok := strings.Cut(cd, "filename*=UTF-8''")
	if !ok || !strings.HasPrefix(cd, `attachment; filename="`) {
		t.Fatalf("disposition %q", cd)
	}
	if name, err := url.PathUnescape(enc); err != nil || name != "登录日志 2026.xlsx" {
		t.Errorf("filename* decodes to %q (%v)", name, err)
	}
	if !strings.Contains(enc, "%20") || !strings.Contains(enc, "%E7%99%BB") {
		t.Errorf("space not encoded: %q", cd)
	}
	f, err := excelize.OpenReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue("登录日志", "A3"); v != "alice" {
		t.Errorf("A3 = %q", v)
	}
}

func TestSheetNameUnique(t *testing.T) {
	used := map[string]bool{}
	a := sheetName(strings.Repeat("很长的标题", 10), 0, used)
	b := sheetName(strings.Repeat("很长的标题", 10), 1, used)
	c := sheetName("", 2, used)
	if a == b || len([]rune(a)) > 31 || len([]rune(b)) > 31 || c != "Sheet3" {
		t.Errorf("names %q %q %q", a, b, c)
	}
}

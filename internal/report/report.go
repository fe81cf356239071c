// Package report writes the XLSX exports every module offers: one sheet per Table, with a
// title, a few lines of metadata (who exported, when, with which filters), a bold frozen header
// row, times in Asia/Shanghai and numbers as numbers.
package report

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/web"
)

// Table is one sheet of a report.
type Table struct {
	Title   string   // sheet name and the title line
	Columns []string // header row
	Rows    [][]any  // cell values: strings, integers, floats, bool, time.Time, *time.Time, nil
	Meta    []string // lines under the title, e.g. "导出人：admin"
}

// TimeLayout is how times appear in reports (Asia/Shanghai).
const TimeLayout = "2006-01-02 15:04:05"

// ContentType is the media type of an XLSX file.
const ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// WriteXLSX writes the tables as the sheets of one workbook.
func WriteXLSX(w io.Writer, sheets ...Table) error {
	if len(sheets) == 0 {
		sheets = []Table{{}}
	}
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for i, t := range sheets {
		name := sheetName(t.Title, i, used)
		if i == 0 {
			if err := f.SetSheetName(f.GetSheetName(0), name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		if err := writeSheet(f, name, t, st); err != nil {
			return fmt.Errorf("工作表 %s: %w", name, err)
		}
	}
	f.SetActiveSheet(0)
	return f.Write(w)
}

type styles struct{ title, meta, header, time int }

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	var err error
	if s.title, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}); err != nil {
		return s, err
	}
	if s.meta, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Color: "6B7785"}}); err != nil {
		return s, err
	}
	border := []excelize.Border{{Type: "bottom", Color: "9AA5B1", Style: 1}}
	if s.header, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"E8F0FB"}},
		Border:    border,
		Alignment: &excelize.Alignment{Vertical: "center"},
	}); err != nil {
		return s, err
	}
	tf := "yyyy-mm-dd hh:mm:ss"
	s.time, err = f.NewStyle(&excelize.Style{CustomNumFmt: &tf})
	return s, err
}

func writeSheet(f *excelize.File, name string, t Table, st styles) error {
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	ncol := max(len(t.Columns), 1)
	for _, r := range t.Rows {
		ncol = max(ncol, len(r))
	}
	// Column widths and panes must be set before the first row.
	for c, wdt := range columnWidths(t, ncol) {
		if err := sw.SetColWidth(c+1, c+1, wdt); err != nil {
			return err
		}
	}
	headerRow := 1 + len(t.Meta)
	if t.Title != "" {
		headerRow++
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: headerRow, TopLeftCell: cell(1, headerRow+1), ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	row := 1
	line := func(text string, style int) error {
		if err := sw.SetRow(cell(1, row), []any{excelize.Cell{StyleID: style, Value: text}}); err != nil {
			return err
		}
		if ncol > 1 {
			if err := sw.MergeCell(cell(1, row), cell(ncol, row)); err != nil {
				return err
			}
		}
		row++
		return nil
	}
	if t.Title != "" {
		if err := line(t.Title, st.title); err != nil {
			return err
		}
	}
	for _, m := range t.Meta {
		if err := line(m, st.meta); err != nil {
			return err
		}
	}
	hdr := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		hdr[i] = excelize.Cell{StyleID: st.header, Value: c}
	}
	if err := sw.SetRow(cell(1, row), hdr); err != nil {
		return err
	}
	row++
	vals := make([]any, 0, ncol)
	for _, r := range t.Rows {
		vals = vals[:0]
		for _, v := range r {
			vals = append(vals, cellValue(v, st))
		}
		if err := sw.SetRow(cell(1, row), vals); err != nil {
			return err
		}
		row++
	}
	return sw.Flush()
}

// cellValue converts v to what excelize should store: times as Shanghai date-times, numbers
// as numbers, booleans as 是/否, anything else as its text.
func cellValue(v any, st styles) any {
	rv := reflect.ValueOf(v)
	if v == nil || rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil
	}
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return nil
		}
		// Whole seconds: Excel rounds fractions when showing "ss".
		return excelize.Cell{StyleID: st.time, Value: x.In(web.Shanghai()).Truncate(time.Second)}
	case *time.Time:
		return cellValue(*x, st)
	case bool:
		if x {
			return "是"
		}
		return "否"
	case string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case fmt.Stringer:
		return x.String()
	case driver.Valuer: // sql.NullString and friends
		dv, err := x.Value()
		if err != nil {
			return nil
		}
		return cellValue(dv, st)
	}
	// Pointers to values (nullable columns) and named basic types.
	switch rv.Kind() {
	case reflect.Pointer:
		return cellValue(rv.Elem().Interface(), st)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	}
	return fmt.Sprint(v)
}

// columnWidths sizes each column to its widest header or value (CJK counts double), looking
// at the first rows only so that large exports stay fast.
func columnWidths(t Table, ncol int) []float64 {
	w := make([]float64, ncol)
	measure := func(c int, s string) {
		n := 0.0
		for _, r := range s {
			if r >= 0x2E80 {
				n += 2
			} else {
				n++
			}
		}
		w[c] = max(w[c], n+2)
	}
	for c, h := range t.Columns {
		measure(c, h)
	}
	for i, r := range t.Rows {
		if i == 1000 {
			break
		}
		for c, v := range r {
			switch x := cellValue(v, styles{}).(type) {
			case nil:
			case excelize.Cell: // a time
				measure(c, TimeLayout)
			case string:
				measure(c, x)
			default:
				measure(c, fmt.Sprint(x))
			}
		}
	}
	for c := range w {
		w[c] = min(max(w[c], 8), 60)
	}
	return w
}

func cell(col, row int) string {
	name, _ := excelize.CoordinatesToCellName(col, row)
	return name
}

// sheetName makes title a valid, unique sheet name (at most 31 characters, none of []:*?/\).
func sheetName(title string, i int, used map[string]bool) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(title))
	name = strings.Trim(name, "'")
	if name == "" {
		name = "Sheet" + strconv.Itoa(i+1)
	}
	name = truncateRunes(name, 31)
	base := name
	for n := 2; used[strings.ToLower(name)]; n++ {
		suffix := "(" + strconv.Itoa(n) + ")"
		name = truncateRunes(base, 31-len(suffix)) + suffix
	}
	used[strings.ToLower(name)] = true
	return name
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// ServeXLSX writes the workbook as a download named filename (".xlsx" is added when missing).
// The file is built in memory first so that a failure still gets a proper error response.
func ServeXLSX(w http.ResponseWriter, filename string, sheets ...Table) {
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, sheets...); err != nil {
		slog.Error("write xlsx", "file", filename, "err", err)
		web.JSON(w, http.StatusInternalServerError, map[string]any{"error": web.Errorf(http.StatusInternalServerError, "export_failed", "生成导出文件失败")})
		return
	}
	if !strings.HasSuffix(strings.ToLower(filename), ".xlsx") {
		filename += ".xlsx"
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Disposition", ContentDisposition(filename))
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// ContentDisposition returns an attachment header value with an ASCII fallback name (filename)
// and the RFC 5987 percent-encoded UTF-8 name (filename*), which browsers prefer.
func ContentDisposition(filename string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, filename)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + encode5987(filename)
}

// encode5987 percent-encodes everything but RFC 5987 attr-char.
func encode5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

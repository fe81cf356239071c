package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Source formats.
const (
	FormatCSV    = "csv"
	FormatXLSX   = "xlsx"
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
)

// Encodings that may be declared; "" or "auto" detects (BOM, then UTF-8, else GB18030).
var encodings = map[string]string{"": "", "auto": "", "utf-8": "utf-8", "utf8": "utf-8", "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030", "utf-16": "utf-16"}

// record is one record as read from a source.
type record struct {
	line int
	vals []string // aligned with the source's columns at the time it was read
	raw  string   // the raw text, when the record could not be parsed
	perr string   // why it could not be parsed (Chinese)
	merr string   // why its columns could not be mapped
	qid  int64    // replay: quarantine row id
}

// source yields records.
type source interface {
	Columns() []string      // known columns; may grow while reading (JSON)
	Fixed() bool            // all columns are known before the first record (CSV, XLSX)
	Next() (*record, error) // io.EOF at the end; any other error ends the run
	Offset() int64          // input bytes consumed, for progress
	Describe() string       // e.g. "CSV，GB18030 编码"
}

// fatal is a source error that fails the run with a message for people.
type fatal struct{ msg string }

func (f *fatal) Error() string { return f.msg }

func fatalf(format string, args ...any) error { return &fatal{fmt.Sprintf(format, args...)} }

// ErrEmpty is returned for an empty input.
var errEmpty = fatalf("文件为空（0 字节），没有可导入的数据")

// counter counts bytes read from the raw input.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// detectFormat picks the format from the declared value, the file name, then the content.
func detectFormat(declared, name string, head []byte) string {
	switch strings.ToLower(declared) {
	case "csv", "tsv", "txt":
		return FormatCSV
	case "xlsx", "excel":
		return FormatXLSX
	case "json":
		return FormatJSON
	case "ndjson", "jsonl":
		return FormatNDJSON
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv", ".txt":
		return FormatCSV
	case ".xlsx":
		return FormatXLSX
	case ".json":
		return FormatJSON
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return FormatXLSX
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	if len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return FormatJSON
	}
	return FormatCSV
}

// openSource opens r as the given format (detected when empty).
func openSource(r io.Reader, format, name, encoding, sheet string) (source, error) {
	cnt := &counter{r: r}
	br := bufio.NewReaderSize(cnt, 64<<10)
	head, _ := br.Peek(64 << 10)
	if len(head) == 0 {
		return nil, errEmpty
	}
	enc, ok := encodings[strings.ToLower(strings.TrimSpace(encoding))]
	if !ok {
		return nil, fatalf("不支持的编码 %q（可选 auto、utf-8、gbk、gb18030、utf-16）", encoding)
	}
	switch detectFormat(format, name, head) {
	case FormatXLSX:
		return openXLSX(br, cnt, sheet)
	case FormatJSON, FormatNDJSON:
		tr, desc, err := decodeText(br, head, enc)
		if err != nil {
			return nil, err
		}
		return openJSON(tr, cnt, desc)
	default:
		tr, desc, err := decodeText(br, head, enc)
		if err != nil {
			return nil, err
		}
		return openCSV(tr, cnt, head, desc)
	}
}

// decodeText returns a UTF-8 reader of br: a BOM decides, then a declared encoding, then
// the content (valid UTF-8 → UTF-8, otherwise GB18030, which includes GBK and GB2312).
func decodeText(br *bufio.Reader, head []byte, enc string) (io.Reader, string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		return br, "UTF-8（带 BOM）", nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), "UTF-16", nil
	}
	if bytes.IndexByte(head, 0) >= 0 && enc != "utf-16" {
		return nil, "", fatalf("文件不是文本格式（含有二进制内容），请上传 CSV、XLSX、JSON 或 NDJSON 文件")
	}
	switch enc {
	case "utf-8":
		return br, "UTF-8", nil
	case "gb18030":
		return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), "GBK/GB18030", nil
	case "utf-16":
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()), "UTF-16", nil
	}
	if validUTF8Prefix(head) {
		return br, "UTF-8", nil
	}
	return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), "GBK/GB18030（自动识别）", nil
}

// validUTF8Prefix reports whether b is valid UTF-8 up to a rune cut off at its end.
func validUTF8Prefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			return !utf8.FullRune(b[i:]) && utf8.Valid(b[:i])
		}
	}
	return false
}

// tape remembers what a reader has delivered since a mark, so that the raw text of a record
// the CSV parser rejects can be kept with it.
type tape struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (t *tape) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

const maxRaw = 64 << 10

func (t *tape) text(from, to int64) string {
	a, b := from-t.base, to-t.base
	if a < 0 {
		a = 0
	}
	if b > int64(len(t.buf)) {
		b = int64(len(t.buf))
	}
	if a >= b {
		return ""
	}
	s := t.buf[a:b]
	if len(s) > maxRaw {
		s = s[:maxRaw]
	}
	return strings.TrimRight(strings.ToValidUTF8(string(s), "\uFFFD"), "\r\n")
}

// forget drops what lies before offset off.
func (t *tape) forget(off int64) {
	k := off - t.base
	if k <= 0 || k < 256<<10 {
		return
	}
	if k > int64(len(t.buf)) {
		k = int64(len(t.buf))
	}
	n := copy(t.buf, t.buf[k:])
	t.buf = t.buf[:n]
	t.base += k
}

type csvSource struct {
	cr     *csv.Reader
	tp     *tape
	cnt    *counter
	header []string
	desc   string
}

func sniffDelimiter(head []byte) rune {
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	best, n := ',', bytes.Count(line, []byte{','})
	for _, d := range []rune{'\t', ';', '|'} {
		if c := bytes.Count(line, []byte(string(d))); c > n {
			best, n = d, c
		}
	}
	return best
}

func openCSV(r io.Reader, cnt *counter, head []byte, encDesc string) (*csvSource, error) {
	tp := &tape{r: r}
	cr := csv.NewReader(tp)
	cr.Comma = sniffDelimiter(head)
	cr.FieldsPerRecord = -1
	s := &csvSource{cr: cr, tp: tp, cnt: cnt, desc: "CSV，" + encDesc}
	hdr, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errEmpty
		}
		return nil, fatalf("无法读取表头：%s", csvError(err))
	}
	for i, h := range hdr {
		if !utf8.ValidString(h) {
			return nil, fatalf("表头含有无效字符：文件编码不是 UTF-8（可能为 GBK），请选择“自动识别”或 GBK 编码")
		}
		h = cleanText(strings.TrimPrefix(h, "\uFEFF"))
		if h == "" {
			h = fmt.Sprintf("第%d列", i+1)
		}
		hdr[i] = h
	}
	s.header = hdr
	return s, nil
}

func csvError(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrQuote):
			return fmt.Sprintf("第 %d 行引号不配对（字段中的引号未转义，或文件被截断）", pe.StartLine)
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return fmt.Sprintf("第 %d 行未加引号的字段中出现引号", pe.Line)
		}
		return fmt.Sprintf("第 %d 行格式错误：%v", pe.Line, pe.Err)
	}
	return err.Error()
}

func (s *csvSource) Columns() []string { return s.header }
func (s *csvSource) Fixed() bool       { return true }
func (s *csvSource) Offset() int64     { return s.cnt.n }
func (s *csvSource) Describe() string  { return s.desc }

func (s *csvSource) Next() (*record, error) {
	start := s.cr.InputOffset()
	s.tp.forget(start)
	vals, err := s.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &record{line: pe.StartLine, raw: s.tp.text(start, s.cr.InputOffset()), perr: csvError(err)}, nil
		}
		return nil, err
	}
	line, _ := s.cr.FieldPos(0)
	rec := &record{line: line, vals: vals}
	switch {
	case len(vals) < len(s.header):
		rec.raw = s.tp.text(start, s.cr.InputOffset())
		rec.perr = fmt.Sprintf("列数不足：本行 %d 列，表头 %d 列（文件可能被截断，或字段中的换行、分隔符未加引号）", len(vals), len(s.header))
	case len(vals) > len(s.header):
		for _, v := range vals[len(s.header):] {
			if strings.TrimSpace(v) != "" {
				rec.raw = s.tp.text(start, s.cr.InputOffset())
				rec.perr = fmt.Sprintf("列数多于表头：本行 %d 列，表头 %d 列（字段中的分隔符可能未加引号）", len(vals), len(s.header))
				break
			}
		}
		rec.vals = vals[:len(s.header)]
	}
	return rec, nil
}

type xlsxSource struct {
	f      *excelize.File
	rows   *excelize.Rows
	cnt    *counter
	header []string
	row    int
	sheet  string
}

func openXLSX(r io.Reader, cnt *counter, sheet string) (*xlsxSource, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, fatalf("无法打开 Excel 文件（文件损坏、不完整或不是 .xlsx 格式）：%v", err)
	}
	sheets := f.GetSheetList()
	if sheet == "" {
		if len(sheets) == 0 {
			return nil, fatalf("Excel 文件中没有工作表")
		}
		sheet = sheets[0]
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, fatalf("无法读取工作表 %q：%v", sheet, err)
	}
	s := &xlsxSource{f: f, rows: rows, cnt: cnt, sheet: sheet}
	for rows.Next() {
		s.row++
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fatalf("工作表 %q 第 %d 行无法读取：%v", sheet, s.row, err)
		}
		nonEmpty := false
		for _, c := range cols {
			if strings.TrimSpace(c) != "" {
				nonEmpty = true
			}
		}
		if !nonEmpty {
			continue
		}
		for i, c := range cols {
			c = cleanText(c)
			if c == "" {
				c = fmt.Sprintf("第%d列", i+1)
			}
			cols[i] = c
		}
		s.header = cols
		return s, nil
	}
	return nil, fatalf("工作表 %q 是空的，没有表头", sheet)
}

func (s *xlsxSource) Columns() []string { return s.header }
func (s *xlsxSource) Fixed() bool       { return true }
func (s *xlsxSource) Offset() int64     { return s.cnt.n }
func (s *xlsxSource) Describe() string  { return "Excel（工作表 " + s.sheet + "）" }

func (s *xlsxSource) Next() (*record, error) {
	for s.rows.Next() {
		s.row++
		cols, err := s.rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			// No text to keep: the row number tells unreadable rows apart in the quarantine
			// (and the same row of the same file seen again is the same row there).
			return &record{line: s.row, raw: fmt.Sprintf("工作表 %s 第 %d 行（无法读取）", s.sheet, s.row), perr: fmt.Sprintf("第 %d 行无法读取：%v", s.row, err)}, nil
		}
		empty := true
		for _, c := range cols {
			if strings.TrimSpace(c) != "" {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		if len(cols) < len(s.header) {
			cols = append(cols, make([]string, len(s.header)-len(cols))...)
		}
		rec := &record{line: s.row, vals: cols[:len(s.header)]}
		for _, v := range cols[len(s.header):] {
			if strings.TrimSpace(v) != "" {
				rec.perr = fmt.Sprintf("第 %d 行在表头以外的列有内容", s.row)
				rec.raw = strings.Join(cols, "\t")
				break
			}
		}
		return rec, nil
	}
	if err := s.rows.Error(); err != nil {
		return nil, fatalf("读取 Excel 出错：%v", err)
	}
	return nil, io.EOF
}

// jsonSource reads a JSON array of objects (streaming) or NDJSON (one object per line).
type jsonSource struct {
	cnt    *counter
	dec    *json.Decoder // array mode
	lines  *bufio.Reader // NDJSON mode
	cols   []string
	colIdx map[string]int
	n      int
	line   int
	done   bool
	desc   string
}

func openJSON(r io.Reader, cnt *counter, encDesc string) (*jsonSource, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	s := &jsonSource{cnt: cnt, colIdx: map[string]int{}}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, errEmpty
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		br.UnreadByte()
		switch b {
		case '[':
			s.dec = json.NewDecoder(br)
			s.dec.UseNumber()
			if _, err := s.dec.Token(); err != nil {
				return nil, fatalf("JSON 格式错误：%v", err)
			}
			s.desc = "JSON 数组，" + encDesc
		case '{':
			s.lines = br
			s.desc = "NDJSON（每行一个 JSON 对象），" + encDesc
		default:
			return nil, fatalf("不是 JSON 数组或 NDJSON：内容应以 [ 或 { 开头")
		}
		return s, nil
	}
}

func (s *jsonSource) Columns() []string { return s.cols }
func (s *jsonSource) Fixed() bool       { return false }
func (s *jsonSource) Offset() int64     { return s.cnt.n }
func (s *jsonSource) Describe() string  { return s.desc }

func (s *jsonSource) Next() (*record, error) {
	if s.done {
		return nil, io.EOF
	}
	if s.dec != nil {
		if !s.dec.More() {
			s.done = true
			if _, err := s.dec.Token(); err != nil {
				return &record{line: s.n + 1, perr: "JSON 数组没有正常结束（文件可能被截断）"}, nil
			}
			return nil, io.EOF
		}
		s.n++
		var v any
		if err := s.dec.Decode(&v); err != nil { // a syntax error ends the array
			s.done = true
			msg := fmt.Sprintf("第 %d 条记录不是有效的 JSON：%v", s.n, err)
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				msg = fmt.Sprintf("JSON 在第 %d 条记录处意外结束（文件可能被截断）", s.n)
			}
			return &record{line: s.n, perr: msg}, nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			// A value that is not an object (a number, a string, an array) has been read
			// whole: it is kept as its text (two different ones are two quarantine rows) and
			// the array read on.
			b, _ := json.Marshal(v)
			return &record{line: s.n, raw: truncRaw(string(b)), perr: fmt.Sprintf("第 %d 条记录不是 JSON 对象（而是 %s）", s.n, jsonTypeName(v))}, nil
		}
		return s.object(s.n, obj), nil
	}
	for {
		b, err := s.lines.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		s.line++
		t := bytes.TrimSpace(b)
		if len(t) == 0 {
			continue
		}
		s.n++
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || dec.More() {
			msg := "不是有效的 JSON 对象"
			if err != nil {
				msg += "：" + err.Error()
			}
			return &record{line: s.line, raw: truncRaw(string(t)), perr: fmt.Sprintf("第 %d 行%s", s.line, msg)}, nil
		}
		return s.object(s.line, obj), nil
	}
}

// jsonTypeName names the kind of a decoded JSON value in Chinese.
func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "文本"
	case json.Number:
		return "数字"
	case bool:
		return "true/false"
	case []any:
		return "数组"
	}
	return "其他值"
}

func truncRaw(s string) string {
	if len(s) > maxRaw {
		s = s[:maxRaw]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (s *jsonSource) object(line int, obj map[string]any) *record {
	for k := range obj {
		if _, ok := s.colIdx[k]; !ok {
			s.colIdx[k] = len(s.cols)
			s.cols = append(s.cols, k)
		}
	}
	vals := make([]string, len(s.cols))
	for k, v := range obj {
		vals[s.colIdx[k]] = jsonString(v)
	}
	return &record{line: line, vals: vals}
}

// jsonString turns a decoded JSON value into the text the parsers read.
func jsonString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// sliceSource feeds records already in memory (pushed batches, pulled pages, replays).
type sliceSource struct {
	cols []string
	recs []*record
	i    int
	desc string
}

func (s *sliceSource) Columns() []string { return s.cols }
func (s *sliceSource) Fixed() bool       { return false }
func (s *sliceSource) Offset() int64     { return 0 }
func (s *sliceSource) Describe() string  { return s.desc }
func (s *sliceSource) Next() (*record, error) {
	if s.i >= len(s.recs) {
		return nil, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

// objectsSource builds a slice source from decoded JSON objects.
func objectsSource(objs []map[string]any, desc string) *sliceSource {
	js := &jsonSource{colIdx: map[string]int{}}
	s := &sliceSource{desc: desc}
	for i, o := range objs {
		s.recs = append(s.recs, js.object(i+1, o))
	}
	s.cols = js.cols
	return s
}

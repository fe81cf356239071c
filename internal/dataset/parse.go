package dataset

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"zhsj/internal/dataset/validate"
)

// Issue is one problem with one field of a record, as stored with a quarantined record and
// shown to people.
type Issue struct {
	Field   string `json:"field"`
	Title   string `json:"title"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Issue codes of the pipeline besides the validate package's.
const (
	IssueRequired      = "required"
	IssueTooLong       = "too_long"
	IssueBadInt        = "bad_int"
	IssueBadDecimal    = "bad_decimal"
	IssueBadBool       = "bad_bool"
	IssueBadEnum       = "bad_enum"
	IssueBadCode       = "bad_code"
	IssueBadIndustry   = "bad_industry"
	IssueRegionName    = "region_name_unknown"
	IssueRegionOutside = "region_outside"
	IssueOutOfScope    = "out_of_scope"
	IssueDuplicateKey  = "duplicate_key"
	IssueBadEncoding   = "bad_encoding"
	IssueUnparseable   = "unparseable"
	IssueColumnCount   = "column_count"
	IssueSealed        = "sealed_error"
)

// parsed is one record after parsing: typed values by field name, the issues that
// quarantine it and the warnings that do not.
type parsed struct {
	ds     *Dataset
	cat    *Catalog
	vals   map[string]any // string | int64 | bool | time.Time; absent = empty
	checks map[string]string
	errs   []Issue
	warns  []Issue
	// currency named inside an amount ("500万元人民币"), used when the record has no currency
	currency string
}

func (p *parsed) fail(f *Field, code, msg string) {
	p.errs = append(p.errs, Issue{Field: f.Name, Title: f.TitleZh, Code: code, Message: msg})
}

func (p *parsed) warn(f *Field, code, msg string) {
	p.warns = append(p.warns, Issue{Field: f.Name, Title: f.TitleZh, Code: code, Message: msg})
}

func (p *parsed) str(name string) string {
	s, _ := p.vals[name].(string)
	return s
}

// cleanText trims, drops control and zero-width characters and normalises line ends.
func cleanText(s string) string {
	if plainASCII(s) {
		return strings.TrimSpace(s)
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return -1
		case r == 0x3000 || r == 0xA0:
			return ' '
		case r == 0x200B || r == 0x200C || r == 0x200D || r == 0x2060 || r == 0xFEFF:
			return -1
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// fold is cleanText plus full-width → half-width, for codes, numbers and dates.
func fold(s string) string {
	if plainASCII(s) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(width.Narrow.String(cleanText(s)))
}

// plainASCII reports printable ASCII (plus tab and newline), which needs no cleaning.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n') {
			return false
		}
	}
	return true
}

// parseField parses raw into p.vals[f.Name]. An empty raw value leaves the field empty.
func (p *parsed) parseField(f *Field, raw string, unit string) {
	if !utf8.ValidString(raw) {
		p.fail(f, IssueBadEncoding, "含有无效字符（文件编码可能不是 UTF-8，请选择 GBK 编码重新导入）")
		return
	}
	if f.Type == TypeText {
		v := cleanText(raw)
		if v == "" {
			return
		}
		max := f.MaxLen
		if max == 0 {
			max = 500
		}
		if n := utf8.RuneCountInString(v); n > max {
			p.fail(f, IssueTooLong, fmt.Sprintf("长度 %d 字超过上限 %d 字", n, max))
			return
		}
		p.vals[f.Name] = v
		return
	}
	v := fold(raw)
	if v == "" {
		return
	}
	switch f.Type {
	case TypeInt:
		n, ok := parseInt(v)
		if !ok {
			p.fail(f, IssueBadInt, "应为整数："+quote(v))
			return
		}
		p.vals[f.Name] = n
	case TypeDecimal:
		d, cur, ok := parseMoney(v, unit, f.Unit)
		if !ok {
			p.fail(f, IssueBadDecimal, "应为数值（可带单位 元、万元、亿元）："+quote(v))
			return
		}
		p.vals[f.Name] = d
		if cur != "" {
			p.currency = cur
		}
	case TypeBool:
		b, ok := parseBool(v)
		if !ok {
			p.fail(f, IssueBadBool, "应为 是/否："+quote(v))
			return
		}
		p.vals[f.Name] = b
	case TypeDate, TypeDateTime:
		t, r := validate.Date(v)
		if f.NotFuture {
			r = validate.NotFuture(t, r)
		}
		if !r.Valid {
			p.fail(f, r.Errors[0].Code, r.Errors[0].Message)
			return
		}
		if f.Type == TypeDate {
			p.vals[f.Name] = t.In(validate.CST).Format(time.DateOnly)
		} else {
			p.vals[f.Name] = t.UTC().Truncate(time.Millisecond)
		}
	case TypeEnum:
		s, ok := enumValue(f, v)
		if !ok {
			p.fail(f, IssueBadEnum, fmt.Sprintf("值%s不在允许范围内（%s）", quote(v), strings.Join(f.Enum, "、")))
			return
		}
		p.vals[f.Name] = s
	case TypeCode:
		code, ok := p.cat.Lookup(f.CodeTable, v)
		if !ok {
			if f.Strict {
				p.fail(f, IssueBadCode, "代码表中没有"+quote(v))
				return
			}
			p.warn(f, IssueBadCode, "代码表中没有"+quote(v))
			code = v
		}
		p.vals[f.Name] = code
	case TypeIndustry:
		code, ok := industryCode(p.cat, v)
		if !ok {
			p.warn(f, IssueBadIndustry, "不是有效的国民经济行业代码："+quote(v))
			code = strings.ToUpper(v)
		}
		p.vals[f.Name] = code
	case TypeUSCC:
		r := validate.USCC(v)
		p.identifier(f, v, r)
	case TypeLicence:
		r := validate.LicenceNumber(v)
		p.identifier(f, v, r)
	case TypeRegion:
		p.region(f, v)
	case TypeIDNo:
		r := validate.CitizenID(v)
		p.sealedValue(f, v, r)
	case TypeMobile:
		r := validate.Mobile(v)
		p.sealedValue(f, v, r)
	default:
		p.vals[f.Name] = v
	}
}

// identifier stores a validated code: the normalised form when valid; otherwise an error
// for strict fields (keys) and the value as written, flagged, for others (left to quality
// rules, which count it).
func (p *parsed) identifier(f *Field, v string, r validate.Result) {
	if r.Valid {
		p.vals[f.Name] = r.Normalized
		return
	}
	if f.Strict {
		p.fail(f, r.Errors[0].Code, r.Errors[0].Message)
		return
	}
	p.warn(f, r.Errors[0].Code, r.Errors[0].Message)
	p.vals[f.Name] = strings.ToUpper(v)
}

// sealedValue keeps a personal value for sealing, with its validity in the check column.
func (p *parsed) sealedValue(f *Field, v string, r validate.Result) {
	if r.Valid {
		p.vals[f.Name] = r.Normalized
		return
	}
	if f.Strict {
		p.fail(f, r.Errors[0].Code, r.Errors[0].Message)
		return
	}
	p.warn(f, r.Errors[0].Code, r.Errors[0].Message)
	p.vals[f.Name] = strings.ToUpper(v)
	if p.checks == nil {
		p.checks = map[string]string{}
	}
	p.checks[f.Name] = r.Errors[0].Code
}

// region resolves a code (current or historical) or a place name to a current Shaanxi code.
func (p *parsed) region(f *Field, v string) {
	if isDigits(v) {
		r := validate.RegionCode(v)
		if !r.Valid {
			p.fail(f, r.Errors[0].Code, r.Errors[0].Message)
			return
		}
		if r.Extra[validate.ExtraRegionScope] != "shaanxi" {
			p.fail(f, IssueRegionOutside, "不是陕西省的行政区划代码："+v)
			return
		}
		if r.HasWarning(validate.CodeRegionHistorical) {
			p.warn(f, validate.CodeRegionHistorical, r.Warnings[0].Message)
		}
		p.vals[f.Name] = r.Normalized
		return
	}
	code, ok := validate.RegionByName(v)
	if !ok {
		p.fail(f, IssueRegionName, "无法识别的行政区划名称："+quote(v))
		return
	}
	p.vals[f.Name] = code
}

// regionFromCredit derives a region code from the registration-authority part (positions
// 3–8) of a valid unified social credit code, when it is a Shaanxi code.
func regionFromCredit(uscc string) (string, bool) {
	if len(uscc) != 18 {
		return "", false
	}
	return validate.CurrentRegion(uscc[2:8])
}

func industryCode(cat *Catalog, v string) (string, bool) {
	s := strings.ToUpper(v)
	if len(s) > 0 && s[0] >= 'A' && s[0] <= 'T' {
		if len(s) == 1 {
			_, ok := cat.Item(CodeIndustry, s)
			return s, ok
		}
		s = s[1:]
	}
	if len(s) < 2 || len(s) > 4 || !isDigits(s) {
		return "", false
	}
	_, ok := cat.Item(CodeIndustry, s[:2])
	return s, ok
}

func enumValue(f *Field, v string) (string, bool) {
	for _, e := range f.Enum {
		if v == e {
			return e, true
		}
	}
	if s, ok := f.Synonyms[v]; ok {
		return s, true
	}
	n := normName(v)
	for _, e := range f.Enum {
		if normName(e) == n {
			return e, true
		}
	}
	for k, s := range f.Synonyms {
		if normName(k) == n {
			return s, true
		}
	}
	return "", false
}

var boolWords = map[string]bool{
	"是": true, "y": true, "yes": true, "true": true, "t": true, "1": true, "有": true, "已": true, "成功": true, "√": true, "✓": true, "对": true, "已接入": true,
	"否": false, "n": false, "no": false, "false": false, "f": false, "0": false, "无": false, "未": false, "失败": false, "×": false, "✗": false, "错": false, "未接入": false,
}

func parseBool(v string) (bool, bool) {
	b, ok := boolWords[strings.ToLower(v)]
	return b, ok
}

func parseInt(v string) (int64, bool) {
	s := strings.ReplaceAll(strings.ReplaceAll(v, ",", ""), " ", "")
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	// "12.0" from spreadsheets
	if i := strings.IndexByte(s, '.'); i > 0 && strings.Trim(s[i+1:], "0") == "" {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// parseMoney reads a decimal amount with an optional unit (元, 万元, 亿元, also from the column
// title) and currency words, and returns it in the field's unit as canonical decimal text.
func parseMoney(v, colUnit, fieldUnit string) (dec, currency string, ok bool) {
	s := strings.ReplaceAll(strings.ReplaceAll(v, ",", ""), " ", "")
	for _, c := range []string{"人民币", "美元", "欧元", "港元", "港币", "日元", "英镑"} {
		if strings.Contains(s, c) {
			currency = c
			if c == "港币" {
				currency = "港元"
			}
			s = strings.Replace(s, c, "", 1)
		}
	}
	unit := colUnit
	for _, u := range []string{"万元", "亿元", "元", "万", "亿"} {
		if rest, found := strings.CutSuffix(s, u); found {
			unit, s = u, rest
			break
		}
	}
	exp := 0 // power of ten of the source unit relative to 元
	switch unit {
	case "万元", "万":
		exp = 4
	case "亿元", "亿":
		exp = 8
	case "元":
		exp = 0
	default:
		exp = unitExp(fieldUnit)
	}
	d, ok := normDecimal(s, exp-unitExp(fieldUnit))
	return d, currency, ok
}

func unitExp(u string) int {
	switch u {
	case "万元":
		return 4
	case "亿元":
		return 8
	}
	return 0
}

// normDecimal validates a plain decimal number, multiplies it by 10^shift exactly and
// returns it without superfluous zeros ("0500.50" → "500.5").
func normDecimal(s string, shift int) (string, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if (intPart == "" && frac == "") || (hasDot && frac == "" && intPart == "") {
		return "", false
	}
	if (intPart != "" && !isDigits(intPart)) || (frac != "" && !isDigits(frac)) {
		return "", false
	}
	digits := intPart + frac
	point := len(intPart) + shift
	for point > len(digits) {
		digits += "0"
	}
	for point < 0 {
		digits = "0" + digits
		point++
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), strings.TrimRight(digits[point:], "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return "“" + s + "”"
}

// mask hides most of a personal value: ID numbers keep the first 6 and last 4 characters,
// mobiles the first 3 and last 4.
func mask(t FieldType, v string) string {
	r := []rune(v)
	keepHead, keepTail := 1, 1
	switch t {
	case TypeIDNo:
		keepHead, keepTail = 6, 4
	case TypeMobile:
		keepHead, keepTail = 3, 4
	}
	if len(r) <= keepHead+keepTail {
		if len(r) <= 2 {
			return strings.Repeat("*", len(r))
		}
		keepHead, keepTail = 1, 1
	}
	return string(r[:keepHead]) + strings.Repeat("*", len(r)-keepHead-keepTail) + string(r[len(r)-keepTail:])
}

// Derivations run after the fields are parsed.

// deriveSamplingCategory fills the eight-category code from the product mapping when the
// source has none.
func deriveSamplingCategory(p *parsed) {
	if p.str("category_code") != "" {
		return
	}
	if code, ok := p.cat.Lookup(CodeSamplingProduct, p.str("product_name")); ok {
		if it, ok := p.cat.Item(CodeSamplingProduct, code); ok && it.Parent != "" {
			p.vals["category_code"] = it.Parent
		}
	}
}

func deriveTraceCategory(p *parsed) { deriveSamplingCategory(p) }

// deriveCallDate is the China-time calendar day of the call.
func deriveCallDate(p *parsed) {
	if t, ok := p.vals["called_at"].(time.Time); ok {
		p.vals["call_date"] = t.In(validate.CST).Format(time.DateOnly)
	}
}

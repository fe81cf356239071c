package validate

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// CST is China Standard Time (UTC+8). Dates without an explicit offset are read in it and all
// results are returned in it.
var CST = time.FixedZone("CST", 8*3600)

const (
	minYear = 1900
	maxYear = 9999
	// Excel day numbers are accepted as 5 digits (1927-05-18 … 2173-10-14); shorter numbers are
	// more likely years or counts. Day 0 is 1899-12-30 in the 1900 date system.
	minExcelSerial = 10000
	maxExcelSerial = 99999
)

var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, CST)

// dateRe matches a folded date: Y-M-D with '-', '/' or '.', or compact YYYYMMDD, then an optional
// time (after 'T' or spaces) with optional seconds, fraction and zone.
var dateRe = regexp.MustCompile(`^(\d{4})(?:([-/.])(\d{1,2})([-/.])(\d{1,2})|(\d{2})(\d{2}))` +
	`(?:(?:T| +)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)? ?(Z|[+-]\d{2}:?\d{2})?$`)

var excelRe = regexp.MustCompile(`^(\d{5})(?:\.(\d{1,15}))?$`)

// cnDate rewrites "2006年1月2日 15时4分5秒" to "2006-1-2 15:4:5".
var cnDate = strings.NewReplacer("年", "-", "月", "-", "日", " ", "号", " ", "时", ":", "点", ":", "分", ":", "秒", "")

// Date parses a date or date-time as found in government exports: 2006-01-02, 2006/1/2,
// 2006.01.02, 20060102, 2006年1月2日, each optionally followed by a time (15:04, 15:04:05,
// fractions, ISO 8601 'T' and zone), 14-digit 20060102150405, and 5-digit Excel day numbers
// (45123, 45123.5). Full-width digits are accepted. Normalized is "2006-01-02" or
// "2006-01-02 15:04:05[.fraction]" in CST. Years before 1900 are rejected.
func Date(s string) (time.Time, Result) {
	t := fold(s)
	if t == "" {
		return time.Time{}, fail(CodeDateEmpty, "日期为空")
	}
	if strings.ContainsAny(t, "年月日号时点分秒") {
		t = strings.TrimRight(strings.TrimSpace(cnDate.Replace(t)), ":")
	}
	var r Result
	if len(t) == 10 && t[4] == '-' && t[7] == '-' && isDigits(t[:4]) && isDigits(t[5:7]) && isDigits(t[8:]) {
		// The common "YYYY-MM-DD", without the regular expressions (same result).
		day, ok := mkDate(atoi(t[:4]), atoi(t[5:7]), atoi(t[8:]))
		if !ok {
			return time.Time{}, fail(CodeDateInvalid, "日期不存在："+quote(t))
		}
		if day.Year() < minYear || day.Year() > maxYear {
			return time.Time{}, fail(CodeDateOutOfRange, fmt.Sprintf("日期超出范围（%d–%d年）：%s", minYear, maxYear, quote(t)))
		}
		return day, r.finish(formatDate(day, false))
	}
	if m := excelRe.FindStringSubmatch(t); m != nil {
		r.set(ExtraDateSource, "excel_serial")
		days := atoi(m[1])
		if days < minExcelSerial || days > maxExcelSerial {
			return time.Time{}, fail(CodeDateFormat, "无法识别的日期："+quote(t))
		}
		d := excelEpoch.AddDate(0, 0, days)
		if m[2] != "" {
			frac := float64(atoi15(m[2])) / math.Pow10(len(m[2]))
			secs := int(math.Round(frac * 86400))
			if secs > 0 {
				d = d.Add(time.Duration(secs) * time.Second)
				r.set(ExtraHasTime, extraTrue)
			}
		}
		return d, r.finish(formatDate(d, r.Extra[ExtraHasTime] == extraTrue))
	}
	if len(t) == 14 && isDigits(t) {
		t = t[:8] + " " + t[8:10] + ":" + t[10:12] + ":" + t[12:]
	}
	m := dateRe.FindStringSubmatch(t)
	if m == nil || m[2] != m[4] {
		return time.Time{}, fail(CodeDateFormat, "无法识别的日期格式："+quote(t))
	}
	y, mo, d := atoi(m[1]), atoi(m[3]), atoi(m[5])
	if m[2] == "" {
		mo, d = atoi(m[6]), atoi(m[7])
	}
	day, ok := mkDate(y, mo, d)
	if !ok {
		return time.Time{}, fail(CodeDateInvalid, "日期不存在："+quote(t))
	}
	hasTime := m[8] != ""
	if hasTime {
		hh, mm, ss := atoi(m[8]), atoi(m[9]), atoi(m[10])
		if hh > 23 || mm > 59 || ss > 59 {
			return time.Time{}, fail(CodeDateInvalid, "时间不存在："+quote(t))
		}
		ns := 0
		if f := m[11]; f != "" {
			ns = atoi(f + strings.Repeat("0", 9-len(f)))
		}
		loc := CST
		if z := m[12]; z != "" {
			if loc, ok = zone(z); !ok {
				return time.Time{}, fail(CodeDateInvalid, "时区偏移无效："+quote(z))
			}
		}
		day = time.Date(y, time.Month(mo), d, hh, mm, ss, ns, loc).In(CST)
		r.set(ExtraHasTime, extraTrue)
	} else if m[12] != "" {
		return time.Time{}, fail(CodeDateFormat, "无法识别的日期格式："+quote(t))
	}
	if day.Year() < minYear || day.Year() > maxYear {
		return time.Time{}, fail(CodeDateOutOfRange, fmt.Sprintf("日期超出范围（%d–%d年）：%s", minYear, maxYear, quote(t)))
	}
	return day, r.finish(formatDate(day, hasTime))
}

func formatDate(t time.Time, withTime bool) string {
	if !withTime {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02 15:04:05.999999999")
}

// zone parses "Z", "+08:00" or "+0800".
func zone(z string) (*time.Location, bool) {
	if z == "Z" {
		return time.UTC, true
	}
	z = strings.ReplaceAll(z, ":", "")
	h, m := atoi(z[1:3]), atoi(z[3:5])
	if h > 14 || m > 59 {
		return nil, false
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off), true
}

func atoi15(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
	}
	return n
}

// NotFuture adds a date_future error to r when t is after the end of today (CST). Use it after
// Date for values such as 成立日期 that cannot lie in the future. Invalid results pass through.
func NotFuture(t time.Time, r Result) Result {
	if !r.Valid {
		return r
	}
	y, m, d := now().In(CST).Date()
	endOfToday := time.Date(y, m, d+1, 0, 0, 0, 0, CST)
	if !t.Before(endOfToday) {
		r.Errors = append(append([]Issue(nil), r.Errors...), Issue{Code: CodeDateFuture, Message: "日期晚于今天：" + formatDate(t.In(CST), false)})
		r = r.finish("")
	}
	return r
}

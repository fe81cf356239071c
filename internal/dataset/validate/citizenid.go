package validate

import (
	"fmt"
	"strings"
	"time"
)

// Values of Extra["sex"].
const (
	SexMale   = "male"
	SexFemale = "female"
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// now is replaceable in tests.
var now = time.Now

// CitizenID validates a citizen identity number (GB 11643-1999): 18 characters with the
// ISO 7064 MOD 11-2 check character, a real birth date between 1900-01-01 and today and a
// plausible region prefix. Old 15-digit numbers (birth year 19YY, no check digit) are accepted
// with a warning; Extra["id18"] then holds the 18-digit form. Extra also carries the birth date
// (YYYY-MM-DD) and sex.
func CitizenID(id string) Result {
	s := strings.ToUpper(fold(id))
	if s == "" {
		return fail(CodeIDEmpty, "身份证号码为空")
	}
	var r Result
	var birth, seq string
	switch len(s) {
	case 18:
		if !isDigits(s[:17]) || !(isDigits(s[17:]) || s[17] == 'X') {
			return fail(CodeIDFormat, "18位身份证号码应为17位数字加1位数字或X")
		}
		birth, seq = s[6:14], s[14:17]
		if want := idCheck(s[:17]); want != s[17] {
			r.addError(CodeIDCheck, fmt.Sprintf("第18位校验码应为%c，实为%c", want, s[17]))
		}
	case 15:
		if !isDigits(s) {
			return fail(CodeIDFormat, "15位身份证号码应全部为数字")
		}
		birth, seq = "19"+s[6:12], s[12:15]
		r.set(ExtraLegacy, extraTrue)
		r.addWarning(CodeIDLegacy, "15位旧身份证号码（第一代身份证已停止使用）")
	default:
		return fail(CodeIDLength, fmt.Sprintf("身份证号码应为18位（旧号码15位），实为%d位", len([]rune(s))))
	}

	if t, ok := parseYMD(birth); !ok {
		r.addError(CodeIDBirthInvalid, "出生日期无效："+birth)
	} else {
		today := now().In(CST)
		switch {
		case t.Year() < 1900:
			r.addError(CodeIDBirthTooEarly, "出生日期早于1900年："+t.Format(time.DateOnly))
		case t.After(today):
			r.addError(CodeIDBirthFuture, "出生日期晚于今天："+t.Format(time.DateOnly))
		default:
			r.set(ExtraBirthDate, t.Format(time.DateOnly))
		}
	}
	if (seq[2]-'0')%2 == 1 {
		r.set(ExtraSex, SexMale)
	} else {
		r.set(ExtraSex, SexFemale)
	}
	idRegion(&r, s[:6])
	if len(s) == 15 && len(r.Errors) == 0 {
		r.set(ExtraID18, s[:6]+"19"+s[6:]+string(idCheck(s[:6]+"19"+s[6:])))
	}
	return r.finish(s)
}

func idRegion(r *Result, region string) {
	r.set(ExtraRegion, region)
	if cur, _, ok := lookupShaanxi(region); ok {
		r.set(ExtraRegionScope, scopeShaanxi)
		r.set(ExtraRegionCurrent, cur.code)
		r.set(ExtraRegionName, RegionName(region))
		if cur.unit != "" {
			r.set(ExtraReportingUnit, cur.unit)
		}
		return
	}
	switch {
	case region[:2] == "61":
		r.set(ExtraRegionScope, scopeUnknown)
		r.addWarning(CodeIDRegionUnknown, "地址码不是已知的陕西省行政区划代码："+region)
	case validProvinces[region[:2]]:
		r.set(ExtraRegionScope, scopeOutside)
	default:
		r.set(ExtraRegionScope, scopeUnknown)
		r.addError(CodeIDRegionInvalid, "地址码的省级代码无效："+region[:2])
	}
}

// idCheck computes the check character for the first 17 digits.
func idCheck(body string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(body[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// parseYMD parses an 8-digit YYYYMMDD date and rejects impossible ones.
func parseYMD(s string) (time.Time, bool) {
	if len(s) != 8 || !isDigits(s) {
		return time.Time{}, false
	}
	y, m, d := atoi(s[:4]), atoi(s[4:6]), atoi(s[6:])
	return mkDate(y, m, d)
}

func mkDate(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, CST)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

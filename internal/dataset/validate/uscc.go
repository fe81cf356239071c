package validate

import (
	"fmt"
	"strings"
)

// usccCharset is the GB 32100-2015 character set (no I, O, S, V, Z); a character's value is its
// index.
const usccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// GB 11714 organisation code weights for its 8 body characters.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// usccDepts lists the registration departments (position 1) and their entity categories
// (position 2) per GB 32100-2015 table 1.
var usccDepts = map[byte]struct {
	name  string
	types map[byte]string
}{
	'1': {"机构编制", map[byte]string{'1': "机关", '2': "事业单位", '3': "中央编办直接管理机构编制的群众团体", '9': "其他"}},
	'2': {"外交", map[byte]string{'1': "外国常驻新闻机构", '9': "其他"}},
	'3': {"司法行政", map[byte]string{'1': "律师执业机构", '2': "公证处", '3': "基层法律服务所", '4': "司法鉴定机构", '5': "仲裁委员会", '9': "其他"}},
	'4': {"文化", map[byte]string{'1': "外国在华文化中心", '9': "其他"}},
	'5': {"民政", map[byte]string{'1': "社会团体", '2': "民办非企业单位", '3': "基金会", '9': "其他"}},
	'6': {"旅游", map[byte]string{'1': "外国旅游部门常驻代表机构", '2': "港澳台地区旅游部门常驻内地（大陆）代表机构", '9': "其他"}},
	'7': {"宗教", map[byte]string{'1': "宗教活动场所", '2': "宗教院校", '9': "其他"}},
	'8': {"工会", map[byte]string{'1': "基层工会", '9': "其他"}},
	'9': {"工商", map[byte]string{'1': "企业", '2': "个体工商户", '3': "农民专业合作社"}},
	'A': {"中央军委改革和编制办公室", map[byte]string{'1': "军队事业单位", '9': "其他"}},
	'N': {"农业", map[byte]string{'1': "组级集体经济组织", '2': "村级集体经济组织", '3': "乡镇级集体经济组织", '9': "其他"}},
	'Y': {"其他", map[byte]string{'1': "其他"}},
}

// nationalRegion is used in position 3–8 by entities registered with central authorities.
const nationalRegion = "100000"

// USCC validates a unified social credit code (GB 32100-2015). A wrong 18th check character is
// an error; a wrong GB 11714 organisation-code check digit (position 17) and an unknown region
// code are warnings. Legacy 15-digit 工商注册号 are accepted without a check, with a warning and
// Extra["legacy"] = "true".
func USCC(code string) Result {
	s := strings.ToUpper(fold(code))
	if s == "" {
		return fail(CodeUSCCEmpty, "统一社会信用代码为空")
	}
	if len(s) == 15 && isDigits(s) {
		var r Result
		r.set(ExtraLegacy, extraTrue)
		r.set(ExtraRegion, s[:6])
		r.addWarning(CodeUSCCLegacy, "15位旧工商注册号，未做校验，应换发统一社会信用代码")
		return r.finish(s)
	}
	rs := []rune(s)
	if len(rs) != 18 {
		return fail(CodeUSCCLength, fmt.Sprintf("统一社会信用代码应为18位（旧注册号为15位数字），实为%d位", len(rs)))
	}
	var r Result
	var vals [18]int
	for i, c := range rs {
		v := -1
		if c < 0x80 {
			v = strings.IndexByte(usccCharset, byte(c))
		}
		if v < 0 {
			r.addError(CodeUSCCCharset, fmt.Sprintf("第%d位%s不是统一社会信用代码允许的字符%s", i+1, quote(string(c)), confusable(c)))
		}
		vals[i] = v
	}
	if len(r.Errors) > 0 {
		return r.finish("")
	}

	dept, ok := usccDepts[s[0]]
	if !ok {
		r.addError(CodeUSCCRegDept, fmt.Sprintf("登记管理部门代码%s无效", quote(s[:1])))
	} else if tn, ok := dept.types[s[1]]; !ok {
		r.addError(CodeUSCCEntityType, fmt.Sprintf("机构类别代码%s不属于登记管理部门“%s”", quote(s[1:2]), dept.name))
	} else {
		r.set(ExtraRegDept, s[:1])
		r.set(ExtraEntityType, s[:2])
		r.set(ExtraEntityName, tn)
	}

	region := s[2:8]
	if !isDigits(region) {
		r.addError(CodeUSCCRegionFormat, "第3–8位登记管理机关行政区划码应为数字："+quote(region))
	} else {
		usccRegion(&r, region)
	}

	org := s[8:17]
	r.set(ExtraOrgCode, org)
	if want := orgCheck(org[:8]); want != org[8] {
		r.addWarning(CodeUSCCOrgCheck, fmt.Sprintf("主体标识码（组织机构代码）%s校验位应为%c，实为%c", org, want, org[8]))
	}

	if want := usccCheck(vals[:17]); want != s[17] {
		r.addError(CodeUSCCCheckChar, fmt.Sprintf("第18位校验码应为%c，实为%c", want, s[17]))
	}
	return r.finish(s)
}

func usccRegion(r *Result, region string) {
	r.set(ExtraRegion, region)
	if region == nationalRegion {
		r.set(ExtraRegionScope, scopeNational)
		return
	}
	if cur, _, ok := lookupShaanxi(region); ok {
		r.set(ExtraRegionScope, scopeShaanxi)
		r.set(ExtraRegionCurrent, cur.code)
		r.set(ExtraRegionName, RegionName(region))
		if cur.unit != "" {
			r.set(ExtraReportingUnit, cur.unit)
		}
		return
	}
	if region[:2] != "61" && validProvinces[region[:2]] {
		r.set(ExtraRegionScope, scopeOutside)
		return
	}
	r.set(ExtraRegionScope, scopeUnknown)
	r.addWarning(CodeUSCCRegionUnknown, "登记管理机关行政区划码不在 GB/T 2260 中："+region)
}

// usccCheck computes the 18th character from the values of the first 17.
func usccCheck(vals []int) byte {
	sum := 0
	for i, v := range vals {
		sum += v * usccWeights[i]
	}
	return usccCharset[(31-sum%31)%31]
}

// orgCheck computes the GB 11714 check character for an 8-character organisation-code body.
func orgCheck(body string) byte {
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := 0
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		sum += v * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// confusable hints at the usual mix-ups of letters excluded from the character set.
func confusable(c rune) string {
	switch c {
	case 'O':
		return "（疑为数字0）"
	case 'I':
		return "（疑为数字1）"
	case 'Z':
		return "（疑为数字2）"
	case 'S':
		return "（疑为数字5）"
	}
	return ""
}

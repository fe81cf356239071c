package validate

import (
	"regexp"
	"strings"
)

// provinceAbbr are the one-character province abbreviations used as licence prefixes, with
// their common alternates (蜀 黔 滇 秦 陇).
const provinceAbbr = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕秦甘陇青宁新"

// licenceRe matches a folded, upper-cased licence number: optional "(省)" prefix, "XK", then
// 2-digit industry, 3-digit product and 5-digit serial, either all dash-separated or not at all.
// A space may follow the prefix.
var licenceRe = regexp.MustCompile(`^(?:\((\p{Han})\) ?)?XK(\d{2})(?:-(\d{3})-(\d{5})|(\d{3})(\d{5}))$`)

// LicenceNumber validates an industrial product production licence number (工业产品生产许可证),
// `XK××-×××-×××××` with an optional province prefix such as "(陕)". Full-width brackets and
// digits, lower-case "xk" and missing dashes are accepted; Normalized is the canonical
// "(陕)XK16-204-00012" (ASCII brackets, dashes).
func LicenceNumber(s string) Result {
	t := strings.ToUpper(fold(s))
	if t == "" {
		return fail(CodeLicenceEmpty, "许可证编号为空")
	}
	m := licenceRe.FindStringSubmatch(t)
	if m == nil {
		return fail(CodeLicenceFormat, "许可证编号格式应为（省简称）XK××-×××-×××××："+quote(t))
	}
	prov, ind, prod, serial := m[1], m[2], m[3], m[4]
	if prod == "" {
		prod, serial = m[5], m[6]
	}
	var r Result
	norm := "XK" + ind + "-" + prod + "-" + serial
	if prov != "" {
		if !strings.Contains(provinceAbbr, prov) {
			r.addError(CodeLicenceProvince, "许可证编号的省份简称无效："+quote(prov))
		}
		norm = "(" + prov + ")" + norm
		r.set(ExtraProvince, prov)
		r.set(ExtraIssuer, "provincial")
	} else {
		r.set(ExtraIssuer, "national")
	}
	r.set(ExtraIndustry, ind)
	r.set(ExtraProduct, prod)
	r.set(ExtraSerial, serial)
	return r.finish(norm)
}

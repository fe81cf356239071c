package validate

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// gbt2260-shaanxi.csv is a copy of the shared reference table (MCA 2024 via yescallop/areacodes,
// CC0): code,name,level,parent_code,reporting_unit.
//
//go:embed gbt2260-shaanxi.csv
var shaanxiCSV []byte

// ShaanxiCode is the GB/T 2260 code of 陕西省.
const ShaanxiCode = "610000"

type region struct {
	code, name, level, parent, unit string
}

// historical is an old Shaanxi code still found in credit codes and ID numbers.
type historical struct {
	name    string // name under the old code
	current string // current code it maps to
}

// historicalCodes maps old Shaanxi county- and prefecture-level codes to current ones. Checked
// against the yearly files of yescallop/areacodes (data/1985, 1990, 1996, 1999, 2001, 2010 and
// 2024): 地区 codes 6121–6127 were replaced when the prefectures became cities (1995–2002);
// later changes are county-to-district/city conversions. Renamings that kept their code
// (铜川 城区→王益区, 郊区→印台区, 吴旗县→吴起县) need no entry.
var historicalCodes = map[string]historical{
	// 西安
	"610121": {"长安县", "610116"},
	"610123": {"临潼县", "610115"},
	"610125": {"户县", "610118"},
	"610126": {"高陵县", "610117"},
	// 铜川, 宝鸡, 咸阳
	"610221": {"耀县", "610204"},
	"610321": {"宝鸡县", "610304"},
	"610322": {"凤翔县", "610305"},
	"610421": {"兴平县", "610481"},
	"610427": {"彬县", "610482"},
	// 渭南
	"610521": {"华县", "610503"},
	"612100": {"渭南地区", "610500"},
	"612101": {"渭南市", "610502"},
	"612102": {"韩城市", "610581"},
	"612103": {"华阴市", "610582"},
	"612124": {"华县", "610503"},
	"612125": {"华阴县", "610582"},
	"612126": {"潼关县", "610522"},
	"612127": {"大荔县", "610523"},
	"612128": {"蒲城县", "610526"},
	"612129": {"澄城县", "610525"},
	"612130": {"白水县", "610527"},
	"612132": {"合阳县", "610524"},
	"612133": {"富平县", "610528"},
	// 延安
	"610623": {"子长县", "610681"},
	"610624": {"安塞县", "610603"},
	"612600": {"延安地区", "610600"},
	"612601": {"延安市", "610602"},
	"612621": {"延长县", "610621"},
	"612622": {"延川县", "610622"},
	"612623": {"子长县", "610681"},
	"612624": {"安塞县", "610603"},
	"612625": {"志丹县", "610625"},
	"612626": {"吴旗县", "610626"},
	"612627": {"甘泉县", "610627"},
	"612628": {"富县", "610628"},
	"612629": {"洛川县", "610629"},
	"612630": {"宜川县", "610630"},
	"612631": {"黄龙县", "610631"},
	"612632": {"黄陵县", "610632"},
	// 汉中
	"610721": {"南郑县", "610703"},
	"612300": {"汉中地区", "610700"},
	"612301": {"汉中市", "610702"},
	"612321": {"南郑县", "610703"},
	"612322": {"城固县", "610722"},
	"612323": {"洋县", "610723"},
	"612324": {"西乡县", "610724"},
	"612325": {"勉县", "610725"},
	"612326": {"宁强县", "610726"},
	"612327": {"略阳县", "610727"},
	"612328": {"镇巴县", "610728"},
	"612329": {"留坝县", "610729"},
	"612330": {"佛坪县", "610730"},
	// 榆林
	"610821": {"神木县", "610881"},
	"610823": {"横山县", "610803"},
	"612700": {"榆林地区", "610800"},
	"612701": {"榆林市", "610802"},
	"612721": {"榆林县", "610802"},
	"612722": {"神木县", "610881"},
	"612723": {"府谷县", "610822"},
	"612724": {"横山县", "610803"},
	"612725": {"靖边县", "610824"},
	"612726": {"定边县", "610825"},
	"612727": {"绥德县", "610826"},
	"612728": {"米脂县", "610827"},
	"612729": {"佳县", "610828"},
	"612730": {"吴堡县", "610829"},
	"612731": {"清涧县", "610830"},
	"612732": {"子洲县", "610831"},
	// 安康
	"610928": {"旬阳县", "610981"},
	"612400": {"安康地区", "610900"},
	"612401": {"安康市", "610902"},
	"612421": {"安康县", "610902"},
	"612422": {"汉阴县", "610921"},
	"612423": {"石泉县", "610922"},
	"612424": {"宁陕县", "610923"},
	"612425": {"紫阳县", "610924"},
	"612426": {"岚皋县", "610925"},
	"612427": {"平利县", "610926"},
	"612428": {"镇坪县", "610927"},
	"612429": {"旬阳县", "610981"},
	"612430": {"白河县", "610929"},
	// 商洛
	"612500": {"商洛地区", "611000"},
	"612501": {"商州市", "611002"},
	"612521": {"商县", "611002"},
	"612522": {"洛南县", "611021"},
	"612523": {"丹凤县", "611022"},
	"612524": {"商南县", "611023"},
	"612525": {"山阳县", "611024"},
	"612526": {"镇安县", "611025"},
	"612527": {"柞水县", "611026"},
}

// unitNames are reporting-unit display names that differ from the GB/T 2260 name.
var unitNames = map[string]string{"610403": "杨凌示范区", "610581": "韩城市"}

// validProvinces are the GB/T 2260 province-level prefixes.
var validProvinces = map[string]bool{}

func init() {
	for _, p := range strings.Fields("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 " +
		"41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82") {
		validProvinces[p] = true
	}
}

var (
	regions     map[string]region // current Shaanxi codes
	unitOrder   []string          // reporting units in table order
	nameToCode  map[string]string // full and short names
	cityByShort map[string]string // city names (full and short) for prefix splitting
)

func init() {
	rows, err := csv.NewReader(bytes.NewReader(shaanxiCSV)).ReadAll()
	if err != nil {
		panic("validate: embedded gbt2260 table: " + err.Error())
	}
	regions = make(map[string]region, len(rows))
	seenUnit := map[string]bool{}
	for i, r := range rows {
		if i == 0 {
			continue
		}
		if len(r) != 5 || len(r[0]) != 6 {
			panic(fmt.Sprintf("validate: embedded gbt2260 table line %d malformed", i+1))
		}
		regions[r[0]] = region{code: r[0], name: r[1], level: r[2], parent: r[3], unit: r[4]}
		if r[4] != "" && !seenUnit[r[4]] {
			seenUnit[r[4]] = true
			unitOrder = append(unitOrder, r[4])
		}
	}
	for old, h := range historicalCodes {
		if _, ok := regions[h.current]; !ok {
			panic("validate: historical code " + old + " maps to unknown " + h.current)
		}
		if _, ok := regions[old]; ok {
			panic("validate: historical code " + old + " is also current")
		}
	}
	buildNameIndex()
}

// lookupShaanxi resolves a current or historical Shaanxi code to its current row.
func lookupShaanxi(code string) (cur region, hist *historical, ok bool) {
	if r, ok := regions[code]; ok {
		return r, nil, true
	}
	if h, ok := historicalCodes[code]; ok {
		return regions[h.current], &h, true
	}
	return region{}, nil, false
}

// RegionCode validates a six-digit GB/T 2260 code. Current Shaanxi codes are valid; historical
// Shaanxi codes are valid with a warning and normalised to the current code; codes of other
// provinces with a valid province prefix are valid with a warning; unknown Shaanxi codes and
// invalid province prefixes are errors.
func RegionCode(code string) Result {
	s := fold(code)
	if s == "" {
		return fail(CodeRegionEmpty, "行政区划代码为空")
	}
	if len(s) != 6 || !isDigits(s) {
		return fail(CodeRegionFormat, "行政区划代码应为6位数字："+quote(s))
	}
	var r Result
	r.set(ExtraRegion, s)
	cur, hist, ok := lookupShaanxi(s)
	switch {
	case ok:
		r.set(ExtraRegionScope, scopeShaanxi)
		r.set(ExtraRegionCurrent, cur.code)
		r.set(ExtraRegionName, cur.name)
		r.set(ExtraRegionLevel, cur.level)
		if cur.parent != "" {
			r.set(ExtraParentCode, cur.parent)
		}
		if cur.unit != "" {
			r.set(ExtraReportingUnit, cur.unit)
			r.set(ExtraUnitName, ReportingUnitName(cur.unit))
		}
		if hist != nil {
			r.set(ExtraOldCode, s)
			r.set(ExtraOldName, hist.name)
			r.addWarning(CodeRegionHistorical, fmt.Sprintf("%s（%s）为已撤销的旧区划代码，现为 %s（%s）", s, hist.name, cur.code, cur.name))
		}
		return r.finish(cur.code)
	case s[:2] == "61":
		r.set(ExtraRegionScope, scopeUnknown)
		r.addError(CodeRegionUnknown, "陕西省内不存在该行政区划代码："+s)
	case validProvinces[s[:2]]:
		r.set(ExtraRegionScope, scopeOutside)
		r.addWarning(CodeRegionOutside, "非陕西省行政区划代码（未核对到县级）："+s)
	default:
		r.set(ExtraRegionScope, scopeUnknown)
		r.addError(CodeRegionInvalidProvince, "行政区划代码的省级代码无效："+s[:2])
	}
	return r.finish(s)
}

// CurrentRegion returns the current Shaanxi code for a current or historical Shaanxi code.
// ok is false for other provinces and unknown codes.
func CurrentRegion(code string) (current string, ok bool) {
	cur, _, ok := lookupShaanxi(fold(code))
	if !ok {
		return "", false
	}
	return cur.code, true
}

// ReportingUnit returns the code of the reporting unit (one of the bureau's 12 地市 units) that a
// current or historical Shaanxi code is reported under, or "" for the province itself and for
// codes outside Shaanxi.
func ReportingUnit(code string) string {
	cur, _, ok := lookupShaanxi(fold(code))
	if !ok {
		return ""
	}
	return cur.unit
}

// ReportingUnits returns the 12 reporting-unit codes in table order.
func ReportingUnits() []string {
	return append([]string(nil), unitOrder...)
}

// ReportingUnitName returns the display name of a reporting unit: 杨凌示范区 for 610403,
// otherwise the GB/T 2260 name.
func ReportingUnitName(unit string) string {
	if n, ok := unitNames[unit]; ok {
		return n
	}
	return regions[unit].name
}

// RegionName returns the name of a current Shaanxi code, or the former name of a historical
// one; "" if unknown.
func RegionName(code string) string {
	code = fold(code)
	if r, ok := regions[code]; ok {
		return r.name
	}
	return historicalCodes[code].name
}

// RegionByName resolves a Shaanxi place name to its current code. It accepts official names
// ("西安市", "雁塔区"), short names ("西安", "雁塔"), city+county ("西安市雁塔区", "西安雁塔"),
// an optional "陕西省"/"陕西" prefix, former names ("户县") and "杨凌示范区".
func RegionByName(name string) (code string, ok bool) {
	s := strings.Join(strings.Fields(fold(name)), "")
	if s == "" {
		return "", false
	}
	if c, ok := nameToCode[s]; ok {
		return c, true
	}
	for _, p := range []string{"陕西省", "陕西"} {
		if rest, found := strings.CutPrefix(s, p); found && rest != "" {
			s = rest
			break
		}
	}
	if c, ok := nameToCode[s]; ok {
		return c, true
	}
	// city prefix + county; the longest matching city name wins.
	best := ""
	for cn := range cityByShort {
		if len(cn) > len(best) && strings.HasPrefix(s, cn) && len(cn) < len(s) {
			best = cn
		}
	}
	if best == "" {
		return "", false
	}
	city := cityByShort[best]
	c, ok := nameToCode[s[len(best):]]
	if !ok {
		return "", false
	}
	if r := regions[c]; r.parent != city && c != city {
		return "", false
	}
	return c, true
}

// shortName strips the trailing 市/区/县 when at least two characters remain.
func shortName(n string) string {
	for _, suf := range []string{"地区", "市", "区", "县"} {
		if rest, ok := strings.CutSuffix(n, suf); ok && len([]rune(rest)) >= 2 {
			return rest
		}
	}
	return n
}

func buildNameIndex() {
	nameToCode = map[string]string{}
	cityByShort = map[string]string{}
	add := func(name, code string) {
		if _, dup := nameToCode[name]; !dup {
			nameToCode[name] = code
		}
	}
	// Cities first so "延安" means the city, then counties, then aliases and former names.
	for _, level := range []string{"province", "city", "county"} {
		for _, r := range sortedRegions() {
			if r.level != level {
				continue
			}
			add(r.name, r.code)
			add(shortName(r.name), r.code)
			if level == "city" {
				cityByShort[r.name] = r.code
				cityByShort[shortName(r.name)] = r.code
			}
		}
	}
	add("陕西", ShaanxiCode)
	for _, a := range []string{"杨凌示范区", "杨凌区", "杨凌", "杨凌农业高新技术产业示范区", "杨凌农高区"} {
		add(a, "610403")
	}
	for _, old := range sortedKeys(historicalCodes) {
		h := historicalCodes[old]
		add(h.name, h.current)
		add(shortName(h.name), h.current)
	}
}

func sortedRegions() []region {
	out := make([]region, 0, len(regions))
	for _, k := range slices.Sorted(maps.Keys(regions)) {
		out = append(out, regions[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

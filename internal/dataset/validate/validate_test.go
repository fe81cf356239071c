package validate

import (
	"os"
	"strings"
	"testing"
	"time"
)

// fixed "today" for birth-date and future checks.
func init() {
	now = func() time.Time { return time.Date(2026, 3, 15, 10, 0, 0, 0, CST) }
}

type want struct {
	valid    bool
	norm     string   // checked when valid
	errors   []string // codes that must be present
	warnings []string // exact warning codes (nil = none)
	extra    map[string]string
}

func check(t *testing.T, name string, got Result, w want) {
	t.Helper()
	if got.Valid != w.valid {
		t.Errorf("%s: Valid = %v, want %v (%+v)", name, got.Valid, w.valid, got)
		return
	}
	if got.Valid != (len(got.Errors) == 0) {
		t.Errorf("%s: Valid inconsistent with Errors: %+v", name, got)
	}
	if w.valid && got.Normalized != w.norm {
		t.Errorf("%s: Normalized = %q, want %q", name, got.Normalized, w.norm)
	}
	for _, c := range w.errors {
		if !got.HasError(c) {
			t.Errorf("%s: missing error %s in %+v", name, c, got.Errors)
		}
	}
	if w.valid || w.warnings != nil {
		var codes []string
		for _, i := range got.Warnings {
			codes = append(codes, i.Code)
		}
		if strings.Join(codes, ",") != strings.Join(w.warnings, ",") {
			t.Errorf("%s: warnings = %v, want %v", name, codes, w.warnings)
		}
	}
	for k, v := range w.extra {
		if got.Extra[k] != v {
			t.Errorf("%s: Extra[%s] = %q, want %q", name, k, got.Extra[k], v)
		}
	}
	for _, i := range append(got.Errors, got.Warnings...) {
		if i.Code == "" || i.Message == "" {
			t.Errorf("%s: empty issue %+v", name, i)
		}
	}
}

// withOrgCheck replaces position 17 and recomputes position 18, producing a code whose
// organisation-code check digit is wrong but whose GB 32100 check character is right.
func withOrgCheck(code string, c byte) string {
	b := []byte(code[:17])
	b[16] = c
	vals := make([]int, 17)
	for i := range b {
		vals[i] = strings.IndexByte(usccCharset, b[i])
	}
	return string(b) + string(usccCheck(vals))
}

func TestUSCC(t *testing.T) {
	yanta := MakeUSCC('9', '1', "610113", "MA6U0X1Y")
	indiv := MakeUSCC('9', '2', "610403", "L1234567")
	coop := MakeUSCC('9', '3', "612401", "MA6Y2K8N") // historical 安康市 code
	social := MakeUSCC('5', '2', "610000", "50000123")
	badOrg := withOrgCheck(yanta, yanta[16]^1)
	if badOrg[16] == yanta[16] || orgCheck(badOrg[8:16]) == badOrg[16] {
		t.Fatal("test setup: org check digit not broken")
	}
	cases := []struct {
		in string
		w  want
	}{
		{yanta, want{valid: true, norm: yanta, extra: map[string]string{
			ExtraEntityType: "91", ExtraEntityName: "企业", ExtraRegion: "610113",
			ExtraRegionCurrent: "610113", ExtraReportingUnit: "610100", ExtraRegionScope: "shaanxi"}}},
		{indiv, want{valid: true, norm: indiv, extra: map[string]string{ExtraEntityName: "个体工商户", ExtraReportingUnit: "610403"}}},
		{coop, want{valid: true, norm: coop, extra: map[string]string{ExtraRegionCurrent: "610902", ExtraRegionName: "安康市"}}},
		{social, want{valid: true, norm: social, extra: map[string]string{ExtraEntityName: "民办非企业单位"}}},
		// Published codes of large companies; they pass both check characters.
		{"91330100799655058B", want{valid: true, norm: "91330100799655058B", extra: map[string]string{ExtraRegionScope: "outside_shaanxi"}}},
		{"91440300708461136T", want{valid: true, norm: "91440300708461136T"}},
		{"914403001922038216", want{valid: true, norm: "914403001922038216"}},
		{"91110000710925462X", want{valid: true, norm: "91110000710925462X"}},
		// Synthetic vector from the data doc: region 000000 does not exist.
		{"91000000000000000K", want{valid: true, norm: "91000000000000000K", warnings: []string{CodeUSCCRegionUnknown}}},
		// Whitelisted-but-failing code cited in the data doc.
		{"91350203M0001QAY9B", want{errors: []string{CodeUSCCCheckChar}}},
		{MakeUSCC('9', '1', "100000", "10000396"), want{valid: true, norm: MakeUSCC('9', '1', "100000", "10000396"), extra: map[string]string{ExtraRegionScope: "national"}}},
		{badOrg, want{valid: true, norm: badOrg, warnings: []string{CodeUSCCOrgCheck}}},
		// normalisation
		{"  " + strings.ToLower(yanta) + "\t", want{valid: true, norm: yanta}},
		{toFullWidth(yanta), want{valid: true, norm: yanta}},
		{"\u3000" + yanta + "\u200b", want{valid: true, norm: yanta}},
		// legacy 15-digit registration numbers
		{"610000100012345", want{valid: true, norm: "610000100012345", warnings: []string{CodeUSCCLegacy}, extra: map[string]string{ExtraLegacy: "true"}}},
		{"６１０１１３６００１２３４５６", want{valid: true, norm: "610113600123456", warnings: []string{CodeUSCCLegacy}}},
		// errors
		{"", want{errors: []string{CodeUSCCEmpty}}},
		{"9161011", want{errors: []string{CodeUSCCLength}}},
		{"61011360012345X", want{errors: []string{CodeUSCCLength}}},
		{strings.Replace(yanta, "0", "O", 1), want{errors: []string{CodeUSCCCharset}}},
		{"B" + yanta[1:], want{errors: []string{CodeUSCCRegDept}}},
		{MakeUSCC('9', '4', "610113", "MA6U0X1Y"), want{errors: []string{CodeUSCCEntityType}}},
		{MakeUSCC('Y', '2', "610113", "MA6U0X1Y"), want{errors: []string{CodeUSCCEntityType}}},
		{yanta[:2] + "61A113" + yanta[8:], want{errors: []string{CodeUSCCRegionFormat}}},
		{yanta[:17] + nextChar(yanta[17]), want{errors: []string{CodeUSCCCheckChar}}},
		{toFullWidth(yanta[:17]) + "汉", want{errors: []string{CodeUSCCCharset}}},
	}
	for _, c := range cases {
		check(t, "USCC("+c.in+")", USCC(c.in), c.w)
	}
}

// Every single-character substitution in positions 1–17 must be caught (31 is prime and no
// weight is 0 mod 31).
func TestUSCCSingleSubstitution(t *testing.T) {
	code := MakeUSCC('9', '1', "610113", "MA6U0X1Y")
	for i := 0; i < 17; i++ {
		for j := 0; j < len(usccCharset); j++ {
			c := usccCharset[j]
			if c == code[i] {
				continue
			}
			mut := code[:i] + string(c) + code[i+1:]
			if r := USCC(mut); r.Valid {
				t.Fatalf("substitution at %d (%c→%c) not detected: %s", i+1, code[i], c, mut)
			}
		}
	}
}

func TestCitizenID(t *testing.T) {
	f := MakeCitizenID("610113", time.Date(1990, 1, 1, 0, 0, 0, 0, CST), 12, false)
	m := MakeCitizenID("610113", time.Date(1990, 1, 1, 0, 0, 0, 0, CST), 12, true)
	old := MakeCitizenID("612401", time.Date(1975, 6, 30, 0, 0, 0, 0, CST), 5, true)
	leap := MakeCitizenID("610125", time.Date(2000, 2, 29, 0, 0, 0, 0, CST), 88, false)
	today := MakeCitizenID("610102", time.Date(2026, 3, 15, 0, 0, 0, 0, CST), 1, true)
	cases := []struct {
		in string
		w  want
	}{
		// GB 11643-1999 examples.
		{"11010519491231002X", want{valid: true, norm: "11010519491231002X", extra: map[string]string{ExtraBirthDate: "1949-12-31", ExtraSex: SexFemale}}},
		{"11010519491231002x", want{valid: true, norm: "11010519491231002X"}},
		{"440524188001010014", want{errors: []string{CodeIDBirthTooEarly}}}, // check digit right, born 1880
		{"610102199001011234", want{errors: []string{CodeIDCheck}}},
		{f, want{valid: true, norm: f, extra: map[string]string{ExtraSex: SexFemale, ExtraBirthDate: "1990-01-01", ExtraRegionCurrent: "610113", ExtraReportingUnit: "610100"}}},
		{m, want{valid: true, norm: m, extra: map[string]string{ExtraSex: SexMale}}},
		{old, want{valid: true, norm: old, extra: map[string]string{ExtraRegionCurrent: "610902", ExtraRegionName: "安康市"}}},
		{leap, want{valid: true, norm: leap, extra: map[string]string{ExtraRegionCurrent: "610118", ExtraBirthDate: "2000-02-29"}}},
		{today, want{valid: true, norm: today}},
		{" " + toFullWidth(f) + " ", want{valid: true, norm: f}},
		{MakeCitizenID("320102", time.Date(1985, 5, 5, 0, 0, 0, 0, CST), 3, true), want{valid: true, norm: MakeCitizenID("320102", time.Date(1985, 5, 5, 0, 0, 0, 0, CST), 3, true), extra: map[string]string{ExtraRegionScope: "outside_shaanxi"}}},
		{MakeCitizenID("619999", time.Date(1985, 5, 5, 0, 0, 0, 0, CST), 3, true), want{valid: true, norm: MakeCitizenID("619999", time.Date(1985, 5, 5, 0, 0, 0, 0, CST), 3, true), warnings: []string{CodeIDRegionUnknown}}},
		{MakeCitizenID("990102", time.Date(1985, 5, 5, 0, 0, 0, 0, CST), 3, true), want{errors: []string{CodeIDRegionInvalid}}},
		{MakeCitizenID("610102", time.Date(2026, 3, 16, 0, 0, 0, 0, CST), 1, true), want{errors: []string{CodeIDBirthFuture}}},
		{"61010219990229123" + string(idCheck("61010219990229123")), want{errors: []string{CodeIDBirthInvalid}}},
		{"61010219901301123" + string(idCheck("61010219901301123")), want{errors: []string{CodeIDBirthInvalid}}},
		{f[:17] + nextDigit(f[17]), want{errors: []string{CodeIDCheck}}},
		// 15-digit legacy numbers: 6 region + YYMMDD + 3 sequence
		{"610102900101123", want{valid: true, norm: "610102900101123", warnings: []string{CodeIDLegacy},
			extra: map[string]string{ExtraLegacy: "true", ExtraBirthDate: "1990-01-01", ExtraSex: SexMale, ExtraID18: "61010219900101123" + string(idCheck("61010219900101123"))}}},
		{"612101560229124", want{valid: true, norm: "612101560229124", warnings: []string{CodeIDLegacy}, extra: map[string]string{ExtraSex: SexFemale, ExtraRegionCurrent: "610502"}}},
		{"610102570229123", want{errors: []string{CodeIDBirthInvalid}}},
		{"61010290010112X", want{errors: []string{CodeIDFormat}}},
		{"", want{errors: []string{CodeIDEmpty}}},
		{"6101021990", want{errors: []string{CodeIDLength}}},
		{"6101021990010112AB", want{errors: []string{CodeIDFormat}}},
	}
	for _, c := range cases {
		check(t, "CitizenID("+c.in+")", CitizenID(c.in), c.w)
	}
	r := CitizenID("610102900101123")
	if id18 := CitizenID(r.Extra[ExtraID18]); !id18.Valid || id18.Extra[ExtraBirthDate] != "1990-01-01" {
		t.Errorf("id18 of a 15-digit ID does not validate: %+v", id18)
	}
}

func TestRegionCode(t *testing.T) {
	cases := []struct {
		in string
		w  want
	}{
		{"610113", want{valid: true, norm: "610113", extra: map[string]string{ExtraRegionName: "雁塔区", ExtraReportingUnit: "610100", ExtraRegionLevel: "county", ExtraParentCode: "610100"}}},
		{"610000", want{valid: true, norm: "610000", extra: map[string]string{ExtraRegionLevel: "province"}}},
		{"610403", want{valid: true, norm: "610403", extra: map[string]string{ExtraReportingUnit: "610403", ExtraUnitName: "杨凌示范区"}}},
		{" ６１０５８１ ", want{valid: true, norm: "610581", extra: map[string]string{ExtraReportingUnit: "610581", ExtraUnitName: "韩城市"}}},
		{"110105", want{valid: true, norm: "110105", warnings: []string{CodeRegionOutside}}},
		{"820000", want{valid: true, norm: "820000", warnings: []string{CodeRegionOutside}}},
		{"619999", want{errors: []string{CodeRegionUnknown}}},
		{"610125x", want{errors: []string{CodeRegionFormat}}},
		{"61011", want{errors: []string{CodeRegionFormat}}},
		{"", want{errors: []string{CodeRegionEmpty}}},
		{"100000", want{errors: []string{CodeRegionInvalidProvince}}},
		{"720000", want{errors: []string{CodeRegionInvalidProvince}}},
	}
	// The historical codes named in the data doc and its README.
	for old, cur := range map[string]string{
		"610928": "610981", // 旬阳县 → 旬阳市
		"610125": "610118", // 户县 → 鄠邑区
		"610521": "610503", // 华县 → 华州区
		"610427": "610482", // 彬县 → 彬州市
		"610322": "610305", // 凤翔县 → 凤翔区
		"610623": "610681", // 子长县 → 子长市
		"610624": "610603", // 安塞县 → 安塞区
		"610823": "610803", // 横山县 → 横山区
		"610721": "610703", // 南郑县 → 南郑区
		"612429": "610981", // 旬阳县 under 安康地区
		"612701": "610802", // county-level 榆林市 → 榆阳区
	} {
		cases = append(cases, struct {
			in string
			w  want
		}{old, want{valid: true, norm: cur, warnings: []string{CodeRegionHistorical}, extra: map[string]string{ExtraOldCode: old, ExtraRegionCurrent: cur}}})
	}
	for _, c := range cases {
		check(t, "RegionCode("+c.in+")", RegionCode(c.in), c.w)
	}
}

func TestRegionHelpers(t *testing.T) {
	for in, w := range map[string]string{"610125": "610118", "610113": "610113", "612500": "611000", "110105": "", "619999": ""} {
		got, ok := CurrentRegion(in)
		if got != w || ok != (w != "") {
			t.Errorf("CurrentRegion(%s) = %q, %v; want %q", in, got, ok, w)
		}
	}
	for in, w := range map[string]string{
		"610113": "610100", "610100": "610100", "610403": "610403", "610404": "610400",
		"610581": "610581", "610582": "610500", "610000": "", "610125": "610100", "612102": "610581",
		"110105": "", "": "",
	} {
		if got := ReportingUnit(in); got != w {
			t.Errorf("ReportingUnit(%q) = %q, want %q", in, got, w)
		}
	}
	units := ReportingUnits()
	if len(units) != 12 {
		t.Errorf("ReportingUnits: %d units, want 12: %v", len(units), units)
	}
	names := map[string]bool{}
	for _, u := range units {
		names[ReportingUnitName(u)] = true
	}
	for _, n := range []string{"西安市", "杨凌示范区", "韩城市", "商洛市"} {
		if !names[n] {
			t.Errorf("reporting unit %s missing", n)
		}
	}
	for in, w := range map[string]string{"610113": "雁塔区", "610125": "户县", "610000": "陕西省", "110105": "", "x": ""} {
		if got := RegionName(in); got != w {
			t.Errorf("RegionName(%s) = %q, want %q", in, got, w)
		}
	}
	for in, w := range map[string]string{
		"西安市": "610100", "西安": "610100", "雁塔区": "610113", "雁塔": "610113",
		"西安市雁塔区": "610113", "西安雁塔区": "610113", "陕西省西安市雁塔区": "610113", "陕西西安雁塔": "610113",
		" 西安市 雁塔区 ": "610113", "陕西省": "610000", "陕西": "610000",
		"杨凌示范区": "610403", "杨凌": "610403", "杨陵区": "610403", "咸阳市杨陵区": "610403",
		"韩城市": "610581", "渭南市韩城市": "610581", "眉县": "610326", "宝鸡市眉县": "610326",
		"户县": "610118", "西安市户县": "610118", "鄠邑区": "610118", "旬阳县": "610981",
		"宝鸡": "610300", "宝鸡县": "610304", "延安市": "610600", "延安": "610600", "商州": "611002",
		"神木": "610881", "神木县": "610881", "吴旗县": "610626",
	} {
		if got, ok := RegionByName(in); !ok || got != w {
			t.Errorf("RegionByName(%q) = %q, %v; want %q", in, got, ok, w)
		}
	}
	for _, in := range []string{"", "西咸新区", "北京市", "西安市秦都区", "西安市不存在区", "眉", "陕"} {
		if got, ok := RegionByName(in); ok {
			t.Errorf("RegionByName(%q) = %q, want not found", in, got)
		}
	}
}

// The embedded table must match the shared reference copy when the latter is present.
func TestEmbeddedTableMatchesReference(t *testing.T) {
	ref, err := os.ReadFile("../../../../shared/reference/gbt2260-shaanxi.csv")
	if err != nil {
		t.Skip("shared reference not available:", err)
	}
	if string(ref) != string(shaanxiCSV) {
		t.Error("embedded gbt2260-shaanxi.csv differs from /work/shared/reference copy")
	}
	if len(regions) != 118 {
		t.Errorf("regions: %d rows, want 118 (1+10+107)", len(regions))
	}
}

func TestLicenceNumber(t *testing.T) {
	const canon = "(陕)XK16-204-00012"
	cases := []struct {
		in string
		w  want
	}{
		{canon, want{valid: true, norm: canon, extra: map[string]string{ExtraProvince: "陕", ExtraIndustry: "16", ExtraProduct: "204", ExtraSerial: "00012", ExtraIssuer: "provincial"}}},
		{"（陕）XK16-204-00012", want{valid: true, norm: canon}},
		{"(陕)XK1620400012", want{valid: true, norm: canon}},
		{"（陕）XK1620400012", want{valid: true, norm: canon}},
		{"（陕）ＸＫ１６－２０４－０００１２", want{valid: true, norm: canon}},
		{" (陕)xk16-204-00012 ", want{valid: true, norm: canon}},
		{"(陕) XK16-204-00012", want{valid: true, norm: canon}},
		{"(陕)XK16—204—00012", want{valid: true, norm: canon}},
		{"(鄂)XK12-001-00018", want{valid: true, norm: "(鄂)XK12-001-00018", extra: map[string]string{ExtraProvince: "鄂"}}},
		{"XK08-001-04763", want{valid: true, norm: "XK08-001-04763", extra: map[string]string{ExtraIssuer: "national"}}},
		{"XK0800104763", want{valid: true, norm: "XK08-001-04763"}},
		{"xk08-001-04763", want{valid: true, norm: "XK08-001-04763"}},
		{"(汉)XK16-204-00012", want{errors: []string{CodeLicenceProvince}}},
		{"(陕)XK16-20400012", want{errors: []string{CodeLicenceFormat}}},
		{"(陕)XK16-204-0012", want{errors: []string{CodeLicenceFormat}}},
		{"(陕西)XK16-204-00012", want{errors: []string{CodeLicenceFormat}}},
		{"陕XK16-204-00012", want{errors: []string{CodeLicenceFormat}}},
		{"SC10661010200123", want{errors: []string{CodeLicenceFormat}}},
		{"XK16-204-00012-1", want{errors: []string{CodeLicenceFormat}}},
		{"", want{errors: []string{CodeLicenceEmpty}}},
	}
	for _, c := range cases {
		check(t, "LicenceNumber("+c.in+")", LicenceNumber(c.in), c.w)
	}
}

func TestMobile(t *testing.T) {
	cases := []struct {
		in string
		w  want
	}{
		{"13812345678", want{valid: true, norm: "13812345678"}},
		{"+86 138 1234 5678", want{valid: true, norm: "13812345678"}},
		{"+86-138-1234-5678", want{valid: true, norm: "13812345678"}},
		{"(+86)13812345678", want{valid: true, norm: "13812345678"}},
		{"8613812345678", want{valid: true, norm: "13812345678"}},
		{"008619912345678", want{valid: true, norm: "19912345678"}},
		{"１３８１２３４５６７８", want{valid: true, norm: "13812345678"}},
		{"138-1234-5678", want{valid: true, norm: "13812345678"}},
		{"", want{errors: []string{CodeMobileEmpty}}},
		{"12812345678", want{errors: []string{CodeMobilePrefix}}},
		{"23812345678", want{errors: []string{CodeMobilePrefix}}},
		{"1381234567", want{errors: []string{CodeMobileLength}}},
		{"029-88881234", want{errors: []string{CodeMobilePrefix}}},
		{"029-8888123", want{errors: []string{CodeMobileLength}}},
		{"+1 4155550123", want{errors: []string{CodeMobileFormat}}},
		{"138abc45678", want{errors: []string{CodeMobileFormat}}},
		{"138+12345678", want{errors: []string{CodeMobileFormat}}},
	}
	for _, c := range cases {
		check(t, "Mobile("+c.in+")", Mobile(c.in), c.w)
	}
}

func TestDate(t *testing.T) {
	cases := []struct {
		in string
		w  want
	}{
		{"2006-01-02", want{valid: true, norm: "2006-01-02"}},
		{"2006/1/2", want{valid: true, norm: "2006-01-02"}},
		{"2006.01.02", want{valid: true, norm: "2006-01-02"}},
		{"20060102", want{valid: true, norm: "2006-01-02"}},
		{"2006年1月2日", want{valid: true, norm: "2006-01-02"}},
		{"2006年01月02号", want{valid: true, norm: "2006-01-02"}},
		{"２００６年１月２日", want{valid: true, norm: "2006-01-02"}},
		{"２００６－０１－０２", want{valid: true, norm: "2006-01-02"}},
		{"2006-01-02 15:04:05", want{valid: true, norm: "2006-01-02 15:04:05", extra: map[string]string{ExtraHasTime: "true"}}},
		{"2006/1/2 3:04", want{valid: true, norm: "2006-01-02 03:04:00"}},
		{"2006/01/02 0:00:00", want{valid: true, norm: "2006-01-02 00:00:00"}},
		{"2006-01-02 15:04:05.0", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"2006-01-02 15:04:05.123000", want{valid: true, norm: "2006-01-02 15:04:05.123"}},
		{"2006-01-02T15:04:05", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"2006-01-02T07:04:05Z", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"2006-01-02T15:04:05+08:00", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"2006-01-02T23:30:00-0500", want{valid: true, norm: "2006-01-03 12:30:00"}},
		{"2006年1月2日 15时04分05秒", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"2006年1月2日15时4分", want{valid: true, norm: "2006-01-02 15:04:00"}},
		{"20060102150405", want{valid: true, norm: "2006-01-02 15:04:05"}},
		{"45123", want{valid: true, norm: "2023-07-16", extra: map[string]string{ExtraDateSource: "excel_serial"}}},
		{"45123.5", want{valid: true, norm: "2023-07-16 12:00:00"}},
		{"45123.0", want{valid: true, norm: "2023-07-16"}},
		{"４５１２３", want{valid: true, norm: "2023-07-16"}},
		{"2000-02-29", want{valid: true, norm: "2000-02-29"}},
		{"9999-12-31", want{valid: true, norm: "9999-12-31"}},
		{"", want{errors: []string{CodeDateEmpty}}},
		{"2006-02-30", want{errors: []string{CodeDateInvalid}}},
		{"1900-02-29", want{errors: []string{CodeDateInvalid}}},
		{"2006-13-01", want{errors: []string{CodeDateInvalid}}},
		{"20060230", want{errors: []string{CodeDateInvalid}}},
		{"2006-01-02 24:00:00", want{errors: []string{CodeDateInvalid}}},
		{"2006-01-02 12:60", want{errors: []string{CodeDateInvalid}}},
		{"2006-01-02T12:00:00+25:00", want{errors: []string{CodeDateInvalid}}},
		{"1899-12-31", want{errors: []string{CodeDateOutOfRange}}},
		{"1900-01-01T00:30:00+09:00", want{errors: []string{CodeDateOutOfRange}}},
		{"2006-01/02", want{errors: []string{CodeDateFormat}}},
		{"01/02/2006", want{errors: []string{CodeDateFormat}}},
		{"2006-01", want{errors: []string{CodeDateFormat}}},
		{"2006", want{errors: []string{CodeDateFormat}}},
		{"2006-01-02Z", want{errors: []string{CodeDateFormat}}},
		{"yesterday", want{errors: []string{CodeDateFormat}}},
		{"123456", want{errors: []string{CodeDateFormat}}},
	}
	for _, c := range cases {
		_, r := Date(c.in)
		check(t, "Date("+c.in+")", r, c.w)
	}
	d, _ := Date("2006-01-02T07:04:05Z")
	if !d.Equal(time.Date(2006, 1, 2, 15, 4, 5, 0, CST)) || d.Location() != CST {
		t.Errorf("Date returned %v", d)
	}
}

func TestNotFuture(t *testing.T) {
	for in, ok := range map[string]bool{"2026-03-15": true, "2026-03-15 23:59:59": true, "2026-03-16": false, "2025-12-31": true, "46100": false} {
		r := NotFuture(Date(in))
		if r.Valid != ok || (!ok && !r.HasError(CodeDateFuture)) {
			t.Errorf("NotFuture(%s) = %+v, want valid=%v", in, r, ok)
		}
	}
	if _, r := Date("bad"); NotFuture(time.Time{}, r).HasError(CodeDateFuture) {
		t.Error("NotFuture should pass invalid results through")
	}
}

func TestGeneratorsRoundTrip(t *testing.T) {
	birth := time.Date(1988, 8, 8, 0, 0, 0, 0, CST)
	for code := range regions {
		u := MakeUSCC('9', '1', code, "MA6W2RT5")
		if r := USCC(u); !r.Valid || len(r.Warnings) != 0 || r.Extra[ExtraRegionCurrent] != code {
			t.Errorf("MakeUSCC(%s) = %s: %+v", code, u, r)
		}
		for seq := 0; seq < 3; seq++ {
			male := seq%2 == 0
			id := MakeCitizenID(code, birth, seq*37, male)
			r := CitizenID(id)
			wantSex := SexFemale
			if male {
				wantSex = SexMale
			}
			if !r.Valid || len(r.Warnings) != 0 || r.Extra[ExtraSex] != wantSex || r.Extra[ExtraBirthDate] != "1988-08-08" {
				t.Errorf("MakeCitizenID(%s) = %s: %+v", code, id, r)
			}
		}
	}
	if got := MakeCitizenID("610113", birth, 999, false); got[14:17] != "998" {
		t.Errorf("seq 999 female: order code %s, want 998", got[14:17])
	}
	if got := MakeCitizenID("610113", birth, -1, true); got[14:17] != "999" {
		t.Errorf("seq -1 male: order code %s, want 999", got[14:17])
	}
	if got := MakeUSCC('9', '1', "000000", "00000000"); got != "91000000000000000K" {
		t.Errorf("MakeUSCC synthetic vector = %s", got)
	}
	for _, f := range []func(){
		func() { MakeUSCC('9', '1', "61011", "MA6W2RT5") },
		func() { MakeUSCC('9', '1', "610113", "MA6W2RT") },
		func() { MakeUSCC('9', '1', "610113", "MA6W2RTO") },
		func() { MakeCitizenID("61011x", birth, 1, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("expected panic on malformed generator input")
				}
			}()
			f()
		}()
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c > ' ' && c <= '~' {
			c += 0xFEE0
		}
		b.WriteRune(c)
	}
	return b.String()
}

func nextChar(c byte) string {
	i := strings.IndexByte(usccCharset, c)
	return string(usccCharset[(i+1)%len(usccCharset)])
}

func nextDigit(c byte) string {
	if c == 'X' {
		return "0"
	}
	return string('0' + (c-'0'+1)%10)
}

// TestDateFastPath: the plain "YYYY-MM-DD" form (read without regular expressions) gives what
// the general parser gives for the same date written with slashes.
func TestDateFastPath(t *testing.T) {
	for _, s := range []string{"2019-03-05", "2020-02-29", "2019-02-29", "2019-13-01", "2019-00-10", "0999-01-01", "1900-01-01", "2099-12-31", "9999-12-31", "２０１９-０３-０５"} {
		t1, r1 := Date(s)
		t2, r2 := Date(strings.ReplaceAll(s, "-", "/"))
		if !t1.Equal(t2) || r1.Valid != r2.Valid || r1.Normalized != r2.Normalized || len(r1.Errors) != len(r2.Errors) ||
			(len(r1.Errors) > 0 && r1.Errors[0].Code != r2.Errors[0].Code) || len(r1.Extra) != len(r2.Extra) {
			t.Errorf("%s: %v %+v; with slashes %v %+v", s, t1, r1, t2, r2)
		}
	}
}

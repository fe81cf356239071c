package iam

import (
	"strings"
	"testing"
)

func failedCodes(rs []RuleResult) string {
	var out []string
	for _, r := range rs {
		if !r.OK {
			out = append(out, r.Code)
		}
	}
	return strings.Join(out, ",")
}

func TestPolicyRules(t *testing.T) {
	p := DefaultPolicy()
	user := Subject{Account: "zhangwei", Name: "张伟", Phone: "13907318264"}
	admin := Subject{Account: "sysadmin", Name: "系统管理员", Admin: true}
	for _, c := range []struct {
		pw   string
		s    Subject
		want string // failed rule codes
	}{
		{"Kx9#mTq2vL7$", user, ""},
		{"Kx9#mTq2", user, ""},                   // 8 is enough for a user
		{"Kx9#mTq2", admin, "length"},            // administrators need 12
		{"Kx9#mTq2vL7$", admin, ""},              // 12 with four classes
		{"kx9mtq2vl7ab", user, "classes"},        // two classes
		{"Zhangwei#2026", user, "personal,weak"}, // contains the account (also a listed name)
		{"Ab#1张伟好口令x", user, "personal"},         // contains the name
		{"Pw#x318264Zq", user, "personal"},       // contains the phone's last six
		{"Qwer#9Lm2vXz", user, "sequence"},       // keyboard run
		{"Kx9#aaa2vL7$", user, "sequence"},       // three repeated
		{"Woaini@1314", user, "weak"},            // pinyin + date tail
		{"P@ssw0rd", user, "weak"},               // leetspeak of a listed word
		{"Shaanxi#2026", user, "weak"},           // province name + year
		{"1234567", user, "length,classes,sequence,weak"},
	} {
		if got := failedCodes(p.Check(c.pw, c.s)); got != c.want {
			t.Errorf("%q (admin=%v): failed %q, want %q", c.pw, c.s.Admin, got, c.want)
		}
	}
}

func TestFilterFailsClosedAndBindsParameters(t *testing.T) {
	cols := Cols{Region: "t.region_code", Dept: "t.dept_id", Owner: "t.created_by"}
	var nilP *Principal
	if w, _ := nilP.Filter(cols); w != "1=0" {
		t.Fatalf("nil principal: %s", w)
	}
	noRoles := &Principal{RegionPath: "/610000/"}
	if w, _ := noRoles.Filter(cols); w != "1=0" {
		t.Fatalf("no roles: %s", w)
	}
	prov := &Principal{RegionPath: "/610000/", Scopes: []RoleScope{{Kind: ScopeAll}}}
	if w, a := prov.Filter(cols); w != "1=1" || len(a) != 0 {
		t.Fatalf("province all: %s %v", w, a)
	}
	xa := &Principal{UserID: 7, DeptID: 3, DeptPath: "/1/3/", RegionPath: "/610000/610100/", Scopes: []RoleScope{{Kind: ScopeDeptBelow}, {Kind: ScopeSelf}}}
	w, a := xa.Filter(cols)
	if strings.Contains(w, "610100") || strings.Contains(w, "/1/3/") {
		t.Fatalf("values inlined into SQL: %s", w)
	}
	if strings.Count(w, "?") != len(a) || len(a) != 3 || a[0] != "/610000/610100/%" || a[1] != "/1/3/%" || a[2] != int64(7) {
		t.Fatalf("args %v for %s", a, w)
	}
	// With its codes named (PostgreSQL), the jurisdiction is a list of bound codes.
	xa.regionCodes = []string{"610100", "610113"}
	w, a = xa.Filter(cols)
	if !strings.HasPrefix(w, "t.region_code IN (?,?) AND ") || len(a) != 4 || a[0] != "610100" || a[1] != "610113" || a[2] != "/1/3/%" {
		t.Fatalf("named codes: %s %v", w, a)
	}
	// A self scope on a table without an owner column sees nothing.
	self := &Principal{UserID: 7, RegionPath: "/610000/", Scopes: []RoleScope{{Kind: ScopeSelf}}}
	if w, _ := self.Filter(Cols{Region: "t.region_code"}); w != "1=0" {
		t.Fatalf("self without owner column: %s", w)
	}
	// A city jurisdiction on a table without a region column sees nothing.
	if w, _ := (&Principal{RegionPath: "/610000/610100/", Scopes: []RoleScope{{Kind: ScopeAll}}}).Filter(Cols{Dept: "t.dept_id"}); w != "1=0" {
		t.Fatalf("jurisdiction without region column: %s", w)
	}
}

func TestRegionPathsFollowReportingUnits(t *testing.T) {
	regs, err := ParseRegions()
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	units := 0
	for _, r := range regs {
		paths[r.Code] = r.Path
		if strings.Count(r.Path, "/") == 3 {
			units++
		}
	}
	if len(regs) != 118 || units != 12 {
		t.Fatalf("%d regions, %d reporting units", len(regs), units)
	}
	if paths["610403"] != "/610000/610403/" || paths["610581"] != "/610000/610581/" {
		t.Fatalf("杨凌 %s 韩城 %s", paths["610403"], paths["610581"])
	}
	if strings.HasPrefix(paths["610403"], paths["610400"]) {
		t.Fatal("咸阳 jurisdiction contains 杨凌示范区")
	}
	if paths["610113"] != "/610000/610100/610113/" {
		t.Fatalf("雁塔 %s", paths["610113"])
	}
}

package validate

import (
	"testing"
	"time"
)

// invariants checks the properties every validator must keep for any input.
func invariants(t *testing.T, in string, r Result, again func(string) Result) {
	t.Helper()
	if r.Valid != (len(r.Errors) == 0) {
		t.Fatalf("%q: Valid=%v with errors %+v", in, r.Valid, r.Errors)
	}
	if !r.Valid {
		if r.Normalized != "" {
			t.Fatalf("%q: invalid result has Normalized %q", in, r.Normalized)
		}
		return
	}
	if r.Normalized == "" {
		t.Fatalf("%q: valid result without Normalized", in)
	}
	r2 := again(r.Normalized)
	if !r2.Valid {
		t.Fatalf("%q: Normalized %q does not re-validate: %+v", in, r.Normalized, r2.Errors)
	}
	if r2.Normalized != r.Normalized {
		t.Fatalf("%q: not idempotent: %q -> %q", in, r.Normalized, r2.Normalized)
	}
}

func FuzzUSCC(f *testing.F) {
	for _, s := range []string{
		MakeUSCC('9', '1', "610113", "MA6U0X1Y"), "91330100799655058B", "91350203M0001QAY9B",
		"91000000000000000K", "610000100012345", " ９１３３０１００７９９６５５０５８ｂ ", "", "O",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		invariants(t, s, USCC(s), USCC)
	})
}

func FuzzCitizenID(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "440524188001010014", "610102199001011234", "610102900101123",
		MakeCitizenID("612401", time.Date(1975, 6, 30, 0, 0, 0, 0, CST), 5, true), "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := CitizenID(s)
		invariants(t, s, r, CitizenID)
		if r.Valid && r.Extra[ExtraLegacy] == extraTrue {
			if id18 := CitizenID(r.Extra[ExtraID18]); !id18.Valid || id18.Extra[ExtraBirthDate] != r.Extra[ExtraBirthDate] {
				t.Fatalf("%q: id18 %q invalid: %+v", s, r.Extra[ExtraID18], id18)
			}
		}
	})
}

func FuzzLicence(f *testing.F) {
	for _, s := range []string{"(陕)XK16-204-00012", "（陕）XK1620400012", "XK08-001-04763", "(汉)XK16-204-00012", "xk0800104763"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		invariants(t, s, LicenceNumber(s), LicenceNumber)
	})
}

func FuzzDate(f *testing.F) {
	for _, s := range []string{
		"2006-01-02", "2006/1/2 3:04", "20060102150405", "2006年1月2日 15时04分05秒", "45123.5",
		"2006-01-02T23:30:00-0500", "1900-01-01T00:30:00+09:00", "9999-12-31T23:59:59.999999999-14:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, r := Date(s)
		invariants(t, s, r, func(n string) Result { _, r := Date(n); return r })
		if r.Valid {
			if d2, _ := Date(r.Normalized); !d2.Equal(d) {
				t.Fatalf("%q: time changed on re-parse: %v -> %v", s, d, d2)
			}
			if d.Location() != CST {
				t.Fatalf("%q: location %v", s, d.Location())
			}
		}
	})
}

func FuzzMobile(f *testing.F) {
	for _, s := range []string{"13812345678", "+86 138-1234-5678", "8613812345678", "(+86)13812345678", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		invariants(t, s, Mobile(s), Mobile)
	})
}

func FuzzRegionCode(f *testing.F) {
	for _, s := range []string{"610113", "610125", "110105", "619999", "西安市雁塔区"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		invariants(t, s, RegionCode(s), RegionCode)
		if c, ok := RegionByName(s); ok && !RegionCode(c).Valid {
			t.Fatalf("RegionByName(%q) = %q, not a valid code", s, c)
		}
	})
}

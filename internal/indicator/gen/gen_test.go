package gen

import (
	"testing"

	"zhsj/internal/dataset/validate"
)

// TestUSCCIsValidAndDistinct: generated credit codes pass the GB 32100 validator (both check
// characters) without warnings, are the same on every call, and differ between enterprises,
// including past the eight-decimal-digit range of the organisation-code body.
func TestUSCCIsValidAndDistinct(t *testing.T) {
	seen := map[string]int{}
	check := func(i int, region string) {
		u := USCC(i, region)
		if r := validate.USCC(u); !r.Valid || len(r.Warnings) > 0 {
			t.Fatalf("USCC(%d, %s) = %s: %+v", i, region, u, r)
		}
		if again := USCC(i, region); again != u {
			t.Fatalf("USCC(%d) not deterministic: %s, %s", i, u, again)
		}
		if j, dup := seen[u]; dup {
			t.Fatalf("USCC(%d) = USCC(%d) = %s", i, j, u)
		}
		seen[u] = i
	}
	for i := 0; i < 20000; i++ {
		check(i, enterpriseRegion(i))
	}
	for _, i := range []int{99_999_999, 100_000_000, 100_000_001, 100_000_031, 1_000_000_000, 123_456_789_012} {
		check(i, "610113")
	}
	for _, i := range []int{0, 1, 999} {
		check(i+1_000_000, "320000") // the e-bike producers' region
	}
}

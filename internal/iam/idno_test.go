package iam

import (
	"strings"
	"testing"
)

func TestNormalizeIDNo(t *testing.T) {
	for _, c := range []struct{ in, want, mask string }{
		{"61030219850312104X", "61030219850312104X", "610302********104X"},
		{" 61030219850312104x\u3000", "61030219850312104X", "610302********104X"},
		{"６１０３０２１９８５０３１２１０４ｘ", "61030219850312104X", "610302********104X"},
		{"610302720505002", "610302197205050023", "610302********0023"}, // 15-digit → 18
	} {
		got, err := NormalizeIDNo(c.in)
		if err != nil || got != c.want || MaskIDNo(got) != c.mask {
			t.Errorf("%q: %q %q %v, want %q %q", c.in, got, MaskIDNo(got), err, c.want, c.mask)
		}
	}
	for in, msg := range map[string]string{
		"610302198503122019": "校验码",   // check character should be 8
		"6103021985031210":   "18位",   // length
		"610302198502302018": "出生日期",  // 30 February
		"61030219850312104Y": "17位数字", // not a digit or X
		"":                   "为空",
	} {
		if _, err := NormalizeIDNo(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want one mentioning %s", in, err, msg)
		}
	}
}

package validate

import (
	"fmt"
	"strings"
)

// Mobile validates a mainland China mobile number: 11 digits starting 13–19. A +86 / 0086 / 86
// country prefix, spaces, dashes, dots and brackets are tolerated; Normalized is the bare 11
// digits.
func Mobile(s string) Result {
	t := fold(s)
	if t == "" {
		return fail(CodeMobileEmpty, "手机号码为空")
	}
	var b strings.Builder
	for _, c := range t {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t':
		case c == '+' && b.Len() == 0:
			b.WriteRune(c)
		default:
			return fail(CodeMobileFormat, "手机号码含有非法字符："+quote(t))
		}
	}
	d := b.String()
	for _, p := range []string{"+86", "0086", "86"} {
		if rest, ok := strings.CutPrefix(d, p); ok && len(rest) == 11 {
			d = rest
			break
		}
	}
	if strings.HasPrefix(d, "+") {
		return fail(CodeMobileFormat, "仅支持中国大陆手机号码（+86）："+quote(t))
	}
	if len(d) != 11 {
		return fail(CodeMobileLength, fmt.Sprintf("手机号码应为11位数字，实为%d位", len(d)))
	}
	if d[0] != '1' || d[1] < '3' {
		return fail(CodeMobilePrefix, "手机号码应以13–19开头："+d)
	}
	return Result{}.finish(d)
}

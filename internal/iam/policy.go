package iam

import (
	"bufio"
	"bytes"
	_ "embed"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Policy is the password and login policy. Defaults follow 等保 2.0 level 3 practice
// (reference/identity-and-crypto.md §5.2).
type Policy struct {
	MinLength      int
	AdminMinLength int
	MinClasses     int
	History        int
	AdminHistory   int
	MaxAge         time.Duration
	WarnBefore     time.Duration
	MinAge         time.Duration
	MaxFailures    int
	LockFor        time.Duration
	DormantAfter   time.Duration
}

// DefaultPolicy returns the shipped defaults.
func DefaultPolicy() Policy {
	return Policy{
		MinLength: 8, AdminMinLength: 12, MinClasses: 3, History: 5, AdminHistory: 10,
		MaxAge: 90 * 24 * time.Hour, WarnBefore: 7 * 24 * time.Hour, MinAge: 24 * time.Hour,
		MaxFailures: 5, LockFor: 30 * time.Minute, DormantAfter: 90 * 24 * time.Hour,
	}
}

//go:embed data/weak-passwords.txt
var weakList []byte

var weakSet = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(weakList))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "# ") {
			m[l] = true
		}
	}
	return m
}()

// RuleResult is one line of the live policy feedback.
type RuleResult struct {
	Code string `json:"code"`
	Text string `json:"text"`
	OK   bool   `json:"ok"`
}

// Subject is what the policy knows about the account whose password is checked.
type Subject struct {
	Account string
	Name    string
	Phone   string
	Admin   bool
}

// Check evaluates every rule that does not need the stored history.
func (p Policy) Check(pw string, s Subject) []RuleResult {
	min := p.MinLength
	if s.Admin {
		min = p.AdminMinLength
	}
	lower := strings.ToLower(pw)
	var res []RuleResult
	add := func(code, text string, ok bool) { res = append(res, RuleResult{code, text, ok}) }
	add("length", "长度至少 "+itoa(min)+" 位", len([]rune(pw)) >= min)
	add("classes", "包含大写字母、小写字母、数字、特殊字符中的至少 "+itoa(p.MinClasses)+" 类", classes(pw) >= p.MinClasses)
	personal := true
	for _, part := range []string{s.Account, s.Phone} {
		if len(part) >= 3 && strings.Contains(lower, strings.ToLower(part)) {
			personal = false
		}
	}
	if s.Name != "" && strings.Contains(pw, s.Name) {
		personal = false
	}
	if len(s.Phone) >= 11 && strings.Contains(pw, s.Phone[len(s.Phone)-6:]) {
		personal = false
	}
	add("personal", "不包含账号、姓名或手机号", personal)
	add("sequence", "不含 4 位以上连续或键盘顺序字符（如 1234、abcd、qwer），不含 3 个以上重复字符", !hasSequence(lower))
	add("weak", "不是常见弱口令（含拼音、键盘组合）", !IsWeak(pw))
	return res
}

// Passes reports whether every rule holds.
func Passes(rs []RuleResult) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

// Failed returns the texts of failed rules, for error messages.
func Failed(rs []RuleResult) []string {
	var out []string
	for _, r := range rs {
		if !r.OK {
			out = append(out, r.Text)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func classes(pw string) int {
	var up, lo, di, sp bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			up = true
		case unicode.IsLower(r):
			lo = true
		case unicode.IsDigit(r):
			di = true
		default:
			sp = true
		}
	}
	n := 0
	for _, b := range []bool{up, lo, di, sp} {
		if b {
			n++
		}
	}
	return n
}

var keyboardRows = []string{"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz", "1qaz2wsx3edc4rfv"}

func hasSequence(s string) bool {
	rs := []rune(s)
	for i := 0; i+2 < len(rs); i++ {
		if rs[i] == rs[i+1] && rs[i] == rs[i+2] {
			return true
		}
	}
	for i := 0; i+4 <= len(rs); i++ {
		w := string(rs[i : i+4])
		for _, row := range keyboardRows {
			if strings.Contains(row, w) || strings.Contains(reverse(row), w) {
				return true
			}
		}
	}
	return false
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

var unleet = strings.NewReplacer("@", "a", "0", "o", "$", "s", "!", "i", "3", "e")

// IsWeak reports whether pw is a known weak password, allowing for case, leetspeak and a
// short tail of digits or symbols ("Woaini@1314", "P@ssw0rd123").
func IsWeak(pw string) bool {
	l := strings.ToLower(pw)
	cands := []string{l, unleet.Replace(l)}
	for _, c := range cands {
		if weakSet[c] {
			return true
		}
		core := strings.TrimRightFunc(c, func(r rune) bool { return !unicode.IsLetter(r) })
		core = strings.TrimLeftFunc(core, func(r rune) bool { return !unicode.IsLetter(r) })
		if len(core) >= 3 && weakSet[core] {
			return true
		}
	}
	// All digits that form a date-like or repeated pattern are weak too.
	return len(l) <= 8 && strings.Trim(l, "0123456789") == ""
}

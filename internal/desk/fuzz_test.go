package desk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzTerms feeds arbitrary ticket and article text to the tokenizer: terms are unique,
// non-empty, valid UTF-8, lower-case and at most 64 bytes, and a text's terms are found in
// the text itself.
func FuzzTerms(f *testing.F) {
	for _, s := range []string{"数据库连接池耗尽，Nginx 502！慢", "", "ＡＢＣ１２３", "a\x00b", "\xff\xfe漢字", strings.Repeat("x", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seen := map[string]bool{}
		lower := strings.ToLower(s)
		for _, term := range Terms(s) {
			if term == "" || seen[term] || !utf8.ValidString(term) || len(term) > 64 || strings.ToLower(term) != term {
				t.Fatalf("bad term %q of %q", term, s)
			}
			seen[term] = true
			if !strings.Contains(lower, term) {
				t.Fatalf("term %q not in %q", term, s)
			}
		}
	})
}

// FuzzCalendar feeds arbitrary calendar definitions from the SLA page: invalid ones are
// refused with an error, valid ones never panic and Add and Between agree.
func FuzzCalendar(f *testing.F) {
	f.Add("1,2,3,4,5", "09:00-12:00,13:30-17:30", "2026-10-01 放假 国庆\n2026-10-11 上班", int64(90))
	f.Add("0,6", "00:00-24:00", "", int64(1))
	f.Add("9", "25:00-26:00", "x", int64(-5))
	f.Fuzz(func(t *testing.T, weekdays, spans, holidays string, minutes int64) {
		c := &Calendar{Kind: CalBusiness, Weekdays: weekdays, Spans: spans, HolidaysText: holidays}
		if c.prepare() != nil {
			return
		}
		from := time.Date(2026, 9, 30, 8, 17, 0, 0, time.UTC)
		d := time.Duration(minutes%10000) * time.Minute
		if d <= 0 {
			return
		}
		end := c.Add(from, d)
		if end.IsZero() {
			return // no working time within the walk's bound
		}
		if got := c.Between(from, end); got != d {
			t.Fatalf("Between(Add(%v)) = %v for %q %q %q", d, got, weekdays, spans, holidays)
		}
	})
}

// FuzzEventPayload decodes arbitrary alert payloads as the subscriber does: bad ones are
// errors, never panics.
func FuzzEventPayload(f *testing.F) {
	f.Add(`{"alert":101,"group":"system:xk","severity":"major","system":"许可备案"}`)
	f.Add(`{"alert":"a-1","group":null}`)
	f.Add(`{"alert":1e400}`)
	f.Fuzz(func(t *testing.T, s string) {
		var p alertPayload
		_ = json.Unmarshal([]byte(s), &p)
	})
}

package desk

import (
	"slices"
	"testing"
	"time"
)

func sh(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai())
	if err != nil {
		panic(err)
	}
	return t
}

func businessCal(t *testing.T, holidays ...Holiday) *Calendar {
	t.Helper()
	c := &Calendar{Name: "工作时间", Kind: CalBusiness, Weekdays: "1,2,3,4,5", Spans: "09:00-12:00,13:30-17:30", Holidays: holidays}
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBusinessCalendarBetweenAndAdd(t *testing.T) {
	c := businessCal(t,
		Holiday{Day: "2026-10-01", Kind: DayHoliday, Name: "国庆节"},
		Holiday{Day: "2026-10-02", Kind: DayHoliday, Name: "国庆节"},
		Holiday{Day: "2026-09-27", Kind: DayWorkday, Name: "国庆调休"}, // a Sunday
	)
	cases := []struct {
		from, to string
		want     time.Duration
	}{
		{"2026-09-21 08:00", "2026-09-21 10:00", time.Hour},                           // Monday: starts at 09:00
		{"2026-09-21 11:30", "2026-09-21 14:00", time.Hour},                           // lunch break does not count
		{"2026-09-21 17:00", "2026-09-22 09:30", time.Hour},                           // overnight
		{"2026-09-25 17:00", "2026-09-28 09:30", time.Hour + 7*time.Hour},             // Friday → Monday over a make-up Sunday (7 h)
		{"2026-09-30 17:00", "2026-10-05 09:30", 30*time.Minute + 30*time.Minute + 0}, // holidays and weekend skipped
		{"2026-10-03 10:00", "2026-10-04 18:00", 0},                                   // weekend
	}
	for _, tc := range cases {
		if got := c.Between(sh(tc.from), sh(tc.to)); got != tc.want {
			t.Errorf("Between(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	adds := []struct {
		from string
		d    time.Duration
		want string
	}{
		{"2026-09-21 08:00", time.Hour, "2026-09-21 10:00"},
		{"2026-09-21 11:30", time.Hour, "2026-09-21 14:00"},
		{"2026-09-25 17:00", time.Hour, "2026-09-27 09:30"}, // make-up Sunday is a working day
		{"2026-09-30 17:00", time.Hour, "2026-10-05 09:30"}, // 30 min on the 30th, then past the holidays and weekend
		{"2026-09-21 17:30", 0, "2026-09-21 17:30"},
	}
	for _, tc := range adds {
		if got := c.Add(sh(tc.from), tc.d); !got.Equal(sh(tc.want)) {
			t.Errorf("Add(%s, %v) = %s, want %s", tc.from, tc.d, got.In(shanghai()).Format("2006-01-02 15:04"), tc.want)
		}
	}
	// Add and Between agree.
	for _, from := range []string{"2026-09-21 08:00", "2026-09-25 16:00", "2026-09-30 11:59"} {
		for _, d := range []time.Duration{time.Minute, 90 * time.Minute, 7 * time.Hour, 30 * time.Hour} {
			end := c.Add(sh(from), d)
			if got := c.Between(sh(from), end); got != d {
				t.Errorf("Between(%s, Add(%v)) = %v", from, d, got)
			}
		}
	}
	if got := Always.Between(sh("2026-10-01 00:00"), sh("2026-10-02 00:00")); got != 24*time.Hour {
		t.Errorf("7×24 Between = %v", got)
	}
	if got := Always.Add(sh("2026-10-01 00:00"), 30*time.Minute); !got.Equal(sh("2026-10-01 00:30")) {
		t.Errorf("7×24 Add = %v", got)
	}
}

func TestCalendarValidation(t *testing.T) {
	bad := []Calendar{
		{Kind: "weekly"},
		{Kind: CalBusiness, Weekdays: "1,8", Spans: "09:00-12:00"},
		{Kind: CalBusiness, Weekdays: "1", Spans: "12:00-09:00"},
		{Kind: CalBusiness, Weekdays: "1", Spans: ""},
		{Kind: CalBusiness, Weekdays: "1", Spans: "09:00-12:00,11:00-13:00"},
		{Kind: CalBusiness, Weekdays: "1", Spans: "09:00-12:00", HolidaysText: "2026-13-01 放假"},
		{Kind: CalBusiness, Weekdays: "1", Spans: "09:00-12:00", HolidaysText: "2026-10-01 补班"},
	}
	for i, c := range bad {
		if err := c.prepare(); err == nil {
			t.Errorf("case %d accepted: %+v", i, c)
		}
	}
	c := Calendar{Kind: CalBusiness, Weekdays: "1,2,3,4,5", Spans: "09:00-17:00", HolidaysText: "2026-10-01 放假 国庆节\n2026-10-11 上班 国庆调休\n"}
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	if len(c.Holidays) != 2 || c.Holidays[1].Kind != DayWorkday || c.Holidays[0].Name != "国庆节" {
		t.Fatalf("holidays %+v", c.Holidays)
	}
	if c.working(dayStart(sh("2026-10-01 10:00"))) || !c.working(dayStart(sh("2026-10-11 10:00"))) {
		t.Fatal("holiday or make-up day ignored")
	}
}

func TestElapsedWithoutPauses(t *testing.T) {
	start := sh("2026-03-02 09:00")
	end := sh("2026-03-02 12:00")
	pauses := []pause{
		{StartedAt: sh("2026-03-02 09:10"), EndedAt: ptr(sh("2026-03-02 09:40"))}, // 30 min pending
		{StartedAt: sh("2026-03-02 11:30")},                                       // still pending
	}
	if got := elapsed(Always, start, end, pauses); got != 2*time.Hour {
		t.Fatalf("elapsed = %v, want 2h (3h minus 30 min minus the open 30 min)", got)
	}
	// A pause before the clock started does not count.
	if got := elapsed(Always, sh("2026-03-02 10:00"), end, pauses[:1]); got != 2*time.Hour {
		t.Fatalf("elapsed from 10:00 = %v", got)
	}
	// On a business calendar a pause over lunch removes only working time.
	c := businessCal(t)
	lunch := []pause{{StartedAt: sh("2026-03-02 11:00"), EndedAt: ptr(sh("2026-03-02 14:00"))}}
	if got := elapsed(c, start, sh("2026-03-02 15:00"), lunch); got != 2*time.Hour+time.Hour {
		t.Fatalf("business elapsed = %v, want 3h (09–11 and 14–15)", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestScheduleNextThreshold(t *testing.T) {
	now := sh("2026-03-02 09:00")
	steps := []Step{{Level: 1, TriggerPct: 80}, {Level: 2, TriggerPct: 100}, {Level: 3, TriggerPct: 150}}
	c := &Clock{Minutes: 60, WarnPct: 80, ElapsedMS: (30 * time.Minute).Milliseconds()}
	due, next := schedule(Always, c, steps, now)
	if !due.Equal(now.Add(30*time.Minute)) || next == nil || !next.Equal(now.Add(18*time.Minute)) {
		t.Fatalf("due %v next %v", due, next)
	}
	c.WarnedAt, c.EscalatedLevel = &now, 1
	if _, next = schedule(Always, c, steps, now); !next.Equal(now.Add(30 * time.Minute)) {
		t.Fatalf("after warning next = %v", next)
	}
	c.BreachedAt, c.EscalatedLevel = &now, 3
	if _, next = schedule(Always, c, steps, now); next != nil {
		t.Fatalf("nothing left, next = %v", next)
	}
}

func TestGradingMatrix(t *testing.T) {
	cases := [][3]int{{1, 1, 1}, {1, 3, 2}, {2, 2, 2}, {2, 3, 3}, {3, 3, 4}, {4, 1, 3}, {4, 4, 4}}
	for _, c := range cases {
		g, err := DefaultMatrix.Grade(c[0], c[1])
		if err != nil || g != c[2] {
			t.Errorf("impact %d urgency %d → %d %v, want %d", c[0], c[1], g, err, c[2])
		}
	}
	if _, err := DefaultMatrix.Grade(0, 1); err == nil {
		t.Error("impact 0 accepted")
	}
	if _, err := DefaultMatrix.Grade(1, 5); err == nil {
		t.Error("urgency 5 accepted")
	}
	m, err := ParseMatrix(DefaultMatrix.Text())
	if err != nil || m != DefaultMatrix {
		t.Fatalf("round trip %v %v", m, err)
	}
	if _, err := ParseMatrix("1 1 1 1\n1 1 1 1\n1 1 1 1"); err == nil {
		t.Error("three rows accepted")
	}
	if _, err := ParseMatrix("1 1 1 1\n1 1 1 1\n1 1 1 1\n1 1 1 5"); err == nil {
		t.Error("grade 5 accepted")
	}
}

func TestTerms(t *testing.T) {
	got := Terms("数据库连接池耗尽，Nginx 502！慢")
	want := []string{"数据", "据库", "库连", "连接", "接池", "池耗", "耗尽", "nginx", "502", "慢"}
	if !slices.Equal(got, want) {
		t.Fatalf("Terms = %q, want %q", got, want)
	}
	if len(Terms("  ，。！ ")) != 0 {
		t.Fatal("punctuation produced terms")
	}
	if got := Terms("票据 票据"); !slices.Equal(got, []string{"票据"}) {
		t.Fatalf("duplicates: %q", got)
	}
	if matchNeed(1) != 1 || matchNeed(2) != 2 || matchNeed(3) != 2 || matchNeed(6) != 4 {
		t.Fatal("matchNeed")
	}
}

func TestRequiredTextRejectsPlaceholders(t *testing.T) {
	for _, v := range []string{"", "无", " 略 ", "同上", "test", "abc"} {
		if err := checkText("cause", "事件原因", v, 4, 100); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if err := checkText("cause", "事件原因", "连接池耗尽导致超时", 4, 100); err != nil {
		t.Error(err)
	}
}

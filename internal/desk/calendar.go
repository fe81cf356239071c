package desk

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/web"
)

// Calendar kinds.
const (
	Cal24x7     = "24x7"
	CalBusiness = "business"
)

// Holiday kinds: a day off on a working weekday, or a working day on a weekend (调休上班).
const (
	DayHoliday = "holiday"
	DayWorkday = "workday"
)

// Calendar says when SLA clocks run: always (7×24), or during business hours on working
// days, skipping holidays and adding make-up working days. Times are in Asia/Shanghai.
type Calendar struct {
	ID       int64     `json:"id" db:"id"`
	Name     string    `json:"name" db:"name"`
	Kind     string    `json:"kind" db:"kind"`
	Weekdays string    `json:"weekdays" db:"weekdays"` // "1,2,3,4,5" (0 = Sunday)
	Spans    string    `json:"spans" db:"spans"`       // "09:00-12:00,13:30-17:30"
	Holidays []Holiday `json:"holidays" db:"-"`
	// HolidaysText is the page form's way to give holidays: one per line, "2026-10-01 放假 国庆节"
	// or "2026-10-11 上班 国庆调休"; it replaces Holidays when set.
	HolidaysText string    `json:"holidays_text,omitempty" db:"-"`
	Updated      time.Time `json:"updated_at" db:"updated_at"`

	days  [7]bool
	spans []span
	off   map[string]bool
	on    map[string]bool
}

// Holiday is one exception day of a business calendar.
type Holiday struct {
	Day  string `json:"day" db:"day"`   // YYYY-MM-DD
	Kind string `json:"kind" db:"kind"` // holiday | workday
	Name string `json:"name" db:"name"`
}

// span is a working interval within a day, in minutes from midnight.
type span struct{ from, to int }

// Always is the 7×24 calendar.
var Always = &Calendar{Name: "7×24 小时", Kind: Cal24x7}

func calErr(format string, args ...any) error {
	return web.Errorf(http.StatusBadRequest, "bad_calendar", format, args...)
}

// parseHolidays reads HolidaysText into Holidays.
func (c *Calendar) parseHolidays() error {
	if strings.TrimSpace(c.HolidaysText) == "" {
		return nil
	}
	c.Holidays = nil
	for i, line := range strings.Split(c.HolidaysText, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		h := Holiday{Day: f[0], Kind: DayHoliday}
		if len(f) > 1 {
			switch f[1] {
			case "放假", "休", "holiday":
			case "上班", "班", "调休上班", "workday":
				h.Kind = DayWorkday
			default:
				return calErr("第 %d 行的类型 %q 无效，应为 放假 或 上班", i+1, f[1])
			}
		}
		if len(f) > 2 {
			h.Name = strings.Join(f[2:], " ")
		}
		c.Holidays = append(c.Holidays, h)
	}
	return nil
}

// HolidayLines writes the holidays as parseHolidays reads them.
func (c *Calendar) HolidayLines() string {
	var b strings.Builder
	for _, h := range c.Holidays {
		kind := "放假"
		if h.Kind == DayWorkday {
			kind = "上班"
		}
		fmt.Fprintf(&b, "%s %s %s\n", h.Day, kind, h.Name)
	}
	return b.String()
}

// prepare parses the textual fields; it must be called before Between or Add.
func (c *Calendar) prepare() error {
	if err := c.parseHolidays(); err != nil {
		return err
	}
	if c.Kind == "" {
		c.Kind = Cal24x7
	}
	if c.Kind == Cal24x7 {
		return nil
	}
	if c.Kind != CalBusiness {
		return calErr("日历类型只能是 7×24 或工作时间")
	}
	c.days = [7]bool{}
	for _, s := range strings.Split(c.Weekdays, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 6 {
			return calErr("工作日 %q 无效（0 表示周日，1–6 表示周一至周六）", s)
		}
		c.days[n] = true
	}
	c.spans = nil
	for _, s := range strings.Split(c.Spans, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, b, ok := strings.Cut(s, "-")
		from, err1 := parseHM(a)
		to, err2 := parseHM(b)
		if !ok || err1 != nil || err2 != nil || to <= from {
			return calErr("工作时段 %q 无效，应形如 09:00-12:00", s)
		}
		c.spans = append(c.spans, span{from, to})
	}
	if len(c.spans) == 0 {
		return calErr("工作时间日历至少需要一个工作时段")
	}
	sort.Slice(c.spans, func(i, j int) bool { return c.spans[i].from < c.spans[j].from })
	for i := 1; i < len(c.spans); i++ {
		if c.spans[i].from < c.spans[i-1].to {
			return calErr("工作时段 %s 与前一时段重叠", c.Spans)
		}
	}
	c.off, c.on = map[string]bool{}, map[string]bool{}
	for _, h := range c.Holidays {
		if _, err := time.ParseInLocation(time.DateOnly, h.Day, web.Shanghai()); err != nil {
			return calErr("节假日日期 %q 无效，应为 YYYY-MM-DD", h.Day)
		}
		switch h.Kind {
		case DayHoliday, "":
			c.off[h.Day] = true
		case DayWorkday:
			c.on[h.Day] = true
		default:
			return calErr("节假日类型只能是 holiday（放假）或 workday（调休上班）")
		}
	}
	return nil
}

func parseHM(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// working reports whether the calendar day (midnight in Shanghai) is a working day.
func (c *Calendar) working(day time.Time) bool {
	d := day.Format(time.DateOnly)
	if c.on[d] {
		return true
	}
	if c.off[d] {
		return false
	}
	return c.days[day.Weekday()]
}

// dayStart returns midnight in Shanghai of the day holding t.
func dayStart(t time.Time) time.Time {
	t = t.In(web.Shanghai())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, web.Shanghai())
}

// maxDays bounds calendar walks (a calendar without working time never reaches a target).
const maxDays = 3 * 366

// Between returns the working time in [a, b).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c == nil || c.Kind != CalBusiness {
		return b.Sub(a)
	}
	var total time.Duration
	day := dayStart(a)
	for i := 0; day.Before(b) && i < maxDays; i++ {
		if c.working(day) {
			for _, s := range c.spans {
				from := day.Add(time.Duration(s.from) * time.Minute)
				to := day.Add(time.Duration(s.to) * time.Minute)
				if from.Before(a) {
					from = a
				}
				if to.After(b) {
					to = b
				}
				if to.After(from) {
					total += to.Sub(from)
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return total
}

// Add returns the moment at which d of working time has passed since a. A calendar with no
// working time within three years returns the zero time.
func (c *Calendar) Add(a time.Time, d time.Duration) time.Time {
	if c == nil || c.Kind != CalBusiness {
		return a.Add(d)
	}
	if d <= 0 {
		return a
	}
	day := dayStart(a)
	for i := 0; i < maxDays; i++ {
		if c.working(day) {
			for _, s := range c.spans {
				from := day.Add(time.Duration(s.from) * time.Minute)
				to := day.Add(time.Duration(s.to) * time.Minute)
				if from.Before(a) {
					from = a
				}
				if !to.After(from) {
					continue
				}
				if avail := to.Sub(from); avail >= d {
					return from.Add(d)
				} else {
					d -= avail
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

// Describe is a one-line Chinese description of the calendar.
func (c *Calendar) Describe() string {
	if c.Kind != CalBusiness {
		return "7×24 小时"
	}
	names := []string{"日", "一", "二", "三", "四", "五", "六"}
	var ds []string
	for i, on := range c.days {
		if on {
			ds = append(ds, "周"+names[i])
		}
	}
	return fmt.Sprintf("%s %s，节假日 %d 天，调休上班 %d 天", strings.Join(ds, "、"), c.Spans, len(c.off), len(c.on))
}

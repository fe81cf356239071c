package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/notify"
	"zhsj/internal/store"
)

// SLA target codes. Each stops on its own event.
const (
	TargetArrange   = "arrange"   // 安排并反馈: stops at 响应 (assigned and acknowledged)
	TargetRespond   = "respond"   // 重大事件响应: stops at 响应
	TargetMeasures  = "measures"  // 重大事件采取措施: stops at 处理
	TargetHandle    = "handle"    // 一般事件处理: stops at 验证
	TargetTimetable = "timetable" // 解决时间表: stops at 验证 or when a timetable is recorded
)

// Clock statuses.
const (
	ClockRunning   = "running"
	ClockPaused    = "paused"
	ClockStopped   = "stopped"
	ClockCancelled = "cancelled"
)

// ClockStatusNames are the Chinese names of clock statuses.
var ClockStatusNames = map[string]string{ClockRunning: "计时中", ClockPaused: "已暂停", ClockStopped: "已停止", ClockCancelled: "不适用"}

// Target is one configurable SLA target.
type Target struct {
	Code        string    `db:"code" json:"code"`
	Name        string    `db:"name" json:"name"`
	Description string    `db:"description" json:"description"`
	Grades      string    `db:"grades" json:"grades"`
	Minutes     int       `db:"minutes" json:"minutes"`
	WarnPct     int       `db:"warn_pct" json:"warn_pct"`
	CalendarID  int64     `db:"calendar_id" json:"calendar_id"`
	Enabled     bool      `db:"enabled" json:"enabled"`
	Sort        int       `db:"sort" json:"sort"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// Applies reports whether the target applies to a ticket of the grade.
func (t Target) Applies(grade int) bool {
	if strings.TrimSpace(t.Grades) == "" {
		return true
	}
	return grade != 0 && slices.Contains(splitList(t.Grades), strconv.Itoa(grade))
}

// GradeNames lists the grades the target applies to.
func (t Target) GradeNames() string {
	if strings.TrimSpace(t.Grades) == "" {
		return "全部"
	}
	var out []string
	for _, g := range splitList(t.Grades) {
		n, _ := strconv.Atoi(g)
		out = append(out, GradeName(n))
	}
	return strings.Join(out, "、")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Step is one step of the escalation chain.
type Step struct {
	Level      int       `db:"level" json:"level"`
	Name       string    `db:"name" json:"name"`
	TriggerPct int       `db:"trigger_pct" json:"trigger_pct"`
	ChannelID  *int64    `db:"channel_id" json:"channel_id"`
	UpdatedAt  time.Time `db:"updated_at" json:"updated_at"`
}

// Clock is one SLA clock of a ticket.
type Clock struct {
	ID             int64      `db:"id" json:"id"`
	TicketID       int64      `db:"ticket_id" json:"ticket_id"`
	Target         string     `db:"target" json:"target"`
	TargetName     string     `db:"target_name" json:"target_name"`
	Minutes        int        `db:"minutes" json:"minutes"`
	WarnPct        int        `db:"warn_pct" json:"warn_pct"`
	CalendarID     int64      `db:"calendar_id" json:"calendar_id"`
	Status         string     `db:"status" json:"status"`
	StartedAt      time.Time  `db:"started_at" json:"started_at"`
	StoppedAt      *time.Time `db:"stopped_at" json:"stopped_at,omitempty"`
	ElapsedMS      int64      `db:"elapsed_ms" json:"elapsed_ms"`
	DueAt          *time.Time `db:"due_at" json:"due_at,omitempty"`
	NextCheckAt    *time.Time `db:"next_check_at" json:"-"`
	WarnedAt       *time.Time `db:"warned_at" json:"warned_at,omitempty"`
	BreachedAt     *time.Time `db:"breached_at" json:"breached_at,omitempty"`
	EscalatedLevel int        `db:"escalated_level" json:"escalated_level"`
	Explanation    string     `db:"explanation" json:"explanation"`
	ExplainedBy    string     `db:"explained_by" json:"explained_by"`
	ExplainedAt    *time.Time `db:"explained_at" json:"explained_at,omitempty"`
}

// StatusName is the Chinese name of the clock status.
func (c Clock) StatusName() string { return ClockStatusNames[c.Status] }

// Pct is the share of the target used, in percent.
func (c Clock) Pct() int {
	if c.Minutes <= 0 {
		return 0
	}
	return int(c.ElapsedMS * 100 / (int64(c.Minutes) * 60000))
}

// Met reports whether the clock stopped within its target.
func (c Clock) Met() bool { return c.Status == ClockStopped && c.BreachedAt == nil }

const clockCols = `c.id, c.ticket_id, c.target, COALESCE(g.name, c.target) AS target_name, c.minutes, c.warn_pct, c.calendar_id,
	c.status, c.started_at, c.stopped_at, c.elapsed_ms, c.due_at, c.next_check_at, c.warned_at, c.breached_at, c.escalated_level,
	c.explanation, c.explained_by, c.explained_at`

const clockFrom = ` FROM desk_sla_clocks c LEFT JOIN desk_sla_targets g ON g.code = c.target`

// Clocks lists a ticket's SLA clocks.
func (d *Desk) Clocks(ctx context.Context, ticketID int64) ([]Clock, error) {
	out := []Clock{}
	err := d.db.Select(ctx, &out, `SELECT `+clockCols+clockFrom+` WHERE c.ticket_id = ? ORDER BY g.sort, c.id`, ticketID)
	return out, err
}

// Targets lists the SLA policy.
func (d *Desk) Targets(ctx context.Context) ([]Target, error) {
	return loadTargets(ctx, d.db)
}

func loadTargets(ctx context.Context, q store.Q) ([]Target, error) {
	var out []Target
	err := q.Select(ctx, &out, `SELECT code, name, description, grades, minutes, warn_pct, calendar_id, enabled, sort, updated_at
		FROM desk_sla_targets ORDER BY sort, code`)
	return out, err
}

// Steps lists the escalation chain.
func (d *Desk) Steps(ctx context.Context) ([]Step, error) { return loadSteps(ctx, d.db) }

func loadSteps(ctx context.Context, q store.Q) ([]Step, error) {
	var out []Step
	err := q.Select(ctx, &out, `SELECT level, name, trigger_pct, channel_id, updated_at FROM desk_escalation_steps ORDER BY level`)
	return out, err
}

// loadCalendar reads a calendar with its holidays, ready for use.
func loadCalendar(ctx context.Context, q store.Q, id int64) (*Calendar, error) {
	var c Calendar
	if err := q.Get(ctx, &c, `SELECT id, name, kind, weekdays, spans, updated_at FROM desk_calendars WHERE id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("bad_calendar", "日历 %d 不存在", id)
		}
		return nil, err
	}
	c.Holidays = []Holiday{}
	if err := q.Select(ctx, &c.Holidays, `SELECT day, kind, name FROM desk_holidays WHERE calendar_id = ? ORDER BY day`, id); err != nil {
		return nil, err
	}
	return &c, c.prepare()
}

type pause struct {
	StartedAt time.Time  `db:"started_at"`
	EndedAt   *time.Time `db:"ended_at"`
}

func loadPauses(ctx context.Context, q store.Q, ticketID int64) ([]pause, error) {
	var out []pause
	err := q.Select(ctx, &out, `SELECT started_at, ended_at FROM desk_pauses WHERE ticket_id = ? ORDER BY started_at`, ticketID)
	return out, err
}

// elapsed is the calendar time a clock started at started has run until at, without the
// ticket's pauses.
func elapsed(cal *Calendar, started, at time.Time, pauses []pause) time.Duration {
	total := cal.Between(started, at)
	for _, p := range pauses {
		end := at
		if p.EndedAt != nil && p.EndedAt.Before(at) {
			end = *p.EndedAt
		}
		from := p.StartedAt
		if from.Before(started) {
			from = started
		}
		if end.After(from) {
			total -= cal.Between(from, end)
		}
	}
	return max(total, 0)
}

// stopsAt reports whether the ticket's progress ends a target's clock.
func stopsAt(target string, t *Ticket) bool {
	if t.State == StateVerifying || t.State == StateClosed || t.ResolvedAt != nil {
		return true
	}
	switch target {
	case TargetArrange, TargetRespond:
		return t.AcknowledgedAt != nil
	case TargetMeasures:
		return t.MeasuresAt != nil
	case TargetTimetable:
		return t.PlanDue != ""
	}
	return false
}

// clockState holds what syncing and evaluating a clock need.
type clockState struct {
	cals   map[int64]*Calendar
	pauses []pause
	steps  []Step
}

func (cs *clockState) calendar(ctx context.Context, q store.Q, id int64) (*Calendar, error) {
	if c, ok := cs.cals[id]; ok {
		return c, nil
	}
	c, err := loadCalendar(ctx, q, id)
	if err != nil {
		return nil, err
	}
	cs.cals[id] = c
	return c, nil
}

func newClockState(ctx context.Context, q store.Q, ticketID int64) (*clockState, error) {
	cs := &clockState{cals: map[int64]*Calendar{}}
	var err error
	if cs.pauses, err = loadPauses(ctx, q, ticketID); err != nil {
		return nil, err
	}
	if cs.steps, err = loadSteps(ctx, q); err != nil {
		return nil, err
	}
	return cs, nil
}

// syncClocks brings a ticket's clocks in line with the ticket (called in the transaction of
// every change): starts the targets that apply (measured from acceptance), cancels those that
// no longer apply after a regrade, stops those whose event happened, pauses and resumes them
// with 挂起, and schedules the next check of the running ones.
func (d *Desk) syncClocks(ctx context.Context, tx *store.Tx, t *Ticket, now time.Time) error {
	targets, err := loadTargets(ctx, tx)
	if err != nil {
		return err
	}
	var clocks []Clock
	if err := tx.Select(ctx, &clocks, `SELECT `+clockCols+clockFrom+` WHERE c.ticket_id = ?`, t.ID); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, c := range clocks {
		have[c.Target] = true
	}
	open := t.State != StateVerifying && t.State != StateClosed
	for _, g := range targets {
		if !g.Enabled || !g.Applies(t.Grade) || have[g.Code] || !open || stopsAt(g.Code, t) {
			continue
		}
		id, err := store.InsertID(ctx, tx, `INSERT INTO desk_sla_clocks(ticket_id, target, minutes, warn_pct, calendar_id, status, started_at)
			VALUES (?, ?, ?, ?, ?, 'running', ?)`, t.ID, g.Code, g.Minutes, g.WarnPct, g.CalendarID, t.CreatedAt)
		if err != nil {
			return err
		}
		clocks = append(clocks, Clock{ID: id, TicketID: t.ID, Target: g.Code, TargetName: g.Name, Minutes: g.Minutes, WarnPct: g.WarnPct,
			CalendarID: g.CalendarID, Status: ClockRunning, StartedAt: t.CreatedAt})
	}
	byCode := map[string]Target{}
	for _, g := range targets {
		byCode[g.Code] = g
	}
	cs, err := newClockState(ctx, tx, t.ID)
	if err != nil {
		return err
	}
	for i := range clocks {
		c := &clocks[i]
		if c.Status == ClockStopped || c.Status == ClockCancelled {
			continue
		}
		cal, err := cs.calendar(ctx, tx, c.CalendarID)
		if err != nil {
			return err
		}
		el := elapsed(cal, c.StartedAt, now, cs.pauses)
		c.ElapsedMS = el.Milliseconds()
		if g, ok := byCode[c.Target]; ok && !g.Applies(t.Grade) {
			if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET status = 'cancelled', stopped_at = ?, elapsed_ms = ?, next_check_at = NULL WHERE id = ?`,
				now, c.ElapsedMS, c.ID); err != nil {
				return err
			}
			continue
		}
		if stopsAt(c.Target, t) {
			breached := c.BreachedAt
			if breached == nil && c.ElapsedMS > int64(c.Minutes)*60000 {
				breached = &now
			}
			if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET status = 'stopped', stopped_at = ?, elapsed_ms = ?, breached_at = ?, next_check_at = NULL WHERE id = ?`,
				now, c.ElapsedMS, breached, c.ID); err != nil {
				return err
			}
			continue
		}
		if t.State == StatePending {
			if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET status = 'paused', elapsed_ms = ?, due_at = NULL, next_check_at = NULL WHERE id = ?`,
				c.ElapsedMS, c.ID); err != nil {
				return err
			}
			continue
		}
		c.Status = ClockRunning
		due, next := schedule(cal, c, cs.steps, now)
		if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET status = 'running', elapsed_ms = ?, due_at = ?, next_check_at = ? WHERE id = ?`,
			c.ElapsedMS, due, next, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// schedule returns a running clock's deadline and the next moment a threshold (warning,
// breach or an escalation step) is crossed, given its elapsed time now.
func schedule(cal *Calendar, c *Clock, steps []Step, now time.Time) (due time.Time, next *time.Time) {
	target := time.Duration(c.Minutes) * time.Minute
	el := time.Duration(c.ElapsedMS) * time.Millisecond
	if el < target {
		due = cal.Add(now, target-el)
	} else if c.DueAt != nil {
		due = *c.DueAt
	} else {
		due = now
	}
	var pcts []int
	if c.WarnedAt == nil {
		pcts = append(pcts, c.WarnPct)
	}
	if c.BreachedAt == nil {
		pcts = append(pcts, 100)
	}
	for _, s := range steps {
		if s.Level > c.EscalatedLevel {
			pcts = append(pcts, s.TriggerPct)
		}
	}
	if len(pcts) == 0 {
		return due, nil
	}
	need := target*time.Duration(slices.Min(pcts))/100 - el
	at := now
	if need > 0 {
		at = cal.Add(now, need)
	}
	if at.IsZero() {
		return due, nil
	}
	at = at.Truncate(time.Millisecond)
	return due, &at
}

// EvalResult counts what an evaluation did.
type EvalResult struct {
	Checked, Warned, Breached, Escalated int
}

// EvaluateSLA checks every running clock that has reached a threshold: warns at the target's
// warning share, records a breach at 100%, and walks the escalation chain, each step once.
// The job desk.sla.evaluate runs it every minute.
func (d *Desk) EvaluateSLA(ctx context.Context) (EvalResult, error) {
	var res EvalResult
	now := d.Now()
	sent := false
	for {
		var ids []int64
		if err := d.db.Select(ctx, &ids, `SELECT id FROM desk_sla_clocks WHERE status = 'running' AND next_check_at <= ?
			ORDER BY next_check_at, id LIMIT 200`, now); err != nil {
			return res, err
		}
		for _, id := range ids {
			err := d.db.InTx(ctx, func(tx *store.Tx) error {
				return d.evaluateClock(ctx, tx, id, now, &res, &sent)
			})
			if err != nil {
				return res, fmt.Errorf("运维单 SLA 计时 %d: %w", id, err)
			}
			res.Checked++
		}
		if len(ids) < 200 {
			break
		}
	}
	if sent && d.notify != nil {
		d.notify.Wake()
	}
	return res, nil
}

func (d *Desk) evaluateClock(ctx context.Context, tx *store.Tx, id int64, now time.Time, res *EvalResult, sent *bool) error {
	var c Clock
	sel := `SELECT ` + clockCols + clockFrom + ` WHERE c.id = ? AND c.status = 'running'`
	if tx.Dialect() == store.Postgres {
		sel += ` FOR UPDATE OF c`
	}
	if err := tx.Get(ctx, &c, sel, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // stopped meanwhile
		}
		return err
	}
	if c.NextCheckAt == nil || c.NextCheckAt.After(now) {
		return nil // evaluated by another instance meanwhile
	}
	t, err := lockTicket(ctx, tx, iam.System(), c.TicketID)
	if err != nil {
		return err
	}
	cs, err := newClockState(ctx, tx, c.TicketID)
	if err != nil {
		return err
	}
	cal, err := cs.calendar(ctx, tx, c.CalendarID)
	if err != nil {
		return err
	}
	c.ElapsedMS = elapsed(cal, c.StartedAt, now, cs.pauses).Milliseconds()
	pct := c.Pct()
	payload := map[string]any{"ticket": t.ID, "clock": c.ID, "target": c.Target, "grade": t.Grade}
	if c.WarnedAt == nil && pct >= c.WarnPct {
		c.WarnedAt = &now
		if err := events.Publish(ctx, tx, EventSLAWarning, payload); err != nil {
			return err
		}
		res.Warned++
	}
	if c.BreachedAt == nil && pct >= 100 {
		c.BreachedAt = &now
		if err := events.Publish(ctx, tx, EventSLABreached, payload); err != nil {
			return err
		}
		if err := d.record(ctx, tx, nil, audit.Entry{Action: "desk.sla.breach", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(t.ID),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("运维单 %s 的「%s」超时（目标 %d 分钟）", t.No, c.TargetName, c.Minutes)}); err != nil {
			return err
		}
		res.Breached++
	}
	for _, s := range cs.steps {
		if s.Level <= c.EscalatedLevel || pct < s.TriggerPct {
			continue
		}
		if err := d.escalate(ctx, tx, t, &c, s, pct, now); err != nil {
			return err
		}
		c.EscalatedLevel = s.Level
		res.Escalated++
		*sent = true
	}
	due, next := schedule(cal, &c, cs.steps, now)
	if next != nil && !next.After(now) {
		// Every threshold at or below pct has been handled; the next one lies ahead.
		n := now.Add(time.Minute)
		next = &n
	}
	_, err = tx.Exec(ctx, `UPDATE desk_sla_clocks SET elapsed_ms = ?, warned_at = ?, breached_at = ?, escalated_level = ?, due_at = ?, next_check_at = ?
		WHERE id = ?`, c.ElapsedMS, c.WarnedAt, c.BreachedAt, c.EscalatedLevel, due, next, c.ID)
	return err
}

// escalate sends one escalation step's message through its channel (when configured) and
// records it; the dedup key makes a repeated evaluation queue nothing new.
func (d *Desk) escalate(ctx context.Context, tx *store.Tx, t *Ticket, c *Clock, s Step, pct int, now time.Time) error {
	kind, sev := "预警", notify.SeverityWarning
	if pct >= 100 {
		kind, sev = "超时", notify.SeverityCritical
	}
	link := "/desk/tickets/" + strconv.FormatInt(t.ID, 10)
	if d.baseURL != "" {
		link = d.baseURL + link
	}
	due := "—"
	if c.DueAt != nil {
		due = c.DueAt.In(shanghai()).Format("2006-01-02 15:04")
	}
	msg := notify.Message{
		Title:    fmt.Sprintf("【SLA %s·%s】运维单 %s「%s」已用 %d%%", kind, s.Name, t.No, c.TargetName, pct),
		Severity: sev,
		Link:     link,
		Dedup:    fmt.Sprintf("desk.sla:%d:%d", c.ID, s.Level),
		Text: fmt.Sprintf("**运维单**：%s %s\n\n**等级**：%s　**系统**：%s　**状态**：%s\n\n**SLA 目标**：%s（%d 分钟），已用 %d%%，截止 %s\n\n**处理人**：%s\n\n**升级对象**：%s",
			t.No, t.Title, GradeName(t.Grade), firstNonEmpty(t.System, "—"), StateNames[t.State], c.TargetName, c.Minutes, pct, due,
			firstNonEmpty(t.AssigneeName, "未指派"), s.Name),
	}
	var delivery *int64
	note := ""
	if s.ChannelID == nil {
		note = "未配置通知渠道，仅发布事件"
	} else {
		id, err := d.notify.Enqueue(ctx, tx, *s.ChannelID, msg)
		switch {
		case errors.Is(err, notify.ErrChannelDisabled) || errors.Is(err, notify.ErrChannelNotFound):
			note = err.Error()
		case err != nil:
			return err
		default:
			delivery = &id
			note = "已发送至通知渠道"
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO desk_escalations(clock_id, ticket_id, level, name, pct, channel_id, delivery_id, note, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clock_id, level) DO NOTHING`, c.ID, t.ID, s.Level, s.Name, pct, s.ChannelID, delivery, note, now)
	return err
}

// Escalation is one sent escalation step.
type Escalation struct {
	ClockID    int64     `db:"clock_id" json:"clock_id"`
	Level      int       `db:"level" json:"level"`
	Name       string    `db:"name" json:"name"`
	Pct        int       `db:"pct" json:"pct"`
	ChannelID  *int64    `db:"channel_id" json:"channel_id,omitempty"`
	DeliveryID *int64    `db:"delivery_id" json:"delivery_id,omitempty"`
	Note       string    `db:"note" json:"note"`
	At         time.Time `db:"at" json:"at"`
}

// Escalations lists a ticket's escalation steps.
func (d *Desk) Escalations(ctx context.Context, ticketID int64) ([]Escalation, error) {
	out := []Escalation{}
	err := d.db.Select(ctx, &out, `SELECT clock_id, level, name, pct, channel_id, delivery_id, note, at FROM desk_escalations WHERE ticket_id = ? ORDER BY id`, ticketID)
	return out, err
}

// ExplainBreach records why a clock was breached (shown in the work reports).
func (d *Desk) ExplainBreach(ctx context.Context, r *http.Request, p *iam.Principal, ticketID, clockID int64, text string) error {
	text = strings.TrimSpace(text)
	if err := checkText("explanation", "超时说明", text, 4, 2000); err != nil {
		return err
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, ticketID)
		if err != nil {
			return err
		}
		var c Clock
		if err := tx.Get(ctx, &c, `SELECT `+clockCols+clockFrom+` WHERE c.id = ? AND c.ticket_id = ?`, clockID, ticketID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return badRequest("bad_clock", "该运维单没有这个 SLA 计时")
			}
			return err
		}
		if c.BreachedAt == nil {
			return conflict("not_breached", "「%s」未超时，无需说明", c.TargetName)
		}
		a := actor{p: p, r: r}
		if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET explanation = ?, explained_by = ?, explained_at = ? WHERE id = ?`,
			text, a.name(), d.Now(), clockID); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.sla.explain", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(ticketID),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("运维单 %s「%s」超时说明：%s", t.No, c.TargetName, text)})
	})
}

// TargetInput changes one SLA target.
type TargetInput struct {
	Name       string `json:"name"`
	Grades     string `json:"grades"`
	Minutes    int    `json:"minutes"`
	WarnPct    int    `json:"warn_pct"`
	CalendarID int64  `json:"calendar_id"`
	Enabled    bool   `json:"enabled"`
}

// UpdateTarget changes the policy of one target; clocks already started keep the policy they
// started with.
func (d *Desk) UpdateTarget(ctx context.Context, r *http.Request, code string, in TargetInput) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return badRequest("missing_name", "请填写目标名称")
	}
	if in.Minutes < 1 || in.Minutes > 60*24*90 {
		return badRequest("bad_minutes", "时限须在 1 分钟到 90 天之间")
	}
	if in.WarnPct < 1 || in.WarnPct > 99 {
		return badRequest("bad_warn_pct", "预警比例须在 1%% 到 99%% 之间")
	}
	var grades []string
	for _, g := range splitList(in.Grades) {
		n, err := strconv.Atoi(g)
		if err != nil || GradeNames[n] == "" {
			return badRequest("bad_grades", "适用等级 %q 无效，应为 1（特别重大）到 4（一般）", g)
		}
		grades = append(grades, g)
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadCalendar(ctx, tx, in.CalendarID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE desk_sla_targets SET name = ?, grades = ?, minutes = ?, warn_pct = ?, calendar_id = ?, enabled = ?, updated_at = ?
			WHERE code = ?`, in.Name, strings.Join(grades, ","), in.Minutes, in.WarnPct, in.CalendarID, in.Enabled, d.Now(), code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return badRequest("bad_target", "SLA 目标 %q 不存在", code)
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.sla.policy", ObjectType: "desk_sla_target", ObjectID: code,
			Detail: fmt.Sprintf("修改 SLA 目标「%s」：%d 分钟，预警 %d%%，适用等级 %s，日历 %d，%s", in.Name, in.Minutes, in.WarnPct,
				firstNonEmpty(strings.Join(grades, ","), "全部"), in.CalendarID, map[bool]string{true: "启用", false: "停用"}[in.Enabled])})
	})
}

// UpdateSteps replaces the escalation chain's thresholds and channels.
func (d *Desk) UpdateSteps(ctx context.Context, r *http.Request, steps []Step) error {
	if len(steps) == 0 || len(steps) > 5 {
		return badRequest("bad_steps", "升级链须有 1 到 5 级")
	}
	prev := 0
	for i, s := range steps {
		if strings.TrimSpace(s.Name) == "" {
			return badRequest("missing_name", "第 %d 级须填写名称（如 运维工程师、项目经理、局方联系人）", i+1)
		}
		if s.TriggerPct < 1 || s.TriggerPct > 1000 {
			return badRequest("bad_pct", "第 %d 级的触发比例须在 1%% 到 1000%% 之间", i+1)
		}
		if s.TriggerPct < prev {
			return badRequest("bad_order", "升级链各级的触发比例须逐级不降")
		}
		prev = s.TriggerPct
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM desk_escalation_steps`); err != nil {
			return err
		}
		var desc []string
		for i, s := range steps {
			if s.ChannelID != nil && *s.ChannelID == 0 {
				s.ChannelID = nil
			}
			if s.ChannelID != nil {
				var n int
				if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM notify_channels WHERE id = ?`, *s.ChannelID); err != nil {
					return err
				}
				if n == 0 {
					return badRequest("bad_channel", "第 %d 级的通知渠道 %d 不存在", i+1, *s.ChannelID)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_escalation_steps(level, name, trigger_pct, channel_id, updated_at) VALUES (?, ?, ?, ?, ?)`,
				i+1, strings.TrimSpace(s.Name), s.TriggerPct, s.ChannelID, d.Now()); err != nil {
				return err
			}
			ch := "无渠道"
			if s.ChannelID != nil {
				ch = fmt.Sprintf("渠道 %d", *s.ChannelID)
			}
			desc = append(desc, fmt.Sprintf("%d.%s %d%% %s", i+1, strings.TrimSpace(s.Name), s.TriggerPct, ch))
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.sla.escalation", ObjectType: "desk_escalation", ObjectID: "chain",
			Detail: "修改升级链：" + strings.Join(desc, "；")})
	})
}

// Calendars lists the SLA calendars with their holidays.
func (d *Desk) Calendars(ctx context.Context) ([]*Calendar, error) {
	var ids []int64
	if err := d.db.Select(ctx, &ids, `SELECT id FROM desk_calendars ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]*Calendar, 0, len(ids))
	for _, id := range ids {
		c, err := loadCalendar(ctx, d.db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// SaveCalendar creates (id 0) or replaces a calendar and its holidays.
func (d *Desk) SaveCalendar(ctx context.Context, r *http.Request, id int64, c Calendar) (int64, error) {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return 0, badRequest("missing_name", "请填写日历名称")
	}
	if err := c.prepare(); err != nil {
		return 0, err
	}
	if c.Kind == Cal24x7 {
		c.Weekdays, c.Spans, c.Holidays = "0,1,2,3,4,5,6", "", nil
	}
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM desk_calendars WHERE name = ? AND id <> ?`, c.Name, id); err != nil {
			return err
		}
		if n > 0 {
			return conflict("name_taken", "日历名称「%s」已存在", c.Name)
		}
		if id == 0 {
			var err error
			id, err = store.InsertID(ctx, tx, `INSERT INTO desk_calendars(name, kind, weekdays, spans, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				c.Name, c.Kind, c.Weekdays, c.Spans, now, now)
			if err != nil {
				return err
			}
		} else {
			res, err := tx.Exec(ctx, `UPDATE desk_calendars SET name = ?, kind = ?, weekdays = ?, spans = ?, updated_at = ? WHERE id = ?`,
				c.Name, c.Kind, c.Weekdays, c.Spans, now, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return badRequest("bad_calendar", "日历 %d 不存在", id)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM desk_holidays WHERE calendar_id = ?`, id); err != nil {
				return err
			}
		}
		for _, h := range c.Holidays {
			kind := h.Kind
			if kind == "" {
				kind = DayHoliday
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_holidays(calendar_id, day, kind, name) VALUES (?, ?, ?, ?)
				ON CONFLICT (calendar_id, day) DO UPDATE SET kind = excluded.kind, name = excluded.name`, id, h.Day, kind, strings.TrimSpace(h.Name)); err != nil {
				return err
			}
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.sla.calendar", ObjectType: "desk_calendar", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("保存 SLA 日历「%s」：%s", c.Name, c.Describe())})
	})
	return id, err
}

// Breach is a breached clock for lists and reports.
type Breach struct {
	TicketID    int64      `db:"ticket_id" json:"ticket_id"`
	No          string     `db:"no" json:"no"`
	Title       string     `db:"title" json:"title"`
	System      string     `db:"system" json:"system"`
	Grade       int        `db:"grade" json:"grade"`
	ClockID     int64      `db:"clock_id" json:"clock_id"`
	Target      string     `db:"target" json:"target"`
	TargetName  string     `db:"target_name" json:"target_name"`
	Minutes     int        `db:"minutes" json:"minutes"`
	BreachedAt  time.Time  `db:"breached_at" json:"breached_at"`
	Explanation string     `db:"explanation" json:"explanation"`
	ExplainedBy string     `db:"explained_by" json:"explained_by"`
	ExplainedAt *time.Time `db:"explained_at" json:"explained_at,omitempty"`
}

// GradeName is the Chinese name of the ticket's grade.
func (b Breach) GradeName() string { return GradeName(b.Grade) }

const breachSelect = `SELECT t.id AS ticket_id, t.no, t.title, t.system, t.grade, c.id AS clock_id, c.target, COALESCE(g.name, c.target) AS target_name,
	c.minutes, c.breached_at, c.explanation, c.explained_by, c.explained_at
	FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id LEFT JOIN desk_sla_targets g ON g.code = c.target`

// Breaches lists breached clocks within p's data scope, newest first; unexplained only when asked.
func (d *Desk) Breaches(ctx context.Context, p *iam.Principal, unexplained bool, limit int) ([]Breach, error) {
	where, args := p.Filter(scopeCols)
	if unexplained {
		where += ` AND c.explanation = ''`
	}
	out := []Breach{}
	err := d.db.Select(ctx, &out, breachSelect+` WHERE c.breached_at IS NOT NULL AND c.status <> 'cancelled' AND `+where+
		` ORDER BY c.breached_at DESC LIMIT ?`, append(args, limit)...)
	return out, err
}

package desk_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
	"zhsj/internal/notify"
)

func (e *env) evaluate() desk.EvalResult {
	e.t.Helper()
	res, err := e.desk.EvaluateSLA(e.ctx)
	if err != nil {
		e.t.Fatalf("evaluate: %v", err)
	}
	return res
}

func (e *env) events(name string) int {
	e.t.Helper()
	var n int
	if err := e.App.DB.Get(e.ctx, &n, `SELECT COUNT(*) FROM events WHERE name = ?`, name); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestSLAClocksPausesCalendarsTimetable drives the clocks with a controllable clock: 挂起
// pauses them, a late grade starts the grade's targets measured from acceptance, warnings
// come at 80% and breaches at 100%, a timetable before the 24-hour mark satisfies that rule
// while a ticket without one breaches it, and a business-hours calendar skips nights,
// holidays and counts a make-up working Saturday.
func TestSLAClocksPausesCalendarsTimetable(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		engID := e.User("eng", "610000", "engineer")
		eng := e.Login("eng")

		a := create(t, eng, map[string]any{"title": "许可备案页面报错", "system": "许可备案"}) // 09:00
		b := create(t, eng, map[string]any{"title": "投诉举报统计不一致", "system": "投诉举报"})
		ga := get(t, eng, a.ID)
		if len(ga.Clocks) != 2 || ga.clock("arrange").Minutes != 60 || ga.clock("timetable").Minutes != 1440 {
			t.Fatalf("clocks at acceptance: %+v", ga.Clocks)
		}
		if due := ga.clock("arrange").DueAt; due == nil || !due.Equal(at("2026-03-02 10:00")) {
			t.Fatalf("arrange due %v", due)
		}
		e.clock.Advance(10 * time.Minute) // 09:10
		step(t, eng, a.ID, map[string]any{"action": "register", "reporter": "李科长", "system": "许可备案", "category": "系统报错"})
		step(t, eng, a.ID, map[string]any{"action": "suspend", "note": "等待用户确认报错时间"})
		if c := get(t, eng, a.ID).clock("arrange"); c.Status != desk.ClockPaused || c.DueAt != nil {
			t.Fatalf("paused clock %+v", c)
		}
		e.clock.Advance(2 * time.Hour) // 11:10, two hours pending
		// B, not pending, is past its hour: warned and breached at once. A is paused.
		if r := e.evaluate(); r.Warned != 1 || r.Breached != 1 {
			t.Fatalf("evaluation at 11:10: %+v", r)
		}
		if c := get(t, eng, a.ID).clock("arrange"); c.WarnedAt != nil || c.BreachedAt != nil {
			t.Fatalf("paused clock warned: %+v", c)
		}
		if c := get(t, eng, b.ID).clock("arrange"); c.BreachedAt == nil || c.EscalatedLevel != 3 {
			t.Fatalf("B's arrange clock at 130 minutes: %+v", c)
		}
		step(t, eng, a.ID, map[string]any{"action": "resume"})
		ga = get(t, eng, a.ID)
		arr := ga.clock("arrange")
		if arr.Status != desk.ClockRunning || arr.ElapsedMS != (10*time.Minute).Milliseconds() || !arr.DueAt.Equal(at("2026-03-02 12:00")) {
			t.Fatalf("resumed arrange: status %s elapsed %d due %v (want 10 min used, due 12:00)", arr.Status, arr.ElapsedMS, arr.DueAt)
		}
		// Graded 一般 now: the 30-minute handling target starts, measured from acceptance
		// without the pending time, so 10 of its 30 minutes are gone.
		step(t, eng, a.ID, map[string]any{"action": "grade", "impact": 4, "urgency": 4})
		ga = get(t, eng, a.ID)
		h := ga.clock("handle")
		if h.ID == 0 || h.ElapsedMS != (10*time.Minute).Milliseconds() || !h.DueAt.Equal(at("2026-03-02 11:30")) || ga.clock("respond").ID != 0 {
			t.Fatalf("handle clock %+v (respond %+v)", h, ga.clock("respond"))
		}
		e.clock.Advance(14 * time.Minute) // 11:24: handle at 24/30 = 80%
		if r := e.evaluate(); r.Warned != 1 || r.Breached != 0 {
			t.Fatalf("at 80%% of handling: %+v", r)
		}
		if r := e.evaluate(); r.Warned != 0 || r.Checked != 0 {
			t.Fatalf("second evaluation repeated work: %+v", r)
		}
		e.clock.Advance(6 * time.Minute) // 11:30: handle breached
		if r := e.evaluate(); r.Breached != 1 {
			t.Fatalf("at 100%% of handling: %+v", r)
		}
		step(t, eng, a.ID, map[string]any{"action": "respond", "assignee_id": engID, "note": "已安排处理"})
		ga = get(t, eng, a.ID)
		if c := ga.clock("arrange"); c.Status != desk.ClockStopped || c.BreachedAt != nil || c.ElapsedMS != (30*time.Minute).Milliseconds() {
			t.Fatalf("arrange after response: %+v", c)
		}
		if c := ga.clock("handle"); c.Status != desk.ClockRunning || c.BreachedAt == nil {
			t.Fatalf("handle keeps running after breach: %+v", c)
		}
		if e.events(desk.EventSLAWarning) != 2 || e.events(desk.EventSLABreached) != 2 {
			t.Fatalf("events: warning %d breached %d", e.events(desk.EventSLAWarning), e.events(desk.EventSLABreached))
		}

		// The 24-hour timetable rule. B has run 19 h 12 min (80%) by then, A 2 h less.
		e.clock.Set(at("2026-03-03 04:12"))
		e.evaluate()
		if c := get(t, eng, b.ID).clock("timetable"); c.WarnedAt == nil || c.BreachedAt != nil {
			t.Fatalf("B timetable at 80%%: %+v", c)
		}
		if c := get(t, eng, a.ID).clock("timetable"); c.WarnedAt != nil {
			t.Fatalf("A timetable warned early (pending time counted): %+v", c)
		}
		// A gets a dated plan before its 24-hour mark: the rule is satisfied.
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/plans", a.ID), map[string]any{"steps": []map[string]string{{"step": "更换中间件版本", "due_date": "2026-03-01"}}}),
			400, "past_date", "plan in the past")
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/plans", a.ID), map[string]any{"step_text": []string{"联系厂商"}, "due_date": []string{}}),
			400, "bad_steps", "step without date")
		mustStatus(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/plans", a.ID), map[string]any{"steps": []map[string]string{
			{"step": "联系厂商获取补丁", "due_date": "2026-03-04"}, {"step": "在预生产环境验证后上线", "due_date": "2026-03-06"}}}), 200, "plan")
		ga = get(t, eng, a.ID)
		if c := ga.clock("timetable"); c.Status != desk.ClockStopped || c.BreachedAt != nil || ga.PlanDue != "2026-03-06" || len(ga.Plans) != 2 {
			t.Fatalf("A with timetable: clock %+v plan_due %q plans %d", c, ga.PlanDue, len(ga.Plans))
		}
		e.clock.Set(at("2026-03-03 09:00")) // B reaches 24 hours without a timetable
		e.evaluate()
		gb := get(t, eng, b.ID)
		tt := gb.clock("timetable")
		if tt.BreachedAt == nil {
			t.Fatalf("B without timetable not breached at 24 h: %+v", tt)
		}
		// A breach is recorded with its explanation.
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/clocks/%d/explanation", b.ID, tt.ID), map[string]any{"explanation": "无"}), 400, "vague_explanation", "vague explanation")
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/clocks/%d/explanation", a.ID, ga.clock("timetable").ID), map[string]any{"explanation": "未超时也说明一下"}),
			409, "not_breached", "explain a met clock")
		mustStatus(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/clocks/%d/explanation", b.ID, tt.ID), map[string]any{"explanation": "需厂商排查，厂商周末未响应"}), 200, "explain")
		if c := get(t, eng, b.ID).clock("timetable"); c.Explanation != "需厂商排查，厂商周末未响应" || c.ExplainedBy != "测试eng" {
			t.Fatalf("explanation %+v", c)
		}

		// A business-hours calendar with a holiday Friday and a make-up working Saturday.
		mustStatus(t, eng.Do("PUT", "/api/v1/desk/sla/calendars/2", map[string]any{"name": "工作日工作时间", "kind": "business", "weekdays": "1,2,3,4,5",
			"spans": "09:00-12:00,13:30-17:30", "holidays_text": "2026-03-06 放假 调休\n2026-03-07 上班 调休上班"}), 200, "calendar")
		mustStatus(t, eng.Do("PUT", "/api/v1/desk/sla/targets/arrange", map[string]any{"name": "安排并反馈", "grades": "", "minutes": 60, "warn_pct": 80,
			"calendar_id": 2, "enabled": true}), 200, "target on business hours")
		e.clock.Set(at("2026-03-05 17:00")) // Thursday
		c := create(t, eng, map[string]any{"title": "下班前提交的运维单"})
		gc := get(t, eng, c.ID)
		if arr := gc.clock("arrange"); arr.CalendarID != 2 || !arr.DueAt.Equal(at("2026-03-07 09:30")) {
			t.Fatalf("business-hours due %v (calendar %d), want Saturday 09:30", arr.DueAt, arr.CalendarID)
		}
		if a := get(t, eng, a.ID).clock("arrange"); a.CalendarID != 1 {
			t.Fatalf("a started clock changed calendar: %+v", a)
		}
		e.clock.Set(at("2026-03-06 16:00")) // the holiday: still 30 of 60 minutes
		e.evaluate()
		if arr := get(t, eng, c.ID).clock("arrange"); arr.WarnedAt != nil {
			t.Fatalf("warned during the holiday: %+v", arr)
		}
		e.clock.Set(at("2026-03-07 09:17"))
		e.evaluate()
		if arr := get(t, eng, c.ID).clock("arrange"); arr.WarnedAt != nil {
			t.Fatalf("warned at 47 of 60 minutes")
		}
		e.clock.Set(at("2026-03-07 09:18"))
		e.evaluate()
		if arr := get(t, eng, c.ID).clock("arrange"); arr.WarnedAt == nil || arr.ElapsedMS != (48*time.Minute).Milliseconds() {
			t.Fatalf("not warned at 48 of 60 working minutes: %+v", arr)
		}
		// Bad policy input is refused.
		mustError(t, eng.Do("PUT", "/api/v1/desk/sla/targets/arrange", map[string]any{"name": "x", "minutes": 0, "warn_pct": 80, "calendar_id": 1}), 400, "bad_minutes", "zero minutes")
		mustError(t, eng.Do("PUT", "/api/v1/desk/sla/targets/arrange", map[string]any{"name": "x", "minutes": 60, "warn_pct": 80, "calendar_id": 1, "grades": "5"}), 400, "bad_grades", "grade 5")
		mustError(t, eng.Do("PUT", "/api/v1/desk/sla/calendars/2", map[string]any{"name": "坏日历", "kind": "business", "weekdays": "1", "spans": "18:00-09:00"}), 400, "bad_calendar", "bad spans")
	})
}

// hook is a local webhook receiver that verifies the hub's signature.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	bad    []error
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.VerifyWebhook(secret, r.Header.Get(notify.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			h.bad = append(h.bad, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		h.bodies = append(h.bodies, m)
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) titles() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		out = append(out, fmt.Sprint(b["title"]))
	}
	return out
}

func (e *env) deliver() {
	e.t.Helper()
	if _, err := e.App.Notify.DeliverDue(e.ctx); err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
}

// TestEscalationMessagesReachWebhook checks the escalation chain end to end: at 80% of the
// 1-hour arrangement target the engineer's channel gets a warning, at 100% the project
// manager's gets the breach, at 150% the bureau contact's — each once, signed, through the
// notification hub to a local webhook receiver — and the sla_warning / sla_breached events
// are published. The last step runs through the registered job.
func TestEscalationMessagesReachWebhook(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		e.User("eng", "610000", "engineer")
		eng := e.Login("eng")
		h := newHook(t, "desk-secret")
		cfg, _ := json.Marshal(notify.WebhookConfig{URL: h.srv.URL + "/escalation", Secret: "desk-secret"})
		ch, err := e.App.Notify.CreateChannel(e.ctx, notify.Channel{Name: "值班群 Webhook", Kind: notify.KindWebhook, Config: cfg, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		mustError(t, eng.Do("PUT", "/api/v1/desk/sla/escalation", map[string]any{"steps": []map[string]any{{"name": "运维工程师", "trigger_pct": 100}, {"name": "项目经理", "trigger_pct": 80}}}),
			400, "bad_order", "decreasing chain")
		mustError(t, eng.Do("PUT", "/api/v1/desk/sla/escalation", map[string]any{"steps": []map[string]any{{"name": "运维工程师", "trigger_pct": 80, "channel_id": 999}}}),
			400, "bad_channel", "unknown channel")
		// The page form's shape: parallel arrays.
		mustStatus(t, eng.Do("PUT", "/api/v1/desk/sla/escalation", map[string]any{"name": []string{"运维工程师", "项目经理", "局方联系人"},
			"trigger_pct": []int{80, 100, 150}, "channel_id": []int64{ch, ch, ch}}), 200, "escalation chain")

		tk := create(t, eng, map[string]any{"title": "统一认证登录失败", "system": "统一认证"})
		e.clock.Advance(47 * time.Minute)
		e.evaluate()
		e.deliver()
		if got := h.titles(); len(got) != 0 {
			t.Fatalf("messages before 80%%: %v", got)
		}
		e.clock.Advance(time.Minute) // 48 of 60 minutes
		if r := e.evaluate(); r.Warned != 1 || r.Escalated != 1 {
			t.Fatalf("at 80%%: %+v", r)
		}
		e.deliver()
		got := h.titles()
		if len(got) != 1 || !strings.Contains(got[0], "SLA 预警·运维工程师") || !strings.Contains(got[0], tk.No) || !strings.Contains(got[0], "安排并反馈") {
			t.Fatalf("warning message: %v", got)
		}
		e.evaluate() // nothing new
		e.deliver()
		if n := len(h.titles()); n != 1 {
			t.Fatalf("repeated evaluation sent %d messages", n)
		}
		e.clock.Advance(12 * time.Minute) // 100%
		if r := e.evaluate(); r.Breached != 1 || r.Escalated != 1 {
			t.Fatalf("at 100%%: %+v", r)
		}
		e.deliver()
		if got := h.titles(); len(got) != 2 || !strings.Contains(got[1], "SLA 超时·项目经理") {
			t.Fatalf("breach message: %v", got)
		}
		// The last step runs through the scheduled job's registered function.
		e.clock.Advance(30 * time.Minute) // 150%
		if run := e.RunJob(e.ctx, "desk.sla.evaluate"); run.Status != "succeeded" {
			t.Fatalf("job run %+v", run)
		}
		e.deliver()
		got = h.titles()
		if len(got) != 3 || !strings.Contains(got[2], "SLA 超时·局方联系人") {
			t.Fatalf("bureau message: %v", got)
		}
		if len(h.bad) > 0 {
			t.Fatalf("signature errors: %v", h.bad)
		}
		h.mu.Lock()
		body := h.bodies[0]
		h.mu.Unlock()
		if body["severity"] != "warning" || !strings.Contains(fmt.Sprint(body["link"]), fmt.Sprintf("/desk/tickets/%d", tk.ID)) || !strings.Contains(fmt.Sprint(body["text"]), "已用 80%") {
			t.Fatalf("warning body %v", body)
		}
		gt := get(t, eng, tk.ID)
		if len(gt.Escalations) != 3 || gt.Escalations[0].DeliveryID == nil || gt.Escalations[2].Name != "局方联系人" {
			t.Fatalf("escalations %+v", gt.Escalations)
		}
		if e.events(desk.EventSLAWarning) != 1 || e.events(desk.EventSLABreached) != 1 {
			t.Fatalf("events: warning %d breached %d", e.events(desk.EventSLAWarning), e.events(desk.EventSLABreached))
		}
		var payload string
		e.App.DB.Get(e.ctx, &payload, `SELECT payload FROM events WHERE name = ?`, desk.EventSLABreached)
		if !strings.Contains(payload, fmt.Sprintf(`"ticket":%d`, tk.ID)) || !strings.Contains(payload, `"target":"arrange"`) {
			t.Fatalf("breach payload %s", payload)
		}
	})
}

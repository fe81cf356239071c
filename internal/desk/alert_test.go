package desk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
	"zhsj/internal/events"
)

// runBus delivers events in the background for the rest of the test.
func (e *env) runBus() {
	e.t.Helper()
	if err := e.App.Events.Init(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.App.Events.Run(ctx)
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) publish(name string, payload map[string]any) {
	e.t.Helper()
	if err := events.Publish(e.ctx, e.App.DB, name, payload); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor polls until cond holds (events are delivered asynchronously).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the desk's subscribers have nothing pending.
func (e *env) settled() {
	e.t.Helper()
	e.waitFor("event delivery", func() bool {
		var n int
		e.App.DB.Get(e.ctx, &n, `SELECT COUNT(*) FROM event_deliveries WHERE subscriber LIKE 'desk.%' AND status <> 'done'`)
		return n == 0
	})
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.App.DB.Get(e.ctx, &n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestTicketFromAlertAndAutoVerification: the first alert of a group opens a ticket (source
// alert, linked), a repeated delivery and further alerts of the group open nothing new, the
// ticket moves to verification when all its alerts have recovered, and an alert firing again
// reopens it. Inspection findings open one ticket each.
func TestTicketFromAlertAndAutoVerification(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		e.User("eng", "610000", "engineer")
		eng := e.Login("eng")
		e.runBus()
		// The monitor sends its system code; the desk shows the name the monitor knows.
		if _, err := e.App.DB.Exec(e.ctx, `INSERT INTO monitor_systems(code, name, created_at, updated_at) VALUES ('xkba', '许可备案', ?, ?)`, start, start); err != nil {
			t.Fatal(err)
		}
		fire := map[string]any{"alert": 101, "group": "system:xkba", "severity": "major", "system": "xkba"}
		e.publish(desk.EventAlertFiring, fire)
		e.waitFor("alert ticket", func() bool { return e.count(`SELECT COUNT(*) FROM desk_tickets WHERE source = 'alert'`) == 1 })
		var id int64
		e.App.DB.Get(e.ctx, &id, `SELECT id FROM desk_tickets WHERE source = 'alert'`)
		tk := get(t, eng, id)
		if tk.State != desk.StateAccepted || tk.System != "许可备案" || tk.Title != "【监控告警】许可备案重大告警" || len(tk.Clocks) == 0 {
			t.Fatalf("alert ticket %+v", tk.Ticket)
		}
		if len(tk.Links) != 2 || tk.Links[0].Kind != "alert_group" || tk.Links[0].Ref != "system:xkba" || tk.Links[1].Ref != "101" {
			t.Fatalf("links %+v", tk.Links)
		}
		// The same event delivered again (at-least-once) and a second alert of the group.
		e.publish(desk.EventAlertFiring, fire)
		e.publish(desk.EventAlertFiring, map[string]any{"alert": "102", "group": "system:xkba", "severity": "general", "system": "许可备案"})
		e.settled()
		if n := e.count(`SELECT COUNT(*) FROM desk_tickets`); n != 1 {
			t.Fatalf("%d tickets for one alert group", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM desk_ticket_links WHERE ticket_id = ? AND kind = 'alert'`, id); n != 2 {
			t.Fatalf("%d alerts linked", n)
		}
		// The engineer takes it up meanwhile.
		step(t, eng, id, map[string]any{"action": "register", "category": "接口失败"})
		// One alert recovers: the other still fires, nothing moves.
		e.publish(desk.EventAlertResolved, map[string]any{"alert": 101, "group": "system:xkba", "severity": "major", "system": "许可备案"})
		e.settled()
		if g := get(t, eng, id); g.State != desk.StateRegistered {
			t.Fatalf("moved with an alert still firing: %s", g.State)
		}
		// Both recovered: the ticket goes to verification by itself.
		e.publish(desk.EventAlertResolved, map[string]any{"alert": 102, "group": "system:xkba"})
		e.waitFor("auto verification", func() bool { return get(t, eng, id).State == desk.StateVerifying })
		g := get(t, eng, id)
		last := g.Transitions[len(g.Transitions)-1]
		if last.Action != desk.ActResolve || last.Actor != "系统" || !strings.Contains(last.Note, "自动转入验证") || g.ResolvedAt == nil {
			t.Fatalf("auto step %+v", last)
		}
		for _, c := range g.Clocks {
			if c.Status == desk.ClockRunning {
				t.Fatalf("clock running in verification: %+v", c)
			}
		}
		// A repeated resolution changes nothing; the group firing again reopens the ticket.
		e.publish(desk.EventAlertResolved, map[string]any{"alert": 102})
		e.publish(desk.EventAlertFiring, map[string]any{"alert": 103, "group": "system:xkba", "severity": "critical", "system": "许可备案"})
		e.waitFor("reopen", func() bool { return get(t, eng, id).State == desk.StateInvestigating })
		if n := e.count(`SELECT COUNT(*) FROM desk_tickets`); n != 1 {
			t.Fatalf("%d tickets after refiring", n)
		}
		// Once the ticket is closed, a new firing in the group opens a new ticket.
		step(t, eng, id, map[string]any{"action": "handle", "note": "重启接口服务"})
		step(t, eng, id, map[string]any{"action": "resolve"})
		step(t, eng, id, map[string]any{"action": "close", "cause": "接口服务内存泄漏", "method": "重启接口服务并升级补丁", "verify_result": "告警恢复，接口正常"})
		e.publish(desk.EventAlertFiring, map[string]any{"alert": 104, "group": "system:xkba", "severity": "general", "system": "许可备案"})
		e.waitFor("new ticket after close", func() bool { return e.count(`SELECT COUNT(*) FROM desk_tickets WHERE source = 'alert'`) == 2 })

		// Inspection findings: one ticket each, idempotent.
		f := map[string]any{"finding": 7, "inspection": 3, "severity": "warning", "system": "数据库", "title": "主库表空间使用率 92%"}
		e.publish(desk.EventFindingOpened, f)
		e.publish(desk.EventFindingOpened, f)
		e.settled()
		if n := e.count(`SELECT COUNT(*) FROM desk_tickets WHERE source = 'inspection'`); n != 1 {
			t.Fatalf("%d tickets for one finding", n)
		}
		var title string
		e.App.DB.Get(e.ctx, &title, `SELECT title FROM desk_tickets WHERE source = 'inspection'`)
		if title != "【巡检发现】主库表空间使用率 92%" {
			t.Fatalf("finding title %q", title)
		}
		// A malformed event is not dropped silently: it fails (and is retried, then kept as dead).
		e.publish(desk.EventAlertFiring, map[string]any{"group": "x"})
		e.waitFor("failed delivery", func() bool {
			return e.count(`SELECT COUNT(*) FROM event_deliveries WHERE subscriber = 'desk.alerts' AND attempts > 0 AND status <> 'done'`) == 1
		})
	})
}

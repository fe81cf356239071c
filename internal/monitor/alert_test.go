package monitor

import (
	"context"
	"strings"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

func TestAlertLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		e := newEnv(t, db, c)
		e.disableSeededRules(t)
		tg := e.target(t, Target{Name: "门户首页"})
		rid := e.rule(t, Rule{Name: "门户不可用", Metric: "probe_success", Op: "<", Threshold: 1, ForSeconds: 60, Severity: SevMajor})

		// Down: pending, nothing sent yet.
		e.result(t, tg, false)
		e.eval(t)
		alerts, _, _ := e.s.Alerts(ctx, AlertFilter{State: "active"})
		if len(alerts) != 1 || alerts[0].State != StatePending || alerts[0].RuleID != rid {
			t.Fatalf("after first failure: %+v", alerts)
		}
		if n := len(e.deliveries(t)); n != 0 {
			t.Fatalf("pending alert notified: %d", n)
		}
		// Still down after 30 s: still pending.
		c.Add(30 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		if a, _ := e.s.Alert(ctx, alerts[0].ID); a.State != StatePending {
			t.Fatalf("fired before its duration: %s", a.State)
		}
		// After 60 s: firing, one notification, one event.
		c.Add(31 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		a, _ := e.s.Alert(ctx, alerts[0].ID)
		if a.State != StateFiring || a.FiredAt == nil || a.NotifyCount != 1 || !strings.Contains(a.Summary, "连接被拒绝") {
			t.Fatalf("firing: %+v", a)
		}
		ds := e.deliveries(t)
		if len(ds) != 1 || !strings.Contains(ds[0].Title, "【重大】门户不可用") || !strings.Contains(ds[0].Title, "主体服务 · 门户首页") ||
			!strings.Contains(ds[0].Text, "告警级别") || !strings.HasSuffix(ds[0].Link, "/monitor/alerts/"+itoa(a.ID)) {
			t.Fatalf("firing delivery: %+v", ds)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM events WHERE name = 'monitor.alert.firing' AND payload LIKE ?`, `%"system":"entity"%`); n != 1 {
			t.Fatalf("firing events: %d", n)
		}
		// De-duplication: the condition holding on opens no second alert and sends nothing more.
		for i := 0; i < 3; i++ {
			c.Add(30 * time.Second)
			e.result(t, tg, false)
			e.eval(t)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_alerts`); n != 1 {
			t.Fatalf("alerts after repeated failures: %d", n)
		}
		if n := len(e.deliveries(t)); n != 1 {
			t.Fatalf("deliveries after repeated failures: %d", n)
		}
		// Recovery: resolved, a recovery notice and event.
		c.Add(30 * time.Second)
		e.result(t, tg, true)
		e.eval(t)
		a, _ = e.s.Alert(ctx, a.ID)
		if a.State != StateResolved || a.ResolvedAt == nil {
			t.Fatalf("resolved: %+v", a)
		}
		ds = e.deliveries(t)
		if len(ds) != 2 || !strings.HasPrefix(ds[0].Title, "【已恢复】") || !strings.Contains(ds[0].Text, "持续时长") || ds[0].Severity != "resolved" {
			t.Fatalf("recovery delivery: %+v", ds[0])
		}
		if n := e.count(t, `SELECT COUNT(*) FROM events WHERE name = 'monitor.alert.resolved'`); n != 1 {
			t.Fatalf("resolved events: %d", n)
		}
		// The history keeps every step.
		evs, _ := e.s.AlertEvents(ctx, a.ID)
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind)
		}
		if got := strings.Join(kinds, ","); got != "pending,firing,notified,resolved,notified" {
			t.Fatalf("history: %s", got)
		}
		// A failure that clears before the duration leaves no alert behind.
		c.Add(30 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		c.Add(30 * time.Second)
		e.result(t, tg, true)
		e.eval(t)
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_alerts WHERE state <> 'resolved'`); n != 0 {
			t.Fatalf("short blip left an open alert")
		}
		if n := len(e.deliveries(t)); n != 2 {
			t.Fatalf("short blip notified: %d", n)
		}
		// A new outage is a new alert; the old one stays in the history.
		e.result(t, tg, false)
		e.eval(t)
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_alerts`); n != 2 {
			t.Fatalf("alerts after a second outage: %d", n)
		}
	})
}

func TestAlertRepeatAckAndStale(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		e := newEnv(t, db, c)
		e.disableSeededRules(t)
		tg := e.target(t, Target{Name: "接口网关"})
		e.rule(t, Rule{Name: "接口网关不可用", Metric: "probe_success", Op: "<", Threshold: 1, Severity: SevCritical, RepeatSeconds: 300})
		e.result(t, tg, false)
		e.eval(t)
		if n := len(e.deliveries(t)); n != 1 {
			t.Fatalf("first notice: %d", n)
		}
		c.Add(200 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		if n := len(e.deliveries(t)); n != 1 {
			t.Fatalf("repeated too early: %d", n)
		}
		c.Add(101 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		ds := e.deliveries(t)
		if len(ds) != 2 || !strings.Contains(ds[0].Text, "重复通知") || !strings.Contains(ds[0].Title, "【特别重大】") {
			t.Fatalf("repeat: %+v", ds)
		}
		// Acknowledged: no more repeats.
		alerts, _, _ := e.s.Alerts(ctx, AlertFilter{State: StateFiring})
		if err := e.s.Ack(ctx, db, alerts[0].ID, "engineer", "已安排处理"); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Ack(ctx, db, alerts[0].ID, "engineer", ""); err == nil {
			t.Fatal("acknowledged twice")
		}
		c.Add(301 * time.Second)
		e.result(t, tg, false)
		e.eval(t)
		if n := len(e.deliveries(t)); n != 2 {
			t.Fatalf("repeated after ack: %d", n)
		}
		// No data any more (probes stopped): the alert resolves instead of firing forever.
		c.Add(10 * time.Minute)
		e.eval(t)
		a, _ := e.s.Alert(ctx, alerts[0].ID)
		if a.State != StateResolved {
			t.Fatalf("stale series kept the alert: %s", a.State)
		}
	})
}

func TestSilenceAndMaintenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		e := newEnv(t, db, c)
		e.disableSeededRules(t)
		tg := e.target(t, Target{Name: "许可系统"})
		e.rule(t, Rule{Name: "许可系统不可用", Metric: "probe_success", Op: "<", Threshold: 1})
		var sid int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			sid, err = e.s.SaveSilence(ctx, tx, Silence{TargetID: &tg, StartsAt: c.Now(), EndsAt: c.Now().Add(time.Hour), Comment: "升级"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.result(t, tg, false)
		e.eval(t)
		alerts, _, _ := e.s.Alerts(ctx, AlertFilter{State: StateFiring})
		if len(alerts) != 1 || alerts[0].SilencedBy == nil || *alerts[0].SilencedBy != sid {
			t.Fatalf("silenced alert: %+v", alerts)
		}
		if n := len(e.deliveries(t)); n != 0 {
			t.Fatalf("silenced alert notified: %d", n)
		}
		// The silence ends early: the still-firing alert is notified once.
		if err := e.s.ExpireSilence(ctx, db, sid); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Second)
		e.result(t, tg, false)
		e.eval(t)
		if ds := e.deliveries(t); len(ds) != 1 {
			t.Fatalf("after silence: %d", len(ds))
		}
		a, _ := e.s.Alert(ctx, alerts[0].ID)
		if a.SilencedBy != nil {
			t.Fatalf("silence mark kept: %+v", a)
		}

		// A nightly maintenance window 02:00–03:00 Shanghai on weekdays.
		m := Silence{Kind: "maintenance", StartsAt: c.Now().Add(-24 * time.Hour), EndsAt: c.Now().Add(30 * 24 * time.Hour),
			Recurrence: "weekly", Weekdays: "1,2,3,4,5", WindowStart: "02:00", WindowMinutes: 60}
		at := func(s string) time.Time {
			v, _ := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
			return v
		}
		for _, x := range []struct {
			t    string
			want bool
		}{{"2026-09-02 02:30", true}, {"2026-09-02 03:00", false}, {"2026-09-02 01:59", false}, {"2026-09-05 02:30", false}, {"2026-09-07 02:00", true}} {
			if got := m.activeAt(at(x.t)); got != x.want {
				t.Errorf("maintenance at %s: %v", x.t, got)
			}
		}
		// A daily window across midnight.
		m = Silence{Kind: "maintenance", StartsAt: at("2026-09-01 00:00"), EndsAt: at("2026-10-01 00:00"), Recurrence: "daily", WindowStart: "23:30", WindowMinutes: 60}
		if !m.activeAt(at("2026-09-03 00:15")) || m.activeAt(at("2026-09-03 00:31")) {
			t.Error("daily window across midnight")
		}
		if _, err := e.s.SaveSilence(ctx, db, Silence{Recurrence: "weekly", Weekdays: "8", WindowStart: "02:00", WindowMinutes: 10,
			StartsAt: c.Now(), EndsAt: c.Now().Add(time.Hour), Comment: "x"}); err == nil || !strings.Contains(err.Error(), "1–7") {
			t.Errorf("bad weekday accepted: %v", err)
		}
	})
}

func TestInhibitionAndGrouping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		e := newEnv(t, db, c)
		e.disableSeededRules(t)
		host := e.target(t, Target{Name: "应用服务器 10.0.0.5", Kind: KindTCP, Address: "10.0.0.5:22", SystemID: e.system(t, "middleware")})
		svc1 := e.target(t, Target{Name: "投诉举报门户", ParentID: &host, SystemID: e.system(t, "complaint")})
		svc2 := e.target(t, Target{Name: "投诉举报接口", ParentID: &host, SystemID: e.system(t, "complaint")})
		e.rule(t, Rule{Name: "不可用", Metric: "probe_success", Op: "<", Threshold: 1})

		// The host and its services go down together: only the host is notified.
		for _, id := range []int64{host, svc1, svc2} {
			e.result(t, id, false)
		}
		e.eval(t)
		firing, _, _ := e.s.Alerts(ctx, AlertFilter{State: StateFiring})
		if len(firing) != 3 {
			all, _, _ := e.s.Alerts(ctx, AlertFilter{})
			var series []candidate
			db.Select(ctx, &series, `SELECT id, name, labels, target_id, last_value, last_at FROM monitor_series`)
			for _, x := range series {
				t.Logf("series %d %s %s %v %v", x.SeriesID, x.Name, x.Labels, *x.TargetID, *x.Value)
			}
			t.Fatalf("firing: %d of %+v", len(firing), all)
		}
		inhibited := 0
		for _, a := range firing {
			if a.InhibitedBy != nil {
				inhibited++
				if a.TargetID == nil || *a.TargetID == host {
					t.Fatalf("host inhibited: %+v", a)
				}
			}
		}
		if inhibited != 2 {
			t.Fatalf("inhibited: %d", inhibited)
		}
		ds := e.deliveries(t)
		if len(ds) != 1 || !strings.Contains(ds[0].Title, "应用服务器") {
			t.Fatalf("deliveries with inhibition: %+v", ds)
		}
		// The host comes back but the services stay down: now they are told, grouped by system.
		c.Add(30 * time.Second)
		e.result(t, host, true)
		e.result(t, svc1, false)
		e.result(t, svc2, false)
		e.eval(t)
		ds = e.deliveries(t)
		var group, recovered bool
		for _, d := range ds {
			if strings.Contains(d.Title, "投诉举报 2 条告警") && strings.Contains(d.Text, "投诉举报门户") && strings.Contains(d.Text, "投诉举报接口") {
				group = true
			}
			if strings.HasPrefix(d.Title, "【已恢复】") && strings.Contains(d.Title, "应用服务器") {
				recovered = true
			}
		}
		if len(ds) != 3 || !group || !recovered {
			for _, d := range ds {
				t.Logf("%s", d.Title)
			}
			t.Fatalf("after host recovery: %d deliveries, group %v, recovered %v", len(ds), group, recovered)
		}
	})
}

func TestMetricRuleWithMatchers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		e := newEnv(t, db, c)
		e.disableSeededRules(t)
		e.rule(t, Rule{Name: "根分区空间不足", Metric: "host_disk_used_percent", Matchers: "mount=/", Op: ">", Threshold: 90, Severity: SevSerious})
		rec := func(mount string, v float64) {
			if err := e.s.Record(ctx, []Sample{{Name: "host_disk_used_percent", Labels: map[string]string{"host": "app1", "mount": mount}, At: c.Now(), Value: v}}); err != nil {
				t.Fatal(err)
			}
		}
		rec("/", 95)
		rec("/data", 99)
		e.eval(t)
		firing, _, _ := e.s.Alerts(ctx, AlertFilter{State: StateFiring})
		if len(firing) != 1 || !strings.Contains(firing[0].Labels, "mount=/;") && !strings.HasSuffix(firing[0].Labels, "mount=/") {
			t.Fatalf("matcher: %+v", firing)
		}
		ds := e.deliveries(t)
		if len(ds) != 1 || !strings.Contains(ds[0].Title, "【较大】") || !strings.Contains(ds[0].Text, "95.0%") {
			t.Fatalf("metric alert: %+v", ds)
		}
	})
}

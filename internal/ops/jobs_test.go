package ops_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/ops"
)

// TestJobsPage: the scheduled jobs with their last runs, run now, pause and resume, audit,
// and the province-wide scope.
func TestJobsPage(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := e.App.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.User("eng", "610000", "engineer")
		e.User("xian_eng", "610100", "engineer")
		e.User("analyst", "610000", "analyst")
		c := e.Login("eng")
		type list struct {
			Items []ops.JobView
			Runs  []struct {
				ID     int64
				Job    string
				Status string
				Actor  string
				Counts map[string]int64
			}
		}
		var l list
		if res := c.Do("GET", "/api/v1/ops/jobs", nil); res.Status != 200 || res.JSON(&l) != nil {
			t.Fatalf("jobs: %d %s", res.Status, res.Body)
		}
		job := func(name string) *ops.JobView {
			for i := range l.Items {
				if l.Items[i].Name == name {
					return &l.Items[i]
				}
			}
			t.Fatalf("job %s not listed", name)
			return nil
		}
		if j := job("housekeeping.prune"); !j.Enabled || j.Title == "" {
			t.Fatalf("housekeeping job: %+v", j)
		}
		job("audit.prune")

		if res := c.Do("PUT", "/api/v1/ops/jobs/housekeeping.prune", map[string]any{"enabled": false}); res.Status != 200 {
			t.Fatalf("pause: %d %s", res.Status, res.Body)
		}
		c.Do("GET", "/api/v1/ops/jobs", nil).JSON(&l)
		if job("housekeeping.prune").Enabled {
			t.Fatal("paused job still enabled")
		}
		// A paused job still runs on demand.
		if res := c.Do("POST", "/api/v1/ops/jobs/housekeeping.prune/run", nil); res.Status != 200 {
			t.Fatalf("run now: %d %s", res.Status, res.Body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.Do("GET", "/api/v1/ops/jobs?job=housekeeping.prune", nil).JSON(&l)
			if len(l.Runs) > 0 && l.Runs[0].Status == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run did not finish: %+v", l.Runs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r := l.Runs[0]; r.Job != "housekeeping.prune" || r.Actor != "eng" {
			t.Fatalf("run record %+v", r)
		}
		if res := c.Do("PUT", "/api/v1/ops/jobs/housekeeping.prune", map[string]any{"enabled": true}); res.Status != 200 {
			t.Fatalf("resume: %d %s", res.Status, res.Body)
		}
		if res := c.Do("POST", "/api/v1/ops/jobs/no.such.job/run", nil); res.Status != 404 {
			t.Fatalf("unknown job: %d", res.Status)
		}
		page := c.Do("GET", "/ops/jobs?job=housekeeping.prune", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "清理过期的任务运行记录与通知发送记录") || !strings.Contains(string(page.Body), "手动（eng）") {
			t.Fatalf("page: %d", page.Status)
		}
		var audited int
		e.App.DB.Get(ctx, &audited, `SELECT COUNT(*) FROM audit_log WHERE action IN ('ops.job.run', 'ops.job.pause', 'ops.job.resume') AND object_id = 'housekeeping.prune'`)
		if audited != 3 {
			t.Fatalf("%d audit records", audited)
		}
		if res := e.Login("xian_eng").Do("GET", "/api/v1/ops/jobs", nil); res.Status != 403 {
			t.Fatalf("city engineer: %d", res.Status)
		}
		if res := e.Login("analyst").Do("POST", "/api/v1/ops/jobs/housekeeping.prune/run", nil); res.Status != 403 {
			t.Fatalf("analyst: %d", res.Status)
		}
	})
}

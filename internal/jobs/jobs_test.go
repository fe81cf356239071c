package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, s *jobs.Scheduler) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
}

func runs(t *testing.T, s *jobs.Scheduler, name string) []jobs.RunRecord {
	t.Helper()
	rs, err := s.Runs(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// finished waits until the job has n runs, none of them still running.
func finished(t *testing.T, s *jobs.Scheduler, name string, n int) []jobs.RunRecord {
	t.Helper()
	var rs []jobs.RunRecord
	waitFor(t, name+" runs", func() bool {
		rs = runs(t, s, name)
		if len(rs) < n {
			return false
		}
		for _, r := range rs {
			if r.Status == jobs.StatusRunning {
				return false
			}
		}
		return true
	})
	if len(rs) != n {
		t.Fatalf("%s: %d runs, want %d", name, len(rs), n)
	}
	return rs
}

func TestCronFiresAtItsTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		day := func(d, h, m, sec int) time.Time { return time.Date(2026, 3, d, h, m, sec, 0, jobs.Shanghai) }
		clk := &clock{t: day(1, 9, 59, 58)}
		s := jobs.New(db, jobs.Options{Instance: "t1", Now: clk.Now, PollInterval: 5 * time.Millisecond, Logger: quiet})
		var calls atomic.Int32
		s.Register("demo.daily", "每日汇总", "0 10 * * *", func(ctx context.Context, run *jobs.Run) error {
			calls.Add(1)
			run.Add("rows", 3)
			run.Add("rows", 2)
			run.Add("bad", 1)
			run.Note("处理 %d 行", 5)
			return nil
		})
		s.Register("demo.panic", "会崩溃的任务", "0 0 10 * * *", func(ctx context.Context, run *jobs.Run) error {
			var m map[string]int
			m["x"] = 1 // panics
			return nil
		})
		s.Register("demo.fail", "会失败的任务", "@daily", func(ctx context.Context, run *jobs.Run) error {
			return errors.New("数据源不可用")
		})
		start(t, s)

		js, err := s.Jobs(ctx)
		if err != nil || len(js) != 3 {
			t.Fatalf("jobs: %v %v", js, err)
		}
		if js[0].Name != "demo.daily" || !js[0].NextRunAt.Equal(day(1, 10, 0, 0)) || js[0].Title != "每日汇总" || !js[0].Enabled {
			t.Fatalf("schedule row %+v", js[0])
		}
		time.Sleep(30 * time.Millisecond) // several ticks before the time
		if calls.Load() != 0 {
			t.Fatal("ran before its time")
		}

		clk.Set(day(1, 10, 0, 0))
		r := finished(t, s, "demo.daily", 1)[0]
		if calls.Load() != 1 || r.Status != jobs.StatusSucceeded || r.Trigger != jobs.TriggerSchedule ||
			r.ScheduledAt == nil || !r.ScheduledAt.Equal(day(1, 10, 0, 0)) || !r.StartedAt.Equal(day(1, 10, 0, 0)) ||
			r.FinishedAt == nil || r.Instance != "t1" || r.Notes != "处理 5 行" || r.Error != "" ||
			r.Counts["rows"] != 5 || r.Counts["bad"] != 1 {
			t.Errorf("run %+v (calls %d)", r, calls.Load())
		}
		p := finished(t, s, "demo.panic", 1)[0]
		if p.Status != jobs.StatusFailed || !strings.Contains(p.Error, "panic: assignment to entry in nil map") {
			t.Errorf("panic run %+v", p)
		}
		if len(runs(t, s, "demo.fail")) != 0 {
			t.Error("@daily ran at 10:00")
		}

		// Later the same day: nothing new. The next day at 10:00: once more; @daily at midnight.
		clk.Set(day(1, 10, 0, 30))
		time.Sleep(30 * time.Millisecond)
		clk.Set(day(2, 10, 0, 0))
		rs := finished(t, s, "demo.daily", 2)
		if !rs[0].ScheduledAt.Equal(day(2, 10, 0, 0)) || calls.Load() != 2 {
			t.Errorf("second day: %+v", rs[0])
		}
		f := finished(t, s, "demo.fail", 1)[0]
		if f.Status != jobs.StatusFailed || f.Error != "数据源不可用" || !f.ScheduledAt.Equal(day(2, 0, 0, 0)) {
			t.Errorf("failed run %+v", f)
		}

		// Paused jobs do not run on schedule.
		if err := s.SetEnabled(ctx, "demo.daily", false); err != nil {
			t.Fatal(err)
		}
		clk.Set(day(3, 10, 0, 0))
		finished(t, s, "demo.panic", 3)
		if n := len(runs(t, s, "demo.daily")); n != 2 {
			t.Errorf("paused job ran: %d runs", n)
		}
	})
}

func TestRunNowIsExclusive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := jobs.New(db, jobs.Options{Instance: "t1", PollInterval: 5 * time.Millisecond, Logger: quiet})
		release := make(chan struct{})
		var calls atomic.Int32
		s.Register("demo.slow", "慢任务", "0 0 1 1 *", func(ctx context.Context, run *jobs.Run) error {
			calls.Add(1)
			run.Add("rows", 1)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		if _, err := s.RunNow(ctx, "demo.slow", "张三"); !errors.Is(err, jobs.ErrNotStarted) {
			t.Fatalf("before start: %v", err)
		}
		start(t, s)
		if _, err := s.RunNow(ctx, "demo.nope", "张三"); !errors.Is(err, jobs.ErrUnknownJob) {
			t.Fatalf("unknown job: %v", err)
		}
		id, err := s.RunNow(ctx, "demo.slow", "张三")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "first run started", func() bool { return calls.Load() == 1 })
		if _, err := s.RunNow(ctx, "demo.slow", "李四"); !errors.Is(err, jobs.ErrBusy) {
			t.Fatalf("second concurrent run: %v", err)
		}
		js, _ := s.Jobs(ctx)
		if !js[0].Running || js[0].LeaseOwner != "t1" {
			t.Errorf("job while running: %+v", js[0])
		}
		close(release)
		r := finished(t, s, "demo.slow", 1)[0]
		if r.ID != id || r.Trigger != jobs.TriggerManual || r.Actor != "张三" || r.ScheduledAt != nil ||
			r.Status != jobs.StatusSucceeded || r.Counts["rows"] != 1 {
			t.Errorf("manual run %+v", r)
		}
		if _, err := s.RunNow(ctx, "demo.slow", "李四"); err != nil {
			t.Fatalf("run after the first finished: %v", err)
		}
		finished(t, s, "demo.slow", 2)
	})
}

// Two schedulers ("instances") on one database run a job due every second: each
// occurrence runs once.
func TestTwoInstancesRunEachOccurrenceOnce(t *testing.T) {
	t.Parallel()
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		var mu sync.Mutex
		calls := map[time.Time]int{}
		var scheds []*jobs.Scheduler
		for _, inst := range []string{"A", "B"} {
			db, err := store.OpenMigrated(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s := jobs.New(db, jobs.Options{Instance: inst, PollInterval: 100 * time.Millisecond, Logger: quiet})
			s.Register("demo.tick", "每秒任务", "* * * * * *", func(ctx context.Context, run *jobs.Run) error {
				mu.Lock()
				calls[run.ScheduledAt]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				return nil
			})
			start(t, s)
			scheds = append(scheds, s)
		}
		const want = 3
		waitFor(t, "runs", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(calls) >= want
		})
		for _, s := range scheds {
			s.Stop()
		}
		rs := runs(t, scheds[0], "demo.tick")
		seen := map[time.Time]bool{}
		byInstance := map[string]int{}
		for _, r := range rs {
			if r.ScheduledAt == nil || seen[*r.ScheduledAt] {
				t.Errorf("occurrence recorded twice or without time: %+v", r)
				continue
			}
			seen[*r.ScheduledAt] = true
			byInstance[r.Instance]++
			if r.Status != jobs.StatusSucceeded {
				t.Errorf("run %+v", r)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(rs) < want || len(rs) != len(calls) {
			t.Errorf("%d runs recorded, %d occurrences called", len(rs), len(calls))
		}
		for at, n := range calls {
			if n != 1 {
				t.Errorf("occurrence %v ran %d times", at, n)
			}
		}
		t.Logf("runs by instance: %v", byInstance)
	})
}

// A run whose instance stops renewing its lease is taken over by another instance: the
// run is recorded as failed, the job runs again there, and the stalled run is cancelled.
func TestExpiredLeaseTakenOver(t *testing.T) {
	t.Parallel()
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		open := func() *store.DB {
			db, err := store.OpenMigrated(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
		// A holds its run until cancelled; its lease is 1.5s, renewed every 0.5s.
		a := jobs.New(open(), jobs.Options{Instance: "A", Lease: 1500 * time.Millisecond, PollInterval: 20 * time.Millisecond, Logger: quiet})
		var aCancelled atomic.Bool
		a.Register("demo.stuck", "卡住的任务", "* * * * * *", func(ctx context.Context, run *jobs.Run) error {
			<-ctx.Done()
			aCancelled.Store(true)
			return ctx.Err()
		})
		start(t, a)
		var first jobs.RunRecord
		waitFor(t, "A's run", func() bool {
			rs := runs(t, a, "demo.stuck")
			if len(rs) == 0 {
				return false
			}
			first = rs[len(rs)-1]
			return true
		})
		if first.Instance != "A" || first.Status != jobs.StatusRunning {
			t.Fatalf("A's run %+v", first)
		}

		// B's clock is two minutes ahead, so A's lease has expired as far as B can tell.
		b := jobs.New(open(), jobs.Options{
			Instance: "B", PollInterval: 20 * time.Millisecond, Logger: quiet,
			Now: func() time.Time { return store.Now().Add(2 * time.Minute) },
		})
		var bCalls atomic.Int32
		b.Register("demo.stuck", "卡住的任务", "* * * * * *", func(ctx context.Context, run *jobs.Run) error {
			bCalls.Add(1)
			return nil
		})
		start(t, b)
		waitFor(t, "B to run the job", func() bool { return bCalls.Load() >= 1 })
		waitFor(t, "A's run cancelled", aCancelled.Load)
		r, err := b.GetRun(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != jobs.StatusFailed || !strings.Contains(r.Error, "接管") || !strings.Contains(r.Error, "A") || r.FinishedAt == nil {
			t.Errorf("taken-over run %+v", r)
		}
		waitFor(t, "B's run recorded", func() bool {
			for _, r := range runs(t, b, "demo.stuck") {
				if r.Instance == "B" && r.Status == jobs.StatusSucceeded {
					return true
				}
			}
			return false
		})
	})
}

func TestRegisterRejectsBadSpec(t *testing.T) {
	t.Parallel()
	s := jobs.New(nil, jobs.Options{})
	for _, spec := range []string{"", "* * *", "61 * * * *", "0 0 30 2 *"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("spec %q accepted", spec)
				}
			}()
			s.Register("demo.bad", "坏任务", spec, func(context.Context, *jobs.Run) error { return nil })
		}()
	}
}

// TestPruneKeepsRunningAndRecentRuns: old successes go first, failures later, a run in
// progress never.
func TestPruneKeepsRunningAndRecentRuns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := store.Now()
		for _, r := range []struct {
			status string
			age    time.Duration
		}{
			{jobs.StatusSucceeded, 40 * 24 * time.Hour}, {jobs.StatusSucceeded, 10 * 24 * time.Hour},
			{jobs.StatusFailed, 40 * 24 * time.Hour}, {jobs.StatusFailed, 200 * 24 * time.Hour},
			{"running", 300 * 24 * time.Hour},
		} {
			if _, err := db.Exec(ctx, `INSERT INTO job_runs(job, trigger_kind, instance, status, started_at) VALUES ('demo.x', 'schedule', 't', ?, ?)`,
				r.status, now.Add(-r.age)); err != nil {
				t.Fatal(err)
			}
		}
		s := jobs.New(db, jobs.Options{Logger: quiet})
		n, err := s.Prune(ctx, now.AddDate(0, 0, -30), now.AddDate(0, 0, -180))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d: %v", n, err)
		}
		var left []string
		db.Select(ctx, &left, `SELECT status FROM job_runs ORDER BY started_at`)
		if strings.Join(left, ",") != "running,failed,succeeded" {
			t.Fatalf("left: %v", left)
		}
	})
}

package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestTargetDownReachesWebhook runs the real engine and hub: a healthy HTTP target goes down
// and the local webhook receiver gets the Chinese alert within the probe interval plus 5 s,
// and the recovery afterwards. A hanging target probed alongside never delays the others.
func TestTargetDownReachesWebhook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newEnv(t, db, nil)
		e.s.opt.EvalInterval = time.Second
		var down atomic.Bool
		site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.Error(w, "维护中", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("主体服务"))
		}))
		defer site.Close()
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer hang.Close()
		const interval = 5
		tg := e.target(t, Target{Name: "主体服务门户", Kind: KindHTTP, Address: site.URL, IntervalSeconds: interval, TimeoutMS: 1000, Retries: 0})
		slow := e.target(t, Target{Name: "卡死的接口", SystemID: e.system(t, "api"), Kind: KindHTTP, Address: hang.URL, IntervalSeconds: interval, TimeoutMS: 4000, Retries: 0})

		var mu sync.Mutex
		var drift []time.Duration
		eng := e.s.NewEngine()
		eng.OnResult = func(r Result) {
			if r.TargetID == tg {
				mu.Lock()
				drift = append(drift, r.Started.Sub(r.Scheduled))
				mu.Unlock()
			}
		}
		go e.hub.Run(ctx)
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()

		waitFor(t, 3*interval*time.Second, "target up", func() bool {
			x, _ := e.s.Target(ctx, tg)
			return x.Status == "up"
		})
		down.Store(true)
		wentDown := time.Now()
		got, ok := e.rc.await("主体服务门户", wentDown.Add((interval+5)*time.Second))
		if !ok {
			t.Fatalf("no alert within %d s", interval+5)
		}
		if strings.HasPrefix(got.Title, "【已恢复】") || !strings.Contains(got.Title, "服务不可用") || !strings.Contains(got.Title, "主体服务门户") || !strings.Contains(got.Text, "503") {
			t.Fatalf("alert message: %+v", got)
		}
		t.Logf("down → webhook in %s", got.At.Sub(wentDown).Round(time.Millisecond))
		down.Store(false)
		if got, ok := e.rc.await("【已恢复】服务不可用：主体服务 · 主体服务门户", time.Now().Add((interval+5)*time.Second)); !ok {
			t.Fatalf("no recovery notice: %+v", got)
		}
		// The hanging target was probed (and failed by its timeout) without delaying the site.
		x, _ := e.s.Target(ctx, slow)
		if x.Status != "down" || !strings.Contains(x.LastError, "超时") {
			t.Fatalf("hanging target: %+v", x)
		}
		mu.Lock()
		for _, d := range drift {
			if d > 500*time.Millisecond {
				t.Errorf("probe started %s late", d)
			}
		}
		mu.Unlock()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("engine did not stop")
		}
	})
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPhaseSpreadsTargets(t *testing.T) {
	interval := 30 * time.Second
	buckets := make([]int, 30)
	for id := int64(1); id <= 3000; id++ {
		p := phase(id, interval)
		if p < 0 || p >= interval {
			t.Fatalf("phase %s out of range", p)
		}
		buckets[int(p/time.Second)]++
	}
	for i, n := range buckets {
		if n < 50 || n > 150 {
			t.Errorf("second %d has %d of 3000 targets", i, n)
		}
	}
	now := time.Now()
	next := nextSlot(now, 7, interval)
	if !next.After(now) || next.Sub(now) > interval || nextSlot(next, 7, interval).Sub(next) != interval {
		t.Fatalf("slots: %s → %s", now, next)
	}
}

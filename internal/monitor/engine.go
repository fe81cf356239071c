package monitor

import (
	"context"
	"hash/fnv"
	"reflect"
	"sync"
	"time"

	"zhsj/internal/store"
)

// Engine runs the probes of every enabled target on its schedule, writes their results,
// collects host metrics and evaluates the alert rules. Each target has its own goroutine and
// every run its own goroutine with its own deadline, so a slow or hanging probe never delays
// another target; a target whose previous run is still going skips a beat instead of piling up.
type Engine struct {
	s      *Service
	prober *Prober
	// OnResult, when set, sees every result (benchmarks and tests).
	OnResult func(Result)

	results chan Result
	flushed chan struct{}

	mu      sync.Mutex
	ctx     context.Context // the engine's run context
	running map[int64]*runner
}

type runner struct {
	t      Target
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEngine returns an engine of the service.
func (s *Service) NewEngine() *Engine {
	return &Engine{s: s, prober: NewProber(s.opt.SelfURL), results: make(chan Result, 4096),
		flushed: make(chan struct{}, 1), running: map[int64]*runner{}}
}

// reloadInterval is how often the engine rereads the targets (changes through the API
// reload at once when the engine runs in this instance).
const reloadInterval = 30 * time.Second

// Run runs the engine until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	e.s.engMu.Lock()
	e.s.engine = e
	e.s.engMu.Unlock()
	defer func() {
		e.s.engMu.Lock()
		if e.s.engine == e {
			e.s.engine = nil
		}
		e.s.engMu.Unlock()
	}()
	var wg sync.WaitGroup
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { e.writer(wctx) })
	wg.Go(func() { e.evaluator(ctx) })
	if e.s.opt.HostInterval > 0 {
		wg.Go(func() { e.hostLoop(ctx) })
	}
	e.Reload()
	t := time.NewTicker(reloadInterval)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			e.Reload()
		}
	}
	t.Stop()
	e.stopAll()
	stopWriter() // the writer drains what the probes left, then stops
	wg.Wait()
	return nil
}

// Reload starts, restarts and stops target goroutines to match the database.
func (e *Engine) Reload() {
	e.mu.Lock()
	ctx := e.ctx
	e.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	targets, err := e.s.Targets(ctx, 0)
	if err != nil {
		e.s.log.Error("读取监控目标失败", "err", err)
		return
	}
	want := map[int64]Target{}
	for _, t := range targets {
		if t.Enabled {
			want[t.ID] = t
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, r := range e.running {
		if t, ok := want[id]; !ok || !sameSchedule(r.t, t) {
			r.cancel()
			<-r.done
			delete(e.running, id)
		}
	}
	for id, t := range want {
		if _, ok := e.running[id]; ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &runner{t: t, cancel: cancel, done: make(chan struct{})}
		e.running[id] = r
		go e.loop(rctx, r)
	}
	e.s.m.targets.Set(float64(len(e.running)))
}

// sameSchedule reports whether a running target can go on unchanged.
func sameSchedule(a, b Target) bool {
	return a.Kind == b.Kind && a.Address == b.Address && a.IntervalSeconds == b.IntervalSeconds && a.TimeoutMS == b.TimeoutMS &&
		a.Retries == b.Retries && reflect.DeepEqual(a.Config, b.Config)
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, r := range e.running {
		r.cancel()
		<-r.done
		delete(e.running, id)
	}
}

// phase spreads targets over their interval: a stable offset from the target id, so that a
// thousand targets with the same interval do not all start in the same second.
func phase(id int64, interval time.Duration) time.Duration {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(id >> (8 * i))
	}
	h.Write(b[:])
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextSlot returns the first slot of the target's schedule after now.
func nextSlot(now time.Time, id int64, interval time.Duration) time.Time {
	off := phase(id, interval)
	base := now.Truncate(interval).Add(off)
	for !base.After(now) {
		base = base.Add(interval)
	}
	return base
}

func (e *Engine) loop(ctx context.Context, r *runner) {
	defer close(r.done)
	interval := time.Duration(r.t.IntervalSeconds) * time.Second
	var inflight sync.WaitGroup
	defer inflight.Wait()
	busy := make(chan struct{}, 1)
	next := nextSlot(time.Now(), r.t.ID, interval)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		due := next
		next = next.Add(interval)
		for !next.After(time.Now()) { // a stalled process: skip missed slots
			next = next.Add(interval)
		}
		timer.Reset(time.Until(next))
		select {
		case busy <- struct{}{}:
		default:
			e.s.m.skipped.Inc()
			continue // the previous run is still going
		}
		inflight.Go(func() {
			defer func() { <-busy }()
			e.runOnce(ctx, r.t, due)
		})
	}
}

func (e *Engine) runOnce(ctx context.Context, t Target, due time.Time) {
	started := time.Now()
	e.s.m.drift.Observe(started.Sub(due).Seconds())
	res := e.prober.Probe(ctx, t)
	if ctx.Err() != nil && !res.OK {
		return // stopped or target changed: not a real failure
	}
	res.Scheduled, res.Started = due, started
	e.s.m.observeProbe(t.Kind, res)
	if e.OnResult != nil {
		e.OnResult(res)
	}
	e.results <- res
}

// writer stores results in batches and triggers rule evaluation after each batch.
func (e *Engine) writer(ctx context.Context) {
	var batch []Result
	lastOK := map[int64]bool{} // per target: the previous result, to spot changes
	flush := func() {
		if len(batch) == 0 {
			return
		}
		// Rules are evaluated at once when a result failed or a target changed state (so an
		// outage is told within seconds); steady successes wait for the periodic evaluation.
		urgent := false
		for _, r := range batch {
			if prev, seen := lastOK[r.TargetID]; !r.OK || !seen || prev != r.OK {
				urgent = true
			}
			lastOK[r.TargetID] = r.OK
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if err := e.s.StoreResults(wctx, batch); err != nil {
			e.s.log.Error("写入探测结果失败", "err", err, "results", len(batch))
		}
		cancel()
		batch = batch[:0]
		if urgent {
			select {
			case e.flushed <- struct{}{}:
			default:
			}
		}
	}
	t := time.NewTicker(e.s.opt.FlushInterval)
	defer t.Stop()
	for {
		select {
		case r := <-e.results:
			batch = append(batch, r)
			if len(batch) >= 500 {
				flush()
			}
		case <-t.C:
			flush()
		case <-ctx.Done():
			for {
				select {
				case r := <-e.results:
					batch = append(batch, r)
				default:
					flush()
					return
				}
			}
		}
	}
}

// evaluator runs the rules periodically and after every flush of results.
func (e *Engine) evaluator(ctx context.Context) {
	t := time.NewTicker(e.s.opt.EvalInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.flushed:
		}
		if err := e.s.Evaluate(ctx); err != nil && ctx.Err() == nil {
			e.s.log.Error("告警规则评估失败", "err", err)
		}
	}
}

// hostLoop collects this host's metrics.
func (e *Engine) hostLoop(ctx context.Context) {
	h := newHostCollector(e.s.opt.Hostname)
	t := time.NewTicker(e.s.opt.HostInterval)
	defer t.Stop()
	for {
		smp := h.collect(ctx, e.s.now())
		if err := e.s.Record(ctx, smp); err != nil && ctx.Err() == nil {
			e.s.log.Error("写入主机指标失败", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StoreResults writes probe results: samples and each target's current state.
func (s *Service) StoreResults(ctx context.Context, results []Result) error {
	var smp []Sample
	for _, r := range results {
		smp = append(smp, resultSamples(r)...)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.record(ctx, tx, smp); err != nil {
			return err
		}
		for _, r := range results {
			status := "down"
			if r.OK {
				status = "up"
			}
			at := r.Started.UTC().Truncate(time.Millisecond)
			var cert *time.Time
			if !r.CertExpires.IsZero() {
				c := r.CertExpires.UTC()
				cert = &c
			}
			if _, err := tx.Exec(ctx, `UPDATE monitor_targets SET
				last_change_at = CASE WHEN status <> ? THEN ? ELSE last_change_at END,
				status = ?, last_checked_at = ?, last_latency_ms = ?, last_error = ?, cert_expires_at = COALESCE(?, cert_expires_at)
				WHERE id = ? AND enabled`,
				status, at, status, at, float64(r.Latency.Microseconds())/1000, r.Error, cert, r.TargetID); err != nil {
				return err
			}
		}
		return nil
	})
}

// resultSamples turns a result into its series values.
func resultSamples(r Result) []Sample {
	at := r.Started
	lb := func() map[string]string { return map[string]string{"target": itoa(r.TargetID)} }
	ok := 0.0
	if r.OK {
		ok = 1
	}
	out := []Sample{
		{Name: "probe_success", Labels: lb(), TargetID: r.TargetID, At: at, Value: ok},
		{Name: "probe_duration_seconds", Labels: lb(), TargetID: r.TargetID, At: at, Value: r.Latency.Seconds()},
	}
	if r.StatusCode != 0 {
		out = append(out, Sample{Name: "probe_http_status_code", Labels: lb(), TargetID: r.TargetID, At: at, Value: float64(r.StatusCode)})
	}
	if !r.CertExpires.IsZero() {
		out = append(out, Sample{Name: "probe_cert_days_left", Labels: lb(), TargetID: r.TargetID, At: at,
			Value: float64(r.CertExpires.Sub(at)) / float64(24*time.Hour)})
	}
	for _, x := range r.Samples {
		if x.Labels == nil {
			x.Labels = map[string]string{}
		}
		x.Labels["target"] = itoa(r.TargetID)
		x.TargetID, x.At = r.TargetID, at
		out = append(out, x)
	}
	return out
}

// reload asks this instance's running engine, if any, to reread the targets.
func (s *Service) reload() {
	s.engMu.Lock()
	e := s.engine
	s.engMu.Unlock()
	if e != nil {
		go e.Reload()
	}
}

package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/events"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder keeps, per subscriber, the payload numbers in the order they were handled.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]int
	ids  map[string][]int64
}

func newRecorder() *recorder {
	return &recorder{seen: map[string][]int{}, ids: map[string][]int64{}}
}

func (r *recorder) handler(sub string) events.Handler {
	return func(ctx context.Context, e events.Event) error {
		var p struct{ N int }
		if err := e.Decode(&p); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen[sub] = append(r.seen[sub], p.N)
		r.ids[sub] = append(r.ids[sub], e.ID)
		return nil
	}
}

func (r *recorder) get(sub string) ([]int, []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.seen[sub]...), append([]int64(nil), r.ids[sub]...)
}

func (r *recorder) has(sub string, n int) bool {
	seen, _ := r.get(sub)
	for _, x := range seen {
		if x == n {
			return true
		}
	}
	return false
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

// run starts b (after declaring its subscriptions) and stops it when the test ends.
func run(t *testing.T, b *events.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func publish(t *testing.T, db *store.DB, name string, n int) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return events.Publish(context.Background(), tx, name, map[string]int{"n": n})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeliverOncePerSubscriber(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rec := newRecorder()
		b := events.New(db, events.Options{PollInterval: 20 * time.Millisecond, Logger: quiet})
		b.Subscribe("demo.thing.happened", "a", rec.handler("a"))
		b.Subscribe("demo.thing.happened", "b", rec.handler("b"))
		b.Subscribe("demo.other.happened", "b", rec.handler("b"))
		run(t, b)

		// A rolled-back transaction publishes nothing.
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := events.Publish(ctx, tx, "demo.thing.happened", map[string]int{"n": -1}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		for i := 1; i <= 20; i++ {
			publish(t, db, "demo.thing.happened", i)
		}
		// Several events in one transaction, and one nobody subscribes to.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			for i := 21; i <= 23; i++ {
				if err := events.Publish(ctx, tx, "demo.other.happened", map[string]int{"n": i}); err != nil {
					return err
				}
			}
			return events.Publish(ctx, tx, "demo.unheard.happened", map[string]int{"n": 99})
		})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a to get 20", func() bool { s, _ := rec.get("a"); return len(s) >= 20 })
		waitFor(t, "b to get 23", func() bool { s, _ := rec.get("b"); return len(s) >= 23 })
		// A sentinel after everything: once it is through, duplicates would have shown.
		publish(t, db, "demo.thing.happened", 1000)
		waitFor(t, "sentinel", func() bool { return rec.has("a", 1000) && rec.has("b", 1000) })

		for sub, want := range map[string]int{"a": 21, "b": 24} {
			seen, ids := rec.get(sub)
			if len(seen) != want {
				t.Errorf("%s handled %d events, want %d: %v", sub, len(seen), want, seen)
			}
			for i := range ids {
				if i > 0 && ids[i] <= ids[i-1] {
					t.Errorf("%s: ids out of order: %v", sub, ids)
					break
				}
			}
			for _, n := range seen {
				if n == -1 || n == 99 {
					t.Errorf("%s got event %d it should not", sub, n)
				}
			}
		}
		// The handler returns just before its delivery is marked done.
		var pending, done int
		waitFor(t, "deliveries marked done", func() bool {
			return db.Get(ctx, &pending, `SELECT COUNT(*) FROM event_deliveries WHERE status <> 'done'`) == nil && pending == 0
		})
		if err := db.Get(ctx, &done, `SELECT COUNT(*) FROM event_deliveries WHERE status = 'done' AND attempts = 1`); err != nil {
			t.Fatal(err)
		}
		if done != 45 {
			t.Errorf("deliveries: %d done at the first attempt, want 45", done)
		}
		if err := events.Publish(ctx, db, "Bad Name", nil); err == nil {
			t.Error("bad event name accepted")
		}
	})
}

func TestRetryBackoffAndDead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var flaky atomic.Int32    // calls for event 1
		var attempts sync.Map     // attempt numbers seen for event 1
		var flakyDone atomic.Bool // event 2 handled
		var poisonFixed atomic.Bool
		rec := newRecorder()
		b := events.New(db, events.Options{
			PollInterval: 10 * time.Millisecond, RetryBase: 5 * time.Millisecond, MaxAttempts: 3, Logger: quiet,
		})
		b.Subscribe("demo.thing.happened", "flaky", func(ctx context.Context, e events.Event) error {
			var p struct{ N int }
			e.Decode(&p)
			if p.N != 1 {
				flakyDone.Store(true)
				return nil
			}
			n := flaky.Add(1)
			attempts.Store(e.Attempt, true)
			if n <= 2 {
				return fmt.Errorf("boom %d", n)
			}
			return nil
		})
		// poison fails on n=1 (and panics on the second try) but handles later events.
		ok := rec.handler("poison")
		b.Subscribe("demo.thing.happened", "poison", func(ctx context.Context, e events.Event) error {
			var p struct{ N int }
			e.Decode(&p)
			if p.N == 1 && !poisonFixed.Load() {
				if e.Attempt == 2 {
					panic("poisoned")
				}
				return errors.New("cannot handle 1")
			}
			return ok(ctx, e)
		})
		run(t, b)

		publish(t, db, "demo.thing.happened", 1)
		publish(t, db, "demo.thing.happened", 2)
		waitFor(t, "flaky to succeed", func() bool { return flaky.Load() >= 3 && flakyDone.Load() })
		for i := 1; i <= 3; i++ {
			if _, ok := attempts.Load(i); !ok {
				t.Errorf("flaky never saw attempt %d", i)
			}
		}
		// The failing event does not hold up the next one.
		waitFor(t, "poison to handle 2", func() bool { return rec.has("poison", 2) })
		var dead []events.Delivery
		waitFor(t, "dead letter", func() bool {
			var err error
			dead, err = events.DeadLetters(ctx, db, 10)
			return err == nil && len(dead) == 1
		})
		d := dead[0]
		if d.Subscriber != "poison" || d.Attempts != 3 || d.LastError != "cannot handle 1" || d.Name != "demo.thing.happened" {
			t.Errorf("dead letter %+v", d)
		}
		var row struct {
			Attempts  int    `db:"attempts"`
			LastError string `db:"last_error"`
			Status    string `db:"status"`
		}
		waitFor(t, "flaky delivery done", func() bool {
			err := db.Get(ctx, &row, `SELECT d.attempts, d.last_error, d.status FROM event_deliveries d
				JOIN events e ON e.id = d.event_id WHERE d.subscriber = 'flaky' AND e.payload LIKE '%"n":1%'`)
			return err == nil && row.Status != "pending"
		})
		if row.Status != "done" || row.Attempts != 3 || row.LastError != "boom 2" {
			t.Errorf("flaky delivery %+v", row)
		}
		// After the fix, a requeued dead letter is delivered.
		poisonFixed.Store(true)
		if err := events.Requeue(ctx, db, "poison", d.EventID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "requeued delivery", func() bool { return rec.has("poison", 1) })
		if err := events.Requeue(ctx, db, "nobody", d.EventID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("requeue unknown: %v", err)
		}
	})
}

// Two buses (two "instances") on one database deliver each event once per subscriber.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		var counts [2]atomic.Int64
		var mu sync.Mutex
		seen := map[string]map[int]int{"s0": {}, "s1": {}}
		order := map[string][]int64{}
		for inst := range 2 {
			db, err := store.OpenMigrated(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			b := events.New(db, events.Options{
				Instance: fmt.Sprint("inst", inst), PollInterval: 20 * time.Millisecond, Logger: quiet,
				NoListen: inst == 1, // one listens (on PostgreSQL), the other polls
			})
			for i := range 2 {
				sub := fmt.Sprint("s", i)
				b.Subscribe("demo.thing.happened", sub, func(ctx context.Context, e events.Event) error {
					var p struct{ N int }
					if err := e.Decode(&p); err != nil {
						return err
					}
					counts[i].Add(1)
					mu.Lock()
					seen[sub][p.N]++
					order[sub] = append(order[sub], e.ID)
					mu.Unlock()
					return nil
				})
			}
			run(t, b)
		}
		pub, err := store.OpenMigrated(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		const n = 100
		for i := range n {
			publish(t, pub, "demo.thing.happened", i)
		}
		waitFor(t, "all deliveries", func() bool { return counts[0].Load() >= n && counts[1].Load() >= n })
		publish(t, pub, "demo.thing.happened", n)
		waitFor(t, "sentinel", func() bool { return counts[0].Load() >= n+1 && counts[1].Load() >= n+1 })
		mu.Lock()
		defer mu.Unlock()
		for sub, m := range seen {
			if len(m) != n+1 {
				t.Errorf("%s saw %d distinct events, want %d", sub, len(m), n+1)
			}
			for k, c := range m {
				if c != 1 {
					t.Errorf("%s handled event %d %d times", sub, k, c)
				}
			}
			ids := order[sub]
			for i := 1; i < len(ids); i++ {
				if ids[i] <= ids[i-1] {
					t.Errorf("%s: out of order at %d: %v", sub, i, ids)
					break
				}
			}
		}
		for i := range counts {
			if c := counts[i].Load(); c != n+1 {
				t.Errorf("s%d handled %d, want %d", i, c, n+1)
			}
		}
	})
}

// plainQ hides the concrete store type, so Publish cannot wake buses in-process.
type plainQ struct{ store.Q }

func TestListenNotify(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	ctx := context.Background()
	rec := newRecorder()
	b := events.New(db, events.Options{PollInterval: time.Hour, Logger: quiet})
	b.Subscribe("demo.thing.happened", "a", rec.handler("a"))
	run(t, b)
	waitFor(t, "LISTEN", func() bool {
		var n int
		err := db.Get(ctx, &n, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`)
		return err == nil && n == 1
	})
	err := db.InTx(ctx, func(tx *store.Tx) error {
		return events.Publish(ctx, plainQ{tx}, "demo.thing.happened", map[string]int{"n": 7})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery through NOTIFY", func() bool { return rec.has("a", 7) })
}

func TestPrune(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rec := newRecorder()
		// "y" runs; "x" is declared but never runs, so its deliveries stay pending.
		y := events.New(db, events.Options{PollInterval: 10 * time.Millisecond, Logger: quiet})
		y.Subscribe("demo.thing.happened", "y", rec.handler("y"))
		run(t, y)
		x := events.New(db, events.Options{Logger: quiet})
		x.Subscribe("demo.other.happened", "x", rec.handler("x"))
		if err := x.Init(ctx); err != nil {
			t.Fatal(err)
		}
		publish(t, db, "demo.thing.happened", 1)
		publish(t, db, "demo.other.happened", 2)
		waitFor(t, "y", func() bool { return rec.has("y", 1) })

		count := func() (n int) {
			if err := db.Get(ctx, &n, `SELECT COUNT(*) FROM events`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		later := func(d time.Duration) func() time.Time { return func() time.Time { return store.Now().Add(d) } }
		// Within the retention nothing goes.
		if n, err := events.New(db, events.Options{Logger: quiet, Now: later(29 * 24 * time.Hour)}).Prune(ctx); err != nil || n != 0 {
			t.Fatalf("early prune: %d %v", n, err)
		}
		// 31 days on, while x is still declared: only the fully delivered event goes.
		x2 := events.New(db, events.Options{Logger: quiet, Now: later(31 * 24 * time.Hour)})
		x2.Subscribe("demo.other.happened", "x", rec.handler("x"))
		if n, err := x2.Prune(ctx); err != nil || n != 1 || count() != 1 {
			t.Fatalf("prune: deleted %d (%v), %d left", n, err, count())
		}
		// Once nobody has declared x for the retention, its subscription and events go too.
		if n, err := events.New(db, events.Options{Logger: quiet, Now: later(62 * 24 * time.Hour)}).Prune(ctx); err != nil || n != 1 || count() != 0 {
			t.Fatalf("stale prune: deleted %d (%v), %d left", n, err, count())
		}
		var subs int
		if err := db.Get(ctx, &subs, `SELECT COUNT(*) FROM event_subscriptions WHERE subscriber = 'x'`); err != nil || subs != 0 {
			t.Fatalf("stale subscription kept: %d %v", subs, err)
		}
		// New events get new ids even after everything was deleted. (y was dropped as
		// stale by the clock jump above; declaring again brings it back.)
		if err := y.Init(ctx); err != nil {
			t.Fatal(err)
		}
		publish(t, db, "demo.thing.happened", 3)
		waitFor(t, "y after prune", func() bool { return rec.has("y", 3) })
		_, ids := rec.get("y")
		if ids[1] <= ids[0] {
			t.Errorf("id reused after prune: %v", ids)
		}
	})
}

// TestRunStoppedBeforeStart: a bus whose context ends while it declares its subscriptions (a
// shutdown right after start) stops without an error.
func TestRunStoppedBeforeStart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := events.New(db, events.Options{PollInterval: 20 * time.Millisecond, Logger: quiet})
		b.Subscribe("demo.thing.happened", "a", newRecorder().handler("a"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Run(ctx); err != nil {
			t.Fatalf("run after the context ended: %v", err)
		}
	})
}

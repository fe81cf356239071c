package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"zhsj/internal/store"
)

// Options tune a Bus; zero values take the defaults.
type Options struct {
	Instance      string           // lease owner; default host:pid:random
	PollInterval  time.Duration    // polling fallback; default 1s
	Lease         time.Duration    // subscriber lease; default 1m. A handler gets at most Lease/2
	MaxAttempts   int              // failures before a delivery is marked dead; default 8
	RetryBase     time.Duration    // first retry delay, doubled per attempt; default 1s
	RetryMax      time.Duration    // longest retry delay; default 10m
	Retention     time.Duration    // keep delivered events this long; default 30 days
	PruneInterval time.Duration    // how often Run prunes; default 1h, negative disables
	BatchSize     int              // deliveries read per query; default 100
	NoListen      bool             // PostgreSQL: do not LISTEN, poll only
	Now           func() time.Time // clock; default store.Now
	Logger        *slog.Logger
}

// Bus delivers published events to subscribers. Subscribe first, then Init (optional) and Run.
type Bus struct {
	db  *store.DB
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	subs   map[string]*sub
	order  []*sub
	inited bool
}

type sub struct {
	name     string
	handlers map[string]Handler // by event name
	names    []string
	wake     chan struct{}
}

// New returns a Bus on db.
func New(db *store.DB, o Options) *Bus {
	if o.Instance == "" {
		o.Instance = instanceID()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = time.Hour
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Now == nil {
		o.Now = store.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Bus{db: db, opt: o, log: o.Logger, subs: map[string]*sub{}}
}

// Subscribe registers handler for events called name on behalf of subscriber (a stable
// name such as "notify.alert"; progress is stored under it). Call before Init and Run.
func (b *Bus) Subscribe(name, subscriber string, handler Handler) {
	if !ValidName(name) || subscriber == "" || handler == nil {
		panic(fmt.Sprintf("events: bad subscription %q / %q", name, subscriber))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inited {
		panic("events: Subscribe after Init or Run")
	}
	s := b.subs[subscriber]
	if s == nil {
		s = &sub{name: subscriber, handlers: map[string]Handler{}, wake: make(chan struct{}, 1)}
		b.subs[subscriber] = s
		b.order = append(b.order, s)
	}
	if s.handlers[name] != nil {
		panic(fmt.Sprintf("events: %s already subscribed to %s", subscriber, name))
	}
	s.handlers[name] = handler
	s.names = append(s.names, name)
	slices.Sort(s.names)
}

// Init declares the subscriptions in the database: events published from then on are
// delivered to them. Run calls it; call it earlier when publishing may start before Run.
func (b *Bus) Init(ctx context.Context) error {
	b.mu.Lock()
	b.inited = true
	b.mu.Unlock()
	now := b.opt.Now()
	return b.db.InTx(ctx, func(tx *store.Tx) error {
		for _, s := range b.order {
			if _, err := tx.Exec(ctx, `INSERT INTO event_subscribers(subscriber) VALUES (?) ON CONFLICT (subscriber) DO NOTHING`, s.name); err != nil {
				return err
			}
			for _, n := range s.names {
				if _, err := tx.Exec(ctx, `INSERT INTO event_subscriptions(name, subscriber, seen_at) VALUES (?, ?, ?)
					ON CONFLICT (name, subscriber) DO UPDATE SET seen_at = excluded.seen_at`, n, s.name, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Run delivers events until ctx ends, then lets in-flight handlers finish and returns.
func (b *Bus) Run(ctx context.Context) error {
	if err := b.Init(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: a shutdown, not a failure
		}
		return fmt.Errorf("events: declare subscriptions: %w", err)
	}
	local.Lock()
	local.buses[b] = struct{}{}
	local.Unlock()
	defer func() {
		local.Lock()
		delete(local.buses, b)
		local.Unlock()
	}()
	var wg sync.WaitGroup
	for _, s := range b.order {
		wg.Go(func() { b.loop(ctx, s) })
	}
	if b.db.Dialect() == store.Postgres && !b.opt.NoListen && len(b.order) > 0 {
		wg.Go(func() { b.listen(ctx) })
	}
	if b.opt.PruneInterval > 0 {
		wg.Go(func() { b.pruneLoop(ctx) })
	}
	wg.Wait()
	return nil
}

func (b *Bus) wake() {
	for _, s := range b.order {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (b *Bus) loop(ctx context.Context, s *sub) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		if err := b.drain(ctx, s); err != nil && ctx.Err() == nil {
			b.log.Error("events: delivery loop", "subscriber", s.name, "err", err)
		}
		t.Reset(b.opt.PollInterval)
	}
}

type dueRow struct {
	EventID   int64     `db:"event_id"`
	Attempts  int       `db:"attempts"`
	Name      string    `db:"name"`
	Payload   string    `db:"payload"`
	CreatedAt time.Time `db:"created_at"`
}

// due lists the subscriber's deliveries that are ready, oldest event first.
func (b *Bus) due(ctx context.Context, s *sub, limit int) ([]dueRow, error) {
	args := []any{s.name, b.opt.Now()}
	for _, n := range s.names {
		args = append(args, n)
	}
	args = append(args, limit)
	var out []dueRow
	err := b.db.Select(ctx, &out, `SELECT d.event_id, d.attempts, e.name, e.payload, e.created_at
		FROM event_deliveries d JOIN events e ON e.id = d.event_id
		WHERE d.subscriber = ? AND d.status = 'pending' AND d.next_attempt_at <= ?
		  AND e.name IN (?`+strings.Repeat(", ?", len(s.names)-1)+`)
		ORDER BY d.event_id LIMIT ?`, args...)
	return out, err
}

// drain handles everything due for s while holding its lease.
func (b *Bus) drain(ctx context.Context, s *sub) error {
	if ds, err := b.due(ctx, s, 1); err != nil || len(ds) == 0 {
		return err // cheap read first: no lease write when idle
	}
	now := b.opt.Now()
	until := now.Add(b.opt.Lease)
	res, err := b.db.Exec(ctx, `UPDATE event_subscribers SET lease_owner = ?, lease_until = ?
		WHERE subscriber = ? AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)`,
		b.opt.Instance, until, s.name, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil // another instance is on it
	}
	defer func() {
		_, err := b.db.Exec(context.WithoutCancel(ctx), `UPDATE event_subscribers SET lease_owner = '', lease_until = NULL
			WHERE subscriber = ? AND lease_owner = ?`, s.name, b.opt.Instance)
		if err != nil {
			b.log.Error("events: release lease", "subscriber", s.name, "err", err)
		}
	}()
	for ctx.Err() == nil {
		ds, err := b.due(ctx, s, b.opt.BatchSize)
		if err != nil || len(ds) == 0 {
			return err
		}
		for _, d := range ds {
			if ctx.Err() != nil {
				return nil
			}
			if now := b.opt.Now(); until.Sub(now) < b.opt.Lease/2 {
				until = now.Add(b.opt.Lease)
				res, err := b.db.Exec(ctx, `UPDATE event_subscribers SET lease_until = ? WHERE subscriber = ? AND lease_owner = ?`,
					until, s.name, b.opt.Instance)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 1 {
					return fmt.Errorf("lease of %s lost", s.name)
				}
			}
			if err := b.deliver(ctx, s, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver runs one handler and records the outcome. The handler is not cancelled by ctx,
// so that stopping lets it finish; it is bounded by half the lease.
func (b *Bus) deliver(ctx context.Context, s *sub, d dueRow) error {
	ev := Event{ID: d.EventID, Name: d.Name, Payload: []byte(d.Payload), PublishedAt: d.CreatedAt, Attempt: d.Attempts + 1}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opt.Lease/2)
	herr := call(hctx, s.handlers[d.Name], ev)
	cancel()
	wctx := context.WithoutCancel(ctx)
	now := b.opt.Now()
	if herr == nil {
		_, err := b.db.Exec(wctx, `UPDATE event_deliveries SET status = 'done', attempts = attempts + 1, done_at = ?
			WHERE event_id = ? AND subscriber = ? AND status = 'pending'`, now, d.EventID, s.name)
		return err
	}
	attempts := d.Attempts + 1
	msg := herr.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if attempts >= b.opt.MaxAttempts {
		b.log.Error("events: delivery dead", "subscriber", s.name, "event", d.Name, "id", d.EventID, "attempts", attempts, "err", herr)
		_, err := b.db.Exec(wctx, `UPDATE event_deliveries SET status = 'dead', attempts = ?, last_error = ?, done_at = ?
			WHERE event_id = ? AND subscriber = ? AND status = 'pending'`, attempts, msg, now, d.EventID, s.name)
		return err
	}
	b.log.Warn("events: handler failed, will retry", "subscriber", s.name, "event", d.Name, "id", d.EventID, "attempts", attempts, "err", herr)
	_, err := b.db.Exec(wctx, `UPDATE event_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ?
		WHERE event_id = ? AND subscriber = ? AND status = 'pending'`, attempts, msg, now.Add(b.backoff(attempts)), d.EventID, s.name)
	return err
}

func (b *Bus) backoff(attempts int) time.Duration {
	d := b.opt.RetryBase
	for i := 1; i < attempts && d < b.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, b.opt.RetryMax)
}

func call(ctx context.Context, h Handler, e Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, e)
}

func (b *Bus) pruneLoop(ctx context.Context) {
	t := time.NewTicker(b.opt.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := b.Prune(ctx); err != nil && ctx.Err() == nil {
			b.log.Error("events: prune", "err", err)
		} else if n > 0 {
			b.log.Info("events: pruned delivered events", "count", n)
		}
	}
}

// Prune deletes events older than the retention that no subscriber still has pending
// (their delivery rows go with them), and forgets subscriptions that no running instance
// has declared within the retention. It returns the number of events deleted.
func (b *Bus) Prune(ctx context.Context) (int64, error) {
	if err := b.Init(ctx); err != nil { // refresh our own subscriptions' seen_at
		return 0, err
	}
	cutoff := b.opt.Now().Add(-b.opt.Retention)
	var stale []struct {
		Name       string `db:"name"`
		Subscriber string `db:"subscriber"`
	}
	if err := b.db.Select(ctx, &stale, `SELECT name, subscriber FROM event_subscriptions WHERE seen_at < ?`, cutoff); err != nil {
		return 0, err
	}
	for _, s := range stale {
		err := b.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.Exec(ctx, `DELETE FROM event_subscriptions WHERE name = ? AND subscriber = ? AND seen_at < ?`, s.Name, s.Subscriber, cutoff)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // declared again meanwhile
			}
			_, err = tx.Exec(ctx, `DELETE FROM event_deliveries WHERE subscriber = ? AND status = 'pending'
				AND event_id IN (SELECT id FROM events WHERE name = ?)`, s.Subscriber, s.Name)
			return err
		})
		if err != nil {
			return 0, err
		}
		b.log.Info("events: dropped stale subscription", "subscriber", s.Subscriber, "event", s.Name)
	}
	const batch = 500
	var total int64
	for {
		res, err := b.db.Exec(ctx, `DELETE FROM events WHERE id IN (
			SELECT e.id FROM events e WHERE e.created_at < ?
			  AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
			ORDER BY e.id LIMIT ?)`, cutoff, batch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// Delivery is one (event, subscriber) row, for operators.
type Delivery struct {
	EventID     int64     `db:"event_id"`
	Name        string    `db:"name"`
	Subscriber  string    `db:"subscriber"`
	Status      string    `db:"status"`
	Attempts    int       `db:"attempts"`
	LastError   string    `db:"last_error"`
	Payload     string    `db:"payload"`
	PublishedAt time.Time `db:"created_at"`
}

// DeadLetters lists deliveries that gave up after MaxAttempts, newest first.
func DeadLetters(ctx context.Context, q store.Q, limit int) ([]Delivery, error) {
	var out []Delivery
	err := q.Select(ctx, &out, `SELECT d.event_id, e.name, d.subscriber, d.status, d.attempts, d.last_error, e.payload, e.created_at
		FROM event_deliveries d JOIN events e ON e.id = d.event_id
		WHERE d.status = 'dead' ORDER BY d.event_id DESC LIMIT ?`, limit)
	return out, err
}

// Requeue makes a dead (or done) delivery pending again with fresh attempts, for replay
// after the cause is fixed.
func Requeue(ctx context.Context, q store.Q, subscriber string, eventID int64) error {
	res, err := q.Exec(ctx, `UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL
		WHERE event_id = ? AND subscriber = ?`, store.Now(), eventID, subscriber)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return wakeAfter(ctx, q, "requeue")
}

func instanceID() string {
	host, _ := os.Hostname()
	var r [3]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

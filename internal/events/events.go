// Package events is the durable in-database outbox. Modules Publish inside their own
// transaction; a Bus delivers each event at least once to every subscriber of its name.
//
// Publish fans the event out into one event_deliveries row per subscription (subscriptions
// are declared in the database by Bus.Init), so delivery state is per (event, subscriber)
// and nothing depends on ids committing in order. A subscriber's deliveries are handled by
// one instance at a time (a lease row in event_subscribers), in event id order; a failing
// delivery is retried with backoff without holding up later events and is marked dead
// after MaxAttempts. Works the same on SQLite and on PostgreSQL with several instances.
package events

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"zhsj/internal/store"
)

// Event is one delivered event.
type Event struct {
	ID          int64
	Name        string
	Payload     json.RawMessage
	PublishedAt time.Time
	Attempt     int // 1 on first delivery to this subscriber
}

// Decode unmarshals the payload into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Payload, v) }

// Handler handles one event for one subscriber. It must be idempotent: an event can be
// delivered again after a crash or a lost lease.
type Handler func(ctx context.Context, e Event) error

// MaxPayload bounds a payload: events carry ids, never whole records.
const MaxPayload = 16 << 10

const notifyChannel = "zhsj_events"

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}$`)

// ValidName reports whether name has the form module.thing.happened.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Publish records the event in the outbox as part of q's transaction (q is normally a
// *store.Tx) and wakes subscribers once it commits. Nothing is delivered if the
// transaction rolls back. Given a *store.DB it uses a transaction of its own.
func Publish(ctx context.Context, q store.Q, name string, payload any) error {
	if db, ok := q.(*store.DB); ok {
		return db.InTx(ctx, func(tx *store.Tx) error { return Publish(ctx, tx, name, payload) })
	}
	if !ValidName(name) {
		return fmt.Errorf("events: invalid event name %q (want module.thing.happened)", name)
	}
	if payload == nil {
		payload = struct{}{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("events: payload of %s: %w", name, err)
	}
	if len(b) > MaxPayload {
		return fmt.Errorf("events: payload of %s is %d bytes, more than %d: publish ids, not records", name, len(b), MaxPayload)
	}
	now := store.Now()
	id, err := store.InsertID(ctx, q, `INSERT INTO events(name, payload, created_at) VALUES (?, ?, ?)`, name, string(b), now)
	if err != nil {
		return fmt.Errorf("events: publish %s: %w", name, err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO event_deliveries(event_id, subscriber, status, attempts, next_attempt_at)
		SELECT ?, subscriber, 'pending', 0, ? FROM event_subscriptions WHERE name = ?`, id, now, name); err != nil {
		return fmt.Errorf("events: publish %s: %w", name, err)
	}
	return wakeAfter(ctx, q, name)
}

// wakeAfter wakes the buses once q's work is committed: in this process directly, in the
// others through NOTIFY on PostgreSQL (sent at commit, dropped on rollback).
func wakeAfter(ctx context.Context, q store.Q, hint string) error {
	if q.Dialect() == store.Postgres {
		if _, err := q.Exec(ctx, `SELECT pg_notify(?, ?)`, notifyChannel, hint); err != nil {
			return fmt.Errorf("events: notify: %w", err)
		}
	}
	switch t := q.(type) {
	case *store.Tx:
		t.AfterCommit(wakeLocal)
	case *store.DB:
		wakeLocal()
	}
	return nil
}

// Buses running in this process, woken after a local publish commits. This is only a
// wake-up hint; polling finds everything anyway.
var local = struct {
	sync.Mutex
	buses map[*Bus]struct{}
}{buses: map[*Bus]struct{}{}}

func wakeLocal() {
	local.Lock()
	defer local.Unlock()
	for b := range local.buses {
		b.wake()
	}
}

// listen wakes the bus on every PostgreSQL NOTIFY until ctx ends. It holds one connection
// of the pool and throws it away afterwards.
func (b *Bus) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("events: LISTEN failed, relying on polling", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.opt.PollInterval * 10):
		}
	}
}

func (b *Bus) listenOnce(ctx context.Context) error {
	conn, err := b.db.Writer().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var werr error
	conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			werr = errors.New("not a pgx connection")
			return nil
		}
		pc := sc.Conn()
		if _, werr = pc.Exec(ctx, "LISTEN "+notifyChannel); werr != nil {
			return driver.ErrBadConn
		}
		b.wake() // catch up with anything published before LISTEN
		for {
			if _, werr = pc.WaitForNotification(ctx); werr != nil {
				return driver.ErrBadConn // never reuse a listening connection
			}
			b.wake()
		}
	})
	return werr
}

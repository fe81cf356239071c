package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"zhsj/internal/store"
)

// Options tune a Hub; zero values take the defaults noted.
type Options struct {
	Now          func() time.Time // clock; default store.Now
	HTTPClient   *http.Client     // default: 15 s timeout
	TLSConfig    *tls.Config      // base TLS settings for SMTP (e.g. RootCAs of an internal CA)
	SMS          SMSGateway       // nil: SMS channels fail with 未配置短信网关
	Logger       *slog.Logger     // default slog.Default()
	MaxAttempts  int              // per message; default 5
	Backoff      time.Duration    // first retry delay, doubled each time; default 30 s
	MaxBackoff   time.Duration    // default 30 min
	PollInterval time.Duration    // Run's polling period; default 2 s
	Lease        time.Duration    // how long a claim on a channel or a delivery lasts; default 2 min
	SendTimeout  time.Duration    // one request; default 30 s
	BatchSize    int              // deliveries per channel per pass; default 20
	Owner        string           // instance id for leases; default random
}

// Hub queues messages for channels and delivers them.
type Hub struct {
	db   *store.DB
	opt  Options
	log  *slog.Logger
	wake chan struct{}
}

// New returns a hub on db.
func New(db *store.DB, opt Options) *Hub {
	if opt.Now == nil {
		opt.Now = store.Now
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 30 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Minute
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 2 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = 30 * time.Second
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 20
	}
	if opt.Owner == "" {
		var b [8]byte
		rand.Read(b[:])
		opt.Owner = hex.EncodeToString(b[:])
	}
	return &Hub{db: db, opt: opt, log: opt.Logger.With("module", "notify"), wake: make(chan struct{}, 1)}
}

func (h *Hub) now() time.Time { return h.opt.Now().UTC().Truncate(time.Millisecond) }

// Wake makes Run look for due deliveries now (e.g. after a transaction that used Enqueue).
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Send queues msg for the channel and wakes the delivery loop. It returns the delivery id;
// with msg.Dedup set, a repeated Send returns the first delivery's id.
func (h *Hub) Send(ctx context.Context, channelID int64, msg Message) (int64, error) {
	id, err := h.Enqueue(ctx, h.db, channelID, msg)
	if err == nil {
		h.Wake()
	}
	return id, err
}

// Enqueue queues msg through q, so callers can queue inside their own transaction. Call Wake
// after commit for prompt delivery.
func (h *Hub) Enqueue(ctx context.Context, q store.Q, channelID int64, msg Message) (int64, error) {
	if err := msg.normalize(); err != nil {
		return 0, err
	}
	if db, ok := q.(*store.DB); ok {
		// Inserts with RETURNING need the writer: run them in a transaction.
		var id int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			id, err = h.enqueue(ctx, tx, channelID, msg)
			return err
		})
		return id, err
	}
	return h.enqueue(ctx, q, channelID, msg)
}

func (h *Hub) enqueue(ctx context.Context, q store.Q, channelID int64, msg Message) (int64, error) {
	ch, err := getChannel(ctx, q, channelID)
	if err != nil {
		return 0, err
	}
	if !ch.Enabled {
		return 0, ErrChannelDisabled
	}
	now := h.now()
	id, err := store.InsertID(ctx, q, `INSERT INTO notify_deliveries
		(channel_id, title, text, severity, link, dedup, status, max_attempts, next_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		channelID, msg.Title, msg.Text, msg.Severity, msg.Link, msg.Dedup, h.opt.MaxAttempts, now, now, now)
	if errors.Is(err, sql.ErrNoRows) && msg.Dedup != "" {
		// ON CONFLICT DO NOTHING: the dedup key was queued before.
		err = q.Get(ctx, &id, `SELECT id FROM notify_deliveries WHERE channel_id = ? AND dedup = ?`, channelID, msg.Dedup)
	}
	if err != nil {
		return 0, fmt.Errorf("写入通知队列失败: %w", err)
	}
	return id, nil
}

// insertID runs an INSERT … RETURNING id on the writer.
func (h *Hub) insertID(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	err := h.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = store.InsertID(ctx, tx, query, args...)
		return err
	})
	return id, err
}

// testMessage is the fixed message SendTest sends.
func testMessage(ch Channel) Message {
	return Message{
		Title:    "测试消息",
		Text:     fmt.Sprintf("这是一条来自智慧市监平台的测试消息。收到本消息，说明通知渠道「%s」（%s）配置正确。", ch.Name, KindLabel(ch.Kind)),
		Severity: SeverityInfo,
	}
}

// SendTest sends the fixed 测试消息 to the channel now (also when it is disabled), records it in
// the delivery log and returns the delivery id and the outcome. It makes one attempt.
func (h *Hub) SendTest(ctx context.Context, channelID int64) (int64, error) {
	ch, err := h.Channel(ctx, channelID)
	if err != nil {
		return 0, err
	}
	snd, err := h.newSender(ch.Kind, ch.Config)
	if err != nil {
		return 0, fmt.Errorf("渠道配置无效: %w", err)
	}
	now := h.now()
	if _, avail, err := h.available(ctx, ch, now); err != nil {
		return 0, err
	} else if avail <= 0 {
		return 0, ErrRateLimited
	}
	m := testMessage(ch)
	d := Delivery{ChannelID: ch.ID, Title: m.Title, Text: m.Text, Severity: m.Severity,
		Status: StatusSending, Attempts: 1, MaxAttempts: 1, NextAt: now, CreatedAt: now}
	d.ID, err = h.insertID(ctx, `INSERT INTO notify_deliveries
		(channel_id, title, text, severity, status, attempts, max_attempts, next_at, lease_until, last_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'sending', 1, 1, ?, ?, ?, ?, ?)`,
		ch.ID, d.Title, d.Text, d.Severity, now, now.Add(h.opt.Lease), now, now, now)
	if err != nil {
		return 0, err
	}
	return d.ID, h.perform(ctx, ch, snd, d, now)
}

// DeliverDue sends every delivery that is due, channel by channel, and returns how many
// requests it made. Several processes may run it at once: a channel is worked on by one
// holder of its lease at a time, and each delivery is claimed with a conditional UPDATE.
func (h *Hub) DeliverDue(ctx context.Context) (int, error) {
	n, _, err := h.deliverDue(ctx)
	return n, err
}

// Run delivers due messages until ctx ends, waking on Send and polling otherwise.
func (h *Hub) Run(ctx context.Context) error {
	for {
		_, deferred, err := h.deliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.Error("投递通知失败", "error", err)
		}
		wait := h.opt.PollInterval
		if deferred && wait > time.Second {
			wait = time.Second // rate-limited work is waiting: look again soon
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-h.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

const dueCond = `((status = 'queued' AND next_at <= ?) OR (status = 'sending' AND lease_until < ?))`

func (h *Hub) deliverDue(ctx context.Context) (int, bool, error) {
	now := h.now()
	var ids []int64
	if err := h.db.Select(ctx, &ids, `SELECT DISTINCT channel_id FROM notify_deliveries WHERE `+dueCond+` ORDER BY channel_id`, now, now); err != nil {
		return 0, false, err
	}
	total, deferred := 0, false
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		n, more, err := h.deliverChannel(ctx, id)
		total += n
		deferred = deferred || more
		if err != nil {
			errs = append(errs, fmt.Errorf("渠道 %d: %w", id, err))
		}
	}
	return total, deferred, errors.Join(errs...)
}

// leaseChannel takes or renews this hub's lease on a channel.
func (h *Hub) leaseChannel(ctx context.Context, id int64, now time.Time, renew bool) (bool, error) {
	q := `UPDATE notify_channels SET lease_owner = ?, lease_until = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)`
	if renew {
		q = `UPDATE notify_channels SET lease_owner = ?, lease_until = ? WHERE id = ? AND lease_owner = ? AND lease_until >= ?`
	}
	args := []any{h.opt.Owner, now.Add(h.opt.Lease), id, now}
	if renew {
		args = []any{h.opt.Owner, now.Add(h.opt.Lease), id, h.opt.Owner, now}
	}
	res, err := h.db.Exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// deliverChannel works through one channel's due deliveries under its lease. It reports the
// requests made and whether due work was left for later by the rate limit.
func (h *Hub) deliverChannel(ctx context.Context, id int64) (int, bool, error) {
	now := h.now()
	ok, err := h.leaseChannel(ctx, id, now, false)
	if err != nil || !ok {
		return 0, false, err
	}
	defer func() {
		// Release with a fresh context so that shutdown does not leave the lease held.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		h.db.Exec(c, `UPDATE notify_channels SET lease_owner = '', lease_until = NULL WHERE id = ? AND lease_owner = ?`, id, h.opt.Owner)
	}()
	ch, err := h.Channel(ctx, id)
	if errors.Is(err, ErrChannelNotFound) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	var due []Delivery
	if err := h.db.Select(ctx, &due, `SELECT * FROM notify_deliveries WHERE channel_id = ? AND `+dueCond+` ORDER BY id LIMIT 500`, id, now, now); err != nil {
		return 0, false, err
	}
	if len(due) == 0 {
		return 0, false, nil
	}
	if !ch.Enabled {
		return 0, false, h.failAll(ctx, due, ErrChannelDisabled.Error(), now)
	}
	snd, err := h.newSender(ch.Kind, ch.Config)
	if err != nil {
		return 0, false, h.failAll(ctx, due, "渠道配置无效: "+err.Error(), now)
	}
	availMerge, availNow, err := h.available(ctx, ch, now)
	if err != nil {
		return 0, false, err
	}
	deferred := false
	batch := due
	if len(due) > availMerge {
		// More is due than the per-minute limit allows: send the oldest one by one and merge
		// the rest into a digest that takes the last free slot. Nothing is dropped; what does
		// not fit the digest's size waits for the next slot.
		if availMerge <= 0 {
			return 0, true, nil
		}
		keep, rest := due[:availMerge-1], due[availMerge-1:]
		dg, taken, err := h.merge(ctx, ch, snd, rest, now)
		if err != nil {
			return 0, false, err
		}
		batch = append(append([]Delivery{}, keep...), dg)
		deferred = taken < len(rest)
	}
	if availNow < len(batch) {
		batch, deferred = batch[:max(availNow, 0)], true
	}
	if len(batch) > h.opt.BatchSize {
		batch, deferred = batch[:h.opt.BatchSize], true
	}
	sent := 0
	for _, d := range batch {
		if ctx.Err() != nil {
			break
		}
		now := h.now()
		if ok, err := h.leaseChannel(ctx, id, now, true); err != nil || !ok {
			return sent, true, err
		}
		claimed, err := h.claim(ctx, &d, now)
		if err != nil {
			return sent, deferred, err
		}
		if !claimed {
			continue
		}
		sent++
		h.perform(ctx, ch, snd, d, now)
	}
	return sent, deferred, nil
}

// available returns how many requests the channel may make now: against its per-minute
// limits (which decide merging) and against all limits (which pace the sending).
func (h *Hub) available(ctx context.Context, ch Channel, now time.Time) (merge, send int, err error) {
	merge, send = math.MaxInt, math.MaxInt
	for _, l := range channelLimits(ch.Kind, ch.Config) {
		var used int
		if err := h.db.Get(ctx, &used, `SELECT COUNT(*) FROM notify_attempts WHERE channel_id = ? AND at >= ?`, ch.ID, now.Add(-l.window)); err != nil {
			return 0, 0, err
		}
		a := l.n - used
		if l.window >= time.Minute {
			merge = min(merge, a)
		}
		send = min(send, a)
	}
	return merge, send, nil
}

// merge turns rest into one digest delivery, marking the merged rows, in one transaction.
func (h *Hub) merge(ctx context.Context, ch Channel, snd sender, rest []Delivery, now time.Time) (Delivery, int, error) {
	msgs := make([]Message, len(rest))
	for i, d := range rest {
		msgs[i] = d.Message()
	}
	dm, n := buildDigest(msgs, snd.maxText())
	count := 0
	for _, d := range rest[:n] {
		count += max(d.MergedCount, 1)
	}
	dm.Title = digestTitle(count)
	d := Delivery{ChannelID: ch.ID, Title: dm.Title, Text: dm.Text, Severity: dm.Severity,
		Status: StatusQueued, MaxAttempts: h.opt.MaxAttempts, MergedCount: count, NextAt: now, CreatedAt: now}
	err := h.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		d.ID, err = store.InsertID(ctx, tx, `INSERT INTO notify_deliveries
			(channel_id, title, text, severity, status, max_attempts, merged_count, next_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`,
			ch.ID, d.Title, d.Text, d.Severity, d.MaxAttempts, count, now, now, now)
		if err != nil {
			return err
		}
		for _, r := range rest[:n] {
			res, err := tx.Exec(ctx, `UPDATE notify_deliveries SET status = 'merged', merged_into = ?, lease_until = NULL, updated_at = ?
				WHERE id = ? AND `+dueCond, d.ID, now, r.ID, now, now)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return fmt.Errorf("投递 %d 已被其他实例处理", r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return Delivery{}, 0, err
	}
	h.log.Info("超出频率限制，合并发送", "channel_id", ch.ID, "channel", ch.Name, "kind", ch.Kind, "merged", count, "digest_id", d.ID)
	return d, n, nil
}

// claim marks a due delivery as being sent by this hub.
func (h *Hub) claim(ctx context.Context, d *Delivery, now time.Time) (bool, error) {
	res, err := h.db.Exec(ctx, `UPDATE notify_deliveries SET status = 'sending', attempts = attempts + 1,
		lease_until = ?, last_attempt_at = ?, updated_at = ? WHERE id = ? AND `+dueCond,
		now.Add(h.opt.Lease), now, now, d.ID, now, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n != 1 {
		return false, err
	}
	d.Attempts++
	d.Status = StatusSending
	return true, nil
}

// perform makes one request for a claimed delivery and records the outcome.
func (h *Hub) perform(ctx context.Context, ch Channel, snd sender, d Delivery, now time.Time) error {
	aid, err := h.insertID(ctx, `INSERT INTO notify_attempts (channel_id, delivery_id, at, ok) VALUES (?, ?, ?, FALSE)`, ch.ID, d.ID, now)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, h.opt.SendTimeout)
	resp, sendErr := snd.send(sctx, ch, d)
	cancel()
	done := h.now()
	// Record with a context that outlives a shutdown, so the outcome is not lost.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if sendErr == nil {
		_, err := h.db.Exec(wctx, `UPDATE notify_deliveries SET status = 'sent', sent_at = ?, error = '', response = ?, lease_until = NULL, updated_at = ? WHERE id = ?`,
			done, resp, done, d.ID)
		h.db.Exec(wctx, `UPDATE notify_attempts SET ok = TRUE WHERE id = ?`, aid)
		return err
	}
	msg := truncate(sendErr.Error(), 2000)
	status, next := StatusQueued, done.Add(backoff(h.opt.Backoff, h.opt.MaxBackoff, d.Attempts))
	if isPermanent(sendErr) || d.Attempts >= d.MaxAttempts {
		status, next = StatusFailed, d.NextAt
	}
	_, err = h.db.Exec(wctx, `UPDATE notify_deliveries SET status = ?, next_at = ?, error = ?, response = ?, lease_until = NULL, updated_at = ? WHERE id = ?`,
		status, next, msg, resp, done, d.ID)
	h.db.Exec(wctx, `UPDATE notify_attempts SET error = ? WHERE id = ?`, msg, aid)
	h.log.Warn("通知发送失败", "channel_id", ch.ID, "channel", ch.Name, "kind", ch.Kind,
		"delivery_id", d.ID, "attempt", d.Attempts, "max_attempts", d.MaxAttempts, "status", status, "error", msg)
	if err != nil {
		return err
	}
	return sendErr
}

// failAll marks due deliveries failed without sending (disabled channel, bad configuration).
func (h *Hub) failAll(ctx context.Context, due []Delivery, reason string, now time.Time) error {
	for _, d := range due {
		if _, err := h.db.Exec(ctx, `UPDATE notify_deliveries SET status = 'failed', error = ?, lease_until = NULL, updated_at = ? WHERE id = ? AND `+dueCond,
			reason, now, d.ID, now, now); err != nil {
			return err
		}
	}
	return nil
}

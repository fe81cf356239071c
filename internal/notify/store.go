package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"zhsj/internal/store"
)

type channelRow struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	Kind      string    `db:"kind"`
	Config    string    `db:"config"`
	Enabled   bool      `db:"enabled"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

func (r channelRow) channel() Channel {
	return Channel{ID: r.ID, Name: r.Name, Kind: r.Kind, Config: json.RawMessage(r.Config), Enabled: r.Enabled, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

const channelCols = `id, name, kind, config, enabled, created_at, updated_at`

func getChannel(ctx context.Context, q store.Q, id int64) (Channel, error) {
	var r channelRow
	err := q.Get(ctx, &r, `SELECT `+channelCols+` FROM notify_channels WHERE id = ?`, id)
	if errors.Is(err, store.ErrNotFound) {
		return Channel{}, ErrChannelNotFound
	}
	return r.channel(), err
}

// Channel returns one channel, config included (it holds secrets: see RedactConfig).
func (h *Hub) Channel(ctx context.Context, id int64) (Channel, error) {
	return getChannel(ctx, h.db, id)
}

// Channels lists all channels by name.
func (h *Hub) Channels(ctx context.Context) ([]Channel, error) {
	var rows []channelRow
	if err := h.db.Select(ctx, &rows, `SELECT `+channelCols+` FROM notify_channels ORDER BY name`); err != nil {
		return nil, err
	}
	out := make([]Channel, len(rows))
	for i, r := range rows {
		out[i] = r.channel()
	}
	return out, nil
}

func (h *Hub) checkChannel(ch *Channel) error {
	ch.Name = strings.TrimSpace(ch.Name)
	if ch.Name == "" {
		return errors.New("渠道名称不能为空")
	}
	if utf8.RuneCountInString(ch.Name) > 64 {
		return errors.New("渠道名称不能超过 64 个字")
	}
	if !slices.Contains(Kinds, ch.Kind) {
		return fmt.Errorf("不支持的渠道类型 %q", ch.Kind)
	}
	if len(ch.Config) == 0 {
		ch.Config = json.RawMessage("{}")
	}
	if _, err := h.newSender(ch.Kind, ch.Config); err != nil {
		return err
	}
	return nil
}

func nameTaken(ctx context.Context, q store.Q, name string, except int64) error {
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM notify_channels WHERE name = ? AND id <> ?`, name, except); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("渠道名称「%s」已存在", name)
	}
	return nil
}

// CreateChannel validates and stores a channel and returns its id.
func (h *Hub) CreateChannel(ctx context.Context, ch Channel) (int64, error) {
	if err := h.checkChannel(&ch); err != nil {
		return 0, err
	}
	var id int64
	err := h.db.InTx(ctx, func(tx *store.Tx) error {
		if err := nameTaken(ctx, tx, ch.Name, 0); err != nil {
			return err
		}
		now := h.now()
		var err error
		id, err = store.InsertID(ctx, tx, `INSERT INTO notify_channels (name, kind, config, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			ch.Name, ch.Kind, string(ch.Config), ch.Enabled, now, now)
		return err
	})
	return id, err
}

// UpdateChannel changes name, kind, config and enabled. Masked values from RedactConfig in
// ch.Config keep the stored secrets.
func (h *Hub) UpdateChannel(ctx context.Context, ch Channel) error {
	return h.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := getChannel(ctx, tx, ch.ID)
		if err != nil {
			return err
		}
		ch.Config = keepSecrets(old.Config, ch.Config)
		if err := h.checkChannel(&ch); err != nil {
			return err
		}
		if err := nameTaken(ctx, tx, ch.Name, ch.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE notify_channels SET name = ?, kind = ?, config = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			ch.Name, ch.Kind, string(ch.Config), ch.Enabled, h.now(), ch.ID)
		return err
	})
}

// DeleteChannel removes a channel with its delivery log.
func (h *Hub) DeleteChannel(ctx context.Context, id int64) error {
	return h.db.InTx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`DELETE FROM notify_attempts WHERE channel_id = ?`,
			`DELETE FROM notify_deliveries WHERE channel_id = ?`,
			`DELETE FROM notify_channels WHERE id = ?`,
		} {
			res, err := tx.Exec(ctx, q, id)
			if err != nil {
				return err
			}
			if strings.Contains(q, "notify_channels") {
				if n, _ := res.RowsAffected(); n == 0 {
					return ErrChannelNotFound
				}
			}
		}
		return nil
	})
}

// DeliveryFilter selects rows of the delivery log.
type DeliveryFilter struct {
	ChannelID int64  // 0: all channels
	Status    string // "": any
	Page      int    // from 1
	Size      int    // default 50, at most 500
}

// Deliveries lists the delivery log, newest first, with the total count.
func (h *Hub) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, int, error) {
	where, args := "1 = 1", []any{}
	if f.ChannelID != 0 {
		where += " AND channel_id = ?"
		args = append(args, f.ChannelID)
	}
	if f.Status != "" {
		where += " AND status = ?"
		args = append(args, f.Status)
	}
	var total int
	if err := h.db.Get(ctx, &total, `SELECT COUNT(*) FROM notify_deliveries WHERE `+where, args...); err != nil {
		return nil, 0, err
	}
	size := f.Size
	if size <= 0 {
		size = 50
	}
	size = min(size, 500)
	page := max(f.Page, 1)
	var out []Delivery
	err := h.db.Select(ctx, &out, `SELECT * FROM notify_deliveries WHERE `+where+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, size, (page-1)*size)...)
	return out, total, err
}

// Delivery returns one row of the delivery log.
func (h *Hub) Delivery(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	err := h.db.Get(ctx, &d, `SELECT * FROM notify_deliveries WHERE id = ?`, id)
	return d, err
}

// Prune deletes finished deliveries (sent, failed, merged) and request records older than
// before, and returns how many deliveries went.
func (h *Hub) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := h.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM notify_attempts WHERE at < ?`, before); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM notify_deliveries WHERE status IN ('sent', 'failed', 'merged') AND updated_at < ?
			AND NOT EXISTS (SELECT 1 FROM notify_attempts a WHERE a.delivery_id = notify_deliveries.id)`, before)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

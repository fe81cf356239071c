package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"zhsj/internal/store"
)

// Sample is one value of a series at a time.
type Sample struct {
	Name     string
	Labels   map[string]string
	TargetID int64 // 0: not a target's series
	At       time.Time
	Value    float64
}

// labelString renders labels canonically: k=v;k=v sorted by key.
func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strings.NewReplacer(";", "_", "=", "_").Replace(l[k])
	}
	return strings.Join(parts, ";")
}

// seriesCache remembers series ids.
type seriesCache struct {
	mu  sync.Mutex
	ids map[string]int64
}

func (c *seriesCache) get(k string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[k]
	return id, ok
}

func (c *seriesCache) put(k string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = map[string]int64{}
	}
	c.ids[k] = id
}

func (s *Service) seriesID(ctx context.Context, tx *store.Tx, smp Sample) (int64, error) {
	labels := labelString(smp.Labels)
	key := smp.Name + "|" + labels
	if id, ok := s.series.get(key); ok {
		return id, nil
	}
	var target *int64
	if smp.TargetID != 0 {
		target = &smp.TargetID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO monitor_series (name, labels, target_id) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO NOTHING`,
		smp.Name, labels, target); err != nil {
		return 0, err
	}
	var id int64
	if err := tx.Get(ctx, &id, `SELECT id FROM monitor_series WHERE name = ? AND labels = ?`, smp.Name, labels); err != nil {
		return 0, err
	}
	s.series.put(key, id)
	return id, nil
}

// forgetSeries drops cached ids (after a target and its series were deleted).
func (s *Service) forgetSeries() {
	s.series.mu.Lock()
	s.series.ids = nil
	s.series.mu.Unlock()
}

// Record stores samples: raw rows and each series' newest value.
func (s *Service) Record(ctx context.Context, samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.record(ctx, tx, samples) })
}

func (s *Service) record(ctx context.Context, tx *store.Tx, samples []Sample) error {
	type row struct {
		id int64
		at int64
		v  float64
	}
	rows := make([]row, 0, len(samples))
	for _, smp := range samples {
		if math.IsNaN(smp.Value) || math.IsInf(smp.Value, 0) {
			continue
		}
		id, err := s.seriesID(ctx, tx, smp)
		if err != nil {
			return err
		}
		rows = append(rows, row{id, smp.At.UnixMilli(), smp.Value})
	}
	const chunk = 200
	for i := 0; i < len(rows); i += chunk {
		part := rows[i:min(i+chunk, len(rows))]
		var b strings.Builder
		args := make([]any, 0, 3*len(part))
		b.WriteString(`INSERT INTO monitor_samples (series_id, at, value) VALUES `)
		for j, r := range part {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?)")
			args = append(args, r.id, r.at, r.v)
		}
		b.WriteString(` ON CONFLICT (series_id, at) DO UPDATE SET value = excluded.value`)
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if _, err := tx.Exec(ctx, `UPDATE monitor_series SET last_value = ?, last_at = ? WHERE id = ? AND (last_at IS NULL OR last_at <= ?)`,
			r.v, r.at, r.id, r.at); err != nil {
			return err
		}
	}
	return nil
}

// Retention is how long each resolution is kept.
type Retention struct {
	RawDays    int `json:"raw_days"`       // default 7
	FiveMinDay int `json:"rollup_5m_days"` // default 90
	HourlyDays int `json:"rollup_1h_days"` // default 730
}

// DefaultRetention is raw 7 days, 5-minute rollups 90 days, hourly 2 years.
var DefaultRetention = Retention{RawDays: 7, FiveMinDay: 90, HourlyDays: 730}

const retentionKey = "monitor.retention"

// Retention returns the configured retention.
func (s *Service) Retention(ctx context.Context) (Retention, error) {
	r := DefaultRetention
	var v string
	err := s.db.Get(ctx, &v, `SELECT value FROM settings WHERE key = ?`, retentionKey)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	} else if err != nil {
		return r, err
	}
	parts := strings.Split(v, ",")
	if len(parts) == 3 {
		r.RawDays, _ = strconv.Atoi(parts[0])
		r.FiveMinDay, _ = strconv.Atoi(parts[1])
		r.HourlyDays, _ = strconv.Atoi(parts[2])
	}
	return r, nil
}

// SetRetention validates and stores the retention in q.
func (s *Service) SetRetention(ctx context.Context, q store.Q, r Retention) error {
	if r.RawDays < 1 || r.RawDays > 90 {
		return invalid("原始数据保留天数须在 1 到 90 之间")
	}
	if r.FiveMinDay < r.RawDays || r.FiveMinDay > 730 {
		return invalid("5 分钟汇总保留天数须不少于原始数据、且不超过 730 天")
	}
	if r.HourlyDays < r.FiveMinDay || r.HourlyDays > 3650 {
		return invalid("小时汇总保留天数须不少于 5 分钟汇总、且不超过 3650 天")
	}
	v := fmt.Sprintf("%d,%d,%d", r.RawDays, r.FiveMinDay, r.HourlyDays)
	_, err := q.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, retentionKey, v, s.now())
	return err
}

const (
	step5m = 300
	step1h = 3600
)

// Rollup computes the 5-minute rollups of raw samples and the hourly rollups of those, for
// every bucket that ended since lookback before now (recomputing a bucket is harmless: it is
// rebuilt from its sources, so reruns and late samples are fine). It returns the rows written.
func (s *Service) Rollup(ctx context.Context, lookback time.Duration) (int64, error) {
	now := s.now().UnixMilli()
	var total int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, st := range []struct {
			step   int64
			source string
		}{
			{step5m, `SELECT series_id, (at / 300000) * 300000 AS b, MIN(value), MAX(value), SUM(value), COUNT(*)
				FROM monitor_samples WHERE at >= ? AND at < ? GROUP BY series_id, (at / 300000) * 300000`},
			{step1h, `SELECT series_id, (at / 3600000) * 3600000 AS b, MIN(vmin), MAX(vmax), SUM(vsum), SUM(vcount)
				FROM monitor_rollups WHERE step = 300 AND at >= ? AND at < ? GROUP BY series_id, (at / 3600000) * 3600000`},
		} {
			ms := st.step * 1000
			end := now / ms * ms // only finished buckets
			from := (now - lookback.Milliseconds()) / ms * ms
			res, err := tx.Exec(ctx, `INSERT INTO monitor_rollups (series_id, at, vmin, vmax, vsum, vcount, step)
				SELECT x.*, `+strconv.FormatInt(st.step, 10)+` FROM (`+st.source+`) x WHERE true
				ON CONFLICT (series_id, step, at) DO UPDATE SET vmin = excluded.vmin, vmax = excluded.vmax, vsum = excluded.vsum, vcount = excluded.vcount`,
				from, end)
			if err != nil {
				return fmt.Errorf("汇总 %d 秒: %w", st.step, err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

// SamplePartitions is how monitor_samples is partitioned on PostgreSQL: by day, since raw
// samples are kept a few days (DESIGN §10 asks for months; a month's partition would never
// be dropped whole within a 7-day retention).
var SamplePartitions = store.TimePartitions{Table: "monitor_samples", Column: "at", Period: store.Day, Millis: true}

// Prune deletes samples and rollups older than the retention and returns the rows deleted.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	r, err := s.Retention(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	day := int64(24 * time.Hour / time.Millisecond)
	// On PostgreSQL the raw samples of whole past days go by dropping their partition.
	cutoff := now.Add(-time.Duration(r.RawDays) * 24 * time.Hour)
	var total int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		total, err = SamplePartitions.DropBefore(ctx, tx, cutoff, nil)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, q := range []struct {
		sql  string
		days int
	}{
		{`DELETE FROM monitor_samples WHERE at < ?`, r.RawDays},
		{`DELETE FROM monitor_rollups WHERE step = 300 AND at < ?`, r.FiveMinDay},
		{`DELETE FROM monitor_rollups WHERE step = 3600 AND at < ?`, r.HourlyDays},
	} {
		res, err := s.db.Exec(ctx, q.sql, now.UnixMilli()-int64(q.days)*day)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// Point is one point of a chart.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"` // mean over the point's bucket
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
}

// SeriesInfo is a series with its points.
type SeriesInfo struct {
	ID       int64   `db:"id" json:"id"`
	Name     string  `db:"name" json:"name"`
	Labels   string  `db:"labels" json:"labels"`
	TargetID *int64  `db:"target_id" json:"target_id,omitempty"`
	Step     int     `db:"-" json:"step"` // seconds per point; 0: raw
	Points   []Point `db:"-" json:"points"`
}

// resolutionFor picks raw up to 6 hours, 5-minute rollups up to 14 days, hourly beyond.
func resolutionFor(span time.Duration) int {
	switch {
	case span <= 6*time.Hour:
		return 0
	case span <= 14*24*time.Hour:
		return step5m
	}
	return step1h
}

// Query returns the series named name whose labels contain match (and, when targetID is not
// 0, of that target) with their points between from and to.
func (s *Service) Query(ctx context.Context, name string, match map[string]string, targetID int64, from, to time.Time) ([]SeriesInfo, error) {
	q, args := `SELECT id, name, labels, target_id FROM monitor_series WHERE name = ?`, []any{name}
	if targetID != 0 {
		q += ` AND target_id = ?`
		args = append(args, targetID)
	}
	var list []SeriesInfo
	if err := s.db.Select(ctx, &list, q+` ORDER BY labels LIMIT 200`, args...); err != nil {
		return nil, err
	}
	step := resolutionFor(to.Sub(from))
	out := list[:0]
	for _, si := range list {
		if !labelsMatch(si.Labels, match) {
			continue
		}
		si.Step = step
		var err error
		if step == 0 {
			var pts []struct {
				At    int64   `db:"at"`
				Value float64 `db:"value"`
			}
			err = s.db.Select(ctx, &pts, `SELECT at, value FROM monitor_samples WHERE series_id = ? AND at >= ? AND at <= ? ORDER BY at`,
				si.ID, from.UnixMilli(), to.UnixMilli())
			for _, p := range pts {
				si.Points = append(si.Points, Point{At: time.UnixMilli(p.At).UTC(), Value: p.Value, Min: p.Value, Max: p.Value})
			}
		} else {
			var pts []struct {
				At    int64   `db:"at"`
				Min   float64 `db:"vmin"`
				Max   float64 `db:"vmax"`
				Sum   float64 `db:"vsum"`
				Count int64   `db:"vcount"`
			}
			err = s.db.Select(ctx, &pts, `SELECT at, vmin, vmax, vsum, vcount FROM monitor_rollups WHERE series_id = ? AND step = ? AND at >= ? AND at <= ? ORDER BY at`,
				si.ID, step, from.UnixMilli(), to.UnixMilli())
			for _, p := range pts {
				si.Points = append(si.Points, Point{At: time.UnixMilli(p.At).UTC(), Value: p.Sum / float64(max(p.Count, 1)), Min: p.Min, Max: p.Max})
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	return out, nil
}

// labelsMatch reports whether the canonical label string contains every pair of match.
func labelsMatch(labels string, match map[string]string) bool {
	if len(match) == 0 {
		return true
	}
	have := map[string]string{}
	for _, p := range strings.Split(labels, ";") {
		if k, v, ok := strings.Cut(p, "="); ok {
			have[k] = v
		}
	}
	for k, v := range match {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Availability returns, per target, the share of successful probes between from and to from
// the 5-minute rollups (plus raw samples of the current unfinished bucket); targets without
// data in the window are absent.
func (s *Service) Availability(ctx context.Context, from, to time.Time) (map[int64]float64, error) {
	cut := to.UnixMilli() / (step5m * 1000) * (step5m * 1000)
	var rows []struct {
		TargetID int64   `db:"target_id"`
		Sum      float64 `db:"vsum"`
		Count    float64 `db:"vcount"`
	}
	err := s.db.Select(ctx, &rows, `SELECT s.target_id, SUM(x.vsum) AS vsum, SUM(x.vcount) AS vcount FROM (
			SELECT series_id, vsum, vcount FROM monitor_rollups WHERE step = 300 AND at >= ? AND at < ?
			UNION ALL
			SELECT series_id, value, 1 FROM monitor_samples WHERE at >= ? AND at <= ?
		) x JOIN monitor_series s ON s.id = x.series_id
		WHERE s.name = 'probe_success' AND s.target_id IS NOT NULL GROUP BY s.target_id`,
		from.UnixMilli(), cut, max(cut, from.UnixMilli()), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	out := map[int64]float64{}
	for _, r := range rows {
		if r.Count > 0 {
			out[r.TargetID] = r.Sum / r.Count
		}
	}
	return out, nil
}

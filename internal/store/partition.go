package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Append-only high-volume tables are range-partitioned by time on PostgreSQL (DESIGN §10), so
// that a year of rows stays fast to query by period and retention drops whole partitions
// instead of deleting rows one by one. The migration creates such a table PARTITION BY RANGE
// on its time column with a DEFAULT partition, <table>_default, so no insert ever fails for
// want of a partition. Ensure adds the partitions of the coming periods and moves any rows the
// default partition caught into the partitions it makes for them; DropBefore drops whole old
// partitions. On SQLite the tables are plain and both do nothing.

// Period is the span of one partition: a calendar month or day in China time.
type Period int

const (
	Month Period = iota
	Day
)

// TimePartitions describes a table partitioned by time.
type TimePartitions struct {
	Table  string
	Column string
	Period Period
	Millis bool // the column holds unix milliseconds (BIGINT), not TIMESTAMPTZ
}

// start returns the beginning of the period holding t.
func (p TimePartitions) start(t time.Time) time.Time {
	t = t.In(China)
	if p.Period == Day {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, China)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, China)
}

func (p TimePartitions) next(start time.Time) time.Time {
	if p.Period == Day {
		return start.AddDate(0, 0, 1)
	}
	return start.AddDate(0, 1, 0)
}

// name is the partition of the period beginning at start: audit_log_p202611,
// monitor_samples_p20261127.
func (p TimePartitions) name(start time.Time) string {
	if p.Period == Day {
		return p.Table + "_p" + start.Format("20060102")
	}
	return p.Table + "_p" + start.Format("200601")
}

// parse is the inverse of name; ok is false for names it did not make (the default partition).
func (p TimePartitions) parse(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, p.Table+"_p")
	if !ok {
		return time.Time{}, false
	}
	layout := "200601"
	if p.Period == Day {
		layout = "20060102"
	}
	t, err := time.ParseInLocation(layout, rest, China)
	return t, err == nil && len(rest) == len(layout)
}

// bound is the SQL literal of the column's value at t.
func (p TimePartitions) bound(t time.Time) string {
	if p.Millis {
		return fmt.Sprint(t.UnixMilli())
	}
	return "'" + t.UTC().Format("2006-01-02 15:04:05") + "+00'"
}

// locked takes, within tx, the lock that serialises partition changes of the table across
// instances, and then lists its partitions.
func (p TimePartitions) locked(ctx context.Context, tx *Tx) ([]time.Time, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "zhsj.partitions."+p.Table); err != nil {
		return nil, err
	}
	return p.Partitions(ctx, tx)
}

// Partitions lists the time partitions of the table (the default partition excepted) by
// their start, oldest first.
func (p TimePartitions) Partitions(ctx context.Context, q Q) ([]time.Time, error) {
	if q.Dialect() != Postgres {
		return nil, nil
	}
	var names []string
	if err := q.Select(ctx, &names, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class t ON t.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = current_schema() AND t.relname = ?`, p.Table); err != nil {
		return nil, err
	}
	var out []time.Time
	for _, n := range names {
		if t, ok := p.parse(n); ok {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

// Ensure creates, within tx, the partitions of every period from the one holding from to the
// one holding to, and those of the periods of any rows in the default partition, moving those
// rows into them. It returns the number of partitions created. Running it again creates
// nothing; concurrent callers wait for each other.
func (p TimePartitions) Ensure(ctx context.Context, tx *Tx, from, to time.Time) (int, error) {
	if tx.Dialect() != Postgres {
		return 0, nil
	}
	have, err := p.locked(ctx, tx)
	if err != nil {
		return 0, err
	}
	want := map[time.Time]bool{}
	for s := p.start(from); !s.After(to); s = p.next(s) {
		want[s] = true
	}
	// Periods of the rows that the default partition caught, in China time.
	local := p.Column + " AT TIME ZONE 'UTC' + INTERVAL '8 hours'"
	if p.Millis {
		local = "to_timestamp((" + p.Column + " + 28800000) / 1000.0) AT TIME ZONE 'UTC'"
	}
	unit := "month"
	if p.Period == Day {
		unit = "day"
	}
	var caught []time.Time
	if err := tx.Select(ctx, &caught, `SELECT DISTINCT date_trunc('`+unit+`', `+local+`) FROM `+p.Table+`_default WHERE `+p.Column+` IS NOT NULL`); err != nil {
		return 0, err
	}
	for _, t := range caught {
		want[time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, China)] = true
	}
	for _, s := range have {
		delete(want, s)
	}
	starts := make([]time.Time, 0, len(want))
	for s := range want {
		starts = append(starts, s)
	}
	slices.SortFunc(starts, time.Time.Compare)
	for _, s := range starts {
		if err := p.create(ctx, tx, s); err != nil {
			return 0, fmt.Errorf("创建分区 %s 失败: %w", p.name(s), err)
		}
	}
	return len(starts), nil
}

// create adds the partition of the period beginning at start. Rows of that period in the
// default partition leave it first (the database refuses a partition whose rows the default
// partition still holds) and enter the new partition in the same transaction.
func (p TimePartitions) create(ctx context.Context, tx *Tx, start time.Time) error {
	lo, hi := p.bound(start), p.bound(p.next(start))
	in := p.Column + " >= " + lo + " AND " + p.Column + " < " + hi
	moved, err := tx.Exec(ctx, `CREATE TEMP TABLE zhsj_partition_moving ON COMMIT DROP AS
		WITH m AS (DELETE FROM `+p.Table+`_default WHERE `+in+` RETURNING *) SELECT * FROM m`)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE `+p.name(start)+` PARTITION OF `+p.Table+` FOR VALUES FROM (`+lo+`) TO (`+hi+`)`); err != nil {
		return err
	}
	if n, _ := moved.RowsAffected(); n > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO `+p.Table+` SELECT * FROM zhsj_partition_moving`); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `DROP TABLE zhsj_partition_moving`)
	return err
}

// DropBefore drops, within tx, the partitions whose whole period ends at or before cutoff
// and for which keep (if not nil) does not object, and returns the number of rows they held.
// Rows older than cutoff in the partition that straddles it, or in the default partition,
// stay: the caller's retention deletes them.
func (p TimePartitions) DropBefore(ctx context.Context, tx *Tx, cutoff time.Time, keep func(partition string) (bool, error)) (int64, error) {
	if tx.Dialect() != Postgres {
		return 0, nil
	}
	have, err := p.locked(ctx, tx)
	if err != nil {
		return 0, err
	}
	var rows int64
	for _, s := range have {
		if p.next(s).After(cutoff) {
			break
		}
		name := p.name(s)
		if keep != nil {
			k, err := keep(name)
			if err != nil {
				return rows, err
			}
			if k {
				continue
			}
		}
		var n int64
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM `+name); err != nil {
			return rows, err
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+name); err != nil {
			return rows, err
		}
		rows += n
	}
	return rows, nil
}

// Maintain creates, in its own transaction, the partitions from the current period through
// the ones a week (daily partitions) or two months (monthly) ahead, and those that rows in the
// default partition need: what runs at start and daily, so that writes land in their own
// period's partition even if the daily run is missed for a while.
func (p TimePartitions) Maintain(ctx context.Context, db *DB, now time.Time) (int, error) {
	if db.Dialect() != Postgres {
		return 0, nil
	}
	from := p.start(now) // months from the 1st: 31 December plus two months is not March
	to := from.AddDate(0, 2, 0)
	if p.Period == Day {
		to = from.AddDate(0, 0, 7)
	}
	var n int
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		n, err = p.Ensure(ctx, tx, from, to)
		return err
	})
	return n, err
}

package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Report is the outcome of Verify.
type Report struct {
	Checked    int64  `json:"checked"`      // records that verified, in id order from the anchor
	OK         bool   `json:"ok"`           // the whole chain verified
	FirstBadID int64  `json:"first_bad_id"` // id of the first changed, missing or misplaced record
	Reason     string `json:"reason"`       // Chinese explanation when not OK
}

// walker checks records one after another from a known id and mac.
type walker struct {
	l       *Log
	prevID  int64
	prevMAC string
	checked int64
}

// step checks the next record; it returns a failing Report when r breaks the chain.
func (w *walker) step(r *Record) *Report {
	bad := func(id int64, format string, args ...any) *Report {
		return &Report{Checked: w.checked, FirstBadID: id, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.ID != w.prevID+1 && r.ID == w.prevID+2:
		return bad(w.prevID+1, "编号 %d 的记录缺失（已被删除）", w.prevID+1)
	case r.ID != w.prevID+1:
		return bad(w.prevID+1, "编号 %d 至 %d 的记录缺失（已被删除）", w.prevID+1, r.ID-1)
	case r.PrevMAC != w.prevMAC:
		return bad(r.ID, "编号 %d 的前序校验值与上一条记录不符（记录被删除、替换或顺序被调整）", r.ID)
	case w.l.mac(r) != r.MAC:
		return bad(r.ID, "编号 %d 的记录内容与校验值不符（记录被修改）", r.ID)
	}
	w.prevID, w.prevMAC = r.ID, r.MAC
	w.checked++
	return nil
}

// walk feeds the records with from < id <= to, in id order, to w; it stops at the first bad one.
func (w *walker) walk(ctx context.Context, q store.Q, to int64) (*Report, error) {
	rows, err := q.Query(ctx, "SELECT "+recordCols+" FROM audit_log WHERE id > ? AND id <= ? ORDER BY id", w.prevID, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if bad := w.step(&r); bad != nil {
			return bad, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if w.prevID != to {
		if w.prevID+1 == to {
			return &Report{Checked: w.checked, FirstBadID: to, Reason: fmt.Sprintf("最后一条记录（编号 %d）缺失（已被删除）", to)}, nil
		}
		return &Report{Checked: w.checked, FirstBadID: w.prevID + 1, Reason: fmt.Sprintf("末尾编号 %d 至 %d 的记录缺失（已被删除）", w.prevID+1, to)}, nil
	}
	return nil, nil
}

// Verify walks the chain in id order from the anchor to the head and reports the first record
// that was changed, deleted or moved, and rows outside the chain.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	for attempt := 0; ; attempt++ {
		rep, anchor, err := l.verifyOnce(ctx)
		if err != nil || rep.OK || attempt == 2 {
			return rep, err
		}
		// A prune that committed while we read moves the anchor and deletes rows we expected;
		// only then is a second look warranted.
		c, _, err := readChain(ctx, l.db)
		if err != nil || c.AnchorID == anchor {
			return rep, err
		}
	}
}

func (l *Log) verifyOnce(ctx context.Context) (Report, int64, error) {
	c, found, err := readChain(ctx, l.db)
	if err != nil {
		return Report{}, 0, err
	}
	if !found {
		var first sql.NullInt64
		if err := l.db.Get(ctx, &first, "SELECT MIN(id) FROM audit_log"); err != nil {
			return Report{}, 0, err
		}
		if first.Valid {
			return Report{FirstBadID: first.Int64, Reason: "日志链状态记录（audit_chain）缺失，但存在审计记录"}, 0, nil
		}
		return Report{OK: true}, 0, nil
	}
	// No row may remain at or below the anchor: pruning deleted them all.
	var stray sql.NullInt64
	if err := l.db.Get(ctx, &stray, "SELECT MAX(id) FROM audit_log WHERE id <= ?", c.AnchorID); err != nil {
		return Report{}, 0, err
	}
	if stray.Valid {
		return Report{FirstBadID: stray.Int64, Reason: fmt.Sprintf("编号 %d 位于已清理范围（锚点 %d）内，不属于日志链", stray.Int64, c.AnchorID)}, c.AnchorID, nil
	}
	// Rows up to the head we read; later appends are not part of this check.
	w := &walker{l: l, prevID: c.AnchorID, prevMAC: c.AnchorMAC}
	bad, err := w.walk(ctx, l.db, c.HeadID)
	if err != nil || bad != nil {
		if bad != nil {
			return *bad, c.AnchorID, err
		}
		return Report{}, 0, err
	}
	if w.prevMAC != c.HeadMAC {
		return Report{Checked: w.checked, FirstBadID: c.HeadID, Reason: fmt.Sprintf("链头校验值与最后一条记录（编号 %d）不符", c.HeadID)}, c.AnchorID, nil
	}
	// A row beyond the head that is still beyond it when the chain is read again was not
	// written by Record (which moves the head in the same transaction).
	var beyond sql.NullInt64
	if err := l.db.Get(ctx, &beyond, "SELECT MIN(id) FROM audit_log WHERE id > ?", c.HeadID); err != nil {
		return Report{}, 0, err
	}
	if beyond.Valid {
		c2, _, err := readChain(ctx, l.db)
		if err != nil {
			return Report{}, 0, err
		}
		if beyond.Int64 > c2.HeadID {
			return Report{Checked: w.checked, FirstBadID: beyond.Int64, Reason: fmt.Sprintf("编号 %d 位于链头（编号 %d）之后，不属于日志链", beyond.Int64, c2.HeadID)}, c.AnchorID, nil
		}
	}
	return Report{Checked: w.checked, OK: true}, c.AnchorID, nil
}

// MinRetention is how long audit records are kept at least (网络安全法 第二十一条: six months).
const MinRetention = 180 * 24 * time.Hour

// ErrRetention is returned by Prune for a cut-off inside the retention period.
var ErrRetention = errors.New("审计日志至少保留 180 天，不能清理更近的记录")

// Prune deletes the oldest records, those before the cut-off, and moves the anchor to the
// last deleted record in the same transaction so that Verify keeps working. It stops at the
// first record not older than before, verifies what it is about to delete (so that pruning
// cannot erase evidence of tampering) and records the pruning itself.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	if before.After(time.Now().Add(-MinRetention)) {
		return 0, ErrRetention
	}
	var n int64
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		c, err := lockChain(ctx, tx)
		if err != nil {
			return err
		}
		var keep sql.NullInt64
		if err := tx.Get(ctx, &keep, "SELECT MIN(id) FROM audit_log WHERE id > ? AND at >= ?", c.AnchorID, before); err != nil {
			return err
		}
		cut := c.HeadID
		if keep.Valid {
			cut = keep.Int64 - 1
		}
		if cut <= c.AnchorID {
			return nil
		}
		w := &walker{l: l, prevID: c.AnchorID, prevMAC: c.AnchorMAC}
		bad, err := w.walk(ctx, tx, cut)
		if err != nil {
			return err
		}
		if bad != nil {
			return fmt.Errorf("审计日志链校验失败，已停止清理：%s", bad.Reason)
		}
		// On PostgreSQL whole months go by dropping their partition: those that end by the
		// cut-off time and hold no record past cut (a record written with an earlier time
		// than its predecessor stays, as the chain needs it). The rest is deleted row by row.
		dropped, err := Partitions.DropBefore(ctx, tx, before, func(part string) (bool, error) {
			var later int
			err := tx.Get(ctx, &later, "SELECT COUNT(*) FROM "+part+" WHERE id > ?", cut)
			return later > 0, err
		})
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM audit_log WHERE id <= ?", cut)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		n += dropped
		if _, err := tx.Exec(ctx, "UPDATE audit_chain SET anchor_id = ?, anchor_mac = ? WHERE id = 1", cut, w.prevMAC); err != nil {
			return err
		}
		ri := web.Info(ctx)
		actor := ri.Actor
		if actor == "" {
			actor = "system"
		}
		return l.appendEntry(ctx, tx, Entry{
			Kind: KindOperation, Action: "audit.prune", ObjectType: "audit_log", Result: ResultSuccess,
			Actor: actor, ActorID: ri.ActorID, IP: ri.IP, RequestID: ri.ID, RegionCode: ri.Region,
			Detail: fmt.Sprintf("清理 %s 之前的审计记录 %d 条（编号 %d 至 %d）",
				before.In(web.Shanghai()).Format("2006-01-02 15:04:05"), n, c.AnchorID+1, cut),
		})
	})
	return n, err
}

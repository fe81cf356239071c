package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

func newLog(t *testing.T, db *store.DB) *Log {
	t.Helper()
	keys, err := gm.NewSoftKeyring(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return New(db, keys)
}

// entry is a plausible operation record number i; every third has no actor id.
func entry(i int) Entry {
	e := Entry{
		Kind: KindOperation, Actor: fmt.Sprintf("user%d", i%4), ActorID: int64(i%4 + 1),
		IP: "10.0.0." + fmt.Sprint(i%3+1), UserAgent: "Mozilla/5.0 测试", RequestID: fmt.Sprintf("req-%d", i),
		Action: "iam.user.update", ObjectType: "user", ObjectID: fmt.Sprint(100 + i),
		Result: ResultSuccess, Detail: fmt.Sprintf("修改用户 %d 的姓名", i), RegionCode: "610100",
	}
	if i%3 == 0 {
		e.ActorID = 0
	}
	return e
}

func seed(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := l.Record(context.Background(), l.db, entry(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func verifyOK(t *testing.T, l *Log, checked int64) {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checked != checked || rep.FirstBadID != 0 {
		t.Fatalf("verify = %+v, want OK with %d checked", rep, checked)
	}
}

func verifyBad(t *testing.T, l *Log, id int64) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBadID != id || rep.Reason == "" {
		t.Fatalf("verify = %+v, want failure at id %d", rep, id)
	}
	return rep
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func getRecord(t *testing.T, db *store.DB, id int64) Record {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT "+recordCols+" FROM audit_log WHERE id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no record %d", id)
	}
	r, err := scanRecord(rows)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAppendSequentialAndConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		verifyOK(t, l, 0) // empty log, no chain row yet
		seed(t, l, 30)
		verifyOK(t, l, 30)

		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for g := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					e := entry(g*100 + i)
					if i%2 == 0 {
						errs <- l.Record(ctx, db, e)
					} else {
						// inside a caller's transaction
						errs <- db.InTx(ctx, func(tx *store.Tx) error { return l.Record(ctx, tx, e) })
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var st struct {
			N   int64 `db:"n"`
			Min int64 `db:"lo"`
			Max int64 `db:"hi"`
		}
		if err := db.Get(ctx, &st, "SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM audit_log"); err != nil {
			t.Fatal(err)
		}
		if st.N != 230 || st.Min != 1 || st.Max != 230 {
			t.Fatalf("ids not gap-free: %+v", st)
		}
		c, _, err := readChain(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if last := getRecord(t, db, 230); c.HeadID != 230 || c.HeadMAC != last.MAC || c.AnchorID != 0 {
			t.Fatalf("chain = %+v, last mac %s", c, last.MAC)
		}
		verifyOK(t, l, 230)
	})
}

func TestRecordStoresEntry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		at := time.Date(2026, 3, 10, 8, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
		e := entry(1)
		e.At = at
		e.Actor = "bad\x00name\xff" + strings.Repeat("长", 200) // hostile login name
		if err := l.Record(ctx, db, e); err != nil {
			t.Fatal(err)
		}
		r := getRecord(t, db, 1)
		if !r.At.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("at = %v, want %v", r.At, at)
		}
		if r.ActorID == nil || *r.ActorID != e.ActorID || r.Detail != e.Detail || r.RegionCode != "610100" || r.PrevMAC != genesis {
			t.Errorf("stored %+v", r)
		}
		if strings.ContainsRune(r.Actor, 0) || !strings.HasPrefix(r.Actor, "badname\uFFFD长") || len([]rune(r.Actor)) != maxShort {
			t.Errorf("actor not cleaned: %q", r.Actor)
		}
		// at defaults to now
		before := time.Now().Add(-time.Second)
		if err := l.Record(ctx, nil, Entry{Kind: KindLogin, Action: "auth.login", Result: ResultFailure}); err != nil {
			t.Fatal(err)
		}
		if r := getRecord(t, db, 2); r.At.Before(before) || r.ActorID != nil {
			t.Errorf("second record %+v", r)
		}
		for _, bad := range []Entry{
			{Kind: "other", Action: "x", Result: ResultSuccess},
			{Kind: KindLogin, Result: ResultSuccess},
			{Kind: KindLogin, Action: "x", Result: "ok"},
		} {
			if err := l.Record(ctx, db, bad); err == nil {
				t.Errorf("Record(%+v) accepted", bad)
			}
		}
		verifyOK(t, l, 2)
	})
}

func TestRecordRollsBackWithCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		seed(t, l, 3)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', ?)", store.Now()); err != nil {
				return err
			}
			if err := l.Record(ctx, tx, entry(4)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		var n int
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM audit_log"); err != nil || n != 3 {
			t.Fatalf("audit rows = %d (%v), want 3", n, err)
		}
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM settings"); err != nil || n != 0 {
			t.Fatalf("settings rows = %d (%v)", n, err)
		}
		verifyOK(t, l, 3)
		// The committed path keeps both; ids stay gap-free after the rollback.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', ?)", store.Now()); err != nil {
				return err
			}
			return l.Record(ctx, tx, entry(5))
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := getRecord(t, db, 4); r.RequestID != "req-5" {
			t.Fatalf("record 4 = %+v", r)
		}
		verifyOK(t, l, 4)
	})
}

func TestVerifyDetectsChangedColumns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(t, db)
		seed(t, l, 10)
		verifyOK(t, l, 10)
		tamper := func(v any) any {
			switch x := v.(type) {
			case string:
				return x + "x"
			case time.Time:
				return x.Add(time.Millisecond)
			case *int64:
				if x == nil {
					return int64(0)
				}
				return nil
			}
			panic(v)
		}
		// Every column of record 5 (actor_id set) and actor_id of record 6 (NULL).
		for _, tc := range []struct {
			id int64
			cs []string
		}{
			{5, []string{"at", "kind", "actor_id", "actor", "ip", "user_agent", "action", "object_type", "object_id", "result", "detail", "request_id", "region_code", "prev_mac", "mac"}},
			{6, []string{"actor_id"}},
		} {
			r := getRecord(t, db, tc.id)
			orig := map[string]any{"at": r.At, "kind": r.Kind, "actor_id": r.ActorID, "actor": r.Actor, "ip": r.IP,
				"user_agent": r.UserAgent, "action": r.Action, "object_type": r.ObjectType, "object_id": r.ObjectID,
				"result": r.Result, "detail": r.Detail, "request_id": r.RequestID, "region_code": r.RegionCode,
				"prev_mac": r.PrevMAC, "mac": r.MAC}
			for _, col := range tc.cs {
				exec(t, db, "UPDATE audit_log SET "+col+" = ? WHERE id = ?", tamper(orig[col]), tc.id)
				rep := verifyBad(t, l, tc.id)
				if rep.Checked != tc.id-1 {
					t.Errorf("%s: checked %d", col, rep.Checked)
				}
				exec(t, db, "UPDATE audit_log SET "+col+" = ? WHERE id = ?", orig[col], tc.id)
				verifyOK(t, l, 10)
			}
		}
	})
}

func TestVerifyDetectsDeletionAndReordering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *store.DB)
		bad    int64
	}{
		{"delete middle", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_log WHERE id = 5") }, 5},
		{"delete several", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_log WHERE id IN (4, 5, 6)") }, 4},
		{"delete first", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_log WHERE id = 1") }, 1},
		{"delete last", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_log WHERE id = 10") }, 10},
		{"delete all", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_log") }, 1},
		{"delete and renumber", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_log WHERE id = 5")
			for id := 6; id <= 10; id++ {
				exec(t, db, "UPDATE audit_log SET id = ? WHERE id = ?", id-1, id)
			}
			exec(t, db, "UPDATE audit_chain SET head_id = 9")
		}, 5},
		{"swap contents", func(t *testing.T, db *store.DB) {
			a, b := getRecord(t, db, 3), getRecord(t, db, 4)
			set := func(id int64, r Record) {
				exec(t, db, `UPDATE audit_log SET at=?, kind=?, actor_id=?, actor=?, ip=?, user_agent=?, action=?, object_type=?,
					object_id=?, result=?, detail=?, request_id=?, region_code=?, prev_mac=?, mac=? WHERE id = ?`,
					r.At, r.Kind, r.ActorID, r.Actor, r.IP, r.UserAgent, r.Action, r.ObjectType, r.ObjectID,
					r.Result, r.Detail, r.RequestID, r.RegionCode, r.PrevMAC, r.MAC, id)
			}
			set(3, b)
			set(4, a)
		}, 3},
		{"swap ids", func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_log SET id = 100 WHERE id = 7")
			exec(t, db, "UPDATE audit_log SET id = 7 WHERE id = 8")
			exec(t, db, "UPDATE audit_log SET id = 8 WHERE id = 100")
		}, 7},
		{"row after head", func(t *testing.T, db *store.DB) {
			exec(t, db, "INSERT INTO audit_log ("+recordCols+") SELECT 11, at, kind, actor_id, actor, ip, user_agent, action, object_type, object_id, result, detail, request_id, region_code, mac, mac FROM audit_log WHERE id = 10")
		}, 11},
		{"head moved", func(t *testing.T, db *store.DB) { exec(t, db, "UPDATE audit_chain SET head_mac = 'x'") }, 10},
		{"row below anchor", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_log WHERE id <= 2")
			exec(t, db, "UPDATE audit_chain SET anchor_id = 2, anchor_mac = (SELECT prev_mac FROM audit_log WHERE id = 3)")
			exec(t, db, "INSERT INTO audit_log ("+recordCols+") SELECT 1, at, kind, actor_id, actor, ip, user_agent, action, object_type, object_id, result, detail, request_id, region_code, prev_mac, mac FROM audit_log WHERE id = 3")
		}, 1},
		{"chain row deleted", func(t *testing.T, db *store.DB) { exec(t, db, "DELETE FROM audit_chain") }, 1},
	}
	// One database per dialect; each case starts from an empty log.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(t, db)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				exec(t, db, "DELETE FROM audit_log")
				exec(t, db, "DELETE FROM audit_chain")
				seed(t, l, 10)
				verifyOK(t, l, 10)
				tc.tamper(t, db)
				verifyBad(t, l, tc.bad)
			})
		}
	})
}

func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(t, db)
		now := time.Now()
		ages := []int{400, 400, 400, 400, 400, 300, 300, 300, 400, 0, 0, 0} // id 9 is old but after newer ones
		for i, days := range ages {
			e := entry(i + 1)
			e.At = now.AddDate(0, 0, -days)
			if err := l.Record(ctx, db, e); err != nil {
				t.Fatal(err)
			}
		}
		// On PostgreSQL the records leave the default partition for their months' (DESIGN §10),
		// and whole months go by dropping their partition.
		if _, err := Partitions.Maintain(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		oldMonths := func() (n int) {
			starts, err := Partitions.Partitions(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range starts {
				if s.Before(now.AddDate(0, 0, -200)) {
					n++
				}
			}
			return n
		}
		if db.Dialect() == store.Postgres {
			var inDefault int
			if err := db.Get(ctx, &inDefault, "SELECT COUNT(*) FROM audit_log_default"); err != nil || inDefault != 0 {
				t.Fatalf("%d records left in the default partition (%v)", inDefault, err)
			}
			if n := oldMonths(); n != 2 {
				t.Fatalf("%d partitions for the months 300 and 400 days ago, want 2", n)
			}
		}
		if _, err := l.Prune(ctx, now.AddDate(0, 0, -10)); !errors.Is(err, ErrRetention) {
			t.Fatalf("prune inside retention: %v", err)
		}
		n, err := l.Prune(ctx, now.AddDate(0, 0, -365))
		if err != nil || n != 5 {
			t.Fatalf("prune = %d, %v; want 5", n, err)
		}
		var ids []int64
		if err := db.Select(ctx, &ids, "SELECT id FROM audit_log ORDER BY id"); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids) != "[6 7 8 9 10 11 12 13]" {
			t.Fatalf("ids after prune = %v", ids)
		}
		if r := getRecord(t, db, 13); r.Action != "audit.prune" || r.Actor != "system" || !strings.Contains(r.Detail, "5 条") {
			t.Fatalf("prune record = %+v", r)
		}
		c, _, _ := readChain(ctx, db)
		if c.AnchorID != 5 || c.AnchorMAC != getRecord(t, db, 6).PrevMAC {
			t.Fatalf("chain after prune = %+v", c)
		}
		verifyOK(t, l, 8)

		// Nothing left to prune: no change, nothing recorded.
		if n, err := l.Prune(ctx, now.AddDate(0, 0, -365)); err != nil || n != 0 {
			t.Fatalf("second prune = %d, %v", n, err)
		}
		verifyOK(t, l, 8)

		// Tampering after a prune is still detected, at the first remaining row too.
		exec(t, db, "UPDATE audit_log SET detail = 'x' WHERE id = 6")
		verifyBad(t, l, 6)
		// Pruning refuses to delete a tampered segment (it would erase the evidence).
		if _, err := l.Prune(ctx, now.AddDate(0, 0, -200)); err == nil || !strings.Contains(err.Error(), "编号 6") {
			t.Fatalf("prune over tampered rows = %v", err)
		}
		if r := getRecord(t, db, 6); r.Detail != "x" {
			t.Fatal("tampered row was pruned")
		}
		exec(t, db, "UPDATE audit_log SET detail = ? WHERE id = 6", entry(6).Detail)
		verifyOK(t, l, 8)
		r6 := getRecord(t, db, 6)
		exec(t, db, "DELETE FROM audit_log WHERE id = 6")
		verifyBad(t, l, 6)
		exec(t, db, "INSERT INTO audit_log ("+recordCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r6.ID, r6.At, r6.Kind, r6.ActorID, r6.Actor, r6.IP, r6.UserAgent, r6.Action, r6.ObjectType, r6.ObjectID,
			r6.Result, r6.Detail, r6.RequestID, r6.RegionCode, r6.PrevMAC, r6.MAC)
		verifyOK(t, l, 8)

		// A second prune moves the anchor again; the chain still verifies and still catches changes.
		if n, err := l.Prune(ctx, now.AddDate(0, 0, -200)); err != nil || n != 4 {
			t.Fatalf("third prune = %d, %v; want 4", n, err)
		}
		verifyOK(t, l, 5)
		if db.Dialect() == store.Postgres && oldMonths() != 0 {
			t.Fatal("the pruned months' partitions were not dropped")
		}
		exec(t, db, "UPDATE audit_log SET result = 'failure' WHERE id = 12")
		verifyBad(t, l, 12)
	})
}

func TestFromRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(web.WithInfo(r.Context(), &web.ReqInfo{ID: "rid", IP: "1.2.3.4", UserAgent: "ua", Actor: "alice", ActorID: 7, Region: "610100"}))
	e := FromRequest(r, Entry{Actor: "bob"})
	if e.Actor != "bob" || e.ActorID != 7 || e.IP != "1.2.3.4" || e.UserAgent != "ua" || e.RequestID != "rid" || e.RegionCode != "610100" {
		t.Fatalf("FromRequest = %+v", e)
	}
}

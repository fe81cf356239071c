package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

var cst = time.FixedZone("CST", 8*3600)

// where returns, per key, the partition that holds the row.
func where(t *testing.T, db *store.DB, table, key string) map[string]string {
	t.Helper()
	var rows []struct {
		Key  string `db:"k"`
		Part string `db:"part"`
	}
	if err := db.Select(context.Background(), &rows, `SELECT `+key+`::text AS k, tableoid::regclass::text AS part FROM `+table); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Key] = r.Part
	}
	return out
}

func TestTimePartitionsByMonth(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE zz_log (id BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE zz_log_default PARTITION OF zz_log DEFAULT`); err != nil {
		t.Fatal(err)
	}
	p := store.TimePartitions{Table: "zz_log", Column: "at", Period: store.Month}
	// Rows written before any partition exists: the default partition takes them. Months are
	// China's: 2026-11-30 16:00 UTC is 1 December in Xi'an.
	at := map[int]time.Time{
		1: time.Date(2026, 10, 5, 9, 0, 0, 0, cst),
		2: time.Date(2026, 11, 30, 15, 59, 59, 999e6, time.UTC),
		3: time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC),
		4: time.Date(2030, 1, 1, 0, 0, 0, 0, cst),
	}
	for id, t0 := range at {
		if _, err := db.Exec(ctx, `INSERT INTO zz_log (id, at) VALUES (?, ?)`, id, t0); err != nil {
			t.Fatal(err)
		}
	}
	ensure := func(from, to time.Time) int {
		var n int
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			n, err = p.Ensure(ctx, tx, from, to)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two instances at once: one creates, the other waits and finds them made.
	var wg sync.WaitGroup
	made := make([]int, 2)
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i] = ensure(time.Date(2026, 11, 15, 0, 0, 0, 0, cst), time.Date(2027, 1, 10, 0, 0, 0, 0, cst))
		}()
	}
	wg.Wait()
	// November to January asked for, October and January 2030 for the caught rows.
	if made[0]+made[1] != 5 || made[0]*made[1] != 0 {
		t.Fatalf("partitions created %v, want 5 by one of the two", made)
	}
	want := map[string]string{"1": "zz_log_p202610", "2": "zz_log_p202611", "3": "zz_log_p202612", "4": "zz_log_p203001"}
	if got := where(t, db, "zz_log", "id"); len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("row %s in %s, want %s", k, got[k], v)
			}
		}
	}
	if n := ensure(time.Date(2026, 11, 15, 0, 0, 0, 0, cst), time.Date(2027, 1, 10, 0, 0, 0, 0, cst)); n != 0 {
		t.Fatalf("second run created %d partitions", n)
	}
	if _, err := db.Exec(ctx, `INSERT INTO zz_log (id, at) VALUES (5, ?)`, time.Date(2027, 1, 31, 23, 0, 0, 0, cst)); err != nil {
		t.Fatal(err)
	}
	if got := where(t, db, "zz_log", "id")["5"]; got != "zz_log_p202701" {
		t.Fatalf("new row in %s", got)
	}
	starts, err := p.Partitions(ctx, db)
	if err != nil || len(starts) != 5 || !starts[0].Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, cst)) {
		t.Fatalf("partitions %v %v", starts, err)
	}

	// Retention up to 1 December: October and November end by then; November is kept when
	// the caller objects.
	drop := func(cutoff time.Time, keep func(string) (bool, error)) int64 {
		var n int64
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			n, err = p.DropBefore(ctx, tx, cutoff, keep)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dec1 := time.Date(2026, 12, 1, 0, 0, 0, 0, cst)
	if n := drop(dec1, func(part string) (bool, error) { return part == "zz_log_p202611", nil }); n != 1 {
		t.Fatalf("dropped %d rows, want 1 (October's)", n)
	}
	if n := drop(dec1.Add(-time.Millisecond), nil); n != 0 {
		t.Fatalf("November does not end by 30 November 23:59:59.999, yet %d rows dropped", n)
	}
	if n := drop(dec1, nil); n != 1 {
		t.Fatalf("dropped %d rows, want 1 (November's)", n)
	}
	got := where(t, db, "zz_log", "id")
	if len(got) != 3 || got["3"] != "zz_log_p202612" {
		t.Fatalf("rows left %v", got)
	}
}

func TestTimePartitionsByDayInMillis(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE zz_samples (at BIGINT NOT NULL PRIMARY KEY) PARTITION BY RANGE (at)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE zz_samples_default PARTITION OF zz_samples DEFAULT`); err != nil {
		t.Fatal(err)
	}
	p := store.TimePartitions{Table: "zz_samples", Column: "at", Period: store.Day, Millis: true}
	midnight := time.Date(2026, 11, 28, 0, 0, 0, 0, cst)
	for _, t0 := range []time.Time{midnight.Add(-time.Millisecond), midnight} {
		if _, err := db.Exec(ctx, `INSERT INTO zz_samples (at) VALUES (?)`, t0.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	n, err := p.Maintain(ctx, db, midnight)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 { // 28 November to 5 December, and the 27th for the caught row
		t.Fatalf("created %d partitions, want 9", n)
	}
	got := where(t, db, "zz_samples", "at")
	if got[strconv.FormatInt(midnight.UnixMilli()-1, 10)] != "zz_samples_p20261127" || got[strconv.FormatInt(midnight.UnixMilli(), 10)] != "zz_samples_p20261128" {
		t.Fatalf("rows in %v", got)
	}
	var rows int64
	err = db.InTx(ctx, func(tx *store.Tx) error {
		rows, err = p.DropBefore(ctx, tx, midnight, nil)
		return err
	})
	if err != nil || rows != 1 {
		t.Fatalf("dropped %d rows (%v), want the 27th's one", rows, err)
	}
}

func TestTimePartitionsOnSQLiteDoNothing(t *testing.T) {
	db := storetest.SQLite(t)
	p := store.TimePartitions{Table: "audit_log", Column: "at", Period: store.Month}
	if n, err := p.Maintain(context.Background(), db, time.Now()); n != 0 || err != nil {
		t.Fatalf("Maintain on SQLite: %d %v", n, err)
	}
}

// TestPartitionMigrationKeepsRows builds a database as release 0089 left it, with audit
// records and monitoring samples, and migrates it: every row is kept, in a partitioned table,
// and the first maintenance moves them from the default partition into their periods'.
func TestPartitionMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{URL: storetest.PostgresURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 89); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 31, 23, 30, 0, 0, cst)
	for i := 1; i <= 3; i++ {
		if _, err := db.Exec(ctx, `INSERT INTO audit_log (id, at, kind, action, result, prev_mac, mac) VALUES (?, ?, 'operation', 'test', 'success', 'p', 'm')`,
			i, at.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO monitor_series (name) VALUES ('up')`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := db.Exec(ctx, `INSERT INTO monitor_samples (series_id, at, value) VALUES (1, ?, 1)`, at.Add(time.Duration(i)*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	if err := db.Select(ctx, &kinds, `SELECT relkind::text FROM pg_class WHERE relname IN ('audit_log', 'monitor_samples') ORDER BY relname`); err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 2 || kinds[0] != "p" || kinds[1] != "p" {
		t.Fatalf("relkinds %v, want both partitioned", kinds)
	}
	for _, p := range []store.TimePartitions{
		{Table: "audit_log", Column: "at", Period: store.Month},
		{Table: "monitor_samples", Column: "at", Period: store.Day, Millis: true},
	} {
		if _, err := p.Maintain(ctx, db, time.Date(2026, 11, 27, 12, 0, 0, 0, cst)); err != nil {
			t.Fatal(err)
		}
	}
	got := where(t, db, "audit_log", "id")
	if len(got) != 3 || got["1"] != "audit_log_p202611" || got["2"] != "audit_log_p202611" {
		t.Fatalf("audit records in %v", got)
	}
	got = where(t, db, "monitor_samples", "at")
	want := map[string]string{strconv.FormatInt(at.UnixMilli(), 10): "monitor_samples_p20261031", strconv.FormatInt(at.Add(time.Hour).UnixMilli(), 10): "monitor_samples_p20261101"}
	if len(got) != len(want) {
		t.Fatalf("samples in %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("samples in %v, want %v", got, want)
		}
	}
}

// TestMaintainCountsMonthsFromTheFirst: on 31 December, two months ahead is February, not
// the 3 March that adding two months to the 31st gives.
func TestMaintainCountsMonthsFromTheFirst(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	for _, q := range []string{`CREATE TABLE zz_m (at TIMESTAMPTZ NOT NULL) PARTITION BY RANGE (at)`, `CREATE TABLE zz_m_default PARTITION OF zz_m DEFAULT`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	p := store.TimePartitions{Table: "zz_m", Column: "at", Period: store.Month}
	if _, err := p.Maintain(ctx, db, time.Date(2026, 12, 31, 23, 0, 0, 0, cst)); err != nil {
		t.Fatal(err)
	}
	starts, err := p.Partitions(ctx, db)
	if err != nil || len(starts) != 3 || starts[2].Month() != time.February {
		t.Fatalf("partitions %v %v, want December to February", starts, err)
	}
}

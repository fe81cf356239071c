package store_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// BenchmarkRetentionDropVsDelete measures what the daily sample retention costs on PostgreSQL:
// the same eight days of samples (ZHSJ_BENCH_ROWS per day, default 1,000,000) in a plain
// table, where the oldest day goes by DELETE (and the VACUUM that must follow to reuse the
// space), and in a table partitioned by day, where it goes by dropping its partition.
//
//	ZHSJ_TEST_POSTGRES_URL=… ZHSJ_BENCH_ROWS=1000000 go test -run '^$' -bench RetentionDropVsDelete -benchtime 1x ./internal/store/
func BenchmarkRetentionDropVsDelete(b *testing.B) {
	perDay := 1_000_000
	if s := os.Getenv("ZHSJ_BENCH_ROWS"); s != "" {
		perDay, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	db := storetest.Postgres(b)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, cst)
	p := store.TimePartitions{Table: "bench_part", Column: "at", Period: store.Day, Millis: true}
	exec := func(q string, args ...any) time.Duration {
		start := time.Now()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	step := int64(24*time.Hour/time.Millisecond) / int64(perDay)
	for i := 0; i < b.N; i++ {
		exec(`DROP TABLE IF EXISTS bench_plain`)
		exec(`DROP TABLE IF EXISTS bench_part`)
		exec(`CREATE TABLE bench_plain (series_id BIGINT NOT NULL, at BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (series_id, at))`)
		exec(`CREATE INDEX bench_plain_at ON bench_plain(at)`)
		exec(`CREATE TABLE bench_part (series_id BIGINT NOT NULL, at BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (series_id, at)) PARTITION BY RANGE (at)`)
		exec(`CREATE INDEX bench_part_at ON bench_part(at)`)
		exec(`CREATE TABLE bench_part_default PARTITION OF bench_part DEFAULT`)
		if _, err := p.Maintain(ctx, db, day); err != nil {
			b.Fatal(err)
		}
		from := day.UnixMilli()
		for _, t := range []string{"bench_plain", "bench_part"} {
			exec(`INSERT INTO `+t+` (series_id, at, value) SELECT g % 100, ?::bigint + g * ?::bigint, random() FROM generate_series(0, ?::int) g`, from, step, 8*perDay-1)
			exec(`ANALYZE ` + t)
		}
		b.ResetTimer()
		cutoff := day.AddDate(0, 0, 1)
		var lsn string
		wal := func() float64 { // bytes of write-ahead log since the last call
			var n float64
			if lsn != "" {
				if err := db.Get(ctx, &n, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn)`, lsn); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Get(ctx, &lsn, `SELECT pg_current_wal_lsn()::text`); err != nil {
				b.Fatal(err)
			}
			return n
		}
		wal()
		start := time.Now()
		res, err := db.Exec(ctx, `DELETE FROM bench_plain WHERE at < ?`, cutoff.UnixMilli())
		if err != nil {
			b.Fatal(err)
		}
		del := time.Since(start)
		deleted, _ := res.RowsAffected()
		vac := exec(`VACUUM bench_plain`)
		delWAL := wal()
		start = time.Now()
		var dropped int64
		err = db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			dropped, err = p.DropBefore(ctx, tx, cutoff, nil)
			return err
		})
		drop := time.Since(start)
		dropWAL := wal()
		if err != nil || dropped != deleted || deleted < int64(perDay) {
			b.Fatalf("dropped %d rows, deleted %d: %v", dropped, deleted, err)
		}
		b.ReportMetric(del.Seconds(), "delete_s")
		b.ReportMetric(vac.Seconds(), "vacuum_s")
		b.ReportMetric(drop.Seconds(), "drop_s")
		b.ReportMetric(delWAL/1e6, "delete_vacuum_wal_MB")
		b.ReportMetric(dropWAL/1e6, "drop_wal_MB")
	}
}

package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

func TestMigrateFromEmptyAndQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st, err := db.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 {
			t.Fatal("no migrations listed")
		}
		for _, s := range st {
			if !s.Applied {
				t.Errorf("migration %s not applied", s.Name)
			}
		}
		pending, err := db.Pending(ctx)
		if err != nil || pending {
			t.Fatalf("pending=%v err=%v", pending, err)
		}
		// Running again is a no-op.
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		now := store.Now()
		if _, err := db.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?)`, "k", "值", now.In(time.FixedZone("CST", 8*3600))); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Value     string    `db:"value"`
			UpdatedAt time.Time `db:"updated_at"`
		}
		if err := db.Get(ctx, &got, `SELECT value, updated_at FROM settings WHERE key = ?`, "k"); err != nil {
			t.Fatal(err)
		}
		if got.Value != "值" || !got.UpdatedAt.Equal(now) {
			t.Fatalf("round trip: %+v want %v", got, now)
		}
		var n int
		if err := db.Get(ctx, &n, `SELECT COUNT(*) FROM settings WHERE updated_at <= ?`, now); err != nil || n != 1 {
			t.Fatalf("time comparison: n=%d err=%v", n, err)
		}
		if err := db.Get(ctx, &got, `SELECT value, updated_at FROM settings WHERE key = ?`, "none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
		// A failing transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?)`, "k2", "v", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if err := db.Get(ctx, &n, `SELECT COUNT(*) FROM settings`); err != nil || n != 1 {
			t.Fatalf("rollback left %d rows (%v)", n, err)
		}
	})
}

func TestRefuseNewerSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `INSERT INTO goose_db_version(version_id, is_applied) VALUES (?, ?)`, 99999, true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); !errors.Is(err, store.ErrSchemaNewer) {
			t.Fatalf("want ErrSchemaNewer, got %v", err)
		}
	})
}

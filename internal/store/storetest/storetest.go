// Package storetest gives every test its own fresh, migrated database: a temporary SQLite
// file always, and a PostgreSQL database created and dropped per test when
// ZHSJ_TEST_POSTGRES_URL is set. With ZHSJ_TEST_REQUIRE_ALL=1 a missing PostgreSQL fails.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"zhsj/internal/store"
)

// RequireAll reports whether CI asked that nothing be skipped.
func RequireAll() bool { return os.Getenv("ZHSJ_TEST_REQUIRE_ALL") == "1" }

// Missing skips a test that needs something this machine lacks (a program, a server), or fails
// it under ZHSJ_TEST_REQUIRE_ALL=1, where CI has installed everything.
func Missing(t testing.TB, what string) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("ZHSJ_TEST_REQUIRE_ALL=1 but %s", what)
	}
	t.Skip(what)
}

// SQLite returns a fresh migrated SQLite database in the test's temp dir.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.OpenMigrated(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresURL creates a fresh empty PostgreSQL database for the test and returns its URL, or
// skips (fails under ZHSJ_TEST_REQUIRE_ALL=1) when no server is configured.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ZHSJ_TEST_POSTGRES_URL")
	if base == "" {
		if RequireAll() {
			t.Fatal("ZHSJ_TEST_REQUIRE_ALL=1 but ZHSJ_TEST_POSTGRES_URL is not set")
		}
		t.Skip("ZHSJ_TEST_POSTGRES_URL not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "zhsj_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a fresh migrated PostgreSQL database for the test.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	u := PostgresURL(t)
	db, err := store.OpenMigrated(context.Background(), store.Options{URL: u})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each runs f as the subtests "sqlite" and "postgres", each on its own fresh database.
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, SQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, Postgres(t))
	})
}

// Dialects runs f once per database kind with an opener, for tests that need the URL or data
// dir (e.g. to start a server process) rather than an open handle.
func Dialects(t *testing.T, f func(t *testing.T, opt store.Options)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, store.Options{DataDir: t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, store.Options{URL: PostgresURL(t), DataDir: t.TempDir()})
	})
}

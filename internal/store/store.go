// Package store opens the embedded SQLite or a PostgreSQL database, runs the embedded
// migrations of the matching dialect and offers a small query layer that accepts `?`
// placeholders on both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

// Dialect names the SQL flavour of an open database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// ErrNotFound is returned by Get when no row matches.
var ErrNotFound = errors.New("not found")

// DB is the application's database. On SQLite, writes and transactions go through a single
// connection (SQLite has one writer) and reads use a pool; on PostgreSQL both are one pool.
type DB struct {
	dialect Dialect
	w       *sqlx.DB
	r       *sqlx.DB
	url     string

	stmtMu sync.RWMutex
	stmts  map[string]*sqlx.Stmt
}

// Options say where the database lives.
type Options struct {
	URL     string // postgres://… ; empty means SQLite under DataDir
	DataDir string
}

// Open opens the database without migrating it.
func Open(ctx context.Context, o Options) (*DB, error) {
	if strings.HasPrefix(o.URL, "postgres://") || strings.HasPrefix(o.URL, "postgresql://") {
		w, err := sqlx.Open("pgx", o.URL)
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(4 * runtime.GOMAXPROCS(0))
		w.SetMaxIdleConns(4 * runtime.GOMAXPROCS(0))
		w.SetConnMaxIdleTime(5 * time.Minute)
		if err := w.PingContext(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("连接 PostgreSQL 失败: %w", err)
		}
		return &DB{dialect: Postgres, w: w, r: w, url: o.URL}, nil
	}
	if o.URL != "" && !strings.HasPrefix(o.URL, "sqlite:") {
		return nil, fmt.Errorf("不支持的数据库地址 %q（应为 postgres://… 或留空使用内置 SQLite）", redactURL(o.URL))
	}
	path := strings.TrimPrefix(o.URL, "sqlite:")
	if path == "" {
		dir := o.DataDir
		if dir == "" {
			dir = "data"
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("创建数据目录失败: %w", err)
		}
		path = filepath.Join(dir, "zhsj.db")
	}
	return openSQLite(ctx, path)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	// _txlock=immediate takes the write lock at BEGIN, so read-then-write transactions never
	// fail with SQLITE_BUSY halfway through.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	w, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("打开 SQLite 数据库 %s 失败: %w", path, err)
	}
	r, err := sqlx.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := 2 * runtime.GOMAXPROCS(0)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	return &DB{dialect: SQLite, w: w, r: r, url: "sqlite:" + path}, nil
}

// Close closes every connection.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		st.Close()
	}
	db.stmts = nil
	db.stmtMu.Unlock()
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Path returns the SQLite file path, or "" on PostgreSQL.
func (db *DB) Path() string {
	if db.dialect == SQLite {
		return strings.TrimPrefix(db.url, "sqlite:")
	}
	return ""
}

// URL returns the connection URL ("sqlite:PATH" or postgres://…) for tools that connect on
// their own (pg_dump, pg_restore). It may hold a password: never log or show it.
func (db *DB) URL() string { return db.url }

// Writer exposes the write pool for code that needs database/sql directly (backups, goose).
func (db *DB) Writer() *sql.DB { return db.w.DB }

// Reader exposes the read pool (a read-only pool on SQLite).
func (db *DB) Reader() *sql.DB { return db.r.DB }

func (db *DB) migrationFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		panic(err)
	}
	return sub
}

func (db *DB) provider() (*goose.Provider, error) {
	d := goose.DialectSQLite3
	if db.dialect == Postgres {
		d = goose.DialectPostgres
	}
	return goose.NewProvider(d, db.w.DB, db.migrationFS())
}

// ErrSchemaNewer means the database was migrated by a newer zhsj than this one.
var ErrSchemaNewer = errors.New("数据库结构版本高于本程序，请使用更新的版本运行")

// Migrate applies pending migrations. It refuses a schema newer than the embedded ones.
func (db *DB) Migrate(ctx context.Context) ([]MigrationStatus, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil, err
	}
	srcs := p.ListSources()
	var max int64
	if len(srcs) > 0 {
		max = srcs[len(srcs)-1].Version
	}
	if cur > max {
		return nil, fmt.Errorf("%w（数据库 %d，本程序 %d）", ErrSchemaNewer, cur, max)
	}
	res, err := p.Up(ctx)
	var out []MigrationStatus
	for _, r := range res {
		out = append(out, MigrationStatus{Version: r.Source.Version, Name: filepath.Base(r.Source.Path), Applied: r.Error == nil})
	}
	return out, err
}

// MigrateTo applies pending migrations up to and including version (tests build databases
// at an older schema with it, as an earlier release would have left them).
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// Version returns the schema version recorded in the database (0 for an empty database) and
// the newest version this program embeds.
func (db *DB) Version(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	if srcs := p.ListSources(); len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	current, err = p.GetDBVersion(ctx)
	return current, latest, err
}

// MigrationStatus describes one migration.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Status lists every embedded migration and whether it is applied.
func (db *DB) Status(ctx context.Context) ([]MigrationStatus, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, Name: filepath.Base(s.Source.Path), Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt})
	}
	return out, nil
}

// Pending reports whether migrations remain to apply (used by /readyz).
func (db *DB) Pending(ctx context.Context) (bool, error) {
	p, err := db.provider()
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}

// OpenMigrated opens the database and applies migrations: what every subcommand needs.
func OpenMigrated(ctx context.Context, o Options) (*DB, error) {
	db, err := Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

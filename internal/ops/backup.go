package ops

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"zhsj/internal/store"
)

// Source is the database to back up.
type Source struct {
	DB          *store.DB
	DatabaseURL string // PostgreSQL URL (pg_dump connects with it); empty for SQLite
	Key         []byte // master key in use: its fingerprint goes into the manifest
	KeyFile     string // the data directory's secret.key: put into the archive when it holds Key
	Version     string // program version
}

// Operator names who runs this process: OS account and host.
func Operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

// BackupName is the file name of a new archive of kind.
func BackupName(kind string, schema int64, now time.Time) string {
	return fmt.Sprintf("zhsj-%s-v%04d-%s.tar.gz", now.In(shanghai).Format("20060102-150405.000"), schema, strings.ReplaceAll(kind, "_", "-"))
}

var shanghai = store.China

// Backup writes a consistent archive of the database to out: SQLite through VACUUM INTO (a
// snapshot, while the server keeps writing), PostgreSQL through pg_dump in the custom format
// under an exported snapshot. The manifest's row counts and checksums come from the same
// snapshot as the data.
func Backup(ctx context.Context, src Source, out, kind, by string) (*Manifest, error) {
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	if _, err := os.Stat(out); err == nil {
		return nil, fmt.Errorf("备份文件 %s 已存在，不会覆盖", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return nil, fmt.Errorf("创建备份目录失败: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".zhsj-backup-*")
	if err != nil {
		return nil, fmt.Errorf("创建临时目录失败: %w", err)
	}
	defer os.RemoveAll(tmp)
	host, _ := os.Hostname()
	m := &Manifest{Format: 1, App: "zhsj", AppVersion: src.Version, Dialect: string(src.DB.Dialect()), Kind: kind,
		CreatedAt: store.Now(), CreatedBy: by, Host: host, KeyFingerprint: keyFingerprint(src.Key)}
	var files [][2]string
	if src.DB.Dialect() == store.Postgres {
		dump := filepath.Join(tmp, pgdumpName)
		if err := pgDump(ctx, src, dump, m); err != nil {
			return nil, err
		}
		files = append(files, [2]string{pgdumpName, dump})
	} else {
		copyPath := filepath.Join(tmp, sqliteName)
		if err := sqliteSnapshot(ctx, src.DB.Path(), copyPath, m); err != nil {
			return nil, err
		}
		files = append(files, [2]string{sqliteName, copyPath})
	}
	if src.KeyFile != "" && len(src.Key) > 0 {
		if k, err := readKeyFile(src.KeyFile); err == nil && bytes.Equal(k, src.Key) {
			files = append(files, [2]string{keyName, src.KeyFile})
		}
	}
	if err := writeArchive(out, m, files); err != nil {
		return nil, err
	}
	return m, nil
}

// sqliteSnapshot copies the live database at path into dst with VACUUM INTO on a connection
// of its own (the server's writer is not held), then reads the copy's schema version and
// table figures and checks it.
func sqliteSnapshot(ctx context.Context, path, dst string, m *Manifest) error {
	if path == "" {
		return errors.New("SQLite 数据库路径为空")
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("数据库文件 %s 不存在", path)
	}
	live, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer live.Close()
	if _, err := live.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("SQLite 在线备份（VACUUM INTO）失败: %w", err)
	}
	cp, err := openSQLiteFile(dst)
	if err != nil {
		return err
	}
	defer cp.Close()
	if err := sqliteCheck(ctx, cp); err != nil {
		return err
	}
	if m.SchemaVersion, err = schemaVersion(ctx, cp, store.SQLite); err != nil {
		return err
	}
	m.Tables, err = tableStats(ctx, cp, store.SQLite)
	return err
}

// openSQLiteFile opens a database file nobody else writes, read-only.
func openSQLiteFile(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// sqliteCheck runs PRAGMA integrity_check.
func sqliteCheck(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			msgs = append(msgs, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("SQLite 完整性检查未通过: %s", strings.Join(msgs[:min(len(msgs), 5)], "；"))
	}
	return nil
}

// schemaVersion reads goose's highest applied version (0 when the table is missing).
func schemaVersion(ctx context.Context, q querier, d store.Dialect) (int64, error) {
	tables, err := listTables(ctx, q, d)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(tables, "goose_db_version") {
		return 0, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var v int64
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
	}
	return v, rows.Err()
}

// ErrNoPGDump is returned when PostgreSQL backups are asked for without pg_dump installed.
var ErrNoPGDump = errors.New("未找到 pg_dump / pg_restore：PostgreSQL 的备份与恢复需要安装版本不低于数据库服务器的 PostgreSQL 客户端工具（Debian/Ubuntu：apt install postgresql-client），并确保其在 PATH 中")

func pgTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", ErrNoPGDump
	}
	return p, nil
}

// pgEnv splits a postgres:// URL into a URL without password and the environment that
// carries the password, so that it never shows in the process list.
func pgEnv(dbURL string) (string, []string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("数据库地址无效: %w", err)
	}
	env := os.Environ()
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	return u.String(), env, nil
}

func runTool(ctx context.Context, env []string, name string, args ...string) error {
	path, err := pgTool(name)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 800 {
			msg = msg[:800] + "…"
		}
		return fmt.Errorf("%s 执行失败（%v）：%s", name, err, msg)
	}
	return nil
}

// pgDump dumps the database in the custom format under a snapshot exported by a repeatable
// read transaction, and reads the schema version and table figures inside that transaction.
func pgDump(ctx context.Context, src Source, dst string, m *Manifest) error {
	if _, err := pgTool("pg_dump"); err != nil {
		return err
	}
	if src.DatabaseURL == "" {
		src.DatabaseURL = src.DB.URL()
	}
	conn, env, err := pgEnv(src.DatabaseURL)
	if err != nil {
		return err
	}
	tx, err := src.DB.Writer().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var snap string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snap); err != nil {
		return fmt.Errorf("导出快照失败: %w", err)
	}
	if m.SchemaVersion, err = schemaVersion(ctx, tx, store.Postgres); err != nil {
		return err
	}
	if m.Tables, err = tableStats(ctx, tx, store.Postgres); err != nil {
		return err
	}
	return runTool(ctx, env, "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
		"--snapshot="+snap, "--file="+dst, "--dbname="+conn)
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeKey(b)
}

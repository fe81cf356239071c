package ops

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
)

// Target is where a backup is restored.
type Target struct {
	DataDir     string // must be empty or absent
	DatabaseURL string // for PostgreSQL backups: an empty database
	Key         []byte // configured master key (ZHSJ_SECRET_KEY); nil: the archive's secret.key
}

// Verification is the outcome of checking a restored database against its manifest.
type Verification struct {
	OK            bool     `json:"ok"`
	SchemaVersion int64    `json:"schema_version"`
	Tables        int      `json:"tables"`
	Rows          int64    `json:"rows"`
	AuditChecked  int64    `json:"audit_checked"`
	Problems      []string `json:"problems,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	Millis        int64    `json:"millis"`
}

// Summary is a one-line Chinese description.
func (v *Verification) Summary() string {
	if v.OK {
		s := fmt.Sprintf("恢复验证通过：结构版本 %d，%d 张表共 %d 行，行数与内容校验值均与备份清单一致", v.SchemaVersion, v.Tables, v.Rows)
		if v.AuditChecked > 0 {
			s += fmt.Sprintf("，审计链校验 %d 条完整", v.AuditChecked)
		}
		if len(v.Notes) > 0 {
			s += "（" + strings.Join(v.Notes, "；") + "）"
		}
		return s
	}
	return "恢复验证未通过：" + strings.Join(v.Problems[:min(len(v.Problems), 8)], "；")
}

func decodeKey(b []byte) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 32 {
		return nil, errors.New("主密钥文件内容无效")
	}
	return k, nil
}

// verifyDB checks an opened restored database against the manifest: schema version, every
// table's row count and content checksum, SQLite integrity and the audit chain under key.
func verifyDB(ctx context.Context, db *store.DB, m *Manifest, key []byte) (*Verification, error) {
	start := time.Now()
	v := &Verification{}
	var err error
	if v.SchemaVersion, err = schemaVersion(ctx, db.Reader(), db.Dialect()); err != nil {
		return nil, err
	}
	if v.SchemaVersion != m.SchemaVersion {
		v.Problems = append(v.Problems, fmt.Sprintf("结构版本 %d 与清单的 %d 不符", v.SchemaVersion, m.SchemaVersion))
	}
	stats, err := TableStats(ctx, db)
	if err != nil {
		return nil, err
	}
	v.Tables = len(stats)
	for _, s := range stats {
		v.Rows += s.Rows
	}
	v.Problems = append(v.Problems, compareStats(m.Tables, stats)...)
	if db.Dialect() == store.SQLite {
		if err := sqliteCheck(ctx, db.Reader()); err != nil {
			v.Problems = append(v.Problems, err.Error())
		}
	}
	switch {
	case m.SchemaVersion == 0:
	case len(key) == 0:
		v.Notes = append(v.Notes, "未提供主密钥，未校验审计链")
	case keyFingerprint(key) != m.KeyFingerprint:
		v.Problems = append(v.Problems, "主密钥与备份时使用的不一致，无法校验审计链，也无法解密敏感字段")
	default:
		keys, err := gm.NewSoftKeyring(key)
		if err != nil {
			return nil, err
		}
		rep, err := audit.New(db, keys).Verify(ctx)
		if err != nil {
			return nil, err
		}
		if !rep.OK {
			v.Problems = append(v.Problems, fmt.Sprintf("审计链校验失败：第 %d 条 —— %s", rep.FirstBadID, rep.Reason))
		}
		v.AuditChecked = rep.Checked
	}
	v.OK = len(v.Problems) == 0
	v.Millis = time.Since(start).Milliseconds()
	return v, nil
}

// requireEmptyDir accepts a missing or empty directory and reports whether it existed.
func requireEmptyDir(dir string) (existed bool, err error) {
	if dir == "" {
		return false, errors.New("请用 --data 指定一个空的数据目录")
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(ents) > 0 {
		return true, fmt.Errorf("目标数据目录 %s 不是空目录（含 %d 项），为防止覆盖现有数据，恢复只能写入空目录", dir, len(ents))
	}
	return true, nil
}

// Restore restores archive into an empty target and verifies it: the SM3 of every file, the
// schema version, every table's row count and content checksum and the audit chain. On any
// failure it removes what it wrote, leaving the target empty.
func Restore(ctx context.Context, archive string, t Target) (m *Manifest, v *Verification, err error) {
	existed, err := requireEmptyDir(t.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if m, err = ReadManifest(archive); err != nil {
		return nil, nil, err
	}
	switch {
	case m.Dialect == string(store.SQLite) && t.DatabaseURL != "":
		return nil, nil, errors.New("该备份来自内置 SQLite 数据库，不能恢复到 PostgreSQL；请去掉 --database-url / ZHSJ_DATABASE_URL")
	case m.Dialect == string(store.Postgres) && t.DatabaseURL == "":
		return nil, nil, errors.New("该备份来自 PostgreSQL，请用 --database-url（或 ZHSJ_DATABASE_URL）指定一个空的目标数据库")
	}
	var pg *store.DB
	if m.Dialect == string(store.Postgres) {
		if pg, err = openEmptyPostgres(ctx, t.DatabaseURL); err != nil {
			return nil, nil, err
		}
		defer pg.Close()
	}
	if err := os.MkdirAll(t.DataDir, 0o700); err != nil {
		return nil, nil, err
	}
	restoredPG := false
	defer func() {
		if err == nil {
			return
		}
		// Leave the target as it was: empty.
		if ents, e := os.ReadDir(t.DataDir); e == nil {
			for _, en := range ents {
				os.RemoveAll(filepath.Join(t.DataDir, en.Name()))
			}
		}
		if !existed {
			os.Remove(t.DataDir)
		}
		if restoredPG {
			dropAllObjects(context.WithoutCancel(ctx), pg)
		}
	}()
	tmp, err := os.MkdirTemp(t.DataDir, ".restore-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	if m, err = extractArchive(archive, tmp); err != nil {
		return nil, nil, err
	}
	key := t.Key
	if len(key) == 0 && m.has(keyName) {
		b, err := os.ReadFile(filepath.Join(tmp, keyName))
		if err != nil {
			return nil, nil, err
		}
		if key, err = decodeKey(b); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(filepath.Join(tmp, keyName), filepath.Join(t.DataDir, keyName)); err != nil {
			return nil, nil, err
		}
	}
	if len(key) == 0 {
		return nil, nil, errors.New("备份中不含主密钥（备份时使用的是 ZHSJ_SECRET_KEY），请设置与备份时相同的 ZHSJ_SECRET_KEY 后再恢复")
	}
	if keyFingerprint(key) != m.KeyFingerprint {
		return nil, nil, errors.New("当前主密钥与备份时使用的主密钥不一致：恢复后将无法校验审计链、解密敏感字段，请使用备份时的主密钥")
	}
	db := pg
	if pg != nil {
		restoredPG = true
		if err = pgRestore(ctx, t.DatabaseURL, filepath.Join(tmp, pgdumpName)); err != nil {
			return nil, nil, err
		}
	} else {
		if err = os.Rename(filepath.Join(tmp, sqliteName), filepath.Join(t.DataDir, sqliteName)); err != nil {
			return nil, nil, err
		}
		if db, err = store.Open(ctx, store.Options{DataDir: t.DataDir}); err != nil {
			return nil, nil, err
		}
		defer db.Close()
	}
	if v, err = verifyDB(ctx, db, m, key); err != nil {
		return nil, nil, err
	}
	if !v.OK {
		return m, v, errors.New(v.Summary())
	}
	return m, v, nil
}

// openEmptyPostgres opens the target database and checks that it has no table.
func openEmptyPostgres(ctx context.Context, dbURL string) (*store.DB, error) {
	if _, err := pgTool("pg_restore"); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, store.Options{URL: dbURL})
	if err != nil {
		return nil, err
	}
	objs, err := pgObjects(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(objs) > 0 {
		db.Close()
		return nil, fmt.Errorf("目标数据库不是空库（%s 等），为防止覆盖现有数据，恢复只能写入空库", strings.TrimPrefix(objs[0], "DROP "))
	}
	return db, nil
}

func pgRestore(ctx context.Context, dbURL, dump string) error {
	conn, env, err := pgEnv(dbURL)
	if err != nil {
		return err
	}
	return runTool(ctx, env, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--dbname="+conn, dump)
}

// pgObjects lists, as DROP statements, every object of the current PostgreSQL schema that a
// migration may have created (extension members excepted): tables, views, materialized
// views, sequences, functions and procedures, aggregates, enum, domain and range types.
func pgObjects(ctx context.Context, db *store.DB) ([]string, error) {
	var out []string
	tables, err := listTables(ctx, db.Reader(), store.Postgres)
	if err != nil {
		return nil, err
	}
	if len(tables) > 0 {
		q := make([]string, len(tables))
		for i, t := range tables {
			q[i] = quoteIdent(t)
		}
		out = append(out, "DROP TABLE IF EXISTS "+strings.Join(q, ", ")+" CASCADE")
	}
	var rows []struct {
		Kind string `db:"kind"`
		Name string `db:"name"`
	}
	notExt := `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e')`
	err = db.Select(ctx, &rows, `
		SELECT CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'SEQUENCE' END AS kind, quote_ident(o.relname) AS name
		FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace
		WHERE n.nspname = current_schema() AND o.relkind IN ('v', 'm', 'S') AND `+notExt+`
		UNION ALL
		SELECT CASE o.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, o.oid::regprocedure::text
		FROM pg_proc o JOIN pg_namespace n ON n.oid = o.pronamespace
		WHERE n.nspname = current_schema() AND `+notExt+`
		UNION ALL
		SELECT CASE o.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, quote_ident(o.typname)
		FROM pg_type o JOIN pg_namespace n ON n.oid = o.typnamespace
		WHERE n.nspname = current_schema() AND o.typtype IN ('e', 'd', 'r') AND `+notExt)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out = append(out, "DROP "+r.Kind+" IF EXISTS "+r.Name+" CASCADE")
	}
	return out, nil
}

// dropAllObjects empties the current schema of a PostgreSQL database, in one transaction.
func dropAllObjects(ctx context.Context, db *store.DB) error {
	stmts, err := pgObjects(ctx, db)
	if err != nil || len(stmts) == 0 {
		return err
	}
	return db.InTx(ctx, func(tx *store.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// Scratch says where a test restore may put its scratch database.
type Scratch struct {
	Dir         string // parent of the scratch SQLite directory
	DatabaseURL string // PostgreSQL server on which a scratch database is created and dropped
	Key         []byte // the running instance's master key (audit chain check)
}

// VerifyArchive restores archive into a scratch database, compares it with the manifest and
// throws the scratch database away (备份有效性验证).
func VerifyArchive(ctx context.Context, archive string, s Scratch) (*Verification, error) {
	m, err := ReadManifest(archive)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.Dir, ".verify-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if m, err = extractArchive(archive, tmp); err != nil {
		return &Verification{Problems: []string{err.Error()}}, nil
	}
	key := s.Key
	if keyFingerprint(key) != m.KeyFingerprint && m.has(keyName) {
		if b, err := os.ReadFile(filepath.Join(tmp, keyName)); err == nil {
			key, _ = decodeKey(b)
		}
	}
	if m.Dialect == string(store.SQLite) {
		db, err := store.Open(ctx, store.Options{URL: "sqlite:" + filepath.Join(tmp, sqliteName)})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		return verifyDB(ctx, db, m, key)
	}
	if s.DatabaseURL == "" {
		return nil, errors.New("验证 PostgreSQL 备份需要数据库服务器地址")
	}
	scratchURL, drop, err := createScratchDB(ctx, s.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := pgRestore(ctx, scratchURL, filepath.Join(tmp, pgdumpName)); err != nil {
		return &Verification{Problems: []string{err.Error()}}, nil
	}
	db, err := store.Open(ctx, store.Options{URL: scratchURL})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return verifyDB(ctx, db, m, key)
}

// createScratchDB creates an empty database next to the one at dbURL and returns its URL and
// a function that drops it.
func createScratchDB(ctx context.Context, dbURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	name := "zhsj_verify_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("无法创建临时数据库进行恢复验证（数据库账号需要 CREATEDB 权限）: %w", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}, nil
}

package ops

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
)

// Release kinds and results.
const (
	ReleaseInstall  = "install"
	ReleaseUpgrade  = "upgrade"
	ReleaseRollback = "rollback"

	ResultSuccess = "success"
	ResultFailed  = "failed"
)

// ReleaseKindLabels are the Chinese names of the release kinds.
var ReleaseKindLabels = map[string]string{ReleaseInstall: "首次安装", ReleaseUpgrade: "升级", ReleaseRollback: "回滚"}

// Release is one release record (版本发布记录).
type Release struct {
	ID         int64     `db:"id" json:"id"`
	Ref        string    `db:"ref" json:"ref"`
	Kind       string    `db:"kind" json:"kind"`
	Version    string    `db:"version" json:"version"`
	FromSchema int64     `db:"from_schema" json:"from_schema"`
	ToSchema   int64     `db:"to_schema" json:"to_schema"`
	BackupFile string    `db:"backup_file" json:"backup_file"`
	Operator   string    `db:"operator" json:"operator"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
	FinishedAt time.Time `db:"finished_at" json:"finished_at"`
	Result     string    `db:"result" json:"result"`
	ChecksJSON string    `db:"checks" json:"-"`
	Checks     []Check   `db:"-" json:"checks"`
	Detail     string    `db:"detail" json:"detail"`
}

// KindLabel is the Chinese name of the kind.
func (r Release) KindLabel() string { return ReleaseKindLabels[r.Kind] }

// Check is one post-upgrade check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func newRef() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// BackupDir is where zhsj keeps its archives.
func BackupDir(dataDir string) string { return filepath.Join(dataDir, "backups") }

func journalPath(dataDir string) string { return filepath.Join(BackupDir(dataDir), "releases.jsonl") }

func tableExists(ctx context.Context, db *store.DB, name string) bool {
	tables, err := listTables(ctx, db.Reader(), db.Dialect())
	return err == nil && slices.Contains(tables, name)
}

// recordRelease stores r in ops_releases, or in the journal file of the data directory when
// the database has no such table (a rollback to a schema older than the table). Stored by
// ref, so recording twice keeps one row.
func recordRelease(ctx context.Context, db *store.DB, dataDir string, r *Release) error {
	if r.Ref == "" {
		r.Ref = newRef()
	}
	cj, _ := json.Marshal(r.Checks)
	r.ChecksJSON = string(cj)
	if !tableExists(ctx, db, "ops_releases") {
		return appendJournal(dataDir, r)
	}
	_, err := db.Exec(ctx, `INSERT INTO ops_releases (ref, kind, version, from_schema, to_schema, backup_file, operator, started_at, finished_at, result, checks, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ref) DO NOTHING`,
		r.Ref, r.Kind, r.Version, r.FromSchema, r.ToSchema, r.BackupFile, r.Operator, r.StartedAt, r.FinishedAt, r.Result, r.ChecksJSON, r.Detail)
	return err
}

func appendJournal(dataDir string, r *Release) error {
	known, err := readJournal(dataDir)
	if err != nil {
		return err
	}
	for _, k := range known {
		if k.Ref == r.Ref {
			return nil
		}
	}
	if err := os.MkdirAll(BackupDir(dataDir), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(journalPath(dataDir), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	b, _ := json.Marshal(r)
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

func readJournal(dataDir string) ([]Release, error) {
	f, err := os.Open(journalPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Release
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Release
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Ref != "" {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// importJournal copies journal entries into ops_releases (once each, by ref).
func importJournal(ctx context.Context, db *store.DB, dataDir string) error {
	rs, err := readJournal(dataDir)
	if err != nil || len(rs) == 0 || !tableExists(ctx, db, "ops_releases") {
		return err
	}
	for i := range rs {
		if err := recordRelease(ctx, db, dataDir, &rs[i]); err != nil {
			return err
		}
	}
	return nil
}

// releases returns the release records of the database and the journal, oldest first.
func releases(ctx context.Context, db *store.DB, dataDir string) ([]Release, error) {
	var out []Release
	if tableExists(ctx, db, "ops_releases") {
		if err := db.Select(ctx, &out, `SELECT id, ref, kind, version, from_schema, to_schema, backup_file, operator, started_at, finished_at, result, checks, detail
			FROM ops_releases ORDER BY started_at, id`); err != nil {
			return nil, err
		}
	}
	j, err := readJournal(dataDir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range out {
		seen[r.Ref] = true
	}
	for _, r := range j {
		if !seen[r.Ref] {
			out = append(out, r)
			seen[r.Ref] = true
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].StartedAt.Before(out[k].StartedAt) })
	for i := range out {
		decodeChecks(&out[i])
	}
	return out, nil
}

func decodeChecks(r *Release) {
	if r.ChecksJSON != "" && r.Checks == nil {
		json.Unmarshal([]byte(r.ChecksJSON), &r.Checks)
	}
}

// BackupRecord is one row of ops_backups.
type BackupRecord struct {
	ID            int64      `db:"id" json:"id"`
	File          string     `db:"file" json:"file"`
	Kind          string     `db:"kind" json:"kind"`
	Status        string     `db:"status" json:"status"`
	SizeBytes     int64      `db:"size_bytes" json:"size_bytes"`
	SM3           string     `db:"sm3" json:"sm3"`
	AppVersion    string     `db:"app_version" json:"app_version"`
	SchemaVersion int64      `db:"schema_version" json:"schema_version"`
	Dialect       string     `db:"dialect" json:"dialect"`
	TablesCount   int        `db:"tables_count" json:"tables_count"`
	RowsCount     int64      `db:"rows_count" json:"rows_count"`
	Error         string     `db:"error" json:"error"`
	CreatedBy     string     `db:"created_by" json:"created_by"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	DeletedAt     *time.Time `db:"deleted_at" json:"deleted_at,omitempty"`
	VerifiedAt    *time.Time `db:"verified_at" json:"verified_at,omitempty"`
	VerifyResult  string     `db:"verify_result" json:"verify_result"`
	VerifyDetail  string     `db:"verify_detail" json:"verify_detail"`
}

// KindLabel is the Chinese name of the kind.
func (b BackupRecord) KindLabel() string { return KindLabels[b.Kind] }

// Name is the archive's file name.
func (b BackupRecord) Name() string { return filepath.Base(b.File) }

// SizeText is the size for people.
func (b BackupRecord) SizeText() string { return humanBytes(b.SizeBytes) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

const backupCols = `id, file, kind, status, size_bytes, sm3, app_version, schema_version, dialect, tables_count, rows_count, error, created_by, created_at, deleted_at, verified_at, verify_result, verify_detail`

// recordBackup stores a finished archive in ops_backups when the table exists (once per file).
func recordBackup(ctx context.Context, q store.Q, file string, m *Manifest) error {
	sum, size, err := fileSM3(file)
	if err != nil {
		return err
	}
	mj, _ := json.Marshal(m)
	_, err = q.Exec(ctx, `INSERT INTO ops_backups (file, kind, status, size_bytes, sm3, app_version, schema_version, dialect, tables_count, rows_count, manifest, created_by, created_at)
		VALUES (?, ?, 'ok', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file) DO NOTHING`,
		file, m.Kind, size, sum, m.AppVersion, m.SchemaVersion, m.Dialect, len(m.Tables), m.Rows(), string(mj), m.CreatedBy, m.CreatedAt)
	return err
}

// syncBackupDir records archives of dir that ops_backups does not know yet (backups taken
// before the table existed, or carried across a rollback).
func syncBackupDir(ctx context.Context, db *store.DB, dir string) error {
	if !tableExists(ctx, db, "ops_backups") {
		return nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	if err != nil || len(files) == 0 {
		return err
	}
	var known []string
	if err := db.Select(ctx, &known, `SELECT file FROM ops_backups`); err != nil {
		return err
	}
	for _, f := range files {
		if slices.Contains(known, f) || strings.HasSuffix(f, ".part") {
			continue
		}
		m, err := ReadManifest(f)
		if err != nil {
			continue
		}
		if err := recordBackup(ctx, db, f, m); err != nil {
			return err
		}
	}
	return nil
}

// auditSystem appends an operation by the command line ("system") to the audit log when the
// database has one.
func auditSystem(ctx context.Context, db *store.DB, key []byte, action, objectType, objectID, result, detail string) error {
	if len(key) == 0 || !tableExists(ctx, db, "audit_log") {
		return nil
	}
	keys, err := gm.NewSoftKeyring(key)
	if err != nil {
		return err
	}
	return audit.New(db, keys).Record(ctx, nil, audit.Entry{Kind: audit.KindOperation, Actor: "system", Action: action,
		ObjectType: objectType, ObjectID: objectID, Result: result, Detail: detail + "（操作者 " + Operator() + "）", RegionCode: "610000"})
}

// RecordCLIBackup records an archive written by `zhsj backup` in ops_backups and the audit log.
func RecordCLIBackup(ctx context.Context, db *store.DB, key []byte, file string, m *Manifest) error {
	var errs []error
	if tableExists(ctx, db, "ops_backups") {
		errs = append(errs, recordBackup(ctx, db, file, m))
	}
	errs = append(errs, auditSystem(ctx, db, key, "ops.backup.create", "backup", filepath.Base(file), audit.ResultSuccess,
		fmt.Sprintf("命令行备份到 %s（结构版本 %d，%d 张表共 %d 行）", file, m.SchemaVersion, len(m.Tables), m.Rows())))
	return errors.Join(errs...)
}

// AuditRestore records a verified restore in the restored database's audit log.
func AuditRestore(ctx context.Context, t Target, archive string, m *Manifest, v *Verification) error {
	key := t.Key
	if len(key) == 0 {
		k, err := readKeyFile(filepath.Join(t.DataDir, keyName))
		if err != nil {
			return err
		}
		key = k
	}
	db, err := store.Open(ctx, store.Options{URL: t.DatabaseURL, DataDir: t.DataDir})
	if err != nil {
		return err
	}
	defer db.Close()
	return auditSystem(ctx, db, key, "ops.backup.restore", "backup", filepath.Base(archive), audit.ResultSuccess,
		fmt.Sprintf("从备份 %s（%s 由版本 %s 生成）恢复到空目标；%s", filepath.Base(archive), m.CreatedAt.In(shanghai).Format("2006-01-02 15:04:05"), m.AppVersion, v.Summary()))
}

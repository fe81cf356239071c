package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
)

// UpgradeOptions describe the running program and where its data lives.
type UpgradeOptions struct {
	Version     string // program version
	DataDir     string // backups go to DataDir/backups
	DatabaseURL string // PostgreSQL URL; empty for SQLite under DataDir
	Key         []byte // master key (audit chain checks, key fingerprint)
	Logger      *slog.Logger
}

func (o UpgradeOptions) log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o UpgradeOptions) source(db *store.DB) Source {
	return Source{DB: db, DatabaseURL: o.DatabaseURL, Key: o.Key, KeyFile: filepath.Join(o.DataDir, keyName), Version: o.Version}
}

// upgradeLockID is the PostgreSQL advisory lock that keeps two instances from upgrading at once.
const upgradeLockID = 7_206_100_060

// lockUpgrade takes the advisory lock on PostgreSQL (a no-op on SQLite, whose migrations
// already run under its single writer).
func lockUpgrade(ctx context.Context, db *store.DB) (func(), error) {
	if db.Dialect() != store.Postgres {
		return func() {}, nil
	}
	conn, err := db.Writer().Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, upgradeLockID); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, upgradeLockID)
		conn.Close()
	}, nil
}

// Upgrade brings the database to this program's schema. With nothing pending it only checks
// that the schema is not newer than the program. Otherwise, on a database that holds data,
// it first writes a backup (no backup, no migration), migrates, runs the post-upgrade checks
// (readiness, row counts of every table, audit chain) and records a release entry. It returns
// an error when a check fails, so that the server does not start on a doubtful upgrade; the
// error names the backup that `zhsj rollback` restores.
func Upgrade(ctx context.Context, db *store.DB, o UpgradeOptions) (*Release, error) {
	cur, latest, err := db.Version(ctx)
	if err != nil {
		return nil, err
	}
	if cur >= latest {
		_, err := db.Migrate(ctx) // refuses a newer schema
		return nil, err
	}
	unlock, err := lockUpgrade(ctx, db)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if cur, latest, err = db.Version(ctx); err != nil || cur >= latest {
		return nil, err // another instance upgraded while we waited
	}
	rel := &Release{Ref: newRef(), Kind: ReleaseUpgrade, Version: o.Version, FromSchema: cur, ToSchema: latest, Operator: Operator(), StartedAt: store.Now()}
	if cur == 0 {
		rel.Kind = ReleaseInstall
		_, err := db.Migrate(ctx)
		rel.Checks = append(rel.Checks, migrateCheck(err, cur, latest))
		if err == nil {
			rel.Checks = append(rel.Checks, readyCheck(ctx, db))
		}
		return finishRelease(ctx, db, o, rel, nil)
	}

	log := o.log()
	log.Info("发现待执行的数据库迁移，先备份再升级", "from", cur, "to", latest)
	auditBefore := verifyAudit(ctx, db, o.Key)
	out := filepath.Join(BackupDir(o.DataDir), BackupName(KindPreUpgrade, cur, rel.StartedAt))
	m, err := Backup(ctx, o.source(db), out, KindPreUpgrade, "system（"+rel.Operator+"）")
	if err != nil {
		return nil, fmt.Errorf("升级前自动备份失败，未执行数据库迁移：%w", err)
	}
	rel.BackupFile = out
	log.Info("升级前备份完成", "file", out, "tables", len(m.Tables), "rows", m.Rows())

	_, err = db.Migrate(ctx)
	rel.Checks = append(rel.Checks, migrateCheck(err, cur, latest))
	if err == nil {
		rel.Checks = append(rel.Checks, readyCheck(ctx, db), rowsCheck(ctx, db, m))
		if auditBefore.OK {
			after := verifyAudit(ctx, db, o.Key)
			after.Name = "审计链校验"
			rel.Checks = append(rel.Checks, after)
		} else {
			rel.Checks = append(rel.Checks, Check{Name: "审计链校验", OK: true, Detail: "升级前审计链已不完整（" + auditBefore.Detail + "），与本次升级无关，请另行处置"})
		}
	}
	return finishRelease(ctx, db, o, rel, m)
}

func migrateCheck(err error, from, to int64) Check {
	if err != nil {
		return Check{Name: "数据库迁移", Detail: err.Error()}
	}
	return Check{Name: "数据库迁移", OK: true, Detail: fmt.Sprintf("结构版本 %d → %d", from, to)}
}

// readyCheck is what /readyz checks: the database answers and no migration is pending.
func readyCheck(ctx context.Context, db *store.DB) Check {
	c := Check{Name: "就绪检查"}
	var one int
	if err := db.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		c.Detail = "数据库不可达：" + err.Error()
		return c
	}
	if pending, err := db.Pending(ctx); err != nil || pending {
		c.Detail = "数据库迁移未完成"
		return c
	}
	c.OK, c.Detail = true, "数据库可达，迁移已全部完成"
	return c
}

// rowsCheck compares every table of the pre-upgrade backup with the migrated database:
// migrations may add tables and rows but must not lose any.
func rowsCheck(ctx context.Context, db *store.DB, m *Manifest) Check {
	c := Check{Name: "行数核对"}
	now, err := TableStats(ctx, db)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	counts := map[string]int64{}
	for _, t := range now {
		counts[t.Name] = t.Rows
	}
	var lost []string
	var total int64
	for _, t := range m.Tables {
		n, ok := counts[t.Name]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("表 %s 已不存在（升级前 %d 行）", t.Name, t.Rows))
		case n < t.Rows:
			lost = append(lost, fmt.Sprintf("表 %s 行数 %d 少于升级前的 %d", t.Name, n, t.Rows))
		}
		total += n
	}
	if len(lost) > 0 {
		c.Detail = strings.Join(lost, "；")
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("升级前 %d 张表均在，行数未减少（升级前共 %d 行）", len(m.Tables), m.Rows())
	return c
}

// verifyAudit checks the audit chain under key.
func verifyAudit(ctx context.Context, db *store.DB, key []byte) Check {
	c := Check{Name: "审计链校验"}
	if len(key) == 0 {
		c.Detail = "未提供主密钥"
		return c
	}
	if !tableExists(ctx, db, "audit_log") {
		c.OK, c.Detail = true, "尚无审计表"
		return c
	}
	keys, err := gm.NewSoftKeyring(key)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	rep, err := audit.New(db, keys).Verify(ctx)
	switch {
	case err != nil:
		c.Detail = err.Error()
	case !rep.OK:
		c.Detail = fmt.Sprintf("第 %d 条 —— %s", rep.FirstBadID, rep.Reason)
	default:
		c.OK, c.Detail = true, fmt.Sprintf("已校验 %d 条记录，链完整", rep.Checked)
	}
	return c
}

// finishRelease decides the result, records the release (and the backup, and an audit entry)
// and turns a failed check into an error.
func finishRelease(ctx context.Context, db *store.DB, o UpgradeOptions, rel *Release, m *Manifest) (*Release, error) {
	rel.Result = ResultSuccess
	var failed []string
	for _, c := range rel.Checks {
		if !c.OK {
			rel.Result = ResultFailed
			failed = append(failed, c.Name+"："+c.Detail)
		}
	}
	rel.FinishedAt = store.Now()
	switch rel.Kind {
	case ReleaseInstall:
		rel.Detail = fmt.Sprintf("首次安装版本 %s，建立数据库结构（版本 %d）", rel.Version, rel.ToSchema)
	case ReleaseUpgrade:
		rel.Detail = fmt.Sprintf("版本 %s 升级数据库结构 %d → %d；升级前备份 %s", rel.Version, rel.FromSchema, rel.ToSchema, filepath.Base(rel.BackupFile))
	}
	if len(failed) > 0 {
		rel.Detail += "；未通过：" + strings.Join(failed, "；")
	}
	var errs []error
	if m != nil && tableExists(ctx, db, "ops_backups") {
		errs = append(errs, recordBackup(ctx, db, rel.BackupFile, m))
	}
	errs = append(errs, importJournal(ctx, db, o.DataDir), recordRelease(ctx, db, o.DataDir, rel), syncBackupDir(ctx, db, BackupDir(o.DataDir)))
	errs = append(errs, auditRelease(ctx, db, o.Key, rel))
	if err := errors.Join(errs...); err != nil {
		o.log().Error("记录版本发布信息失败", "err", err)
	}
	if rel.Result == ResultFailed {
		msg := "升级后检查未通过：" + strings.Join(failed, "；")
		if rel.BackupFile != "" {
			msg += fmt.Sprintf("。升级前备份：%s；可运行 zhsj rollback --data %s 恢复升级前的数据库", rel.BackupFile, o.DataDir)
		}
		return rel, errors.New(msg)
	}
	o.log().Info("版本发布记录", "kind", rel.Kind, "version", rel.Version, "from", rel.FromSchema, "to", rel.ToSchema, "result", rel.Result)
	return rel, nil
}

// auditRelease appends the release to the audit log when the database has one.
func auditRelease(ctx context.Context, db *store.DB, key []byte, rel *Release) error {
	result := audit.ResultSuccess
	if rel.Result != ResultSuccess {
		result = audit.ResultFailure
	}
	return auditSystem(ctx, db, key, "ops.release."+rel.Kind, "release", rel.Ref, result, rel.Detail)
}

// Rollback restores the backup taken before the latest upgrade: it backs up the current
// database first (kind pre_rollback), replaces the database with the pre-upgrade one,
// verifies it against the backup's manifest and records the rollback (with the release
// records of the newer database carried over).
func Rollback(ctx context.Context, o UpgradeOptions) (*Release, error) {
	db, err := store.Open(ctx, store.Options{URL: o.DatabaseURL, DataDir: o.DataDir})
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	history, err := releases(ctx, db, o.DataDir)
	if err != nil {
		return nil, err
	}
	archive := ""
	for i := len(history) - 1; i >= 0 && archive == ""; i-- {
		if r := history[i]; r.Kind == ReleaseUpgrade && r.BackupFile != "" {
			if _, err := os.Stat(r.BackupFile); err == nil {
				archive = r.BackupFile
			}
		}
	}
	if archive == "" {
		archive = newestArchive(BackupDir(o.DataDir), KindPreUpgrade)
	}
	if archive == "" {
		return nil, errors.New("没有找到升级前备份：数据库与数据目录的 backups 中都没有可用的升级前备份，无法回滚")
	}
	m, err := ReadManifest(archive)
	if err != nil {
		return nil, err
	}
	if m.Dialect != string(db.Dialect()) {
		return nil, fmt.Errorf("升级前备份来自 %s，与当前数据库（%s）不同，无法回滚", m.Dialect, db.Dialect())
	}
	cur, _, err := db.Version(ctx)
	if err != nil {
		return nil, err
	}
	rel := &Release{Ref: newRef(), Kind: ReleaseRollback, Version: m.AppVersion, FromSchema: cur, ToSchema: m.SchemaVersion,
		BackupFile: archive, Operator: Operator(), StartedAt: store.Now()}

	// Keep the present state first: a rollback must itself be undoable.
	safety := filepath.Join(BackupDir(o.DataDir), BackupName(KindPreRollback, cur, rel.StartedAt))
	sm, err := Backup(ctx, o.source(db), safety, KindPreRollback, "system（"+rel.Operator+"）")
	if err != nil {
		return nil, fmt.Errorf("回滚前备份当前数据库失败，未执行回滚：%w", err)
	}
	if tableExists(ctx, db, "ops_backups") {
		recordBackup(ctx, db, safety, sm)
	}
	history, _ = releases(ctx, db, o.DataDir)

	tmp, err := os.MkdirTemp(BackupDir(o.DataDir), ".rollback-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if _, err := extractArchive(archive, tmp); err != nil {
		return nil, err
	}
	if db.Dialect() == store.Postgres {
		if err := dropAllObjects(ctx, db); err != nil {
			return nil, fmt.Errorf("清空当前数据库失败（当前数据已备份到 %s）：%w", safety, err)
		}
		if err := pgRestore(ctx, o.DatabaseURL, filepath.Join(tmp, pgdumpName)); err != nil {
			return nil, fmt.Errorf("恢复升级前备份失败（当前数据已备份到 %s）：%w", safety, err)
		}
	} else {
		path := db.Path()
		db.Close()
		closed = true
		// The old WAL belongs to the old file and must not meet the new one.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		if err := os.Rename(filepath.Join(tmp, sqliteName), path); err != nil {
			return nil, fmt.Errorf("替换数据库文件失败（当前数据已备份到 %s）：%w", safety, err)
		}
		if db, err = store.Open(ctx, store.Options{URL: "sqlite:" + path}); err != nil {
			return nil, err
		}
		closed = false
	}
	v, err := verifyDB(ctx, db, m, o.Key)
	if err != nil {
		return nil, err
	}
	rel.Checks = append(rel.Checks, Check{Name: "恢复验证", OK: v.OK, Detail: v.Summary()})
	rel.Result = ResultSuccess
	if !v.OK {
		rel.Result = ResultFailed
	}
	rel.FinishedAt = store.Now()
	rel.Detail = fmt.Sprintf("回滚到升级前备份 %s（版本 %s，结构版本 %d → %d）；回滚前的数据库已备份到 %s",
		filepath.Base(archive), m.AppVersion, cur, m.SchemaVersion, filepath.Base(safety))
	// The newer database's release records survive the rollback.
	var errs []error
	for i := range history {
		errs = append(errs, recordRelease(ctx, db, o.DataDir, &history[i]))
	}
	errs = append(errs, recordRelease(ctx, db, o.DataDir, rel), syncBackupDir(ctx, db, BackupDir(o.DataDir)), auditRelease(ctx, db, o.Key, rel))
	if err := errors.Join(errs...); err != nil {
		o.log().Error("记录回滚信息失败", "err", err)
	}
	if !v.OK {
		return rel, errors.New(v.Summary())
	}
	return rel, nil
}

// newestArchive returns the newest archive of kind in dir, by its manifest's time.
func newestArchive(dir, kind string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	best, bestAt := "", time.Time{}
	for _, f := range files {
		m, err := ReadManifest(f)
		if err == nil && m.Kind == kind && m.CreatedAt.After(bestAt) {
			best, bestAt = f, m.CreatedAt
		}
	}
	return best
}

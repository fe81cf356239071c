// Package ops keeps zhsj's data safe across time: consistent backups (SQLite VACUUM INTO,
// PostgreSQL pg_dump under an exported snapshot) with a manifest of SM3 checksums, row counts
// and per-table content checksums; restores into an empty target that verify everything;
// test restores into a scratch database (备份有效性验证); scheduled backups with retention;
// and upgrades that back up, migrate, check and record a release entry, with rollback.
package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Permissions of the module.
const (
	PermBackupRead  = "ops.backup.read"
	PermBackupWrite = "ops.backup.write"
	PermReleaseRead = "ops.release.read"
)

// Job names.
const JobScheduledBackup = "ops.backup.scheduled"

// Settings keys (settings table) and their defaults.
const (
	settingRetentionDays = "ops.backup.retention_days"
	settingKeep          = "ops.backup.keep"
	defaultRetentionDays = 30
	defaultKeep          = 7
)

// Service is the backup and release side of the operations center.
type Service struct {
	db    *store.DB
	audit *audit.Log
	opt   UpgradeOptions
	pages *web.Pages
	jobs  *jobs.Scheduler // shown on /ops/jobs (SetScheduler)
}

// New returns the service; opt names the program version, data directory, database URL and
// master key.
func New(db *store.DB, log *audit.Log, opt UpgradeOptions) *Service {
	if opt.DatabaseURL == "" && db.Dialect() == store.Postgres {
		opt.DatabaseURL = db.URL()
	}
	return &Service{db: db, audit: log, opt: opt}
}

// RegisterJobs registers the scheduled backup (02:00 every day, then retention).
func (s *Service) RegisterJobs(j *jobs.Scheduler) {
	j.Register(JobScheduledBackup, "数据库定时备份与过期清理", "0 0 2 * * *", func(ctx context.Context, run *jobs.Run) error {
		rec, err := s.BackupNow(ctx, KindScheduled, "system")
		if err != nil {
			return err
		}
		run.Add("rows", rec.RowsCount)
		run.Add("bytes", rec.SizeBytes)
		run.Note("已备份到 %s", rec.Name())
		n, err := s.Prune(ctx)
		run.Add("pruned", int64(n))
		return err
	})
}

// Settings is the backup policy.
type Settings struct {
	RetentionDays int    `json:"retention_days"` // scheduled and manual backups older than this are deleted
	Keep          int    `json:"keep"`           // …but the newest Keep of them always stay
	Dir           string `json:"dir"`            // where archives are written (read-only)
}

// Settings reads the backup policy.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	st := Settings{RetentionDays: defaultRetentionDays, Keep: defaultKeep, Dir: BackupDir(s.opt.DataDir)}
	var rows []struct {
		Key   string `db:"key"`
		Value string `db:"value"`
	}
	if err := s.db.Select(ctx, &rows, `SELECT key, value FROM settings WHERE key IN (?, ?)`, settingRetentionDays, settingKeep); err != nil {
		return st, err
	}
	for _, r := range rows {
		n, err := strconv.Atoi(r.Value)
		if err != nil {
			continue
		}
		switch r.Key {
		case settingRetentionDays:
			st.RetentionDays = n
		case settingKeep:
			st.Keep = n
		}
	}
	return st, nil
}

func (s *Service) saveSettings(ctx context.Context, tx *store.Tx, st Settings) error {
	now := store.Now()
	for k, v := range map[string]int{settingRetentionDays: st.RetentionDays, settingKeep: st.Keep} {
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, k, strconv.Itoa(v), now); err != nil {
			return err
		}
	}
	return nil
}

// BackupNow writes an archive of kind to the backup directory and records it; a failed
// backup is recorded too (status failed, with the reason) so that inspections see it.
func (s *Service) BackupNow(ctx context.Context, kind, by string) (*BackupRecord, error) {
	now := store.Now()
	cur, _, err := s.db.Version(ctx)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(BackupDir(s.opt.DataDir), BackupName(kind, cur, now))
	m, berr := Backup(ctx, s.opt.source(s.db), out, kind, by)
	if berr != nil {
		_, err := s.db.Exec(ctx, `INSERT INTO ops_backups (file, kind, status, error, created_by, created_at, app_version, dialect)
			VALUES (?, ?, 'failed', ?, ?, ?, ?, ?)`, out, kind, berr.Error(), by, now, s.opt.Version, string(s.db.Dialect()))
		return nil, errors.Join(berr, err)
	}
	if err := recordBackup(ctx, s.db, out, m); err != nil {
		return nil, err
	}
	return s.backupByFile(ctx, out)
}

func (s *Service) backupByFile(ctx context.Context, file string) (*BackupRecord, error) {
	var b BackupRecord
	if err := s.db.Get(ctx, &b, `SELECT `+backupCols+` FROM ops_backups WHERE file = ?`, file); err != nil {
		return nil, err
	}
	return &b, nil
}

// Backup returns one backup record inside the principal's scope.
func (s *Service) Backup(ctx context.Context, p *iam.Principal, id int64) (*BackupRecord, error) {
	w, args := p.Filter(iam.Cols{Region: "region_code"})
	var b BackupRecord
	if err := s.db.Get(ctx, &b, `SELECT `+backupCols+` FROM ops_backups WHERE id = ? AND `+w, append([]any{id}, args...)...); err != nil {
		return nil, err
	}
	return &b, nil
}

// Backups lists backup records inside the principal's scope, newest first.
func (s *Service) Backups(ctx context.Context, p *iam.Principal, offset, limit int) ([]BackupRecord, int, error) {
	if err := syncBackupDir(ctx, s.db, BackupDir(s.opt.DataDir)); err != nil {
		return nil, 0, err
	}
	w, args := p.Filter(iam.Cols{Region: "region_code"})
	var total int
	if err := s.db.Get(ctx, &total, `SELECT COUNT(*) FROM ops_backups WHERE `+w, args...); err != nil {
		return nil, 0, err
	}
	out := []BackupRecord{}
	err := s.db.Select(ctx, &out, `SELECT `+backupCols+` FROM ops_backups WHERE `+w+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	return out, total, err
}

// LatestBackup returns the newest successful backup whose file still exists, and the newest
// attempt (which may have failed). Either may be nil.
func (s *Service) LatestBackup(ctx context.Context) (ok, attempt *BackupRecord, err error) {
	if err := syncBackupDir(ctx, s.db, BackupDir(s.opt.DataDir)); err != nil {
		return nil, nil, err
	}
	var recs []BackupRecord
	if err := s.db.Select(ctx, &recs, `SELECT `+backupCols+` FROM ops_backups WHERE status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT 20`); err != nil {
		return nil, nil, err
	}
	for i := range recs {
		r := &recs[i]
		if attempt == nil {
			attempt = r
		}
		if r.Status == "ok" {
			if _, err := os.Stat(r.File); err == nil {
				return r, attempt, nil
			}
		}
	}
	return nil, attempt, nil
}

// Verify test-restores a backup into a scratch database and stores the outcome.
func (s *Service) Verify(ctx context.Context, b *BackupRecord) (*Verification, error) {
	if b.Status != "ok" {
		return nil, fmt.Errorf("备份 %s 状态为 %s，不能验证", b.Name(), b.Status)
	}
	if _, err := os.Stat(b.File); err != nil {
		return nil, fmt.Errorf("备份文件 %s 已不存在", b.File)
	}
	sum, _, err := fileSM3(b.File)
	if err != nil {
		return nil, err
	}
	var v *Verification
	if sum != b.SM3 {
		v = &Verification{Problems: []string{"备份文件的 SM3 校验值与备份时记录的不一致（文件被修改或损坏）"}}
	} else if v, err = VerifyArchive(ctx, b.File, Scratch{Dir: BackupDir(s.opt.DataDir), DatabaseURL: s.opt.DatabaseURL, Key: s.opt.Key}); err != nil {
		return nil, err
	}
	result := "failed"
	if v.OK {
		result = "passed"
	}
	now := store.Now()
	_, err = s.db.Exec(ctx, `UPDATE ops_backups SET verified_at = ?, verify_result = ?, verify_detail = ? WHERE id = ?`, now, result, v.Summary(), b.ID)
	b.VerifiedAt, b.VerifyResult, b.VerifyDetail = &now, result, v.Summary()
	return v, err
}

// Prune deletes scheduled and manual backups older than the retention period, always
// keeping the newest Keep of them. Backups taken before upgrades and rollbacks stay: they
// are what a rollback needs.
func (s *Service) Prune(ctx context.Context) (int, error) {
	st, err := s.Settings(ctx)
	if err != nil {
		return 0, err
	}
	var recs []BackupRecord
	if err := s.db.Select(ctx, &recs, `SELECT `+backupCols+` FROM ops_backups WHERE status = 'ok' AND kind IN ('scheduled', 'manual', 'cli') ORDER BY created_at DESC, id DESC`); err != nil {
		return 0, err
	}
	cutoff := time.Now().AddDate(0, 0, -st.RetentionDays)
	n := 0
	for i, r := range recs {
		if i < st.Keep || !r.CreatedAt.Before(cutoff) {
			continue
		}
		if err := os.Remove(r.File); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		if _, err := s.db.Exec(ctx, `UPDATE ops_backups SET status = 'deleted', deleted_at = ? WHERE id = ?`, store.Now(), r.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Releases lists the release records inside the principal's scope, newest first.
func (s *Service) Releases(ctx context.Context, p *iam.Principal) ([]Release, error) {
	w, args := p.Filter(iam.Cols{Region: "region_code"})
	out := []Release{}
	if err := s.db.Select(ctx, &out, `SELECT id, ref, kind, version, from_schema, to_schema, backup_file, operator, started_at, finished_at, result, checks, detail
		FROM ops_releases WHERE `+w+` ORDER BY started_at DESC, id DESC LIMIT 500`, args...); err != nil {
		return nil, err
	}
	for i := range out {
		decodeChecks(&out[i])
	}
	return out, nil
}

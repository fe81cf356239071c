package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/prometheus/client_golang/prometheus"

	"zhsj/internal/config"
	"zhsj/internal/inspect"
	"zhsj/internal/ops"
	"zhsj/internal/store"
)

// upgradeDatabase is Open's migration step: when migrations are pending on a database that
// holds data, ops.Upgrade backs it up first, migrates, runs the post-upgrade checks and
// records a release entry (版本发布记录).
func upgradeDatabase(ctx context.Context, db *store.DB, cfg *config.Config) error {
	_, err := UpgradeDatabase(ctx, db, cfg)
	return err
}

// UpgradeDatabase runs pending migrations the safe way (backup, migrate, checks, release
// record); it is also `zhsj migrate up`. The release is nil when nothing was pending.
func UpgradeDatabase(ctx context.Context, db *store.DB, cfg *config.Config) (*ops.Release, error) {
	key, err := cfg.EnsureSecretKey()
	if err != nil {
		return nil, fmt.Errorf("主密钥: %w", err)
	}
	return ops.Upgrade(ctx, db, ops.UpgradeOptions{Version: Version, DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Key: key})
}

func opsService(a *App) *ops.Service {
	return ops.New(a.DB, a.Audit, ops.UpgradeOptions{Version: Version, DataDir: a.Cfg.DataDir, DatabaseURL: a.Cfg.DatabaseURL, Key: a.Cfg.SecretKey, Logger: a.Log})
}

// inspectBackups lets the inspection's backup items ask the backup module.
type inspectBackups struct{ s *ops.Service }

func backupInfo(b *ops.BackupRecord) *inspect.BackupInfo {
	if b == nil {
		return nil
	}
	return &inspect.BackupInfo{Name: b.Name(), Kind: b.KindLabel(), CreatedAt: b.CreatedAt, OK: b.Status == "ok", Error: b.Error, Tables: b.TablesCount, Rows: b.RowsCount}
}

func (b inspectBackups) Latest(ctx context.Context) (*inspect.BackupInfo, *inspect.BackupInfo, error) {
	good, last, err := b.s.LatestBackup(ctx)
	return backupInfo(good), backupInfo(last), err
}

func (b inspectBackups) TestRestore(ctx context.Context) (bool, string, error) {
	good, _, err := b.s.LatestBackup(ctx)
	if err != nil {
		return false, "", err
	}
	if good == nil {
		return false, "", errors.New("没有可用的成功备份")
	}
	v, err := b.s.Verify(ctx, good)
	if err != nil {
		return false, "", err
	}
	return v.OK, good.Name() + "：" + v.Summary(), nil
}

func init() {
	wire("ops", 60, func(ctx context.Context, a *App) (module, fs.FS, error) {
		s := opsService(a)
		s.RegisterJobs(a.Jobs)
		s.SetScheduler(a.Jobs)
		return s, ops.Templates(), nil
	})
	wire("inspect", 61, func(ctx context.Context, a *App) (module, fs.FS, error) {
		s := inspect.New(a.DB, a.Audit, inspect.Sources{
			Metrics:  func() prometheus.Gatherer { return a.Registry() },
			Audit:    a.Audit,
			Policy:   a.IAM.Policy,
			Backups:  inspectBackups{opsService(a)},
			TLSCert:  a.Cfg.TLSCert,
			LogLevel: a.Cfg.LogLevel,
		}, inspect.Options{Version: Version, Logger: a.Log})
		s.RegisterJobs(a.Jobs)
		return s, inspect.Templates(), nil
	})
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"zhsj/internal/app"
	"zhsj/internal/config"
	"zhsj/internal/ops"
	"zhsj/internal/store"
)

func init() { extraCommands = append(extraCommands, backupCmd, restoreCmd, rollbackCmd) }

// openExisting opens the configured database without migrating it (a backup copies what is
// there; it never changes the schema) and returns the master key of the data directory.
func openExisting(ctx context.Context, cfg *config.Config) (*store.DB, []byte, error) {
	if cfg.DatabaseURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "zhsj.db")); err != nil {
			return nil, nil, fmt.Errorf("数据目录 %s 中没有数据库文件 zhsj.db", cfg.DataDir)
		}
	}
	key, err := cfg.EnsureSecretKey()
	if err != nil {
		return nil, nil, fmt.Errorf("主密钥: %w", err)
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, nil, err
	}
	return db, key, nil
}

func backupCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "backup",
		Short: "备份数据库：zhsj backup --data DIR --out PATH（服务运行中也可执行，得到一致的快照）",
		Long: "SQLite 以 VACUUM INTO 在线生成一致快照，PostgreSQL 以 pg_dump（自定义格式）在导出的快照下备份。\n" +
			"备份文件含清单（程序版本、结构版本、时间、各表行数与内容校验值、SM3 校验值），数据目录中的主密钥文件一并备份，请妥善保管备份文件。",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			db, key, err := openExisting(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			if out == "" {
				cur, _, _ := db.Version(ctx)
				out = filepath.Join(ops.BackupDir(cfg.DataDir), ops.BackupName(ops.KindCLI, cur, time.Now()))
			}
			src := ops.Source{DB: db, DatabaseURL: cfg.DatabaseURL, Key: key, KeyFile: filepath.Join(cfg.DataDir, "secret.key"), Version: app.Version}
			m, err := ops.Backup(ctx, src, out, ops.KindCLI, "system（"+ops.Operator()+"）")
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(out)
			if err := ops.RecordCLIBackup(ctx, db, key, abs, m); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "提示：备份已写入，但未能记入备份记录：", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "备份完成：%s\n结构版本 %d，%d 张表共 %d 行，数据库 %s。\n", abs, m.SchemaVersion, len(m.Tables), m.Rows(), m.Dialect)
			return nil
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&out, "out", "", "备份文件路径（默认 数据目录/backups/ 下按时间命名）")
	return c
}

func restoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "restore PATH",
		Short: "恢复备份到空的数据目录（或空的 PostgreSQL 库）并校验：zhsj restore --data EMPTY_DIR PATH",
		Long: "只恢复到空目标，不覆盖现有数据。恢复后逐项校验：各文件 SM3、数据库结构版本、各表行数与内容校验值、审计链。\n" +
			"任一校验失败则清除已写入的内容并报错。PostgreSQL 备份需用 --database-url 指定空库。",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			// The master key comes from ZHSJ_SECRET_KEY when set, else from the archive.
			t := ops.Target{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Key: cfg.SecretKey}
			m, v, err := ops.Restore(ctx, args[0], t)
			if err != nil {
				return err
			}
			if err := ops.AuditRestore(ctx, t, args[0], m, v); err != nil {
				return fmt.Errorf("恢复已完成并通过校验，但写入审计记录失败: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "恢复完成：%s\n%s\n备份时间 %s，程序版本 %s。\n", cfg.DataDir, v.Summary(),
				m.CreatedAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05"), m.AppVersion)
			return nil
		},
	}
	config.AddFlags(c.Flags())
	return c
}

func rollbackCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rollback",
		Short: "回滚最近一次升级：恢复升级前的自动备份（先备份当前数据库）：zhsj rollback --data DIR",
		Long:  "请先停止服务。回滚恢复最近一次升级前的备份并校验，回滚前的数据库另存为备份，回滚记入版本发布记录。回滚后请用升级前版本的程序启动。",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			cfg, logger, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				if _, err := os.Stat(filepath.Join(cfg.DataDir, "zhsj.db")); err != nil {
					return fmt.Errorf("数据目录 %s 中没有数据库文件 zhsj.db", cfg.DataDir)
				}
			}
			key, err := cfg.EnsureSecretKey()
			if err != nil {
				return err
			}
			rel, err := ops.Rollback(ctx, ops.UpgradeOptions{Version: app.Version, DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Key: key, Logger: logger})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "回滚完成："+rel.Detail)
			for _, c := range rel.Checks {
				fmt.Fprintf(out, "  %s：%s\n", c.Name, c.Detail)
			}
			fmt.Fprintf(out, "请使用版本 %s 的程序启动；用当前版本启动将再次自动升级。\n", rel.Version)
			return nil
		},
	}
	config.AddFlags(c.Flags())
	return c
}

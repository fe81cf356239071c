// Command zhsj is the one binary of the 智慧市监 platform: the server and its operator tools.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"zhsj/internal/app"
	"zhsj/internal/config"
	"zhsj/internal/demo"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "错误:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	c := &cobra.Command{
		Use:           "zhsj",
		Short:         "智慧市监：陕西省市场监督管理局智慧云中心平台",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.AddCommand(serveCmd(), migrateCmd(), userCmd(), auditCmd(), seedCmd(), versionCmd())
	for _, extra := range extraCommands {
		c.AddCommand(extra())
	}
	return c
}

// extraCommands are subcommands that modules add from their own files (cmd/zhsj/<module>.go)
// with func init() { extraCommands = append(extraCommands, ingestCmd) }.
var extraCommands []func() *cobra.Command

// loadConfig reads configuration for a command whose flags were added with config.AddFlags.
func loadConfig(cmd *cobra.Command) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(cmd.Flags(), nil)
	if err != nil {
		return nil, nil, err
	}
	var h slog.Handler
	level := slog.LevelInfo
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	} else {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	logger := slog.New(h)
	slog.SetDefault(logger)
	return cfg, logger, nil
}

// openApp opens and migrates the database and builds the application (no server).
func openApp(ctx context.Context, cmd *cobra.Command) (*app.App, error) {
	cfg, logger, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	db, err := app.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, db, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func serveCmd() *cobra.Command {
	var withDemo bool
	var scale string
	c := &cobra.Command{
		Use:   "serve",
		Short: "启动平台（HTTP 服务）",
		Long:  "启动平台。首次启动时自动建库、迁移，并创建三员管理员账号，打印其一次性口令（首次登录须修改）。--demo 写入演示与培训数据。",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			creds, err := a.EnsureAdmins(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(creds) > 0 {
				fmt.Fprintln(out, "\n首次启动：已创建三员管理员账号。以下一次性口令只显示这一次，首次登录后必须修改：")
				for _, c := range creds {
					fmt.Fprintf(out, "  %-12s %-6s 一次性口令 %s  （%s）\n", c.Account, c.Name, c.Password, c.Purpose)
				}
				fmt.Fprintln(out, "遗失口令可运行：zhsj user reset-password --account 账号 --password-stdin")
			}
			if withDemo {
				var progress io.Writer // the small demo takes seconds: only the larger ones report
				if demo.Scale(scale) != demo.Small {
					progress = cmd.ErrOrStderr()
				}
				lines, err := seedDemo(ctx, a, demo.Scale(scale), progress)
				if err != nil {
					return err
				}
				if len(lines) > 0 {
					fmt.Fprintln(out, "\n演示数据已写入。演示账号（一次性口令，首次登录须修改）：")
					for _, l := range lines {
						fmt.Fprintln(out, l)
					}
				}
			}
			if err := a.Start(ctx); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", a.Cfg.Addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if a.Cfg.TLSCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(out, "\n智慧市监 %s 已启动：%s://%s/  （数据库：%s）\n", app.Version, scheme, ln.Addr(), describeDB(a))
			a.Log.Info("serving", "addr", ln.Addr().String(), "version", app.Version, "database", string(a.DB.Dialect()))
			return a.Serve(ctx, ln)
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().BoolVar(&withDemo, "demo", false, "写入演示与培训数据（幂等；不会覆盖真实数据）")
	c.Flags().StringVar(&scale, "scale", "small", "演示数据规模 small|medium|large")
	return c
}

func describeDB(a *app.App) string {
	if p := a.DB.Path(); p != "" {
		abs, _ := filepath.Abs(p)
		return "SQLite " + abs
	}
	return "PostgreSQL"
}

// seedDemo writes the demo data; progress, when not nil, gets a line as each part starts and
// ends (the large scale takes many minutes).
func seedDemo(ctx context.Context, a *app.App, scale demo.Scale, progress io.Writer) ([]string, error) {
	switch scale {
	case demo.Small, demo.Medium, demo.Large:
	default:
		return nil, fmt.Errorf("未知的数据规模 %q（small|medium|large）", scale)
	}
	env := &demo.Env{DB: a.DB, IAM: a.IAM, Scale: scale, Modules: a.Seeders, NewPassword: func(account, name string) string {
		return app.OneTimePassword(a.IAM.Policy(), iam.Subject{Account: account, Name: name})
	}}
	if progress != nil {
		env.Progress = func(title string, done bool, took time.Duration) {
			if done {
				fmt.Fprintf(progress, "演示数据：%s 完成（%.1f 秒）\n", title, took.Seconds())
			} else {
				fmt.Fprintf(progress, "演示数据：%s（%s 规模）…\n", title, scale)
			}
		}
	}
	return demo.Seed(ctx, env)
}

func seedCmd() *cobra.Command {
	var scale string
	c := &cobra.Command{
		Use:   "seed",
		Short: "写入演示与培训数据",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			lines, err := seedDemo(ctx, a, demo.Scale(scale), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "演示数据已就绪。")
			return nil
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&scale, "scale", "small", "数据规模 small|medium|large")
	return c
}

func migrateCmd() *cobra.Command {
	c := &cobra.Command{Use: "migrate", Short: "数据库迁移"}
	up := &cobra.Command{
		Use:   "up",
		Short: "执行全部未执行的迁移",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			db, err := store.Open(cmd.Context(), store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
			if err != nil {
				return err
			}
			defer db.Close()
			// The same path as an upgrade at start: backup first, then migrate and check.
			rel, err := app.UpgradeDatabase(cmd.Context(), db, cfg) // a failed check is an error naming the backup
			out := cmd.OutOrStdout()
			if rel == nil {
				if err == nil {
					fmt.Fprintln(out, "数据库已是最新结构。")
				}
				return err
			}
			fmt.Fprintf(out, "%s：结构版本 %d → %d\n", rel.KindLabel(), rel.FromSchema, rel.ToSchema)
			if rel.BackupFile != "" {
				fmt.Fprintf(out, "升级前备份：%s\n", rel.BackupFile)
			}
			for _, c := range rel.Checks {
				mark := "通过"
				if !c.OK {
					mark = "未通过"
				}
				fmt.Fprintf(out, "  %s：%s（%s）\n", c.Name, mark, c.Detail)
			}
			return err
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "列出迁移及执行情况",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			db, err := store.Open(cmd.Context(), store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := db.Status(cmd.Context())
			if err != nil {
				return err
			}
			for _, s := range st {
				state := "未执行"
				if s.Applied {
					state = "已执行 " + s.AppliedAt.In(web.Shanghai()).Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%04d  %-40s %s\n", s.Version, s.Name, state)
			}
			return nil
		},
	}
	for _, sc := range []*cobra.Command{up, status} {
		config.AddFlags(sc.Flags())
		c.AddCommand(sc)
	}
	return c
}

func readPassword(in io.Reader) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("标准输入中没有口令")
	}
	return pw, nil
}

func userCmd() *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "用户账号管理（本机运维操作，记入审计）"}
	var account, name, region string
	var roles []string
	var dept int64
	var mustChange, stdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "创建用户：zhsj user create --account A --name N --role R [--region CODE] [--dept ID] --password-stdin",
		RunE: func(cmd *cobra.Command, args []string) error {
			if !stdin {
				return errors.New("请用 --password-stdin 从标准输入提供口令")
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			id, err := a.IAM.CreateUser(ctx, nil, iam.System(), iam.UserInput{Account: account, Name: name, RegionCode: region,
				DeptID: dept, Roles: roles, Password: pw, MustChange: &mustChange})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "已创建用户 %s（编号 %d）\n", account, id)
			return nil
		},
	}
	create.Flags().StringVar(&account, "account", "", "账号（必填）")
	create.Flags().StringVar(&name, "name", "", "姓名（必填）")
	create.Flags().StringArrayVar(&roles, "role", nil, "角色代码，可重复")
	create.Flags().StringVar(&region, "region", iam.ProvinceCode, "所属区划代码")
	create.Flags().Int64Var(&dept, "dept", 0, "部门编号")
	create.Flags().BoolVar(&mustChange, "must-change", false, "首次登录须修改口令")
	create.Flags().BoolVar(&stdin, "password-stdin", false, "从标准输入读取口令")

	byAccount := func(use, short string, run func(ctx context.Context, a *app.App, cmd *cobra.Command, uid int64) (string, error)) *cobra.Command {
		var acct string
		var pwStdin bool
		sc := &cobra.Command{Use: use, Short: short, RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			var uid int64
			if err := a.DB.Get(ctx, &uid, `SELECT id FROM users WHERE account = ?`, acct); err != nil {
				return fmt.Errorf("账号 %s 不存在", acct)
			}
			msg, err := run(ctx, a, cmd, uid)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		}}
		sc.Flags().StringVar(&acct, "account", "", "账号（必填）")
		if use == "reset-password" {
			sc.Flags().BoolVar(&pwStdin, "password-stdin", false, "从标准输入读取新口令（下次登录须修改）")
		}
		return sc
	}
	reset := byAccount("reset-password", "重置口令（从标准输入读取；下次登录须修改）", func(ctx context.Context, a *app.App, cmd *cobra.Command, uid int64) (string, error) {
		pw, err := readPassword(cmd.InOrStdin())
		if err != nil {
			return "", err
		}
		return "口令已重置，该用户下次登录须修改，原有会话已全部结束。", a.IAM.ResetPassword(ctx, nil, iam.System(), uid, pw)
	})
	unlock := byAccount("unlock", "解除登录锁定", func(ctx context.Context, a *app.App, cmd *cobra.Command, uid int64) (string, error) {
		return "已解锁。", a.IAM.Unlock(ctx, nil, iam.System(), uid)
	})
	disable := byAccount("disable", "停用账号并结束其全部会话", func(ctx context.Context, a *app.App, cmd *cobra.Command, uid int64) (string, error) {
		return "已停用，会话已全部结束。", a.IAM.SetStatus(ctx, nil, iam.System(), uid, "disabled")
	})
	enable := byAccount("enable", "启用账号", func(ctx context.Context, a *app.App, cmd *cobra.Command, uid int64) (string, error) {
		return "已启用。", a.IAM.SetStatus(ctx, nil, iam.System(), uid, "active")
	})
	for _, sc := range []*cobra.Command{create, reset, unlock, disable, enable} {
		config.AddFlags(sc.Flags())
		c.AddCommand(sc)
	}
	return c
}

func auditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "审计日志"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "校验审计链：完整时退出码 0，发现篡改、删除或重排时非 0 并指出第一条问题记录",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			rep, err := a.Audit.Verify(ctx)
			if err != nil {
				return err
			}
			if !rep.OK {
				return fmt.Errorf("审计链校验失败：第 %d 条记录 —— %s（已校验 %d 条）", rep.FirstBadID, rep.Reason, rep.Checked)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "审计链完整：已校验 %d 条记录。\n", rep.Checked)
			return nil
		},
	}
	var days int
	prune := &cobra.Command{
		Use:   "prune",
		Short: "删除超过保留期的审计记录（保留期不少于 180 天；校验链保持可验证）",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			keep := a.Cfg.AuditRetention
			if days > 0 {
				keep = days
			}
			if keep < 180 {
				return errors.New("保留期不得少于 180 天")
			}
			n, err := a.Audit.Prune(ctx, store.Now().AddDate(0, 0, -keep))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "已删除 %d 条超过 %d 天的审计记录。\n", n, keep)
			return nil
		},
	}
	prune.Flags().IntVar(&days, "days", 0, "保留天数（默认取 ZHSJ_AUDIT_RETENTION_DAYS）")
	for _, sc := range []*cobra.Command{verify, prune} {
		config.AddFlags(sc.Flags())
		c.AddCommand(sc)
	}
	return c
}

func versionCmd() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "显示版本", Run: func(cmd *cobra.Command, args []string) {
		fmt.Fprintf(cmd.OutOrStdout(), "zhsj %s\n", app.Version)
	}}
}

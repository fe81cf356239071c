package app

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"zhsj/internal/demo"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/notify"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Account security of the identity module (issue 5 §3): its routes are part of the iam
// module; this wiring gives it the server log and the notification hub, subscribes the
// login-risk notifier and registers the lifecycle and reminder jobs.
func init() {
	wire("identity", 40, func(ctx context.Context, a *App) (module, fs.FS, error) {
		s := a.IAM
		s.Log = a.Log
		s.Notify = func(ctx context.Context, q store.Q, channelID int64, title, text, severity, dedup string) error {
			_, err := a.Notify.Enqueue(ctx, q, channelID, notify.Message{Title: title, Text: text, Severity: severity, Dedup: dedup})
			if err == nil {
				a.Notify.Wake()
			}
			return err
		}
		a.Events.Subscribe(iam.EventLoginRisk, "iam.risk.notify", func(ctx context.Context, e events.Event) error {
			var p struct {
				Risk int64 `json:"risk"`
			}
			if err := e.Decode(&p); err != nil || p.Risk == 0 {
				return nil // nothing to forward
			}
			return s.NotifyRisk(ctx, p.Risk)
		})
		a.Jobs.Register("iam.accounts.dormant", "停用 90 天未使用的账号（三员账号除外，只提示）", "0 40 2 * * *", func(ctx context.Context, run *jobs.Run) error {
			res, err := s.DisableDormant(ctx)
			run.Add("disabled", int64(len(res.Disabled)))
			if len(res.Disabled) > 0 {
				run.Note("已停用：%s", strings.Join(res.Disabled, "、"))
			}
			if len(res.Admins) > 0 {
				run.Note("三员账号长期未登录（未自动停用，请核实）：%s", strings.Join(res.Admins, "、"))
			}
			return err
		})
		a.Jobs.Register("iam.accounts.expire", "标记到期的临时账号", "0 5 * * * *", func(ctx context.Context, run *jobs.Run) error {
			list, err := s.MarkExpired(ctx)
			run.Add("expired", int64(len(list)))
			if len(list) > 0 {
				run.Note("已到期停用：%s", strings.Join(list, "、"))
			}
			return err
		})
		a.Jobs.Register("iam.password.remind", "口令到期提醒（提前 7 天，站内提醒并推送通知渠道）", "0 30 8 * * *", func(ctx context.Context, run *jobs.Run) error {
			res, err := s.RemindPasswordExpiry(ctx)
			run.Add("notices", int64(res.Notices))
			run.Add("messages", int64(res.Messages))
			return err
		})
		a.Jobs.Register("iam.review.quarterly", "季度权限复核（生成本季度复核清单）", "0 0 3 1 1,4,7,10 *", func(ctx context.Context, run *jobs.Run) error {
			id, created, err := s.CreateReview(ctx, nil, iam.System(), true)
			if created {
				run.Add("created", 1)
				run.Note("已生成权限复核 %d", id)
			}
			return err
		})
		a.Jobs.Register("iam.security.prune", "清理过期的登录历史与短信验证码", "0 50 3 * * *", func(ctx context.Context, run *jobs.Run) error {
			n, err := s.PruneSecurity(ctx, time.Duration(a.Cfg.AuditRetention)*24*time.Hour)
			run.Add("deleted", n)
			return err
		})
		a.Seeders = append(a.Seeders, demo.Seeder{Name: "identity", Title: "短信登录演示设置", Run: seedIdentity})
		return identityWiring{}, nil, nil
	})
}

// identityWiring adds no routes: they are part of the iam module.
type identityWiring struct{}

func (identityWiring) Routes() []web.Route     { return nil }
func (identityWiring) Menu() []web.MenuItem    { return nil }
func (identityWiring) Permissions() []web.Perm { return nil }

// seedIdentity turns on SMS login through the demonstration gateway (codes go to the server
// log) and gives the demo people phone numbers, unless settings exist already.
func seedIdentity(ctx context.Context, env *demo.Env) ([]string, error) {
	st, err := env.IAM.SecuritySettings(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	if st.SMS.Provider == "" {
		st.SMS.Provider = "log"
		if err := env.IAM.SaveSecuritySettings(ctx, nil, iam.System(), st); err != nil {
			return nil, err
		}
		out = append(out, "  短信验证码登录：已启用演示网关，验证码写入服务器日志（不真实发送）")
	}
	sys := iam.System()
	for i, p := range demo.People {
		var id int64
		if err := env.DB.Get(ctx, &id, `SELECT id FROM users WHERE account = ? AND phone_mask = ''`, p.Account); err != nil {
			continue // missing, or has a phone already
		}
		u, err := env.IAM.GetUser(ctx, sys, id)
		if err != nil {
			return out, err
		}
		phone := fmt.Sprintf("1380000%04d", i+1)
		in := iam.UserInput{Name: u.Name, Phone: phone, RegionCode: u.RegionCode, ExpiresAt: u.ExpiresAt}
		if u.DeptID != nil {
			in.DeptID = *u.DeptID
		}
		if err := env.IAM.UpdateUser(ctx, nil, sys, id, in); err != nil {
			return out, fmt.Errorf("%s: %w", p.Account, err)
		}
		out = append(out, fmt.Sprintf("  %-13s 短信登录手机号 %s", p.Account, phone))
	}
	return out, nil
}

// identitySMS lets the notification hub's SMS channels send through the gateway configured
// in the security settings (looked up at each send, so a changed setting applies at once).
type identitySMS struct{ a *App }

func (g identitySMS) Send(ctx context.Context, phone, template string, params map[string]string) error {
	return g.a.IAM.SendSMS(ctx, phone, template, params)
}

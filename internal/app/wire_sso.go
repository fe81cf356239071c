package app

import (
	"context"
	"io/fs"
	"sync"

	"zhsj/internal/jobs"
	"zhsj/internal/sso"
)

// ssos remembers each app's sso module, so that tests and the command line can reach it.
var ssos sync.Map // *App → *sso.Service

// SSOOf returns the sso module of an app.
func SSOOf(a *App) *sso.Service {
	s, _ := ssos.Load(a)
	ss, _ := s.(*sso.Service)
	return ss
}

// Unified identity towards other systems: the OpenID Connect provider, the CAS server, the
// ticket-exchange API and the connectors to partner platforms. Every logout of a zhsj
// session reaches the relying parties and the upstream platform through iam's logout hook.
func init() {
	wire("sso", 30, func(ctx context.Context, a *App) (module, fs.FS, error) {
		m, err := sso.New(ctx, a.DB, a.Keys, a.Audit, a.IAM, sso.Options{BaseURL: a.Cfg.BaseURL, Logger: a.Log})
		if err != nil {
			return nil, nil, err
		}
		ssos.Store(a, m)
		a.IAM.OnLogout(m.OnLogout)
		a.IAM.OnLoginPage(m.LoginLinks)
		a.Jobs.Register("sso.keys.rotate", "OpenID 签名密钥定期轮换", "0 40 2 * * *", func(ctx context.Context, run *jobs.Run) error {
			rotated, err := m.RotateIfDue(ctx)
			if rotated {
				run.Add("rotated", 1)
			}
			return err
		})
		a.Jobs.Register("sso.logout.retry", "重发未送达的单点退出通知", "30 * * * * *", func(ctx context.Context, run *jobs.Run) error {
			ok, failed, err := m.RetryLogouts(ctx)
			run.Add("delivered", int64(ok))
			run.Add("failed", int64(failed))
			return err
		})
		a.Jobs.Register("sso.cleanup", "清理过期的授权请求、票据、令牌与登录状态", "0 20 * * * *", func(ctx context.Context, run *jobs.Run) error {
			n, err := m.Cleanup(ctx)
			run.Add("deleted", n)
			return err
		})
		return m, sso.Templates(), nil
	})
}

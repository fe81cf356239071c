package app_test

import (
	"context"
	"fmt"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/config"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestLoginRateLimits checks both limits on password login (DESIGN §2): one address cannot
// try more than its share of accounts, and many addresses together cannot try one account
// more than its share, even with the right password; each refusal is audited and costs the
// account nothing (it is refused before the password is looked at).
func TestLoginRateLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := apptest.New(t, db, apptest.Options{Config: func(c *config.Config) {
			c.TrustProxy = true
			c.LoginRatePerMin = 4
			c.LoginAccountRatePerMin = 3
		}})
		ctx := context.Background()
		e.User("target", "610000", "analyst")
		login := func(account, password, ip string) *apptest.Response {
			return send(t, e, e.Client(), "POST", "/api/v1/auth/login", map[string]string{"account": account, "password": password},
				map[string]string{"X-Forwarded-For": ip})
		}
		// Three wrong passwords from three addresses use up the account's share.
		for i := 1; i <= 3; i++ {
			if res := login("target", "wrong-password", fmt.Sprintf("10.1.0.%d", i)); res.Status != 401 {
				t.Fatalf("attempt %d: %d %s", i, res.Status, res.Body)
			}
		}
		// A fourth address, with the right password, is refused too.
		if res := login("target", apptest.DefaultPassword, "10.1.0.4"); res.Status != 429 || res.ErrorCode() != "rate_limited" {
			t.Fatalf("fourth attempt on the account: %d %s", res.Status, res.Body)
		}
		var failed int
		e.App.DB.Get(ctx, &failed, `SELECT failed_logins FROM users WHERE account = 'target'`)
		if failed != 3 {
			t.Errorf("failed logins %d, want 3 (the refused attempt is not counted)", failed)
		}
		// Another account from the same address is not affected by the account's limit.
		e.User("other", "610000", "analyst")
		if res := login("other", apptest.DefaultPassword, "10.1.0.4"); res.Status != 200 {
			t.Fatalf("other account: %d %s", res.Status, res.Body)
		}
		// One address trying many accounts stops at its own limit (4 per minute).
		for i := 1; i <= 4; i++ {
			if res := login(fmt.Sprintf("nobody%d", i), "wrong-password", "10.2.0.1"); res.Status != 401 {
				t.Fatalf("address attempt %d: %d %s", i, res.Status, res.Body)
			}
		}
		if res := login("other", apptest.DefaultPassword, "10.2.0.1"); res.Status != 429 || res.ErrorCode() != "rate_limited" {
			t.Fatalf("fifth attempt from one address: %d %s", res.Status, res.Body)
		}
		for detail, want := range map[string]int{"账号登录频率超限": 1, "来源 IP 登录频率超限": 1} {
			var n int
			e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND result = 'denied' AND detail = ?`, detail)
			if n != want {
				t.Errorf("audit records %q: %d, want %d", detail, n, want)
			}
		}
	})
}

package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/notify"
)

const officeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// TestLoginRiskDetectionOnCraftedHistories builds a user's login history (office hours,
// one office network, one browser) and checks which risks each new login raises; then
// failure bursts and password spraying; then what the user, the security administrator
// and the notification hub see.
func TestLoginRiskDetectionOnCraftedHistories(t *testing.T) {
	eachTrusted(t, func(t *testing.T, e *apptest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Tomorrow 10:00 in Xi'an (after now, so that the cookies the test client keeps have not expired).
		base := time.Now().UTC().Truncate(24 * time.Hour).Add(26 * time.Hour)
		clock := newClock(base)
		e.App.IAM.Now = clock.Now
		e.User("sec", "610000", "secadmin")
		wang := e.User("wang", "610100", "analyst")
		e.User("lixia", "610100", "analyst")
		for _, a := range []string{"sp1", "sp2", "sp3"} {
			e.User(a, "610000", "analyst")
		}
		// Risks are forwarded to a notification channel chosen by the security administrator.
		chID, err := e.App.Notify.CreateChannel(ctx, notify.Channel{Name: "安全告警群", Kind: notify.KindWebhook, Enabled: true,
			Config: []byte(`{"url":"http://127.0.0.1:1/hook"}`)})
		if err != nil {
			t.Fatal(err)
		}
		sec := e.Login("sec")
		if res := sec.Do("PUT", "/api/v1/security/settings", map[string]any{"risk_channel": chID}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		go e.App.Events.Run(ctx)
		if err := e.App.Events.Init(ctx); err != nil {
			t.Fatal(err)
		}

		office := e.Client()
		at := func(ip, ua string) map[string]string {
			return map[string]string{"X-Forwarded-For": ip, "User-Agent": ua}
		}
		var last int64
		newRisks := func() []string {
			var kinds []string
			e.App.DB.Select(ctx, &kinds, `SELECT kind FROM login_risks WHERE id > ? ORDER BY id`, last)
			e.App.DB.Get(ctx, &last, `SELECT COALESCE(MAX(id), 0) FROM login_risks`)
			return kinds
		}
		// The first login, twenty days ago, has nothing to compare with.
		clock.Set(base.AddDate(0, 0, -20))
		loginAs(t, e, office, "wang", at("10.1.2.3", officeUA))
		if k := newRisks(); len(k) != 0 {
			t.Fatalf("first login raised %v", k)
		}
		// Crafted history: eleven more office-hour logins from the office network and browser.
		var device string
		e.App.DB.Get(ctx, &device, `SELECT device FROM login_events WHERE user_id = ? ORDER BY id LIMIT 1`, wang)
		if device == "" {
			t.Fatal("the first login recorded no device")
		}
		for i := 1; i <= 11; i++ {
			when := base.AddDate(0, 0, -20+i).Add(time.Duration(i%3-1) * 50 * time.Minute) // 09:10–10:50
			if _, err := e.App.DB.Exec(ctx, `INSERT INTO login_events(at, user_id, account, method, result, ip, net, area, device, user_agent)
				VALUES (?, ?, 'wang', 'password', 'success', '10.1.2.3', '10.1.2.0/24', '10.1.0.0/16', ?, ?)`, when, wang, device, officeUA); err != nil {
				t.Fatal(err)
			}
		}
		clock.Set(base)
		steps := []struct {
			name   string
			client *apptest.Client
			ip, ua string
			want   string
		}{
			{"usual login", office, "10.1.2.50", officeUA, ""},
			{"new device on the office network", e.Client(), "10.1.2.60", "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36", "new_device"},
			{"known browser, new network, another area minutes later", office, "61.150.10.20", officeUA, "new_network impossible_travel"},
		}
		for _, s := range steps {
			if s.name == steps[2].name {
				clock.Add(10 * time.Minute)
			}
			loginAs(t, e, s.client, "wang", at(s.ip, s.ua))
			if got := strings.Join(newRisks(), " "); got != s.want {
				t.Fatalf("%s: risks %q, want %q", s.name, got, s.want)
			}
		}
		// 03:00 the next night, from the office with the office browser.
		clock.Set(base.Add(17 * time.Hour))
		loginAs(t, e, office, "wang", at("10.1.2.50", officeUA))
		if got := strings.Join(newRisks(), " "); got != "unusual_hour" {
			t.Fatalf("night login: %q", got)
		}
		// The user sees his own reminders (not li's), on the API and on the home page.
		wangC := office
		var mine struct {
			Items []struct{ Kind, Status string }
		}
		send(t, e, wangC, "GET", "/api/v1/me/risks", nil, nil).JSON(&mine)
		if len(mine.Items) != 4 {
			t.Fatalf("wang's risks: %+v", mine.Items)
		}
		if res := wangC.Do("GET", "/api/v1/security/risks", nil); res.Status != 403 {
			t.Fatalf("analyst reads everyone's risks: %d", res.Status)
		}
		home := wangC.Do("GET", "/", nil)
		if !strings.Contains(string(home.Body), "登录异常提醒") || !strings.Contains(string(home.Body), "短时间内异地登录") {
			t.Fatalf("home page lacks the reminder")
		}
		// "Not me" ends every other session of the account.
		var riskID int64
		e.App.DB.Get(ctx, &riskID, `SELECT id FROM login_risks WHERE kind = 'new_device'`)
		phone := steps[1].client
		// The phone has been in use all along (its session would have ended overnight).
		e.App.DB.Exec(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE user_id = ? AND revoked_at IS NULL`, clock.Now(), clock.Now().Add(time.Hour), wang)
		if st, _ := me(t, e, phone); st != 200 {
			t.Fatal("the phone session should be live")
		}
		res := send(t, e, wangC, "POST", "/api/v1/me/risks/"+itoa(riskID)+"/answer", map[string]bool{"mine": false}, nil)
		if res.Status != 200 {
			t.Fatalf("answer: %d %s", res.Status, res.Body)
		}
		if st, _ := me(t, e, phone); st != 401 {
			t.Fatalf("other session survived 'not me': %d", st)
		}
		if st, _ := me(t, e, wangC); st != 200 {
			t.Fatalf("the answering session ended: %d", st)
		}
		// Five failures on one account within 15 minutes: one failure-burst risk, not more.
		clock.Add(time.Hour)
		bad := map[string]string{"account": "lixia", "password": "Wrong#Passw0rd"}
		for i := 0; i < 6; i++ {
			send(t, e, e.Client(), "POST", "/api/v1/auth/login", bad, at("10.1.2.77", officeUA))
			clock.Add(time.Minute)
		}
		if got := strings.Join(newRisks(), " "); got != "failure_burst" {
			t.Fatalf("failure burst: %q", got)
		}
		// Spraying: one address tries five accounts (one of them unknown) once each.
		for _, a := range []string{"sp1", "sp2", "sp3", "nobody", "wang"} {
			send(t, e, e.Client(), "POST", "/api/v1/auth/login", map[string]string{"account": a, "password": "Spring2026!"}, at("203.0.113.9", "curl/8.5"))
		}
		if got := strings.Join(newRisks(), " "); got != "password_spray" {
			t.Fatalf("spraying: %q", got)
		}
		var sprayUser *int64
		var sprayRegion string
		e.App.DB.QueryRow(ctx, `SELECT user_id, region_code FROM login_risks WHERE kind = 'password_spray'`).Scan(&sprayUser, &sprayRegion)
		if sprayUser != nil || sprayRegion != "610000" {
			t.Fatalf("spraying is an address-level finding: user %v region %s", sprayUser, sprayRegion)
		}
		// Every risk is an iam.login.risk event with user, kind and ip.
		var payloads []string
		e.App.DB.Select(ctx, &payloads, `SELECT payload FROM events WHERE name = 'iam.login.risk' ORDER BY id`)
		if len(payloads) != 6 || !strings.Contains(payloads[1], `"kind":"new_network"`) || !strings.Contains(payloads[5], `"ip":"203.0.113.9"`) {
			t.Fatalf("events: %v", payloads)
		}
		// The security administrator sees all of them; an analyst sees none.
		sec = e.Login("sec")
		var list struct {
			Total int `json:"total"`
		}
		sec.Do("GET", "/api/v1/security/risks", nil).JSON(&list)
		if list.Total != 7 { // the six above, and the administrator's own login at four in the morning
			t.Fatalf("administrator sees %d risks", list.Total)
		}
		if res := sec.Do("GET", "/security/risks?kind=password_spray", nil); res.Status != 200 || !strings.Contains(string(res.Body), "203.0.113.9") {
			t.Fatalf("risk page: %d", res.Status)
		}
		if res := sec.Do("POST", "/api/v1/security/risks/"+itoa(riskID)+"/close", map[string]string{"note": "已电话核实"}); res.Status != 200 {
			t.Fatalf("close: %d %s", res.Status, res.Body)
		}
		// The notifier queued one message per risk on the chosen channel.
		deadline := time.Now().Add(10 * time.Second)
		n := 0
		for time.Now().Before(deadline) {
			e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM notify_deliveries WHERE channel_id = ? AND dedup LIKE 'iam-risk-%'`, chID)
			if n == 7 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n != 7 {
			t.Fatalf("risk notifications queued: %d", n)
		}
	})
}

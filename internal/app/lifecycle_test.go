package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/notify"
)

// TestDormantAccountsJob moves a controllable clock and checks which accounts the dormant
// job disables: unused for 90 days (or never used and created before), never the three
// administrators, and only once.
func TestDormantAccountsJob(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		clock := newClock(now)
		e.App.IAM.Now = clock.Now
		old := e.User("oldlogin", "610100", "analyst")
		never := e.User("neverused", "610100", "analyst")
		recent := e.User("recent", "610100", "analyst")
		fresh := e.User("newcomer", "610100", "analyst")
		admin := e.User("secboss", "610000", "secadmin")
		partner := e.User("partnerapi", "610000", "analyst") // never logs in, calls with an API token
		set0 := now.AddDate(0, 0, -300)
		e.App.DB.Exec(ctx, `UPDATE users SET created_at = ? WHERE id = ?`, set0, partner)
		if _, err := e.App.DB.Exec(ctx, `INSERT INTO api_tokens(name, token_hash, user_id, created_at, last_used_at) VALUES ('对接', 'h1', ?, ?, ?)`,
			partner, set0, now.AddDate(0, 0, -3)); err != nil {
			t.Fatal(err)
		}
		set := func(id int64, last *time.Time, created time.Time) {
			if _, err := e.App.DB.Exec(ctx, `UPDATE users SET last_login_at = ?, created_at = ? WHERE id = ?`, last, created, id); err != nil {
				t.Fatal(err)
			}
		}
		ago := func(d int) time.Time { return now.AddDate(0, 0, -d) }
		t100, t10, t200 := ago(100), ago(10), ago(200)
		set(old, &t100, ago(300))
		set(never, nil, ago(95))
		set(recent, &t10, ago(300))
		set(fresh, nil, ago(30))
		set(admin, &t200, ago(400))
		// oldlogin still has a live session: it must end.
		sess := e.Login("oldlogin")
		set(old, &t100, ago(300))

		res, err := e.App.IAM.DisableDormant(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(res.Disabled, ",") != "oldlogin,neverused" || strings.Join(res.Admins, ",") != "secboss" {
			t.Fatalf("dormant run: %+v", res)
		}
		status := func(id int64) (s, reason string) {
			e.App.DB.QueryRow(ctx, `SELECT status, disabled_reason FROM users WHERE id = ?`, id).Scan(&s, &reason)
			return
		}
		for id, want := range map[int64]string{old: "disabled", never: "disabled", recent: "active", fresh: "active", admin: "active", partner: "active"} {
			if s, reason := status(id); s != want || (want == "disabled" && reason != "dormant") {
				t.Errorf("user %d: %s (%s), want %s", id, s, reason, want)
			}
		}
		if st, _ := me(t, e, sess); st != 401 {
			t.Fatalf("dormant account's session still works: %d", st)
		}
		var audited int
		e.App.DB.Get(ctx, &audited, `SELECT COUNT(*) FROM audit_log WHERE action = 'iam.user.dormant_disable' AND actor = 'system'`)
		if audited != 2 {
			t.Fatalf("audited disables: %d", audited)
		}
		// Running again changes nothing; 61 days later the newcomer (created 30 days ago) goes too.
		if res, _ := e.App.IAM.DisableDormant(ctx); len(res.Disabled) != 0 {
			t.Fatalf("second run disabled %v", res.Disabled)
		}
		// 61 days later the newcomer (created 30 days ago) goes too: run through the scheduled job.
		clock.Add(61 * 24 * time.Hour)
		run := e.RunJob(ctx, "iam.accounts.dormant")
		if run.Status != "succeeded" || run.Counts["disabled"] != 1 || !strings.Contains(run.Notes, "newcomer") || !strings.Contains(run.Notes, "secboss") {
			t.Fatalf("job run: %+v", run)
		}
	})
}

// TestTemporaryAccountsExpire marks expired temporary accounts and ends their sessions.
func TestTemporaryAccountsExpire(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		clock := newClock(time.Now())
		e.App.IAM.Now = clock.Now
		tmp := e.User("tempuser", "610100", "analyst")
		e.User("permanent", "610100", "analyst")
		e.App.DB.Exec(ctx, `UPDATE users SET expires_at = ? WHERE id = ?`, clock.Now().Add(2*time.Hour), tmp)
		c := e.Login("tempuser")
		if list, _ := e.App.IAM.MarkExpired(ctx); len(list) != 0 {
			t.Fatalf("marked before expiry: %v", list)
		}
		clock.Add(3 * time.Hour)
		list, err := e.App.IAM.MarkExpired(ctx)
		if err != nil || strings.Join(list, ",") != "tempuser" {
			t.Fatalf("expired: %v %v", list, err)
		}
		var status, reason string
		var live int
		e.App.DB.QueryRow(ctx, `SELECT status, disabled_reason FROM users WHERE id = ?`, tmp).Scan(&status, &reason)
		e.App.DB.Get(ctx, &live, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL`, tmp)
		if status != "disabled" || reason != "expired" || live != 0 {
			t.Fatalf("temporary account: %s %s, %d live sessions", status, reason, live)
		}
		_ = c
		if list, _ := e.App.IAM.MarkExpired(ctx); len(list) != 0 {
			t.Fatalf("marked twice: %v", list)
		}
	})
}

// TestPasswordExpiryReminders reminds users whose password expires within 7 days, in-app
// always and on the chosen channel, once per expiry date.
func TestPasswordExpiryReminders(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		clock := newClock(now)
		e.App.IAM.Now = clock.Now
		e.User("sec", "610000", "secadmin")
		soon := e.User("expsoon", "610100", "analyst")    // 90-day policy, changed 85 days ago: 5 days left
		later := e.User("explater", "610100", "analyst")  // changed 60 days ago: 30 days left
		short := e.User("expshort", "610100", "analyst")  // own period 30 days, changed 25 days ago: 5 days left
		expired := e.User("expired", "610100", "analyst") // already expired: forced at login, no reminder
		for id, days := range map[int64]int{soon: 85, later: 60, short: 25, expired: 95} {
			e.App.DB.Exec(ctx, `UPDATE users SET password_changed_at = ? WHERE id = ?`, now.AddDate(0, 0, -days), id)
		}
		e.App.DB.Exec(ctx, `UPDATE users SET password_max_days = 30 WHERE id = ?`, short)
		ch, err := e.App.Notify.CreateChannel(ctx, notify.Channel{Name: "口令提醒邮件", Kind: notify.KindWebhook, Enabled: true, Config: []byte(`{"url":"http://127.0.0.1:1/x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if res := e.Login("sec").Do("PUT", "/api/v1/security/settings", map[string]any{"password_channel": ch}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		res, err := e.App.IAM.RemindPasswordExpiry(ctx)
		if err != nil || res.Notices != 2 || res.Messages != 2 {
			t.Fatalf("reminders: %+v %v", res, err)
		}
		var who []string
		e.App.DB.Select(ctx, &who, `SELECT u.account FROM user_notices n JOIN users u ON u.id = n.user_id WHERE n.kind = 'password_expiry' ORDER BY u.account`)
		if strings.Join(who, ",") != "expshort,expsoon" {
			t.Fatalf("reminded %v", who)
		}
		// Rerun the same day, or the next: nothing new.
		clock.Add(24 * time.Hour)
		if res, _ := e.App.IAM.RemindPasswordExpiry(ctx); res.Notices != 0 || res.Messages != 0 {
			t.Fatalf("second run: %+v", res)
		}
		var queued int
		e.App.DB.Get(ctx, &queued, `SELECT COUNT(*) FROM notify_deliveries WHERE channel_id = ?`, ch)
		if queued != 2 {
			t.Fatalf("channel messages: %d", queued)
		}
		// The user sees it on the home page and can dismiss it.
		clock.Set(time.Now())
		c := e.Login("expsoon")
		home := c.Do("GET", "/", nil)
		if !strings.Contains(string(home.Body), "您的口令将于") {
			t.Fatal("home page lacks the reminder")
		}
		var list struct {
			Items []struct{ ID int64 } `json:"items"`
		}
		c.Do("GET", "/api/v1/me/notices?unread=1", nil).JSON(&list)
		if len(list.Items) != 1 {
			t.Fatalf("notices: %+v", list)
		}
		if res := c.Do("POST", "/api/v1/me/notices/"+itoa(list.Items[0].ID)+"/read", nil); res.Status != 200 {
			t.Fatalf("read: %d", res.Status)
		}
		if res := e.Login("explater").Do("POST", "/api/v1/me/notices/"+itoa(list.Items[0].ID)+"/read", nil); res.Status != 404 {
			t.Fatalf("another user's notice: %d", res.Status)
		}
	})
}

// TestPermissionReview opens a review, confirms one account and revokes another (both
// audited), refuses deciding twice and exports the report.
func TestPermissionReview(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("sec", "610000", "secadmin")
		keep := e.User("keepme", "610100", "analyst")
		drop := e.User("dropme", "610113", "inspector")
		sec := e.Login("sec")
		if res := e.Login("keepme").Do("POST", "/api/v1/security/reviews", nil); res.Status != 403 {
			t.Fatalf("analyst opens a review: %d", res.Status)
		}
		res := sec.Do("POST", "/api/v1/security/reviews", nil)
		var created struct{ ID int64 }
		if res.JSON(&created); res.Status != 201 || created.ID == 0 {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		var items struct {
			Items []struct {
				ID      int64
				UserID  int64  `json:"user_id"`
				Account string `json:"account"`
				Roles   string `json:"roles"`
				Scope   string `json:"scope"`
			} `json:"items"`
		}
		sec.Do("GET", "/api/v1/security/reviews/"+itoa(created.ID)+"/items", nil).JSON(&items)
		byUser := map[int64]int64{}
		for _, it := range items.Items {
			byUser[it.UserID] = it.ID
			if it.Account == "dropme" && (it.Roles != "县级检查员" || !strings.Contains(it.Scope, "雁塔区")) {
				t.Fatalf("snapshot of dropme: %+v", it)
			}
		}
		if len(items.Items) != 3 {
			t.Fatalf("items: %+v", items.Items)
		}
		path := "/api/v1/security/reviews/" + itoa(created.ID) + "/items/"
		if res := sec.Do("POST", path+itoa(byUser[keep])+"/decision", map[string]string{"decision": "confirmed"}); res.Status != 200 {
			t.Fatalf("confirm: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("POST", path+itoa(byUser[drop])+"/decision", map[string]string{"decision": "revoked"}); res.Status != 400 || res.ErrorCode() != "note_required" {
			t.Fatalf("revoke without reason: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("POST", path+itoa(byUser[drop])+"/decision", map[string]string{"decision": "revoked", "note": "已调离"}); res.Status != 200 {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("POST", path+itoa(byUser[keep])+"/decision", map[string]string{"decision": "revoked", "note": "x"}); res.Status != 409 {
			t.Fatalf("decided twice: %d", res.Status)
		}
		var me struct {
			Roles []string `json:"roles"`
		}
		e.Login("dropme").Do("GET", "/api/v1/me", nil).JSON(&me)
		if len(me.Roles) != 0 {
			t.Fatalf("revoked user keeps roles %v", me.Roles)
		}
		var actions []string
		e.App.DB.Select(ctx, &actions, `SELECT action FROM audit_log WHERE action LIKE 'security.review.%' OR action = 'iam.user.grant' ORDER BY id`)
		if strings.Join(actions, ",") != "security.review.create,security.review.confirm,iam.user.grant,security.review.revoke" {
			t.Fatalf("audit: %v", actions)
		}
		// The report.
		x := sec.Do("GET", "/api/v1/security/reviews/"+itoa(created.ID)+"/export", nil)
		if x.Status != 200 {
			t.Fatalf("export: %d %s", x.Status, x.Body)
		}
		f, err := excelize.OpenReader(bytes.NewReader(x.Body))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := f.GetRows(f.GetSheetName(0))
		text := ""
		for _, r := range rows {
			text += strings.Join(r, "|") + "\n"
		}
		if !strings.Contains(text, "dropme") || !strings.Contains(text, "已撤销") || !strings.Contains(text, "已调离") || !strings.Contains(text, "已确认") {
			t.Fatalf("report:\n%s", text)
		}
		// Pages render.
		for _, p := range []string{"/security/reviews", "/security/reviews/" + itoa(created.ID)} {
			if res := sec.Do("GET", p, nil); res.Status != 200 || !strings.Contains(string(res.Body), "权限复核") {
				t.Fatalf("%s: %d", p, res.Status)
			}
		}
		// The quarterly job's review is created once per quarter.
		id1, c1, err1 := e.App.IAM.CreateReview(ctx, nil, iamSystem(), true)
		id2, c2, err2 := e.App.IAM.CreateReview(ctx, nil, iamSystem(), true)
		if err1 != nil || err2 != nil || !c1 || c2 || id1 != id2 {
			t.Fatalf("quarterly: %d %v %v / %d %v %v", id1, c1, err1, id2, c2, err2)
		}
		if res := sec.Do("POST", "/api/v1/security/reviews/"+itoa(created.ID)+"/close", nil); res.Status != 200 {
			t.Fatalf("close: %d %s", res.Status, res.Body)
		}
		if res := sec.Do("POST", path+itoa(byUser[drop])+"/decision", map[string]string{"decision": "confirmed"}); res.Status != 409 {
			t.Fatalf("decision on a closed review: %d", res.Status)
		}
	})
}

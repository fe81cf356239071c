package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/iam/sms"
	"zhsj/internal/iam/sms/smstest"
	"zhsj/internal/notify"
	"zhsj/internal/store/storetest"
)

// TestSMSLoginThroughVendorGateways logs in with codes sent through stand-ins of the Aliyun
// and Tencent Cloud APIs, which check each request's signature the way the vendors do.
func TestSMSLoginThroughVendorGateways(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		clock := newClock(time.Now())
		e.App.IAM.Now = clock.Now
		e.User("sec", "610000", "secadmin")
		userWithPhone(t, e, "smsuser", "610100", "13812345678", "analyst")
		sec := e.Login("sec")
		anon := e.Client()
		// Not configured: a clear refusal, the same for every number.
		if res := anon.Do("POST", "/api/v1/auth/sms/send", map[string]string{"phone": "13812345678"}); res.Status != 400 || res.ErrorCode() != "sms_disabled" {
			t.Fatalf("unconfigured: %d %s", res.Status, res.Body)
		}
		ali := smstest.Aliyun(t, "LTAI5tZhsjTest", "ali-secret-9f3k")
		res := sec.Do("PUT", "/api/v1/security/settings", map[string]any{"sms": map[string]any{"provider": "aliyun", "endpoint": ali.URL,
			"access_key_id": "LTAI5tZhsjTest", "access_key_secret": "ali-secret-9f3k", "sign_name": "陕西市场监管", "template": "SMS_480000001"}})
		if res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		// The secret is sealed at rest and never shown again.
		var raw string
		e.App.DB.Get(ctx, &raw, `SELECT value FROM settings WHERE key = 'iam.security'`)
		if strings.Contains(raw, "ali-secret-9f3k") || !strings.Contains(raw, "sealed:") {
			t.Fatalf("secret stored in clear: %s", raw)
		}
		if res := sec.Do("GET", "/api/v1/security/settings", nil); strings.Contains(string(res.Body), "ali-secret") || !strings.Contains(string(res.Body), `"secret_set":true`) {
			t.Fatalf("settings view: %s", res.Body)
		}
		// The analyst may not read or change them.
		if res := e.Login("smsuser").Do("GET", "/api/v1/security/settings", nil); res.Status != 403 {
			t.Fatalf("analyst reads settings: %d", res.Status)
		}

		if res := anon.Do("POST", "/api/v1/auth/sms/send", map[string]string{"phone": "13812345678"}); res.Status != 200 {
			t.Fatalf("send: %d %s", res.Status, res.Body)
		}
		m := ali.Next(t, 5*time.Second)
		code := m.Params["code"]
		if m.Phone != "13812345678" || m.Template != "SMS_480000001" || len(code) != 6 || m.Params["minutes"] != "5" {
			t.Fatalf("message %+v", m)
		}
		// Stored hashed: the code is nowhere in the table.
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM sms_codes WHERE code_hash = ? OR code_hash LIKE ?`, code, "%"+code+"%")
		if n != 0 {
			t.Fatal("code stored in clear")
		}
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if res := anon.Do("POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13812345678", "code": wrong}); res.Status != 401 || res.ErrorCode() != "sms_code_invalid" {
			t.Fatalf("wrong code: %d %s", res.Status, res.Body)
		}
		if res := anon.Do("POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13812345678", "code": code}); res.Status != 200 {
			t.Fatalf("sms login: %d %s", res.Status, res.Body)
		}
		if st, acc := me(t, e, anon); st != 200 || acc != "smsuser" {
			t.Fatalf("me after sms login: %d %s", st, acc)
		}
		// Single use.
		other := e.Client()
		if res := other.Do("POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13812345678", "code": code}); res.Status != 401 {
			t.Fatalf("code reused: %d %s", res.Status, res.Body)
		}
		var method string
		e.App.DB.Get(ctx, &method, `SELECT detail FROM audit_log WHERE action = 'auth.login' AND result = 'success' AND actor = 'smsuser' ORDER BY id DESC LIMIT 1`)
		if !strings.Contains(method, "sms") {
			t.Errorf("login audit: %q", method)
		}

		// Tencent Cloud, TC3-HMAC-SHA256.
		tc := smstest.Tencent(t, "AKIDzhsjTest", "tc-secret-7Hq", "1400123456")
		res = sec.Do("PUT", "/api/v1/security/settings", map[string]any{"sms": map[string]any{"provider": "tencent", "endpoint": tc.URL,
			"access_key_id": "AKIDzhsjTest", "access_key_secret": "tc-secret-7Hq", "app_id": "1400123456", "sign_name": "陕西市场监管", "template": "2001",
			"param_order": []string{"code", "minutes"}}})
		if res.Status != 200 {
			t.Fatalf("tencent settings: %d %s", res.Status, res.Body)
		}
		clock.Add(61 * time.Second)
		if res := anon.Do("POST", "/api/v1/auth/sms/send", map[string]string{"phone": "13812345678"}); res.Status != 200 {
			t.Fatalf("send: %d %s", res.Status, res.Body)
		}
		tm := tc.Next(t, 5*time.Second)
		if tm.Phone != "13812345678" || len(tm.ParamSet) != 2 || tm.ParamSet[1] != "5" {
			t.Fatalf("tencent message %+v", tm)
		}
		c2 := e.Client()
		if res := c2.Do("POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13812345678", "code": tm.ParamSet[0]}); res.Status != 200 {
			t.Fatalf("tencent sms login: %d %s", res.Status, res.Body)
		}
		if ali.Rejected.Load()+tc.Rejected.Load() != 0 {
			t.Fatalf("vendor refused requests: %v %v", ali.LastError.Load(), tc.LastError.Load())
		}
		// A gateway refusing the signature is recorded as a failed send, and the user is told nothing different.
		sec.Do("PUT", "/api/v1/security/settings", map[string]any{"sms": map[string]any{"provider": "tencent", "endpoint": tc.URL,
			"access_key_id": "AKIDzhsjTest", "access_key_secret": "wrong", "app_id": "1400123456", "sign_name": "陕西市场监管", "template": "2001"}})
		clock.Add(61 * time.Second)
		if res := anon.Do("POST", "/api/v1/auth/sms/send", map[string]string{"phone": "13812345678"}); res.Status != 200 {
			t.Fatalf("send with bad secret: %d %s", res.Status, res.Body)
		}
		deadline := time.Now().Add(5 * time.Second)
		status := ""
		for time.Now().Before(deadline) && status != "failed" {
			e.App.DB.Get(ctx, &status, `SELECT send_status FROM sms_codes ORDER BY id DESC LIMIT 1`)
			time.Sleep(20 * time.Millisecond)
		}
		if status != "failed" || tc.LastError.Load() != "AuthFailure.SignatureFailure" {
			t.Fatalf("bad signature: status %q, vendor %v", status, tc.LastError.Load())
		}
	})
}

// TestSMSLimitsAndNoEnumeration checks the per-phone, per-IP and per-code limits and that
// answers do not depend on whether a number belongs to an account.
func TestSMSLimitsAndNoEnumeration(t *testing.T) {
	eachTrusted(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		clock := newClock(time.Now())
		e.App.IAM.Now = clock.Now
		e.User("sec", "610000", "secadmin")
		userWithPhone(t, e, "known", "610000", "13900000001", "analyst")
		ali := smstest.Aliyun(t, "LTAI5tLimits", "limits-secret")
		if res := e.Login("sec").Do("PUT", "/api/v1/security/settings", map[string]any{"sms": map[string]any{"provider": "aliyun", "endpoint": ali.URL,
			"access_key_id": "LTAI5tLimits", "access_key_secret": "limits-secret", "sign_name": "签名", "template": "SMS_1"}}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		c := e.Client()
		from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
		sendCode := func(phone, ip string) *apptest.Response {
			return send(t, e, c, "POST", "/api/v1/auth/sms/send", map[string]string{"phone": phone}, from(ip))
		}
		// Known and unknown numbers get the same answer; only the known one gets a message.
		known, unknown := sendCode("13900000001", "10.0.0.1"), sendCode("13900000002", "10.0.0.1")
		if known.Status != 200 || unknown.Status != 200 || string(known.Body) != string(unknown.Body) {
			t.Fatalf("answers differ: %d %s / %d %s", known.Status, known.Body, unknown.Status, unknown.Body)
		}
		m := ali.Next(t, 5*time.Second)
		if m.Phone != "13900000001" {
			t.Fatalf("sent to %s", m.Phone)
		}
		select {
		case extra := <-ali.Messages:
			t.Fatalf("a message went to an unknown number: %+v", extra)
		case <-time.After(200 * time.Millisecond):
		}
		// At most one a minute, the same for both.
		k2, u2 := sendCode("13900000001", "10.0.0.1"), sendCode("13900000002", "10.0.0.1")
		if k2.Status != 429 || k2.ErrorCode() != "sms_too_soon" || string(k2.Body) != string(u2.Body) {
			t.Fatalf("within a minute: %d %s / %s", k2.Status, k2.Body, u2.Body)
		}
		// Wrong guesses: at most 5 per code, then even the right code is refused.
		for i := 0; i < 5; i++ {
			bad := "999999"
			if m.Params["code"] == bad {
				bad = "888888"
			}
			if res := send(t, e, c, "POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13900000001", "code": bad}, from("10.0.0.1")); res.Status != 401 {
				t.Fatalf("guess %d: %d", i, res.Status)
			}
		}
		if res := send(t, e, c, "POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13900000001", "code": m.Params["code"]}, from("10.0.0.1")); res.Status != 401 {
			t.Fatalf("right code after 5 wrong guesses: %d %s", res.Status, res.Body)
		}
		// Expiry: a code is valid for 5 minutes.
		clock.Add(61 * time.Second)
		if res := sendCode("13900000001", "10.0.0.1"); res.Status != 200 {
			t.Fatalf("resend: %d %s", res.Status, res.Body)
		}
		m = ali.Next(t, 5*time.Second)
		clock.Add(5*time.Minute + time.Second)
		if res := send(t, e, c, "POST", "/api/v1/auth/sms/login", map[string]string{"phone": "13900000001", "code": m.Params["code"]}, from("10.0.0.1")); res.Status != 401 {
			t.Fatalf("expired code accepted: %d", res.Status)
		}
		// 10 per phone in 24 hours (this phone has had 2).
		for i := 0; i < 8; i++ {
			clock.Add(61 * time.Second)
			if res := sendCode("13900000001", "10.0.1."+itoa(int64(i))); res.Status != 200 {
				t.Fatalf("send %d: %d %s", i+3, res.Status, res.Body)
			}
			ali.Next(t, 5*time.Second)
		}
		clock.Add(61 * time.Second)
		if res := sendCode("13900000001", "10.0.2.1"); res.Status != 429 || res.ErrorCode() != "sms_daily_limit" {
			t.Fatalf("11th in a day: %d %s", res.Status, res.Body)
		}
		clock.Add(24 * time.Hour)
		if res := sendCode("13900000001", "10.0.2.1"); res.Status != 200 {
			t.Fatalf("next day: %d %s", res.Status, res.Body)
		}
		ali.Next(t, 5*time.Second)
		// 20 per source IP per hour, whatever the numbers.
		for i := 0; i < 20; i++ {
			if res := sendCode("1370000"+pad4(i), "192.0.2.7"); res.Status != 200 {
				t.Fatalf("ip send %d: %d %s", i, res.Status, res.Body)
			}
		}
		if res := sendCode("13700009999", "192.0.2.7"); res.Status != 429 || res.ErrorCode() != "sms_ip_limit" {
			t.Fatalf("21st from one IP: %d %s", res.Status, res.Body)
		}
		if res := sendCode("13700009999", "192.0.2.8"); res.Status != 200 {
			t.Fatalf("other IP: %d %s", res.Status, res.Body)
		}
		// Bad input is refused clearly.
		if res := sendCode("1234", "10.9.9.9"); res.Status != 400 || res.ErrorCode() != "bad_phone" {
			t.Fatalf("bad phone: %d %s", res.Status, res.Body)
		}
		var denied int
		e.App.DB.Get(ctx, &denied, `SELECT COUNT(*) FROM audit_log WHERE action = 'auth.sms.send' AND result = 'denied'`)
		if denied < 3 {
			t.Errorf("refused sends audited: %d", denied)
		}
	})
}

// TestParallelSMSRequestsPassTheGateOnce sends ten requests for one phone at once: one passes.
func TestParallelSMSRequestsPassTheGateOnce(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("sec", "610000", "secadmin")
		if res := e.Login("sec").Do("PUT", "/api/v1/security/settings", map[string]any{"sms": map[string]any{"provider": "log"}}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		results := make(chan int, 10)
		for i := 0; i < 10; i++ {
			go func() {
				results <- e.Client().Do("POST", "/api/v1/auth/sms/send", map[string]string{"phone": "13600000000"}).Status
			}()
		}
		ok := 0
		for i := 0; i < 10; i++ {
			if <-results == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d parallel requests passed the once-a-minute gate", ok)
		}
	})
}

func pad4(i int) string {
	s := itoa(int64(i))
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// TestNotifySMSChannelUsesTheSecurityGateway: the notification hub's SMS channels send
// through the gateway configured in the security settings.
func TestNotifySMSChannelUsesTheSecurityGateway(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	ctx := context.Background()
	ali := smstest.Aliyun(t, "LTAI5tNotify", "notify-secret")
	if err := e.App.IAM.SaveSecuritySettings(ctx, nil, iam.System(), iam.SecuritySettings{SMS: sms.Config{Provider: "aliyun", Endpoint: ali.URL,
		AccessKeyID: "LTAI5tNotify", AccessKeySecret: "notify-secret", SignName: "陕西市场监管", Template: "SMS_CODE"}}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(notify.SMSConfig{Phones: []string{"13800001111"}, Template: "SMS_ALERT"})
	ch, err := e.App.Notify.CreateChannel(ctx, notify.Channel{Name: "值班短信", Kind: notify.KindSMS, Enabled: true, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Notify.Send(ctx, ch, notify.Message{Title: "数据库不可用", Text: "主库连接失败", Severity: notify.SeverityCritical}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Notify.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	m := ali.Next(t, 5*time.Second)
	if m.Phone != "13800001111" || m.Template != "SMS_ALERT" || m.Params["title"] != "数据库不可用" {
		t.Fatalf("message %+v", m)
	}
}

package iam

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/iam/sms"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// settingsKey is the settings row holding the account-security settings.
const settingsKey = "iam.security"

// purposeSMSSecret seals the SMS gateway secret at rest.
const purposeSMSSecret = "iam.sms.secret"

// SecuritySettings are the security administrator's settings of account security.
type SecuritySettings struct {
	SMS             sms.Config `json:"sms"`              // gateway of SMS login codes (secret sealed at rest, never shown)
	RiskChannel     int64      `json:"risk_channel"`     // notification channel for login risks; 0: none
	PasswordChannel int64      `json:"password_channel"` // notification channel for password expiry reminders; 0: none
}

// SecuritySettingsView is what the API shows: the secret is replaced by whether it is set.
type SecuritySettingsView struct {
	SecuritySettings
	SecretSet bool `json:"secret_set"`
}

// Notifier queues a message on a notification channel inside q's transaction (the app wires
// it to the notification hub). dedup makes a repeated call queue nothing.
type Notifier func(ctx context.Context, q store.Q, channelID int64, title, text, severity, dedup string) error

// SecuritySettings returns the settings with the SMS secret opened.
func (s *Service) SecuritySettings(ctx context.Context) (SecuritySettings, error) {
	var raw string
	var out SecuritySettings
	err := s.db.Get(ctx, &raw, `SELECT value FROM settings WHERE key = ?`, settingsKey)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return out, fmt.Errorf("安全设置无法解析: %w", err)
	}
	if sealed, ok := strings.CutPrefix(out.SMS.AccessKeySecret, "sealed:"); ok {
		b, err := base64.StdEncoding.DecodeString(sealed)
		if err == nil {
			b, err = s.keys.Open(purposeSMSSecret, b)
		}
		if err != nil {
			return out, fmt.Errorf("短信网关密钥无法解密（主密钥是否更换过？）: %w", err)
		}
		out.SMS.AccessKeySecret = string(b)
	}
	return out, nil
}

// SecuritySettingsView returns the settings without the secret.
func (s *Service) SecuritySettingsView(ctx context.Context) (SecuritySettingsView, error) {
	st, err := s.SecuritySettings(ctx)
	v := SecuritySettingsView{SecuritySettings: st, SecretSet: st.SMS.AccessKeySecret != ""}
	v.SMS.AccessKeySecret = ""
	return v, err
}

// SaveSecuritySettings validates and stores the settings; an empty secret keeps the stored
// one. The change is audited without the secret.
func (s *Service) SaveSecuritySettings(ctx context.Context, r *http.Request, p *Principal, in SecuritySettings) error {
	in.SMS.Provider = strings.TrimSpace(in.SMS.Provider)
	in.SMS.Endpoint = strings.TrimSpace(in.SMS.Endpoint)
	old, err := s.SecuritySettings(ctx)
	if err != nil {
		return err
	}
	if in.SMS.AccessKeySecret == "" && in.SMS.Provider == old.SMS.Provider {
		in.SMS.AccessKeySecret = old.SMS.AccessKeySecret
	}
	fields := in.SMS.Check()
	if in.RiskChannel < 0 || in.PasswordChannel < 0 {
		fields["channel"] = "通知渠道编号无效"
	}
	for _, id := range []int64{in.RiskChannel, in.PasswordChannel} {
		if id == 0 {
			continue
		}
		var n int
		if err := s.db.Get(ctx, &n, `SELECT COUNT(*) FROM notify_channels WHERE id = ?`, id); err != nil || n == 0 {
			fields["channel"] = fmt.Sprintf("通知渠道 %d 不存在", id)
		}
	}
	if len(fields) > 0 {
		var msgs []string
		for _, k := range []string{"provider", "access_key_id", "access_key_secret", "sign_name", "template", "app_id", "endpoint", "channel"} {
			if m, ok := fields[k]; ok {
				msgs = append(msgs, m)
			}
		}
		return &web.Error{Status: http.StatusBadRequest, Code: "invalid_settings", Message: "安全设置有误：" + strings.Join(msgs, "；"), Fields: fields}
	}
	stored := in
	if in.SMS.AccessKeySecret != "" {
		sealed, err := s.keys.Seal(purposeSMSSecret, []byte(in.SMS.AccessKeySecret))
		if err != nil {
			return err
		}
		stored.SMS.AccessKeySecret = "sealed:" + base64.StdEncoding.EncodeToString(sealed)
	}
	b, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingsKey, string(b), s.now()); err != nil {
			return err
		}
		provider := in.SMS.Provider
		if provider == "" {
			provider = "未启用"
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.settings.update", ObjectType: "settings", ObjectID: settingsKey, Result: "success",
			Detail: fmt.Sprintf("修改账户安全设置：短信网关 %s，风险通知渠道 %d，口令到期通知渠道 %d", provider, in.RiskChannel, in.PasswordChannel)})
	})
}

// smsGateway builds the configured gateway; sms.ErrDisabled when none is configured.
func (s *Service) smsGateway(ctx context.Context) (sms.Gateway, sms.Config, error) {
	st, err := s.SecuritySettings(ctx)
	if err != nil {
		return nil, st.SMS, err
	}
	if st.SMS.Provider == "" {
		return nil, st.SMS, sms.ErrDisabled
	}
	gw, err := sms.New(st.SMS, s.SMSClient, s.logger())
	return gw, st.SMS, err
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// SendSMS sends one templated message through the configured gateway (the notification
// hub's SMS channels use it).
func (s *Service) SendSMS(ctx context.Context, phone, template string, params map[string]string) error {
	gw, _, err := s.smsGateway(ctx)
	if err != nil {
		return err
	}
	return gw.Send(ctx, phone, template, params)
}

// Package sms sends templated text messages through a vendor gateway: Aliyun SMS (RPC API,
// signature version 1.0, HMAC-SHA1), Tencent Cloud SMS (API 3.0, TC3-HMAC-SHA256) and a log
// gateway for demonstrations that writes the message to the server log instead of sending it.
//
// Every gateway has the shape of notify.SMSGateway, so the identity module's login codes and
// the notification hub's SMS channel can share one configured gateway.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Gateway sends one templated SMS to one phone number (11-digit mainland number).
type Gateway interface {
	Send(ctx context.Context, phone, template string, params map[string]string) error
}

// Providers.
const (
	ProviderLog     = "log"
	ProviderAliyun  = "aliyun"
	ProviderTencent = "tencent"
)

// Config selects and configures a gateway. Secrets are kept sealed by the caller.
type Config struct {
	Provider        string   `json:"provider"`                    // log | aliyun | tencent; empty: SMS disabled
	Endpoint        string   `json:"endpoint,omitempty"`          // default: the vendor's public endpoint
	AccessKeyID     string   `json:"access_key_id,omitempty"`     // Aliyun AccessKeyId / Tencent SecretId
	AccessKeySecret string   `json:"access_key_secret,omitempty"` // Aliyun AccessKeySecret / Tencent SecretKey
	SignName        string   `json:"sign_name,omitempty"`         // 短信签名
	Template        string   `json:"template,omitempty"`          // login code template: Aliyun TemplateCode / Tencent TemplateId
	AppID           string   `json:"app_id,omitempty"`            // Tencent SmsSdkAppId
	Region          string   `json:"region,omitempty"`            // Aliyun RegionId (cn-hangzhou) / Tencent X-TC-Region (ap-guangzhou)
	ParamOrder      []string `json:"param_order,omitempty"`       // Tencent: template parameters in order; default code, minutes
}

// Check validates the configuration and returns Chinese messages per field.
func (c Config) Check() map[string]string {
	f := map[string]string{}
	switch c.Provider {
	case "", ProviderLog:
		return f
	case ProviderAliyun, ProviderTencent:
	default:
		f["provider"] = "短信网关只能是 log（演示）、aliyun（阿里云）或 tencent（腾讯云）"
		return f
	}
	if c.AccessKeyID == "" {
		f["access_key_id"] = "请填写 AccessKey ID / SecretId"
	}
	if c.AccessKeySecret == "" {
		f["access_key_secret"] = "请填写 AccessKey Secret / SecretKey"
	}
	if c.SignName == "" {
		f["sign_name"] = "请填写短信签名"
	}
	if c.Template == "" {
		f["template"] = "请填写验证码短信模板编号"
	}
	if c.Provider == ProviderTencent && c.AppID == "" {
		f["app_id"] = "请填写腾讯云短信应用 SdkAppId"
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://") {
		f["endpoint"] = "接口地址须以 https:// 开头"
	}
	return f
}

// New builds the gateway of c. client may be nil (15 s timeout); logger is used by the log
// gateway.
func New(c Config, client *http.Client, logger *slog.Logger) (Gateway, error) {
	if f := c.Check(); len(f) > 0 {
		var msgs []string
		for _, m := range f {
			msgs = append(msgs, m)
		}
		return nil, errors.New(strings.Join(msgs, "；"))
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	switch c.Provider {
	case ProviderLog:
		return &Log{Logger: logger}, nil
	case ProviderAliyun:
		return &Aliyun{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SignName: c.SignName,
			Endpoint: c.Endpoint, RegionID: c.Region, Client: client}, nil
	case ProviderTencent:
		return &Tencent{SecretID: c.AccessKeyID, SecretKey: c.AccessKeySecret, AppID: c.AppID, SignName: c.SignName,
			Endpoint: c.Endpoint, Region: c.Region, ParamOrder: c.ParamOrder, Client: client}, nil
	}
	return nil, ErrDisabled
}

// ErrDisabled means no gateway is configured.
var ErrDisabled = errors.New("未配置短信网关")

// Log is the demonstration gateway: it writes the message, code included, to the server log.
type Log struct {
	Logger *slog.Logger
}

// Send implements Gateway.
func (l *Log) Send(ctx context.Context, phone, template string, params map[string]string) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	args := []any{"phone", phone, "template", template}
	for _, k := range sortedKeys(params) {
		args = append(args, "param."+k, params[k])
	}
	lg.WarnContext(ctx, "短信（演示网关，未真实发送）", args...)
	return nil
}

// VendorError is a refusal by the vendor (bad signature, template, quota…).
type VendorError struct {
	Vendor, Code, Message, RequestID string
}

func (e *VendorError) Error() string {
	return fmt.Sprintf("%s短信网关拒绝：%s %s（请求 %s）", e.Vendor, e.Code, e.Message, e.RequestID)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// DingTalkConfig configures a DingTalk custom robot.
type DingTalkConfig struct {
	Webhook   string   `json:"webhook"`              // https://oapi.dingtalk.com/robot/send?access_token=…
	Secret    string   `json:"secret,omitempty"`     // 加签 secret (SEC…); empty when not signing
	MsgType   string   `json:"msgtype,omitempty"`    // markdown (default) | text
	Keyword   string   `json:"keyword,omitempty"`    // custom keyword the robot requires, added when missing
	AtMobiles []string `json:"at_mobiles,omitempty"` // mobiles to @
	AtAll     bool     `json:"at_all,omitempty"`
}

// WeComConfig configures a WeCom (企业微信) group robot. The key in the URL is the secret.
type WeComConfig struct {
	Webhook          string   `json:"webhook"`           // https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
	MsgType          string   `json:"msgtype,omitempty"` // markdown (default) | text
	MentionedMobiles []string `json:"mentioned_mobiles,omitempty"`
}

// FeishuConfig configures a Feishu (飞书) custom bot.
type FeishuConfig struct {
	Webhook string `json:"webhook"`           // https://open.feishu.cn/open-apis/bot/v2/hook/…
	Secret  string `json:"secret,omitempty"`  // signature secret; empty when not signing
	MsgType string `json:"msgtype,omitempty"` // interactive (card, default) | text
}

// EmailConfig configures SMTP delivery.
type EmailConfig struct {
	Host     string   `json:"host"`
	Port     int      `json:"port,omitempty"`     // default 587 (starttls), 465 (tls), 25 (none)
	Security string   `json:"security,omitempty"` // starttls (default) | tls (implicit) | none (local relay)
	Auth     string   `json:"auth,omitempty"`     // auto (default when username set) | plain | login | cram-md5
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"`
	From     string   `json:"from"`
	FromName string   `json:"from_name,omitempty"` // default 智慧市监
	To       []string `json:"to"`
	Cc       []string `json:"cc,omitempty"`
}

// WebhookConfig configures a generic signed JSON webhook.
type WebhookConfig struct {
	URL       string            `json:"url"`
	Secret    string            `json:"secret,omitempty"`    // HMAC key; empty sends unsigned
	Algorithm string            `json:"algorithm,omitempty"` // hmac-sha256 (default) | hmac-sm3
	Headers   map[string]string `json:"headers,omitempty"`   // extra request headers
}

// SMSConfig configures SMS through the hub's SMSGateway.
type SMSConfig struct {
	Phones   []string `json:"phones"`
	Template string   `json:"template"` // template code at the gateway; params: title, severity, text, link
}

// commonConfig holds fields every kind accepts.
type commonConfig struct {
	RatePerMinute int `json:"rate_per_minute,omitempty"` // overrides the kind's per-minute limit
}

// sender delivers one message over one channel.
type sender interface {
	send(ctx context.Context, ch Channel, d Delivery) (response string, err error)
	maxText() int // largest digest text the channel takes
}

func decodeConfig(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("渠道配置不是有效的 JSON: %v", err)
	}
	return nil
}

func checkURL(field, raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s 必须是 http(s) 地址", field)
	}
	return nil
}

func checkMsgType(v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("消息类型 %q 无效（可选 %s）", v, strings.Join(allowed, "、"))
}

// newSender validates the channel's configuration and returns its sender.
func (h *Hub) newSender(kind string, raw json.RawMessage) (sender, error) {
	var cc commonConfig
	if err := decodeConfig(raw, &cc); err != nil {
		return nil, err
	}
	if cc.RatePerMinute < 0 {
		return nil, errors.New("rate_per_minute 不能为负数")
	}
	switch kind {
	case KindDingTalk:
		var c DingTalkConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if err := checkURL("webhook", c.Webhook); err != nil {
			return nil, err
		}
		if err := checkMsgType(c.MsgType, "markdown", "text"); err != nil {
			return nil, err
		}
		return dingTalkSender{h, c}, nil
	case KindWeCom:
		var c WeComConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if err := checkURL("webhook", c.Webhook); err != nil {
			return nil, err
		}
		if err := checkMsgType(c.MsgType, "markdown", "text"); err != nil {
			return nil, err
		}
		return weComSender{h, c}, nil
	case KindFeishu:
		var c FeishuConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if err := checkURL("webhook", c.Webhook); err != nil {
			return nil, err
		}
		if err := checkMsgType(c.MsgType, "interactive", "text"); err != nil {
			return nil, err
		}
		return feishuSender{h, c}, nil
	case KindEmail:
		var c EmailConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if err := c.validate(); err != nil {
			return nil, err
		}
		return emailSender{h, c}, nil
	case KindWebhook:
		var c WebhookConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if err := checkURL("url", c.URL); err != nil {
			return nil, err
		}
		if _, err := webhookHash(c.Algorithm); err != nil {
			return nil, err
		}
		return webhookSender{h, c}, nil
	case KindSMS:
		var c SMSConfig
		if err := decodeConfig(raw, &c); err != nil {
			return nil, err
		}
		if len(c.Phones) == 0 {
			return nil, errors.New("短信渠道至少需要一个手机号")
		}
		for _, p := range c.Phones {
			if !isMobile(p) {
				return nil, fmt.Errorf("手机号 %s 格式不正确", maskPhone(p))
			}
		}
		if strings.TrimSpace(c.Template) == "" {
			return nil, errors.New("短信渠道需要模板编号")
		}
		return smsSender{h, c}, nil
	}
	return nil, fmt.Errorf("不支持的渠道类型 %q", kind)
}

// limit allows n requests per sliding window.
type limit struct {
	n      int
	window time.Duration
}

// channelLimits returns the vendor limits of a kind (operations reference §1.3): DingTalk and
// WeCom robots 20/min, Feishu 100/min and 5/s. rate_per_minute overrides the per-minute one.
func channelLimits(kind string, raw json.RawMessage) []limit {
	var cc commonConfig
	_ = decodeConfig(raw, &cc)
	var ls []limit
	perMin := 0
	switch kind {
	case KindDingTalk, KindWeCom:
		perMin = 20
	case KindFeishu:
		perMin = 100
		ls = append(ls, limit{5, time.Second})
	}
	if cc.RatePerMinute > 0 {
		perMin = cc.RatePerMinute
	}
	if perMin > 0 {
		ls = append(ls, limit{perMin, time.Minute})
	}
	return ls
}

// post sends a JSON body and returns the (truncated) response text. Errors never contain the
// URL's query or path, which hold robot tokens.
func (h *Hub) post(ctx context.Context, rawURL string, body []byte, hdr map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return "", permanent(fmt.Errorf("地址无效: %s", redactURL(rawURL)))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "zhsj-notify/1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.opt.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("请求 %s 失败: %v", redactURL(rawURL), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	text := truncate(string(b), 2000)
	if resp.StatusCode/100 != 2 {
		return text, fmt.Errorf("HTTP 状态码 %d", resp.StatusCode)
	}
	return text, nil
}

// checkRobot reads a robot's JSON reply: DingTalk and WeCom {"errcode":0}, Feishu {"code":0}
// or the older {"StatusCode":0}. Anything else is a failure.
func checkRobot(resp string) error {
	var r struct {
		ErrCode       *int   `json:"errcode"`
		ErrMsg        string `json:"errmsg"`
		Code          *int   `json:"code"`
		Msg           string `json:"msg"`
		StatusCode    *int   `json:"StatusCode"`
		StatusMessage string `json:"StatusMessage"`
	}
	if err := json.Unmarshal([]byte(resp), &r); err != nil {
		return fmt.Errorf("无法解析机器人响应: %s", truncate(resp, 200))
	}
	switch {
	case r.ErrCode != nil:
		if *r.ErrCode != 0 {
			return fmt.Errorf("机器人返回错误 errcode=%d errmsg=%s", *r.ErrCode, r.ErrMsg)
		}
	case r.Code != nil:
		if *r.Code != 0 {
			return fmt.Errorf("机器人返回错误 code=%d msg=%s", *r.Code, r.Msg)
		}
	case r.StatusCode != nil:
		if *r.StatusCode != 0 {
			return fmt.Errorf("机器人返回错误 StatusCode=%d StatusMessage=%s", *r.StatusCode, r.StatusMessage)
		}
	default:
		return fmt.Errorf("无法识别的机器人响应: %s", truncate(resp, 200))
	}
	return nil
}

type dingTalkSender struct {
	h   *Hub
	cfg DingTalkConfig
}

func (s dingTalkSender) maxText() int { return dingTalkMaxText - 2000 }

// signedURL appends timestamp and sign (URL-encoded) when a secret is set.
func (s dingTalkSender) signedURL(now time.Time) string {
	u := strings.TrimSpace(s.cfg.Webhook)
	if s.cfg.Secret == "" {
		return u
	}
	ts := now.UnixMilli()
	sep := "&"
	if !strings.Contains(u, "?") {
		sep = "?"
	}
	return u + sep + "timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(DingTalkSign(s.cfg.Secret, ts))
}

func (s dingTalkSender) send(ctx context.Context, _ Channel, d Delivery) (string, error) {
	resp, err := s.h.post(ctx, s.signedURL(s.h.now()), dingTalkPayload(s.cfg, d.Message()), nil)
	if err != nil {
		return resp, err
	}
	return resp, checkRobot(resp)
}

type weComSender struct {
	h   *Hub
	cfg WeComConfig
}

func (s weComSender) maxText() int { return weComMaxMarkdown - 400 }

func (s weComSender) send(ctx context.Context, _ Channel, d Delivery) (string, error) {
	resp, err := s.h.post(ctx, strings.TrimSpace(s.cfg.Webhook), weComPayload(s.cfg, d.Message()), nil)
	if err != nil {
		return resp, err
	}
	return resp, checkRobot(resp)
}

type feishuSender struct {
	h   *Hub
	cfg FeishuConfig
}

func (s feishuSender) maxText() int { return feishuMaxText - 1000 }

func (s feishuSender) send(ctx context.Context, _ Channel, d Delivery) (string, error) {
	body := feishuPayload(s.cfg, d.Message(), s.h.now().Unix())
	resp, err := s.h.post(ctx, strings.TrimSpace(s.cfg.Webhook), body, nil)
	if err != nil {
		return resp, err
	}
	return resp, checkRobot(resp)
}

type webhookSender struct {
	h   *Hub
	cfg WebhookConfig
}

func (s webhookSender) maxText() int { return maxTextBytes }

func (s webhookSender) send(ctx context.Context, ch Channel, d Delivery) (string, error) {
	now := s.h.now()
	m := d.Message()
	body := marshal(webhookBody{
		Version: "1", DeliveryID: d.ID, Channel: ch.Name,
		Title: m.Title, Text: m.Text, Severity: m.Severity, Level: SeverityLabel(m.Severity),
		Link: m.Link, Dedup: m.Dedup, SentAt: now.Format(time.RFC3339),
	})
	hdr := map[string]string{}
	for k, v := range s.cfg.Headers {
		hdr[k] = v
	}
	hdr[DeliveryHeader] = strconv.FormatInt(d.ID, 10)
	if s.cfg.Secret != "" {
		alg := s.cfg.Algorithm
		if alg == "" || alg == "sha256" {
			alg = AlgHMACSHA256
		} else if alg == "sm3" {
			alg = AlgHMACSM3
		}
		sig, err := SignWebhook(alg, s.cfg.Secret, now, body)
		if err != nil {
			return "", permanent(err)
		}
		hdr[SignatureHeader] = sig
		hdr[SignatureAlgorithmHeader] = alg
	}
	return s.h.post(ctx, strings.TrimSpace(s.cfg.URL), body, hdr)
}

type emailSender struct {
	h   *Hub
	cfg EmailConfig
}

func (s emailSender) maxText() int { return maxTextBytes }

func (c *EmailConfig) validate() error {
	if strings.TrimSpace(c.Host) == "" {
		return errors.New("邮件渠道需要 SMTP 服务器地址")
	}
	if c.Port < 0 || c.Port > 65535 {
		return errors.New("SMTP 端口无效")
	}
	switch c.Security {
	case "", "starttls", "tls", "none":
	default:
		return fmt.Errorf("加密方式 %q 无效（可选 starttls、tls、none）", c.Security)
	}
	switch c.Auth {
	case "", "auto", "plain", "login", "cram-md5":
	default:
		return fmt.Errorf("认证方式 %q 无效（可选 auto、plain、login、cram-md5）", c.Auth)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return errors.New("发件人地址格式不正确")
	}
	if len(c.To) == 0 {
		return errors.New("邮件渠道至少需要一个收件人")
	}
	for _, a := range append(append([]string{}, c.To...), c.Cc...) {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("收件人地址 %q 格式不正确", a)
		}
	}
	return nil
}

func (s emailSender) send(ctx context.Context, _ Channel, d Delivery) (string, error) {
	c := s.cfg
	m := d.Message()
	msg := gomail.NewMsg()
	name := c.FromName
	if name == "" {
		name = "智慧市监"
	}
	if err := msg.FromFormat(name, c.From); err != nil {
		return "", permanent(fmt.Errorf("发件人地址无效: %v", err))
	}
	if err := msg.To(c.To...); err != nil {
		return "", permanent(fmt.Errorf("收件人地址无效: %v", err))
	}
	if len(c.Cc) > 0 {
		if err := msg.Cc(c.Cc...); err != nil {
			return "", permanent(fmt.Errorf("抄送地址无效: %v", err))
		}
	}
	msg.Subject(headline(m))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("zhsj-notify/1")
	msg.SetBodyString(gomail.TypeTextPlain, textBody(m)+"\n\n——\n本邮件由智慧市监平台自动发送，请勿直接回复。")
	msg.AddAlternativeString(gomail.TypeTextHTML, emailHTML(m))

	tc := &tls.Config{}
	if s.h.opt.TLSConfig != nil {
		tc = s.h.opt.TLSConfig.Clone()
	}
	tc.ServerName = c.Host
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	port := c.Port
	opts := []gomail.Option{gomail.WithTimeout(20 * time.Second), gomail.WithTLSConfig(tc)}
	switch c.Security {
	case "tls":
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if port == 0 {
			port = 25
		}
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if c.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		switch c.Auth {
		case "plain":
			auth = gomail.SMTPAuthPlain
		case "login":
			auth = gomail.SMTPAuthLogin
		case "cram-md5":
			auth = gomail.SMTPAuthCramMD5
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return "", permanent(fmt.Errorf("SMTP 配置无效: %v", err))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return "", fmt.Errorf("SMTP 发送失败: %v", err)
	}
	return fmt.Sprintf("已投递至 %s:%d，收件人 %d 个", c.Host, port, len(c.To)+len(c.Cc)), nil
}

type smsSender struct {
	h   *Hub
	cfg SMSConfig
}

func (s smsSender) maxText() int { return maxTextBytes }

func (s smsSender) send(ctx context.Context, _ Channel, d Delivery) (string, error) {
	gw := s.h.opt.SMS
	if gw == nil {
		return "", permanent(errors.New("未配置短信网关"))
	}
	m := d.Message()
	params := map[string]string{
		"title":    truncateRunes(m.Title, 30),
		"severity": SeverityLabel(m.Severity),
		"text":     truncateRunes(plainText(m.Text), 60),
		"link":     m.Link,
	}
	var errs []error
	ok := 0
	for _, p := range s.cfg.Phones {
		if err := gw.Send(ctx, p, s.cfg.Template, params); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", maskPhone(p), err))
			continue
		}
		ok++
	}
	return fmt.Sprintf("已发送 %d/%d 个号码", ok, len(s.cfg.Phones)), errors.Join(errs...)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isMobile(p string) bool {
	p = strings.TrimPrefix(strings.TrimSpace(p), "+86")
	if len(p) != 11 || p[0] != '1' {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// maskPhone shows 138****0000.
func maskPhone(p string) string {
	if len(p) < 7 {
		return "****"
	}
	return p[:3] + "****" + p[len(p)-4:]
}

// redactURL keeps only scheme and host: robot tokens live in the query or the path.
func redactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "（地址已隐藏）"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

const secretMask = "******"

var (
	secretKeys = []string{"secret", "password"}
	urlKeys    = []string{"webhook", "url"}
)

// RedactConfig returns a channel configuration safe to show or log: secrets and passwords are
// masked, robot URLs keep only scheme and host, extra header values are masked. A form that
// sends the masked values back through UpdateChannel keeps the stored ones.
func RedactConfig(raw json.RawMessage) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return json.RawMessage("{}")
	}
	for _, k := range secretKeys {
		if s, ok := m[k].(string); ok && s != "" {
			m[k] = secretMask
		}
	}
	for _, k := range urlKeys {
		if s, ok := m[k].(string); ok && s != "" {
			m[k] = redactURL(s)
		}
	}
	if hs, ok := m["headers"].(map[string]any); ok {
		for k := range hs {
			hs[k] = secretMask
		}
	}
	return marshal(m)
}

// keepSecrets puts the stored secrets back where next carries RedactConfig's placeholders.
func keepSecrets(old, next json.RawMessage) json.RawMessage {
	var o, n map[string]any
	if json.Unmarshal(old, &o) != nil || json.Unmarshal(next, &n) != nil {
		return next
	}
	for _, k := range secretKeys {
		if n[k] == secretMask {
			n[k] = o[k]
		}
	}
	for _, k := range urlKeys {
		if s, ok := o[k].(string); ok && n[k] == redactURL(s) {
			n[k] = s
		}
	}
	oh, _ := o["headers"].(map[string]any)
	if nh, ok := n["headers"].(map[string]any); ok {
		for k, v := range nh {
			if v == secretMask {
				nh[k] = oh[k]
			}
		}
	}
	return marshal(n)
}

// backoff is the delay before attempt n+1 after n failed attempts.
func backoff(base, max time.Duration, n int) time.Duration {
	d := float64(base) * math.Pow(2, float64(n-1))
	if d > float64(max) {
		return max
	}
	return time.Duration(d)
}

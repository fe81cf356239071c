// Package notify delivers messages to outbound channels: DingTalk, WeCom and Feishu group
// robots, email, SMS and signed webhooks. Messages are queued in the database and delivered
// by DeliverDue / Run with bounded retries, per-channel rate limits and digest merging, so a
// queued message survives a restart and is sent once even with several instances running.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel kinds.
const (
	KindDingTalk = "dingtalk"
	KindWeCom    = "wecom"
	KindFeishu   = "feishu"
	KindEmail    = "email"
	KindWebhook  = "webhook"
	KindSMS      = "sms"
)

// Kinds lists every channel kind in display order.
var Kinds = []string{KindDingTalk, KindWeCom, KindFeishu, KindEmail, KindSMS, KindWebhook}

// KindLabel returns the Chinese name of a channel kind.
func KindLabel(kind string) string {
	switch kind {
	case KindDingTalk:
		return "钉钉机器人"
	case KindWeCom:
		return "企业微信机器人"
	case KindFeishu:
		return "飞书机器人"
	case KindEmail:
		return "电子邮件"
	case KindWebhook:
		return "Webhook"
	case KindSMS:
		return "短信"
	}
	return kind
}

// Message severities.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
	SeverityResolved = "resolved"
)

// SeverityLabel returns the Chinese label of a severity; unknown values are shown as given.
func SeverityLabel(s string) string {
	switch s {
	case SeverityCritical:
		return "紧急"
	case SeverityWarning:
		return "警告"
	case SeverityInfo, "":
		return "通知"
	case SeverityResolved:
		return "已恢复"
	}
	return s
}

// severityRank orders severities for digests (highest wins).
func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 3
	case SeverityWarning:
		return 2
	case SeverityResolved:
		return 0
	}
	return 1
}

// Message is what callers send. Text may use simple markdown (headings, bold, links); channels
// that show plain text get it stripped.
type Message struct {
	Title    string `json:"title"`
	Text     string `json:"text"`
	Severity string `json:"severity,omitempty"`
	Link     string `json:"link,omitempty"`
	// Dedup, when set, makes the message idempotent per channel: a second Send with the same
	// key to the same channel returns the first delivery instead of queuing again.
	Dedup string `json:"dedup,omitempty"`
}

// Limits on message size accepted by Send.
const (
	maxTitleRunes = 200
	maxTextBytes  = 64 << 10
)

func (m *Message) normalize() error {
	m.Title = strings.TrimSpace(m.Title)
	m.Severity = strings.TrimSpace(m.Severity)
	m.Link = strings.TrimSpace(m.Link)
	m.Dedup = strings.TrimSpace(m.Dedup)
	if m.Title == "" {
		return errors.New("消息标题不能为空")
	}
	if utf8.RuneCountInString(m.Title) > maxTitleRunes {
		return fmt.Errorf("消息标题不能超过 %d 个字", maxTitleRunes)
	}
	if len(m.Text) > maxTextBytes {
		return fmt.Errorf("消息正文不能超过 %d 字节", maxTextBytes)
	}
	if len(m.Dedup) > 200 {
		return errors.New("去重键不能超过 200 字节")
	}
	return nil
}

// Delivery statuses.
const (
	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusMerged  = "merged"
)

// StatusLabel returns the Chinese label of a delivery status.
func StatusLabel(s string) string {
	switch s {
	case StatusQueued:
		return "等待发送"
	case StatusSending:
		return "发送中"
	case StatusSent:
		return "已发送"
	case StatusFailed:
		return "发送失败"
	case StatusMerged:
		return "已合并发送"
	}
	return s
}

// Channel is one configured destination.
type Channel struct {
	ID      int64           `json:"id"`
	Name    string          `json:"name"`
	Kind    string          `json:"kind"`
	Config  json.RawMessage `json:"config"` // kind-specific; holds secrets
	Enabled bool            `json:"enabled"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Delivery is one row of the delivery log.
type Delivery struct {
	ID            int64      `db:"id" json:"id"`
	ChannelID     int64      `db:"channel_id" json:"channel_id"`
	Title         string     `db:"title" json:"title"`
	Text          string     `db:"text" json:"text"`
	Severity      string     `db:"severity" json:"severity"`
	Link          string     `db:"link" json:"link"`
	Dedup         string     `db:"dedup" json:"dedup"`
	Status        string     `db:"status" json:"status"`
	Attempts      int        `db:"attempts" json:"attempts"`
	MaxAttempts   int        `db:"max_attempts" json:"max_attempts"`
	MergedCount   int        `db:"merged_count" json:"merged_count"`
	MergedInto    *int64     `db:"merged_into" json:"merged_into,omitempty"`
	Error         string     `db:"error" json:"error"`
	Response      string     `db:"response" json:"response"`
	NextAt        time.Time  `db:"next_at" json:"next_at"`
	LeaseUntil    *time.Time `db:"lease_until" json:"-"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	LastAttemptAt *time.Time `db:"last_attempt_at" json:"last_attempt_at,omitempty"`
	SentAt        *time.Time `db:"sent_at" json:"sent_at,omitempty"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

// Message returns the message the delivery carries.
func (d Delivery) Message() Message {
	return Message{Title: d.Title, Text: d.Text, Severity: d.Severity, Link: d.Link, Dedup: d.Dedup}
}

// SMSGateway sends one templated SMS. Implementations (Aliyun, Tencent, a provincial gateway)
// are wired in by the identity module.
type SMSGateway interface {
	Send(ctx context.Context, phone, template string, params map[string]string) error
}

// Errors callers may test for.
var (
	ErrChannelNotFound = errors.New("通知渠道不存在")
	ErrChannelDisabled = errors.New("通知渠道已停用")
	ErrRateLimited     = errors.New("发送过于频繁，已达到该渠道的频率限制，请稍后再试")
)

// permanentError marks a failure that retrying cannot fix (bad configuration).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

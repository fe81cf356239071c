package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/notify"
	"zhsj/internal/store"
)

// Subscribed lists the events of other modules that the monitor turns into notifications.
var Subscribed = []string{"quality.rule.below_threshold", "iam.login.risk", "dataset.ingest.failed", "sso.binding.requested"}

// eventTemplates render those events in Chinese: title, severity and the payload fields
// worth showing, with their names.
var eventTemplates = map[string]struct {
	title, severity string
	fields          [][2]string
}{
	"quality.rule.below_threshold": {"【数据质量】质量规则通过率低于阈值", notify.SeverityWarning,
		[][2]string{{"rule", "质量规则"}, {"dataset", "数据集"}, {"run", "检查批次"}, {"pass_rate", "通过率"}, {"threshold", "阈值"}}},
	"iam.login.risk": {"【账号安全】发现风险登录", notify.SeverityCritical,
		[][2]string{{"user", "用户"}, {"account", "账号"}, {"kind", "风险类型"}, {"ip", "来源 IP"}, {"detail", "说明"}}},
	"dataset.ingest.failed": {"【数据接入】数据接入失败", notify.SeverityWarning,
		[][2]string{{"dataset", "数据集"}, {"run", "接入批次"}, {"run_id", "接入批次"}, {"error", "失败原因"}, {"reason", "失败原因"}}},
	"sso.binding.requested": {"【统一身份】合作平台账号等待绑定审核", notify.SeverityInfo,
		[][2]string{{"connector", "合作平台连接"}, {"region", "所属区划"}}},
}

// eventChannelsKey holds the channels (comma separated ids) that get module events; unset or
// empty: every enabled channel.
const eventChannelsKey = "monitor.event_channels"

// HandleEvent notifies about another module's event. It is idempotent: the delivery's
// dedup key is the event id.
func (s *Service) HandleEvent(ctx context.Context, e events.Event) error {
	if s.opt.Notify == nil {
		return nil
	}
	msg := renderEvent(e)
	var v string
	s.db.Get(ctx, &v, `SELECT value FROM settings WHERE key = ?`, eventChannelsKey)
	chs := parseIDs(v)
	enabled, err := s.enabledChannels(ctx)
	if err != nil {
		return err
	}
	if len(chs) == 0 {
		chs = enabled
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		sent := false
		for _, ch := range chs {
			if !containsID(enabled, ch) {
				continue
			}
			if _, err := s.opt.Notify.Enqueue(ctx, tx, ch, msg); err != nil {
				return err
			}
			sent = true
		}
		if sent {
			tx.AfterCommit(s.opt.Notify.Wake)
		}
		return nil
	})
}

func renderEvent(e events.Event) notify.Message {
	var payload map[string]any
	json.Unmarshal(e.Payload, &payload)
	tpl, ok := eventTemplates[e.Name]
	if !ok {
		tpl.title, tpl.severity = "【平台事件】"+e.Name, notify.SeverityInfo
	}
	var b strings.Builder
	used := map[string]bool{}
	for _, f := range tpl.fields {
		v, ok := payload[f[0]]
		if !ok || used[f[1]] {
			continue
		}
		used[f[1]] = true
		used[f[0]] = true
		fmt.Fprintf(&b, "- **%s**：%s\n", f[1], eventValue(e.Name, f[0], v))
	}
	var rest []string
	for k := range payload {
		if !used[k] && !isField(tpl.fields, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		fmt.Fprintf(&b, "- **%s**：%s\n", k, eventValue(e.Name, k, payload[k]))
	}
	fmt.Fprintf(&b, "- **事件时间**：%s\n", e.PublishedAt.In(shanghai).Format("2006-01-02 15:04:05"))
	return notify.Message{Title: tpl.title, Text: strings.TrimSpace(b.String()), Severity: tpl.severity,
		Dedup: fmt.Sprintf("event.%d", e.ID)}
}

func isField(fields [][2]string, k string) bool {
	for _, f := range fields {
		if f[0] == k {
			return true
		}
	}
	return false
}

func eventValue(name, key string, v any) string {
	switch x := v.(type) {
	case float64:
		if key == "pass_rate" || key == "threshold" {
			if x <= 1 {
				x *= 100
			}
			return fmt.Sprintf("%.2f%%", x)
		}
		return fmt.Sprint(x)
	case string:
		if name == "iam.login.risk" && key == "kind" && iam.RiskNames[x] != "" {
			return iam.RiskNames[x]
		}
		return x
	case nil:
		return "—"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

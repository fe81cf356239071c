package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode/utf8"
)

const truncMark = "…（内容过长已截断）"

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max - len(truncMark)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + truncMark
}

var (
	mdLink    = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6}\s+`)
	mdFont    = regexp.MustCompile(`</?font[^>]*>`)
)

// plainText turns the small markdown subset messages use into readable plain text.
func plainText(md string) string {
	s := mdLink.ReplaceAllString(md, "$1（$2）")
	s = mdHeading.ReplaceAllString(s, "")
	s = mdFont.ReplaceAllString(s, "")
	s = strings.NewReplacer("**", "", "__", "").Replace(s)
	return strings.TrimSpace(s)
}

// headline is the one-line title with the severity tag: "[警告] 数据同步失败".
func headline(m Message) string {
	return "[" + SeverityLabel(m.Severity) + "] " + m.Title
}

// markdownBody is the markdown text of m under a heading.
func markdownBody(m Message) string {
	var b strings.Builder
	b.WriteString("### " + headline(m) + "\n\n")
	if t := strings.TrimSpace(m.Text); t != "" {
		b.WriteString(t + "\n\n")
	}
	if m.Link != "" {
		b.WriteString("[查看详情](" + m.Link + ")\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// textBody is the plain-text form of m.
func textBody(m Message) string {
	parts := []string{headline(m)}
	if t := plainText(m.Text); t != "" {
		parts = append(parts, t)
	}
	if m.Link != "" {
		parts = append(parts, "详情："+m.Link)
	}
	return strings.Join(parts, "\n")
}

// digestTitle is the title of a merged message.
func digestTitle(n int) string {
	return fmt.Sprintf("以下 %d 条告警合并发送（超出渠道频率限制）", n)
}

// digestItem renders one merged message inside a digest.
func digestItem(i int, m Message) string {
	s := fmt.Sprintf("**%d. %s**", i, headline(m))
	if t := strings.TrimSpace(m.Text); t != "" {
		s += "\n\n" + t
	}
	if m.Link != "" {
		s += "\n\n[查看详情](" + m.Link + ")"
	}
	return s
}

// buildDigest merges items into one message whose text stays within maxText bytes. It
// returns the digest and how many items (from the front) it took; at least one is taken.
func buildDigest(items []Message, maxText int) (Message, int) {
	var parts []string
	size, sev := 0, ""
	for i, m := range items {
		p := digestItem(i+1, m)
		if i > 0 && size+len(p)+2 > maxText {
			break
		}
		if i == 0 && len(p) > maxText {
			p = truncate(p, maxText)
		}
		parts = append(parts, p)
		size += len(p) + 2
		if sev == "" || severityRank(m.Severity) > severityRank(sev) {
			sev = m.Severity
		}
	}
	n := len(parts)
	return Message{Title: digestTitle(n), Text: strings.Join(parts, "\n\n"), Severity: sev}, n
}

// marshal encodes v as JSON without HTML escaping (robots show <, > and & literally).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain maps and structs are encoded
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// DingTalk limits: markdown and text bodies are kept under 20 000 bytes.
const dingTalkMaxText = 18000

func dingTalkPayload(c DingTalkConfig, m Message) []byte {
	if c.Keyword != "" && !strings.Contains(m.Title+m.Text, c.Keyword) {
		m.Title = "【" + c.Keyword + "】" + m.Title
	}
	var ats []string
	for _, p := range c.AtMobiles {
		ats = append(ats, "@"+p)
	}
	at := map[string]any{"atMobiles": nonNil(c.AtMobiles), "isAtAll": c.AtAll}
	if c.MsgType == "text" {
		content := textBody(m)
		if len(ats) > 0 {
			content += "\n" + strings.Join(ats, " ")
		}
		return marshal(map[string]any{"msgtype": "text", "text": map[string]any{"content": truncate(content, dingTalkMaxText)}, "at": at})
	}
	text := markdownBody(m)
	if len(ats) > 0 {
		// The mobile must be both in at.atMobiles and written as @mobile in the text.
		text += "\n\n" + strings.Join(ats, " ")
	}
	return marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]any{"title": headline(m), "text": truncate(text, dingTalkMaxText)},
		"at":       at,
	})
}

// WeCom limits: markdown content <= 4096 bytes, text content <= 2048 bytes.
const (
	weComMaxMarkdown = 4096
	weComMaxText     = 2048
)

func weComColor(sev string) string {
	switch sev {
	case SeverityCritical, SeverityWarning:
		return "warning"
	case SeverityResolved:
		return "info"
	}
	return "comment"
}

func weComPayload(c WeComConfig, m Message) []byte {
	if c.MsgType == "text" {
		text := map[string]any{"content": truncate(textBody(m), weComMaxText)}
		if len(c.MentionedMobiles) > 0 {
			text["mentioned_mobile_list"] = c.MentionedMobiles
		}
		return marshal(map[string]any{"msgtype": "text", "text": text})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### <font color=\"%s\">[%s]</font> %s\n", weComColor(m.Severity), SeverityLabel(m.Severity), m.Title)
	if t := strings.TrimSpace(m.Text); t != "" {
		b.WriteString(t + "\n")
	}
	if m.Link != "" {
		b.WriteString("[查看详情](" + m.Link + ")\n")
	}
	return marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]any{"content": truncate(strings.TrimRight(b.String(), "\n"), weComMaxMarkdown)}})
}

// Feishu limit: request body <= 20 KB.
const feishuMaxText = 15000

func feishuTemplate(sev string) string {
	switch sev {
	case SeverityCritical:
		return "red"
	case SeverityWarning:
		return "orange"
	case SeverityResolved:
		return "green"
	}
	return "blue"
}

func feishuPayload(c FeishuConfig, m Message, ts int64) []byte {
	var body map[string]any
	if c.MsgType == "text" {
		body = map[string]any{"msg_type": "text", "content": map[string]any{"text": truncate(textBody(m), feishuMaxText)}}
	} else {
		md := strings.TrimSpace(m.Text)
		if m.Link != "" {
			md += "\n\n[查看详情](" + m.Link + ")"
		}
		if md == "" {
			md = m.Title
		}
		body = map[string]any{"msg_type": "interactive", "card": map[string]any{
			"config": map[string]any{"wide_screen_mode": true},
			"header": map[string]any{
				"title":    map[string]any{"tag": "plain_text", "content": headline(m)},
				"template": feishuTemplate(m.Severity),
			},
			"elements": []any{map[string]any{"tag": "markdown", "content": truncate(md, feishuMaxText)}},
		}}
	}
	if c.Secret != "" {
		body["timestamp"] = fmt.Sprint(ts)
		body["sign"] = FeishuSign(c.Secret, ts)
	}
	return marshal(body)
}

// webhookBody is the JSON a generic webhook receives.
type webhookBody struct {
	Version    string `json:"version"`
	DeliveryID int64  `json:"delivery_id"`
	Channel    string `json:"channel"`
	Title      string `json:"title"`
	Text       string `json:"text"`
	Severity   string `json:"severity"`
	Level      string `json:"severity_label"`
	Link       string `json:"link,omitempty"`
	Dedup      string `json:"dedup,omitempty"`
	SentAt     string `json:"sent_at"`
}

// emailHTML renders m as a small HTML document.
func emailHTML(m Message) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><body style="font-family:sans-serif">`)
	b.WriteString("<h3>" + html.EscapeString(headline(m)) + "</h3>")
	for para := range strings.SplitSeq(plainText(m.Text), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(para), "\n", "<br>") + "</p>")
	}
	if m.Link != "" {
		b.WriteString(`<p><a href="` + html.EscapeString(m.Link) + `">查看详情</a></p>`)
	}
	b.WriteString(`<p style="color:#888;font-size:12px">本邮件由智慧市监平台自动发送，请勿直接回复。</p></body></html>`)
	return b.String()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("市场监管", 100)
	for _, n := range []int{30, 31, 32, 100, 1199} {
		got := truncate(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasSuffix(got, truncMark) {
			t.Fatalf("truncate(%d) = %q (%d bytes)", n, got, len(got))
		}
	}
	if truncate("短", 100) != "短" {
		t.Fatal("short string changed")
	}
}

func TestPlainText(t *testing.T) {
	got := plainText("## 标题\n**企业** 共 3 家，[查看](https://x.test/a)\n<font color=\"warning\">红</font>")
	want := "标题\n企业 共 3 家，查看（https://x.test/a）\n红"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestBuildDigest(t *testing.T) {
	var items []Message
	for i := range 10 {
		items = append(items, Message{Title: "告警", Text: strings.Repeat("文", 100) + string(rune('A'+i)), Severity: SeverityInfo})
	}
	items[3].Severity = SeverityCritical
	d, n := buildDigest(items, 1<<20)
	if n != 10 || !strings.HasPrefix(d.Title, "以下 10 条告警合并发送") || d.Severity != SeverityCritical {
		t.Fatalf("digest %q n=%d sev=%s", d.Title, n, d.Severity)
	}
	for i := range 10 {
		if !strings.Contains(d.Text, items[i].Text) {
			t.Fatalf("item %d missing", i)
		}
	}
	// A small limit takes only what fits (the rest waits), but always at least one item.
	d, n = buildDigest(items, 700)
	if n < 1 || n >= 10 || len(d.Text) > 700 {
		t.Fatalf("n=%d len=%d", n, len(d.Text))
	}
	d, n = buildDigest(items[:1], 50)
	if n != 1 || len(d.Text) > 50 {
		t.Fatalf("oversized single item: n=%d len=%d", n, len(d.Text))
	}
}

func TestPayloads(t *testing.T) {
	m := Message{Title: "数据同步失败", Text: "**企业登记库** 同步中断 <30 分钟>", Severity: SeverityWarning, Link: "https://zhsj.test/a?x=1&y=2"}
	var dt struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
		At       struct {
			AtMobiles []string `json:"atMobiles"`
			IsAtAll   bool     `json:"isAtAll"`
		}
	}
	raw := dingTalkPayload(DingTalkConfig{Keyword: "告警", AtMobiles: []string{"13800000000"}}, m)
	if err := json.Unmarshal(raw, &dt); err != nil {
		t.Fatal(err)
	}
	if dt.MsgType != "markdown" || !strings.Contains(dt.Markdown.Title, "【告警】") || !strings.Contains(dt.Markdown.Text, "@13800000000") ||
		len(dt.At.AtMobiles) != 1 || !strings.Contains(dt.Markdown.Text, "[查看详情](https://zhsj.test/a?x=1&y=2)") {
		t.Fatalf("dingtalk payload %s", raw)
	}
	if strings.Contains(string(raw), `\u003c`) {
		t.Fatal("HTML-escaped JSON")
	}
	var wc struct {
		MsgType string `json:"msgtype"`
		Text    struct {
			Content string   `json:"content"`
			Mobiles []string `json:"mentioned_mobile_list"`
		}
	}
	raw = weComPayload(WeComConfig{MsgType: "text", MentionedMobiles: []string{"13800000000"}}, m)
	if err := json.Unmarshal(raw, &wc); err != nil || wc.MsgType != "text" || strings.Contains(wc.Text.Content, "**") || len(wc.Text.Mobiles) != 1 {
		t.Fatalf("wecom text payload %s", raw)
	}
	var fs map[string]any
	if err := json.Unmarshal(feishuPayload(FeishuConfig{Secret: "demo-secret"}, m, 1700000000), &fs); err != nil {
		t.Fatal(err)
	}
	if fs["timestamp"] != "1700000000" || fs["sign"] != "mYHw2R2SOm8Rw/sne3lQdmz4sOfntKR+1P/8RKKTwmA=" || fs["msg_type"] != "interactive" {
		t.Fatalf("feishu payload %v", fs)
	}
}

func TestRedactConfig(t *testing.T) {
	raw := json.RawMessage(`{"webhook":"https://oapi.dingtalk.com/robot/send?access_token=tok123","secret":"SECabc","password":"pw","headers":{"Authorization":"Bearer t"},"msgtype":"text"}`)
	red := RedactConfig(raw)
	for _, s := range []string{"tok123", "SECabc", "pw\"", "Bearer"} {
		if strings.Contains(string(red), s) {
			t.Fatalf("%s leaked in %s", s, red)
		}
	}
	if !strings.Contains(string(red), `"msgtype":"text"`) {
		t.Fatalf("non-secret lost: %s", red)
	}
	back := keepSecrets(raw, red)
	var a, b map[string]any
	json.Unmarshal(raw, &a)
	json.Unmarshal(back, &b)
	if a["webhook"] != b["webhook"] || a["secret"] != b["secret"] || a["password"] != b["password"] ||
		a["headers"].(map[string]any)["Authorization"] != b["headers"].(map[string]any)["Authorization"] {
		t.Fatalf("keepSecrets: %s", back)
	}
}

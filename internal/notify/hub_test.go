package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHub(db *store.DB, clock *fakeClock, opt Options) (*Hub, *syncBuffer) {
	buf := &syncBuffer{}
	if clock != nil {
		opt.Now = clock.Now
	}
	opt.Logger = slog.New(slog.NewTextHandler(buf, nil))
	return New(db, opt), buf
}

func mustChannel(t *testing.T, h *Hub, name, kind string, cfg any) int64 {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.CreateChannel(context.Background(), Channel{Name: name, Kind: kind, Config: raw, Enabled: true})
	if err != nil {
		t.Fatalf("create channel %s: %v", name, err)
	}
	return id
}

func mustSend(t *testing.T, h *Hub, ch int64, m Message) int64 {
	t.Helper()
	id, err := h.Send(context.Background(), ch, m)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return id
}

func deliverDue(t *testing.T, h *Hub) int {
	t.Helper()
	n, err := h.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("deliver due: %v", err)
	}
	return n
}

func mustDelivery(t *testing.T, h *Hub, id int64) Delivery {
	t.Helper()
	d, err := h.Delivery(context.Background(), id)
	if err != nil {
		t.Fatalf("delivery %d: %v", id, err)
	}
	return d
}

func allDeliveries(t *testing.T, h *Hub, ch int64) []Delivery {
	t.Helper()
	ds, _, err := h.Deliveries(context.Background(), DeliveryFilter{ChannelID: ch, Size: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func markdownText(q robotReq) string {
	if md, ok := q.Body["markdown"].(map[string]any); ok {
		s, _ := md["text"].(string)
		if s == "" {
			s, _ = md["content"].(string)
		}
		return s
	}
	if tx, ok := q.Body["text"].(map[string]any); ok {
		s, _ := tx["content"].(string)
		return s
	}
	return ""
}

func TestDingTalkSignedThroughRobot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, logs := newHub(db, clock, Options{})
		rb := newDingTalk(t, clock, "tok-9f8e", "SEC0123456789abcdef")
		ch := mustChannel(t, h, "省局值班群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), Secret: "SEC0123456789abcdef", AtMobiles: []string{"13800000000"}})
		id := mustSend(t, h, ch, Message{Title: "企业登记数据同步失败", Text: "**西安市** 今日同步中断，影响 1200 条记录。", Severity: SeverityCritical, Link: "https://zhsj.test/ops/alerts/7"})
		if n := deliverDue(t, h); n != 1 {
			t.Fatalf("requests = %d", n)
		}
		got := rb.accepted()
		if len(got) != 1 {
			t.Fatalf("robot accepted %d of %d", len(got), len(rb.all()))
		}
		md := got[0].Body["markdown"].(map[string]any)
		if md["title"] != "[紧急] 企业登记数据同步失败" || !strings.Contains(md["text"].(string), "**西安市** 今日同步中断") ||
			!strings.Contains(md["text"].(string), "@13800000000") || !strings.Contains(md["text"].(string), "[查看详情](https://zhsj.test/ops/alerts/7)") {
			t.Fatalf("markdown %v", md)
		}
		if at := got[0].Body["at"].(map[string]any); fmt.Sprint(at["atMobiles"]) != "[13800000000]" {
			t.Fatalf("at %v", at)
		}
		d := mustDelivery(t, h, id)
		if d.Status != StatusSent || d.Attempts != 1 || d.SentAt == nil || !strings.Contains(d.Response, `"errcode":0`) || d.Error != "" {
			t.Fatalf("delivery %+v", d)
		}

		// A robot configured with the wrong secret is refused by the vendor: logged, retried.
		bad := mustChannel(t, h, "签名错误的群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), Secret: "SECwrong-secret-value"})
		id = mustSend(t, h, bad, Message{Title: "签名测试", Text: "x"})
		deliverDue(t, h)
		d = mustDelivery(t, h, id)
		if d.Status != StatusQueued || d.Attempts != 1 || !strings.Contains(d.Error, "errcode=310000") || !d.NextAt.Equal(clock.Now().Add(30*time.Second)) {
			t.Fatalf("refused delivery %+v", d)
		}
		l := logs.String()
		if !strings.Contains(l, "通知发送失败") || !strings.Contains(l, "310000") {
			t.Fatalf("failure not logged: %s", l)
		}
		for _, secret := range []string{"SECwrong-secret-value", "SEC0123456789abcdef", "tok-9f8e"} {
			if strings.Contains(l, secret) || strings.Contains(d.Error, secret) {
				t.Fatalf("secret %q leaked into logs or error", secret)
			}
		}
	})
}

func TestRobotErrorsAreRetriedWithBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, _ := newHub(db, clock, Options{MaxAttempts: 4})
		rb := newDingTalk(t, clock, "tok", "")
		rb.failNext = 2
		ch := mustChannel(t, h, "重试群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), MsgType: "text"})
		id := mustSend(t, h, ch, Message{Title: "抽检结果超标", Text: "批次 **A-17** 不合格"})

		deliverDue(t, h)
		d := mustDelivery(t, h, id)
		if d.Status != StatusQueued || d.Attempts != 1 || !strings.Contains(d.Error, "errcode=130101") || !strings.Contains(d.Response, "send too fast") {
			t.Fatalf("after 1st failure %+v", d)
		}
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("retried before backoff: %d", n)
		}
		clock.Advance(30 * time.Second)
		deliverDue(t, h)
		if d = mustDelivery(t, h, id); d.Attempts != 2 || d.Status != StatusQueued || !d.NextAt.Equal(clock.Now().Add(time.Minute)) {
			t.Fatalf("after 2nd failure %+v", d)
		}
		clock.Advance(59 * time.Second)
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("retried before doubled backoff: %d", n)
		}
		clock.Advance(time.Second)
		deliverDue(t, h)
		if d = mustDelivery(t, h, id); d.Status != StatusSent || d.Attempts != 3 || d.Error != "" {
			t.Fatalf("after success %+v", d)
		}
		if all := rb.all(); len(all) != 3 || !all[2].OK {
			t.Fatalf("robot saw %d requests", len(all))
		}
		text := markdownText(rb.accepted()[0])
		if text != "[通知] 抽检结果超标\n批次 A-17 不合格" {
			t.Fatalf("text message %q", text)
		}
		var attempts []struct {
			OK    bool   `db:"ok"`
			Error string `db:"error"`
		}
		if err := db.Select(context.Background(), &attempts, `SELECT ok, error FROM notify_attempts WHERE delivery_id = ? ORDER BY id`, id); err != nil {
			t.Fatal(err)
		}
		if len(attempts) != 3 || attempts[0].OK || attempts[1].OK || !attempts[2].OK || !strings.Contains(attempts[0].Error, "130101") {
			t.Fatalf("attempt log %+v", attempts)
		}

		// Attempts are bounded: a robot that keeps failing gets MaxAttempts requests.
		rb.failNext = 1000
		id = mustSend(t, h, ch, Message{Title: "持续失败", Text: "x"})
		for range 10 {
			deliverDue(t, h)
			clock.Advance(time.Hour)
		}
		if d = mustDelivery(t, h, id); d.Status != StatusFailed || d.Attempts != 4 {
			t.Fatalf("bounded retries %+v", d)
		}
		if n := len(rb.all()); n != 3+4 {
			t.Fatalf("robot saw %d requests, want 7", n)
		}
	})
}

func TestWeComAndFeishuThroughRobots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		wc := newWeCom(t, clock, "693a91f6-7xxx")
		fs := newFeishu(t, clock, "hook-abc", "demo-secret")
		wch := mustChannel(t, h, "企业微信运维群", KindWeCom, WeComConfig{Webhook: wc.weComURL()})
		fch := mustChannel(t, h, "飞书运维群", KindFeishu, FeishuConfig{Webhook: fs.feishuURL(), Secret: "demo-secret"})
		msg := Message{Title: "质量规则低于阈值", Text: "规则 **统一社会信用代码校验** 通过率 92.3%", Severity: SeverityWarning, Link: "https://zhsj.test/q/1"}
		w1 := mustSend(t, h, wch, msg)
		fs.failNext = 1
		f1 := mustSend(t, h, fch, msg)
		deliverDue(t, h)

		got := wc.accepted()
		if len(got) != 1 || got[0].Body["msgtype"] != "markdown" {
			t.Fatalf("wecom got %+v", wc.all())
		}
		content := markdownText(got[0])
		if !strings.HasPrefix(content, `### <font color="warning">[警告]</font> 质量规则低于阈值`) || !strings.Contains(content, "通过率 92.3%") || !strings.Contains(content, "[查看详情](https://zhsj.test/q/1)") {
			t.Fatalf("wecom content %q", content)
		}
		if d := mustDelivery(t, h, w1); d.Status != StatusSent {
			t.Fatalf("wecom delivery %+v", d)
		}

		// Feishu answered code 11232 first: retried after the backoff, then accepted.
		if d := mustDelivery(t, h, f1); d.Status != StatusQueued || !strings.Contains(d.Error, "code=11232") {
			t.Fatalf("feishu first attempt %+v", d)
		}
		clock.Advance(31 * time.Second)
		deliverDue(t, h)
		fgot := fs.accepted()
		if len(fgot) != 1 {
			t.Fatalf("feishu accepted %d of %d", len(fgot), len(fs.all()))
		}
		card := fgot[0].Body["card"].(map[string]any)
		header := card["header"].(map[string]any)
		el := card["elements"].([]any)[0].(map[string]any)
		if fgot[0].Body["msg_type"] != "interactive" || header["template"] != "orange" ||
			header["title"].(map[string]any)["content"] != "[警告] 质量规则低于阈值" || !strings.Contains(el["content"].(string), "通过率 92.3%") {
			t.Fatalf("feishu card %s", fgot[0].Raw)
		}
		if d := mustDelivery(t, h, f1); d.Status != StatusSent || d.Attempts != 2 {
			t.Fatalf("feishu delivery %+v", d)
		}

		// A wrong WeCom key and a wrong Feishu secret are refused by the robots.
		badW := mustChannel(t, h, "错误 key", KindWeCom, WeComConfig{Webhook: wc.srv.URL + "/cgi-bin/webhook/send?key=nope"})
		badF := mustChannel(t, h, "错误签名", KindFeishu, FeishuConfig{Webhook: fs.feishuURL(), Secret: "not-the-secret", MsgType: "text"})
		bw := mustSend(t, h, badW, msg)
		bf := mustSend(t, h, badF, msg)
		deliverDue(t, h)
		if d := mustDelivery(t, h, bw); !strings.Contains(d.Error, "errcode=93000") {
			t.Fatalf("bad wecom %+v", d)
		}
		if d := mustDelivery(t, h, bf); !strings.Contains(d.Error, "code=19021") {
			t.Fatalf("bad feishu %+v", d)
		}
	})
}

func TestRateLimitMergesBurstIntoDigest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, logs := newHub(db, clock, Options{})
		rb := newDingTalk(t, clock, "tok", "SECburst")
		ch := mustChannel(t, h, "告警群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), Secret: "SECburst"})
		var texts []string
		send := func(n int) {
			for range n {
				s := fmt.Sprintf("告警内容-%02d：市场主体数据异常", len(texts))
				texts = append(texts, s)
				mustSend(t, h, ch, Message{Title: fmt.Sprintf("告警 %d", len(texts)), Text: s, Severity: SeverityWarning})
			}
		}
		send(30)
		if n := deliverDue(t, h); n != 20 {
			t.Fatalf("first minute: %d requests, want 20", n)
		}
		ds := allDeliveries(t, h, ch)
		var digests, merged, sent int
		var digestID int64
		for _, d := range ds {
			switch {
			case d.MergedCount > 0:
				digests++
				digestID = d.ID
				if d.MergedCount != 11 || d.Status != StatusSent || !strings.HasPrefix(d.Title, "以下 11 条告警合并发送") {
					t.Fatalf("digest %+v", d)
				}
			case d.Status == StatusMerged:
				merged++
			case d.Status == StatusSent:
				sent++
			}
		}
		if digests != 1 || merged != 11 || sent != 19 {
			t.Fatalf("digests=%d merged=%d sent=%d", digests, merged, sent)
		}
		for _, d := range ds {
			if d.Status == StatusMerged && (d.MergedInto == nil || *d.MergedInto != digestID) {
				t.Fatalf("merged row %d not linked to digest %d", d.ID, digestID)
			}
		}
		if !strings.Contains(logs.String(), "合并发送") {
			t.Fatal("merge not logged")
		}
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("extra requests %d", n)
		}

		// A second burst inside the same minute waits, then goes out as 19 + one digest.
		clock.Advance(10 * time.Second)
		send(25)
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("sent %d over the limit", n)
		}
		clock.Advance(51 * time.Second)
		if n := deliverDue(t, h); n != 20 {
			t.Fatalf("second minute: %d requests", n)
		}

		reqs := rb.all()
		for _, q := range reqs {
			if !q.OK {
				t.Fatalf("robot refused a request: %s", q.Raw)
			}
		}
		if len(reqs) != 40 {
			t.Fatalf("robot got %d requests, want 40", len(reqs))
		}
		// No sliding one-minute window holds more than 20 requests (by the signed timestamps).
		for i := range reqs {
			n := 0
			for j := range reqs {
				if !reqs[j].At.Before(reqs[i].At) && reqs[j].At.Sub(reqs[i].At) < time.Minute {
					n++
				}
			}
			if n > 20 {
				t.Fatalf("%d requests in the minute from %v", n, reqs[i].At)
			}
		}
		var all strings.Builder
		for _, q := range reqs {
			all.WriteString(markdownText(q) + "\n")
		}
		for _, s := range texts {
			if !strings.Contains(all.String(), s) {
				t.Fatalf("message %q never reached the robot", s)
			}
		}
		if c := strings.Count(all.String(), "以下 "); c != 2 {
			t.Fatalf("%d digests reached the robot", c)
		}
	})
}

func TestFeishuPerSecondLimitPacesWithoutMerging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		fs := newFeishu(t, clock, "hook", "")
		ch := mustChannel(t, h, "飞书", KindFeishu, FeishuConfig{Webhook: fs.feishuURL(), MsgType: "text"})
		for i := range 7 {
			mustSend(t, h, ch, Message{Title: fmt.Sprintf("消息 %d", i), Text: "正文"})
		}
		if n := deliverDue(t, h); n != 5 {
			t.Fatalf("first second: %d", n)
		}
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("same second: %d", n)
		}
		clock.Advance(1500 * time.Millisecond)
		if n := deliverDue(t, h); n != 2 {
			t.Fatalf("next second: %d", n)
		}
		for _, d := range allDeliveries(t, h, ch) {
			if d.Status != StatusSent || d.MergedCount != 0 {
				t.Fatalf("delivery %+v", d)
			}
		}
		if len(fs.accepted()) != 7 {
			t.Fatalf("accepted %d", len(fs.accepted()))
		}
	})
}

// hookReceiver is a partner system receiving zhsj webhooks and verifying them.
type hookReceiver struct {
	srv    *httptest.Server
	secret string
	clock  *fakeClock
	mu     sync.Mutex
	got    []hookReq
}

type hookReq struct {
	Header http.Header
	Body   []byte
	Err    error
}

func newHookReceiver(t *testing.T, clock *fakeClock, secret string) *hookReceiver {
	r := &hookReceiver{secret: secret, clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var err error
		if r.secret != "" {
			err = VerifyWebhook(r.secret, req.Header.Get(SignatureHeader), body, clock.Now(), 5*time.Minute)
		}
		r.mu.Lock()
		r.got = append(r.got, hookReq{Header: req.Header.Clone(), Body: body, Err: err})
		r.mu.Unlock()
		if err != nil {
			http.Error(w, `{"error":"`+err.Error()+`"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) requests() []hookReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookReq(nil), r.got...)
}

func TestWebhookSignedAndVerifiable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		for _, alg := range []string{AlgHMACSHA256, AlgHMACSM3} {
			rv := newHookReceiver(t, clock, "partner-secret")
			ch := mustChannel(t, h, "合作平台 "+alg, KindWebhook, WebhookConfig{URL: rv.srv.URL + "/hooks/zhsj", Secret: "partner-secret", Algorithm: alg, Headers: map[string]string{"X-Partner": "sx"}})
			id := mustSend(t, h, ch, Message{Title: "工单即将超时", Text: "工单 **#1024** 剩余 30 分钟", Severity: SeverityWarning, Dedup: "desk.ticket.sla_warning:1024"})
			deliverDue(t, h)
			got := rv.requests()
			if len(got) != 1 || got[0].Err != nil {
				t.Fatalf("%s: receiver %+v", alg, got)
			}
			q := got[0]
			if q.Header.Get(SignatureAlgorithmHeader) != alg || q.Header.Get(DeliveryHeader) != fmt.Sprint(id) || q.Header.Get("X-Partner") != "sx" {
				t.Fatalf("%s: headers %v", alg, q.Header)
			}
			var body webhookBody
			if err := json.Unmarshal(q.Body, &body); err != nil || body.Title != "工单即将超时" || body.Level != "警告" ||
				body.DeliveryID != id || body.Dedup != "desk.ticket.sla_warning:1024" || body.Channel != "合作平台 "+alg {
				t.Fatalf("%s: body %s", alg, q.Body)
			}
			if d := mustDelivery(t, h, id); d.Status != StatusSent || d.Response != `{"received":true}` {
				t.Fatalf("%s: delivery %+v", alg, d)
			}
			// A captured request replayed later, or altered, is rejected by the verifier.
			sig := q.Header.Get(SignatureHeader)
			if err := VerifyWebhook("partner-secret", sig, q.Body, clock.Now().Add(10*time.Minute), 5*time.Minute); !errors.Is(err, ErrSignatureExpired) {
				t.Fatalf("%s: replay: %v", alg, err)
			}
			altered := bytes.Replace(q.Body, []byte("1024"), []byte("1025"), 1)
			if err := VerifyWebhook("partner-secret", sig, altered, clock.Now(), 5*time.Minute); !errors.Is(err, ErrSignatureMismatch) {
				t.Fatalf("%s: altered: %v", alg, err)
			}
		}
		// The receiver rejecting a wrong signature is a failed, retried delivery.
		rv := newHookReceiver(t, clock, "partner-secret")
		ch := mustChannel(t, h, "错误密钥", KindWebhook, WebhookConfig{URL: rv.srv.URL, Secret: "other"})
		id := mustSend(t, h, ch, Message{Title: "x", Text: "y"})
		deliverDue(t, h)
		if d := mustDelivery(t, h, id); d.Status != StatusQueued || !strings.Contains(d.Error, "HTTP 状态码 401") {
			t.Fatalf("rejected webhook %+v", d)
		}
	})
}

func TestQueuedMessagesSurviveRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		rb := newDingTalk(t, clock, "tok", "")
		first, _ := newHub(db, clock, Options{Owner: "first"})
		ch := mustChannel(t, first, "值班群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL()})
		for i := range 3 {
			mustSend(t, first, ch, Message{Title: fmt.Sprintf("重启前消息 %d", i), Text: "t"})
		}
		// The first process stops before delivering; a new one picks the queue up.
		second, _ := newHub(db, clock, Options{Owner: "second"})
		if n := deliverDue(t, second); n != 3 || len(rb.accepted()) != 3 {
			t.Fatalf("after restart: %d requests, %d accepted", n, len(rb.accepted()))
		}

		// A process that claimed a delivery and died mid-send: its leases expire, then the
		// delivery is sent again (at least once).
		id := mustSend(t, second, ch, Message{Title: "发送中崩溃", Text: "t"})
		until := clock.Now().Add(2 * time.Minute)
		if _, err := db.Exec(ctx, `UPDATE notify_channels SET lease_owner = 'dead', lease_until = ? WHERE id = ?`, until, ch); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE notify_deliveries SET status = 'sending', attempts = 1, lease_until = ? WHERE id = ?`, until, id); err != nil {
			t.Fatal(err)
		}
		if n := deliverDue(t, second); n != 0 {
			t.Fatalf("sent under a live lease: %d", n)
		}
		clock.Advance(3 * time.Minute)
		if n := deliverDue(t, second); n != 1 {
			t.Fatalf("after lease expiry: %d", n)
		}
		if d := mustDelivery(t, second, id); d.Status != StatusSent || d.Attempts != 2 {
			t.Fatalf("recovered delivery %+v", d)
		}
	})
}

func TestTwoProcessesDeliverEachMessageOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		a, _ := newHub(db, clock, Options{Owner: "a"})
		b, _ := newHub(db, clock, Options{Owner: "b"})
		rv := newHookReceiver(t, clock, "")
		var ids []int64
		for c := range 3 {
			ch := mustChannel(t, a, fmt.Sprintf("平台 %d", c), KindWebhook, WebhookConfig{URL: rv.srv.URL})
			for i := range 10 {
				ids = append(ids, mustSend(t, a, ch, Message{Title: fmt.Sprintf("消息 %d-%d", c, i), Text: "t"}))
			}
		}
		var wg sync.WaitGroup
		for _, h := range []*Hub{a, b, a, b} {
			wg.Go(func() {
				for range 20 {
					if _, err := h.DeliverDue(ctx); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		seen := map[string]int{}
		for _, q := range rv.requests() {
			seen[q.Header.Get(DeliveryHeader)]++
		}
		for _, id := range ids {
			if n := seen[fmt.Sprint(id)]; n != 1 {
				t.Fatalf("delivery %d received %d times", id, n)
			}
			if d := mustDelivery(t, a, id); d.Status != StatusSent || d.Attempts != 1 {
				t.Fatalf("delivery %+v", d)
			}
		}

		// The row claim itself is exclusive: racing claims on the same rows win once each.
		ch := mustChannel(t, a, "抢占测试", KindWebhook, WebhookConfig{URL: rv.srv.URL})
		var rows []Delivery
		for i := range 10 {
			id := mustSend(t, a, ch, Message{Title: fmt.Sprint("抢占 ", i), Text: "t"})
			rows = append(rows, mustDelivery(t, a, id))
		}
		wins := make([]int, len(rows))
		var mu sync.Mutex
		for _, h := range []*Hub{a, b, a, b} {
			wg.Go(func() {
				for i, d := range rows {
					ok, err := h.claim(ctx, &d, clock.Now())
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						wins[i]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for i, w := range wins {
			if w != 1 {
				t.Fatalf("row %d claimed %d times", i, w)
			}
		}
	})
}

func TestDedupTransactionsAndDisabledChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		rb := newDingTalk(t, clock, "tok", "")
		ch := mustChannel(t, h, "去重群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL()})
		m := Message{Title: "告警触发", Text: "t", Dedup: "monitor.alert.firing:42"}
		id1 := mustSend(t, h, ch, m)
		id2 := mustSend(t, h, ch, m)
		if id1 != id2 || len(allDeliveries(t, h, ch)) != 1 {
			t.Fatalf("dedup: %d %d", id1, id2)
		}
		// Enqueue inside a rolled-back transaction leaves nothing queued.
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := h.Enqueue(ctx, tx, ch, Message{Title: "回滚", Text: "t"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || len(allDeliveries(t, h, ch)) != 1 {
			t.Fatalf("rollback: %v", err)
		}
		if _, err := h.Send(ctx, ch, Message{Title: "  "}); err == nil {
			t.Fatal("empty title accepted")
		}
		if _, err := h.Send(ctx, 9999, Message{Title: "x"}); !errors.Is(err, ErrChannelNotFound) {
			t.Fatalf("missing channel: %v", err)
		}

		// Disabling a channel: Send refuses, queued messages fail without being sent.
		id3 := mustSend(t, h, ch, Message{Title: "停用前排队", Text: "t"})
		c, _ := h.Channel(ctx, ch)
		c.Enabled = false
		if err := h.UpdateChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Send(ctx, ch, Message{Title: "停用后"}); !errors.Is(err, ErrChannelDisabled) {
			t.Fatalf("disabled send: %v", err)
		}
		deliverDue(t, h)
		if d := mustDelivery(t, h, id3); d.Status != StatusFailed || d.Error != ErrChannelDisabled.Error() {
			t.Fatalf("disabled delivery %+v", d)
		}
		if len(rb.all()) != 0 {
			t.Fatal("disabled channel sent")
		}
		list, total, err := h.Deliveries(ctx, DeliveryFilter{ChannelID: ch, Status: StatusFailed})
		if err != nil || total != 2 || len(list) != 2 {
			t.Fatalf("failed list total=%d len=%d err=%v", total, len(list), err)
		}
		if n, err := h.Prune(ctx, clock.Now().Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("prune %d %v", n, err)
		}
		if err := h.DeleteChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := h.DeleteChannel(ctx, ch); !errors.Is(err, ErrChannelNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestChannelValidationAndSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		bad := []struct {
			kind string
			cfg  string
		}{
			{"qq", `{}`},
			{KindDingTalk, `{}`},
			{KindDingTalk, `{"webhook":"ftp://x/robot"}`},
			{KindDingTalk, `{"webhook":"https://x/robot","msgtype":"actionCard"}`},
			{KindWeCom, `{"webhook":"not a url"}`},
			{KindFeishu, `{"webhook":"https://x/h","msgtype":"post"}`},
			{KindEmail, `{"host":"smtp.test","from":"a@b.test"}`},
			{KindEmail, `{"host":"smtp.test","from":"a@b.test","to":["x"],"security":"ssl3"}`},
			{KindWebhook, `{"url":"https://p.test","algorithm":"md5"}`},
			{KindSMS, `{"phones":["12345"],"template":"T"}`},
			{KindSMS, `{"phones":["13800000000"]}`},
			{KindWebhook, `{"url":"https://p.test","rate_per_minute":-1}`},
			{KindWebhook, `not json`},
		}
		for _, b := range bad {
			if _, err := h.CreateChannel(ctx, Channel{Name: "坏配置", Kind: b.kind, Config: json.RawMessage(b.cfg)}); err == nil {
				t.Errorf("%s %s accepted", b.kind, b.cfg)
			}
		}
		rb := newDingTalk(t, clock, "tok-secret-77", "SECkeepme")
		ch := mustChannel(t, h, "值班群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), Secret: "SECkeepme"})
		if _, err := h.CreateChannel(ctx, Channel{Name: "值班群", Kind: KindWebhook, Config: json.RawMessage(`{"url":"https://p.test"}`)}); err == nil || !strings.Contains(err.Error(), "已存在") {
			t.Fatalf("duplicate name: %v", err)
		}
		// An edit form posts back the redacted config: the stored secret and token survive.
		c, _ := h.Channel(ctx, ch)
		red := RedactConfig(c.Config)
		if strings.Contains(string(red), "SECkeepme") || strings.Contains(string(red), "tok-secret-77") {
			t.Fatalf("redacted config leaks: %s", red)
		}
		c.Name, c.Config = "值班群（改名）", red
		if err := h.UpdateChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := h.SendTest(ctx, ch); err != nil {
			t.Fatalf("send test after redacted update: %v", err)
		}
		chs, err := h.Channels(ctx)
		if err != nil || len(chs) != 1 || chs[0].Name != "值班群（改名）" || !chs[0].Enabled {
			t.Fatalf("channels %+v %v", chs, err)
		}
	})
}

func TestSendTest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		h, _ := newHub(db, clock, Options{})
		rb := newDingTalk(t, clock, "tok", "SECtest")
		ch := mustChannel(t, h, "测试群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL(), Secret: "SECtest", Keyword: "市监"})
		id, err := h.SendTest(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		got := rb.accepted()
		if len(got) != 1 {
			t.Fatalf("robot accepted %d", len(got))
		}
		md := got[0].Body["markdown"].(map[string]any)
		// The robot's keyword 市监 is already in the text (智慧市监平台), so the title is left alone.
		if md["title"] != "[通知] 测试消息" || !strings.Contains(md["text"].(string), "通知渠道「测试群」（钉钉机器人）配置正确") {
			t.Fatalf("test message %v", md)
		}
		if d := mustDelivery(t, h, id); d.Status != StatusSent || d.Title != "测试消息" {
			t.Fatalf("test delivery %+v", d)
		}
		rb.failNext = 1
		id, err = h.SendTest(ctx, ch)
		if err == nil || !strings.Contains(err.Error(), "130101") {
			t.Fatalf("failing test: %v", err)
		}
		if d := mustDelivery(t, h, id); d.Status != StatusFailed || d.Attempts != 1 {
			t.Fatalf("failed test delivery %+v", d)
		}
		clock.Advance(time.Hour)
		if n := deliverDue(t, h); n != 0 {
			t.Fatalf("test message retried: %d", n)
		}
		// At the rate limit, SendTest refuses instead of going over it.
		for i := range 20 {
			mustSend(t, h, ch, Message{Title: fmt.Sprint("填满 ", i), Text: "t"})
		}
		deliverDue(t, h)
		if _, err := h.SendTest(ctx, ch); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("over limit: %v", err)
		}
	})
}

type fakeSMS struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSMS) Send(_ context.Context, phone, template string, params map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, phone+"|"+template+"|"+params["severity"]+"|"+params["title"]+"|"+params["text"])
	return nil
}

func TestSMSThroughGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		gw := &fakeSMS{}
		h, _ := newHub(db, clock, Options{SMS: gw})
		cfg := SMSConfig{Phones: []string{"13800000000", "13900000000"}, Template: "SMS_2026"}
		ch := mustChannel(t, h, "值班短信", KindSMS, cfg)
		id := mustSend(t, h, ch, Message{Title: "数据库不可用", Text: "**主库** 连接失败", Severity: SeverityCritical})
		deliverDue(t, h)
		if len(gw.calls) != 2 || gw.calls[0] != "13800000000|SMS_2026|紧急|数据库不可用|主库 连接失败" {
			t.Fatalf("sms calls %q", gw.calls)
		}
		if d := mustDelivery(t, h, id); d.Status != StatusSent || d.Response != "已发送 2/2 个号码" {
			t.Fatalf("sms delivery %+v", d)
		}
		// Without a gateway the failure is permanent: no retries.
		h2, _ := newHub(db, clock, Options{})
		id = mustSend(t, h2, ch, Message{Title: "无网关", Text: "t"})
		deliverDue(t, h2)
		if d := mustDelivery(t, h2, id); d.Status != StatusFailed || d.Attempts != 1 || d.Error != "未配置短信网关" {
			t.Fatalf("no gateway %+v", d)
		}
	})
}

func TestRunDeliversPromptly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h, _ := newHub(db, nil, Options{PollInterval: time.Hour})
		rb := newDingTalk(t, newClock(), "tok", "")
		ch := mustChannel(t, h, "实时群", KindDingTalk, DingTalkConfig{Webhook: rb.dingTalkURL()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		// Run waits an hour between polls, so only Send's wake-up can deliver this in time.
		mustSend(t, h, ch, Message{Title: "实时消息", Text: "t"})
		deadline := time.Now().Add(10 * time.Second)
		for len(rb.accepted()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(rb.accepted()) != 1 {
			t.Fatal("Run did not deliver")
		}
	})
}

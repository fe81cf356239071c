package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/store/storetest"
)

type hook struct {
	*httptest.Server
	mu     sync.Mutex
	titles []string
	texts  []string
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Title, Text string }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &m)
		h.mu.Lock()
		h.titles = append(h.titles, m.Title)
		h.texts = append(h.texts, m.Text)
		h.mu.Unlock()
		w.Write([]byte("ok"))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.titles {
		if strings.Contains(h.titles[i], s) || strings.Contains(h.texts[i], s) {
			return true
		}
	}
	return false
}

// TestMonitorAPIAndPages drives the module through HTTP as the engineer: channels with a
// send-test, targets, rules, silences, alerts, every console page, the public status page,
// permissions, data scope and audit.
func TestMonitorAPIAndPages(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("eng", "610000", "engineer")
		e.User("xa_eng", "610100", "engineer")
		e.User("ana", "610000", "analyst")
		c := e.Login("eng")
		h := newHook(t)

		// A webhook channel and its test button.
		res := c.Do("POST", "/api/v1/notify/channels", map[string]any{"name": "值班 Webhook", "kind": "webhook",
			"config": `{"url":"` + h.URL + `","secret":"s3cret-key"}`})
		if res.Status != 200 {
			t.Fatalf("create channel: %d %s", res.Status, res.Body)
		}
		var created struct{ ID int64 }
		res.JSON(&created)
		if res := c.Do("POST", "/api/v1/notify/channels", map[string]any{"name": "", "kind": "webhook", "config": map[string]any{}}); res.Status != 400 || !strings.Contains(string(res.Body), "名称") {
			t.Fatalf("bad channel: %d %s", res.Status, res.Body)
		}
		res = c.Do("GET", fmt.Sprintf("/api/v1/notify/channels/%d", created.ID), nil)
		if res.Status != 200 || strings.Contains(string(res.Body), "s3cret-key") {
			t.Fatalf("channel shows its secret: %s", res.Body)
		}
		if res := c.Do("POST", fmt.Sprintf("/api/v1/notify/channels/%d/test", created.ID), nil); res.Status != 200 || !h.has("测试消息") {
			t.Fatalf("send test: %d %s", res.Status, res.Body)
		}
		res = c.Do("GET", "/api/v1/notify/deliveries", nil)
		var dl struct {
			Items []struct{ Status, Title string }
			Total int
		}
		res.JSON(&dl)
		if dl.Total != 1 || dl.Items[0].Status != "sent" {
			t.Fatalf("delivery log: %s", res.Body)
		}

		// A target, validated in Chinese, with its password hidden.
		var systems struct {
			Items []struct {
				ID   int64
				Code string
			}
		}
		c.Do("GET", "/api/v1/monitor/systems", nil).JSON(&systems)
		if len(systems.Items) < 17 {
			t.Fatalf("systems: %d", len(systems.Items))
		}
		sys := systems.Items[1].ID
		if res := c.Do("POST", "/api/v1/monitor/targets", map[string]any{"system_id": sys, "name": "门户", "kind": "http", "address": "ftp://x"}); res.Status != 400 || !strings.Contains(string(res.Body), "http://") {
			t.Fatalf("bad target: %d %s", res.Status, res.Body)
		}
		site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("主体服务门户")) }))
		defer site.Close()
		res = c.Do("POST", "/api/v1/monitor/targets", map[string]any{"system_id": sys, "name": "主体服务门户", "kind": "http", "address": site.URL, "keyword": "门户"})
		if res.Status != 200 {
			t.Fatalf("create target: %d %s", res.Status, res.Body)
		}
		var tgt struct{ ID int64 }
		res.JSON(&tgt)
		pg := "postgres://zhsj:pw-secret@127.0.0.1:5432/zhsj?sslmode=disable"
		res = c.Do("POST", "/api/v1/monitor/targets", map[string]any{"system_id": sys, "name": "业务库", "kind": "postgres", "address": pg, "parent_id": tgt.ID})
		if res.Status != 200 {
			t.Fatalf("create pg target: %d %s", res.Status, res.Body)
		}
		var pgt struct{ ID int64 }
		res.JSON(&pgt)
		res = c.Do("GET", fmt.Sprintf("/api/v1/monitor/targets/%d", pgt.ID), nil)
		if strings.Contains(string(res.Body), "pw-secret") || !strings.Contains(string(res.Body), "******") {
			t.Fatalf("target shows its password: %s", res.Body)
		}
		// Saving the redacted form keeps the stored password.
		var shown map[string]any
		res.JSON(&shown)
		if res := c.Do("PUT", fmt.Sprintf("/api/v1/monitor/targets/%d", pgt.ID), map[string]any{"system_id": sys, "name": "业务库", "kind": "postgres",
			"address": shown["address"], "interval_seconds": 60}); res.Status != 200 {
			t.Fatalf("update: %d %s", res.Status, res.Body)
		}
		var addr string
		e.App.DB.Get(context.Background(), &addr, `SELECT address FROM monitor_targets WHERE id = ?`, pgt.ID)
		if addr != pg {
			t.Fatalf("stored address after update: %s", addr)
		}
		if res := c.Do("POST", fmt.Sprintf("/api/v1/monitor/targets/%d/probe", tgt.ID), nil); res.Status != 200 || !strings.Contains(string(res.Body), `"ok":true`) {
			t.Fatalf("probe now: %s", res.Body)
		}

		// Rules, silences, settings.
		res = c.Do("POST", "/api/v1/monitor/rules", map[string]any{"name": "门户慢", "metric": "probe_duration_seconds", "op": ">", "threshold": "2.5",
			"severity": "serious", "for_seconds": 120, "channels": fmt.Sprint(created.ID)})
		if res.Status != 200 {
			t.Fatalf("rule: %d %s", res.Status, res.Body)
		}
		if res := c.Do("POST", "/api/v1/monitor/rules", map[string]any{"name": "x", "metric": "m", "op": "=~", "threshold": 1, "severity": "major"}); res.Status != 400 {
			t.Fatalf("bad rule: %d %s", res.Status, res.Body)
		}
		res = c.Do("POST", "/api/v1/monitor/silences", map[string]any{"kind": "maintenance", "system_id": sys, "starts_at": time.Now().Add(-time.Minute).Format(time.RFC3339),
			"ends_at": time.Now().In(time.FixedZone("CST", 8*3600)).Add(time.Hour).Format("2006-01-02T15:04"), "comment": "版本升级"})
		if res.Status != 200 {
			t.Fatalf("silence: %d %s", res.Status, res.Body)
		}
		if res := c.Do("PUT", "/api/v1/monitor/settings", map[string]any{"raw_days": 3, "rollup_5m_days": 60, "rollup_1h_days": 365, "event_channels": ""}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		if res := c.Do("PUT", "/api/v1/monitor/settings", map[string]any{"raw_days": 0, "rollup_5m_days": 60, "rollup_1h_days": 365}); res.Status != 400 {
			t.Fatalf("bad settings: %d", res.Status)
		}

		// Acknowledging a firing alert (as the engine would have opened it) through the API.
		now := time.Now().UTC()
		if _, err := e.App.DB.Exec(context.Background(), `INSERT INTO monitor_alerts (rule_id, fingerprint, target_id, system_id, state, severity,
			summary, started_at, fired_at, last_eval_at) VALUES (1, 'x', ?, ?, 'firing', 'major', '探测失败', ?, ?, ?)`, tgt.ID, sys, now, now, now); err != nil {
			t.Fatal(err)
		}
		var alerts struct{ Items []struct{ ID int64 } }
		c.Do("GET", "/api/v1/monitor/alerts?state=firing", nil).JSON(&alerts)
		if len(alerts.Items) != 1 {
			t.Fatalf("firing alerts: %+v", alerts)
		}
		aid := alerts.Items[0].ID
		if res := c.Do("POST", fmt.Sprintf("/api/v1/monitor/alerts/%d/ack", aid), map[string]string{"note": "已安排处理"}); res.Status != 200 {
			t.Fatalf("ack: %d %s", res.Status, res.Body)
		}
		if res := c.Do("POST", fmt.Sprintf("/api/v1/monitor/alerts/%d/ack", aid), nil); res.Status != 400 {
			t.Fatalf("second ack: %d %s", res.Status, res.Body)
		}
		if res := c.Do("GET", fmt.Sprintf("/monitor/alerts/%d", aid), nil); res.Status != 200 || !strings.Contains(string(res.Body), "已安排处理") {
			t.Fatalf("alert page: %d", res.Status)
		}

		// Every console page renders.
		for _, p := range []string{"/monitor", "/monitor/targets/new", fmt.Sprintf("/monitor/targets/%d", tgt.ID), "/monitor/alerts", "/monitor/alerts?state=all",
			"/monitor/rules", "/monitor/silences", "/monitor/charts?range=24h", "/notify/channels", "/notify/deliveries"} {
			res := c.Do("GET", p, nil)
			if res.Status != 200 || !strings.Contains(string(res.Body), "运维中心") {
				t.Errorf("page %s: %d", p, res.Status)
			}
		}
		if res := c.Do("GET", "/monitor", nil); !strings.Contains(string(res.Body), "主体服务门户") || strings.Contains(string(res.Body), "pw-secret") {
			t.Errorf("targets page content")
		}

		// The status page is public, shows the maintenance and needs no session.
		anon := e.Client()
		res = anon.Do("GET", "/status", nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), "系统运行状态") || !strings.Contains(string(res.Body), "维护中") {
			t.Fatalf("public status page: %d", res.Status)
		}
		if strings.Contains(string(res.Body), site.URL) || strings.Contains(string(res.Body), "127.0.0.1") {
			t.Fatalf("status page leaks addresses")
		}
		req, _ := http.NewRequest("GET", e.Server.URL+"/status", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Systems []struct{ Code, State string }
		}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if len(st.Systems) < 17 {
			t.Fatalf("status JSON: %+v", st)
		}

		// Permissions and scope: an analyst has no monitor permission; a city engineer is out of scope.
		if res := e.Login("ana").Do("GET", "/api/v1/monitor/targets", nil); res.Status != 403 {
			t.Fatalf("analyst: %d", res.Status)
		}
		if res := e.Login("xa_eng").Do("GET", "/api/v1/monitor/targets", nil); res.Status != 403 || res.ErrorCode() != "out_of_scope" {
			t.Fatalf("city engineer: %d %s", res.Status, res.Body)
		}
		// Every change was audited, without secrets.
		var n int
		e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE action LIKE 'monitor.%' OR action LIKE 'notify.%'`)
		if n < 8 {
			t.Fatalf("audit records: %d", n)
		}
		e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%pw-secret%' OR detail LIKE '%s3cret%'`)
		if n != 0 {
			t.Fatal("secret in the audit log")
		}
	})
}

// TestModuleEventsNotify publishes the other modules' events and sees them reach the webhook.
func TestModuleEventsNotify(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := newHook(t)
		e.User("eng", "610000", "engineer")
		c := e.Login("eng")
		if res := c.Do("POST", "/api/v1/notify/channels", map[string]any{"name": "告警群", "kind": "webhook", "config": map[string]any{"url": h.URL}}); res.Status != 200 {
			t.Fatalf("channel: %s", res.Body)
		}
		if err := e.App.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for name, payload := range map[string]any{
			"quality.rule.below_threshold": map[string]any{"rule": 12, "dataset": "enterprise", "run": 7, "pass_rate": 0.82},
			"iam.login.risk":               map[string]any{"user": 3, "kind": iam.RiskPasswordSpray, "ip": "10.1.2.3"},
			"dataset.ingest.failed":        map[string]any{"dataset": "licence", "run_id": 9, "error": "文件编码无法识别"},
			"sso.binding.requested":        map[string]any{"connector": "xian", "region": "610100"},
		} {
			if err := events.Publish(ctx, e.App.DB, name, payload); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && !(h.has("质量规则通过率低于阈值") && h.has("风险登录") && h.has("数据接入失败") && h.has("等待绑定审核")) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, want := range []string{"82.00%", iam.RiskNames[iam.RiskPasswordSpray], "10.1.2.3", "文件编码无法识别", "xian"} {
			if !h.has(want) {
				t.Errorf("webhook never got %q: %v", want, h.titles)
			}
		}
	})
}

// TestMetricsPassPromtool checks /metrics with promtool and lets a real Prometheus scrape it.
// Both need the Debian package prometheus (.ci/run installs it).
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		storetest.Missing(t, "promtool is not installed (Debian package prometheus)")
	}
	e := apptest.New(t, storetest.SQLite(t))
	e.Client().Do("GET", "/healthz", nil)
	body := e.Client().Do("GET", "/metrics", nil)
	if body.Status != 200 || !strings.Contains(string(body.Body), "zhsj_monitor_probe_start_delay_seconds") || !strings.Contains(string(body.Body), "zhsj_http_requests_total") {
		t.Fatalf("metrics: %d", body.Status)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body.Body))
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestPrometheusScrapes(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		storetest.Missing(t, "prometheus is not installed (Debian package prometheus)")
	}
	e := apptest.New(t, storetest.SQLite(t))
	dir := t.TempDir()
	host := strings.TrimPrefix(e.Server.URL, "http://")
	cfg := "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: zhsj\n    static_configs:\n      - targets: ['" + host + "']\n"
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Dir = dir
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + "zhsj_http_requests_total")
		if err == nil {
			var q struct {
				Data struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&q)
			resp.Body.Close()
			r2, err := http.Get("http://" + addr + "/api/v1/targets")
			if err == nil {
				b, _ := io.ReadAll(r2.Body)
				r2.Body.Close()
				if strings.Contains(string(b), `"health":"up"`) && len(q.Data.Result) > 0 {
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("Prometheus did not scrape zhsj:\n%s", logs.String())
}

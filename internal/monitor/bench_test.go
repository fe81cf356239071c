package monitor

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestHelperTargets is not a test: with ZHSJ_BENCH_SERVE set it serves the benchmark's HTTP
// targets from a separate process (so that their CPU is not counted as zhsj's), answering
// 503 on /down/ paths once the file named by ZHSJ_BENCH_DOWN exists.
func TestHelperTargets(t *testing.T) {
	addr := os.Getenv("ZHSJ_BENCH_SERVE")
	if addr == "" {
		t.Skip("helper process for BenchmarkProbe1000")
	}
	downFile := os.Getenv("ZHSJ_BENCH_DOWN")
	http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/down/") {
			if _, err := os.Stat(downFile); err == nil {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok " + r.URL.Path))
	}))
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startHelper(b *testing.B, env ...string) (string, string) {
	addr := freeAddr(b)
	down := filepath.Join(b.TempDir(), "down")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTargets$")
	cmd.Env = append(os.Environ(), append(env, "ZHSJ_BENCH_SERVE="+addr, "ZHSJ_BENCH_DOWN="+down)...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, down
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads a process's user+system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, len(ds)*99/100)]
}

// BenchmarkProbe1000 probes 1,000 HTTP targets on loopback every 30 s with the real engine on
// SQLite for three intervals, after one interval of warm-up, and reports the p99 delay of
// probe starts behind their slots, zhsj's CPU use in percent of one core (the targets are
// served by a separate process), and how long one target going down takes to reach a webhook
// receiver. Run: go test -run '^$' -bench Probe1000 -benchtime 1x ./internal/monitor/
func BenchmarkProbe1000(b *testing.B) {
	const n, interval = 1000, 30
	for range b.N {
		addr, downFile := startHelper(b)
		db := storetest.SQLite(b)
		ctx, cancel := context.WithCancel(context.Background())
		e := newEnv(b, db, nil)
		e.s.opt.HostInterval = 15 * time.Second
		sys := int64(1)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := 0; i < n; i++ {
				path := fmt.Sprintf("/t/%d", i)
				if i == 0 {
					path = "/down/0"
				}
				if _, err := e.s.SaveTarget(ctx, tx, Target{SystemID: sys, Name: fmt.Sprintf("目标 %04d", i), Kind: KindHTTP,
					Address: "http://" + addr + path, IntervalSeconds: interval, TimeoutMS: 5000, Retries: 1, Enabled: true}, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var drift []time.Duration
		measuring := false
		eng := e.s.NewEngine()
		eng.OnResult = func(r Result) {
			mu.Lock()
			if measuring {
				drift = append(drift, r.Started.Sub(r.Scheduled))
			}
			mu.Unlock()
		}
		go e.hub.Run(ctx)
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		time.Sleep(interval * time.Second) // warm-up: every target probed once
		mu.Lock()
		measuring = true
		mu.Unlock()
		cpu0, t0 := selfCPU(), time.Now()
		time.Sleep(interval * time.Second)
		os.WriteFile(downFile, nil, 0o644) // one target goes down
		wentDown := time.Now()
		msg, ok := e.rc.await("目标 0000", wentDown.Add((interval+5)*time.Second))
		detect := time.Since(wentDown)
		time.Sleep(time.Until(wentDown.Add(2 * interval * time.Second)))
		cpu, wall := selfCPU()-cpu0, time.Since(t0)
		mu.Lock()
		samples, d99 := len(drift), p99(drift)
		mu.Unlock()
		cancel()
		<-done
		var rows int
		db.Get(context.Background(), &rows, `SELECT COUNT(*) FROM monitor_samples`)
		b.ReportMetric(float64(d99)/float64(time.Millisecond), "p99-start-delay-ms")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%-of-core")
		b.ReportMetric(detect.Seconds(), "down-to-webhook-s")
		b.Logf("%d probe starts measured over %s; p99 start delay %s; zhsj CPU %s (%.1f%% of one core); %d samples stored; alert received %v after %s: %s",
			samples, wall.Round(time.Second), d99, cpu.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds(), rows, ok, detect.Round(time.Millisecond), msg.Title)
		if !ok {
			b.Errorf("target down did not reach the webhook within %d s", interval+5)
		}
	}
}

// BenchmarkBlackbox1000 runs Debian's prometheus-blackbox-exporter with Prometheus scraping
// the same 1,000 loopback targets every 30 s and reports the CPU both processes use over
// three intervals, for comparison with BenchmarkProbe1000. Skips unless both are installed.
func BenchmarkBlackbox1000(b *testing.B) {
	const n, interval = 1000, 30
	bb, err1 := exec.LookPath("prometheus-blackbox-exporter")
	prom, err2 := exec.LookPath("prometheus")
	if err1 != nil || err2 != nil {
		b.Skip("prometheus-blackbox-exporter and prometheus not installed")
	}
	for range b.N {
		addr, _ := startHelper(b)
		dir := b.TempDir()
		bbAddr, promAddr := freeAddr(b), freeAddr(b)
		os.WriteFile(filepath.Join(dir, "blackbox.yml"), []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"), 0o644)
		var targets strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&targets, "          - http://%s/t/%d\n", addr, i)
		}
		cfg := fmt.Sprintf(`global:
  scrape_interval: %ds
  scrape_timeout: 10s
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets:
%s    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: %s
`, interval, targets.String(), bbAddr)
		os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644)
		start := func(bin string, args ...string) *exec.Cmd {
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			return cmd
		}
		bbc := start(bb, "--config.file="+filepath.Join(dir, "blackbox.yml"), "--web.listen-address="+bbAddr)
		pc := start(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
		time.Sleep(interval * time.Second)
		c0b, c0p, t0 := procCPU(bbc.Process.Pid), procCPU(pc.Process.Pid), time.Now()
		time.Sleep(3 * interval * time.Second)
		wall := time.Since(t0)
		cb, cp := procCPU(bbc.Process.Pid)-c0b, procCPU(pc.Process.Pid)-c0p
		up := countUp(promAddr)
		b.ReportMetric(100*cb.Seconds()/wall.Seconds(), "blackbox-cpu-%")
		b.ReportMetric(100*cp.Seconds()/wall.Seconds(), "prometheus-cpu-%")
		b.Logf("blackbox_exporter CPU %.1f%%, Prometheus CPU %.1f%% of one core over %s; %d targets up", 100*cb.Seconds()/wall.Seconds(),
			100*cp.Seconds()/wall.Seconds(), wall.Round(time.Second), up)
	}
}

func countUp(promAddr string) int {
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=count(probe_success==1)")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndex(line, `,"`); i > 0 {
			v := strings.Trim(line[i+2:], `"]}`)
			n, _ := strconv.Atoi(strings.TrimRight(v, `"]} `))
			return n
		}
	}
	return -1
}

package monitor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// nodeState keeps the previous CPU counters of each node_exporter host, so that CPU use is
// the rate between two scrapes.
type nodeState struct {
	mu   sync.Mutex
	prev map[int64]cpuCounters
}

type cpuCounters struct{ idle, total float64 }

func newNodeState() *nodeState { return &nodeState{prev: map[int64]cpuCounters{}} }

// maxScrape bounds a node_exporter page.
const maxScrape = 16 << 20

// probeNode scrapes a node_exporter (Prometheus text format) and turns the families it knows
// into host_* samples with the same names as this host's own metrics, so that one rule
// covers both.
func (p *Prober) probeNode(ctx context.Context, t Target, r *Result) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Address, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	tr := transport
	if t.Config.InsecureTLS {
		tr = insecureTransport
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.StatusCode = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node_exporter 返回状态码 %d", resp.StatusCode)
	}
	fams, err := ParseMetrics(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return err
	}
	r.Samples = p.node.samples(t.ID, fams)
	if len(r.Samples) == 0 {
		return fmt.Errorf("页面中没有 node_exporter 指标（node_load1、node_memory_*、node_filesystem_*）")
	}
	return nil
}

// ParseMetrics parses the Prometheus text exposition format.
func ParseMetrics(rd io.Reader) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rd)
	if err != nil {
		return nil, fmt.Errorf("指标格式无法解析: %w", err)
	}
	return fams, nil
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func single(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	f := fams[name]
	if f == nil || len(f.Metric) == 0 {
		return 0, false
	}
	return value(f.Metric[0]), true
}

// ignoredFS are pseudo file systems whose usage means nothing.
var ignoredFS = map[string]bool{"tmpfs": true, "devtmpfs": true, "overlay": true, "squashfs": true, "proc": true, "sysfs": true, "ramfs": true, "nsfs": true}

func (n *nodeState) samples(id int64, fams map[string]*dto.MetricFamily) []Sample {
	var out []Sample
	add := func(name string, v float64, kv ...string) {
		l := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		out = append(out, Sample{Name: name, Labels: l, Value: v})
	}
	for _, name := range []string{"node_load1", "node_load5", "node_load15"} {
		if v, ok := single(fams, name); ok {
			add("host_"+strings.TrimPrefix(name, "node_"), v)
		}
	}
	total, okT := single(fams, "node_memory_MemTotal_bytes")
	avail, okA := single(fams, "node_memory_MemAvailable_bytes")
	if okT && okA && total > 0 {
		add("host_memory_used_percent", 100*(total-avail)/total)
		add("host_memory_used_bytes", total-avail)
		add("host_memory_total_bytes", total)
	}
	if size, free := fams["node_filesystem_size_bytes"], fams["node_filesystem_avail_bytes"]; size != nil && free != nil {
		avails := map[string]float64{}
		for _, m := range free.Metric {
			avails[labelOf(m, "mountpoint")] = value(m)
		}
		for _, m := range size.Metric {
			mp, fs := labelOf(m, "mountpoint"), labelOf(m, "fstype")
			if ignoredFS[fs] || value(m) <= 0 {
				continue
			}
			if a, ok := avails[mp]; ok {
				add("host_disk_used_percent", 100*(value(m)-a)/value(m), "mount", mp)
				add("host_disk_free_bytes", a, "mount", mp)
			}
		}
	}
	if f := fams["node_cpu_seconds_total"]; f != nil {
		var c cpuCounters
		for _, m := range f.Metric {
			v := value(m)
			c.total += v
			if md := labelOf(m, "mode"); md == "idle" || md == "iowait" {
				c.idle += v
			}
		}
		n.mu.Lock()
		prev, ok := n.prev[id]
		n.prev[id] = c
		n.mu.Unlock()
		if ok && c.total > prev.total && c.idle >= prev.idle {
			add("host_cpu_percent", 100*(1-(c.idle-prev.idle)/(c.total-prev.total)))
		}
	}
	if f := fams["node_netstat_Tcp_CurrEstab"]; f != nil && len(f.Metric) > 0 {
		add("host_tcp_connections", value(f.Metric[0]), "state", "ESTABLISHED")
	}
	if v, ok := single(fams, "node_filefd_allocated"); ok {
		add("host_open_files", v)
	}
	return out
}

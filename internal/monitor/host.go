package monitor

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// hostCollector reads the metrics of the machine zhsj runs on and of the zhsj process.
type hostCollector struct {
	host    string
	proc    *process.Process
	lastIO  map[string]disk.IOCountersStat
	lastIOt time.Time
	mounts  []string
}

func newHostCollector(host string) *hostCollector {
	p, _ := process.NewProcess(int32(os.Getpid()))
	h := &hostCollector{host: host, proc: p, mounts: []string{"/"}}
	if wd, err := os.Getwd(); err == nil && wd != "/" {
		h.mounts = append(h.mounts, wd)
	}
	cpu.Percent(0, false) // prime: the next call measures since now
	if p != nil {
		p.Percent(0)
	}
	return h
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// collect returns one round of samples; a metric that cannot be read is left out.
func (h *hostCollector) collect(ctx context.Context, now time.Time) []Sample {
	var out []Sample
	add := func(name string, v float64, kv ...string) {
		l := map[string]string{"host": h.host}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		out = append(out, Sample{Name: name, Labels: l, At: now, Value: v})
	}
	if pc, err := cpu.PercentWithContext(ctx, 0, false); err == nil && len(pc) == 1 {
		add("host_cpu_percent", pc[0])
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		add("host_memory_used_percent", vm.UsedPercent)
		add("host_memory_used_bytes", float64(vm.Used))
		add("host_memory_total_bytes", float64(vm.Total))
	}
	seen := map[string]bool{}
	for _, m := range h.mounts {
		if u, err := disk.UsageWithContext(ctx, m); err == nil && !seen[u.Path] {
			seen[u.Path] = true
			add("host_disk_used_percent", u.UsedPercent, "mount", u.Path)
			add("host_disk_free_bytes", float64(u.Free), "mount", u.Path)
		}
	}
	if io, err := disk.IOCountersWithContext(ctx); err == nil {
		if h.lastIO != nil {
			dt := now.Sub(h.lastIOt).Seconds()
			var rd, wr float64
			for name, c := range io {
				if p, ok := h.lastIO[name]; ok && c.ReadBytes >= p.ReadBytes && c.WriteBytes >= p.WriteBytes {
					rd += float64(c.ReadBytes - p.ReadBytes)
					wr += float64(c.WriteBytes - p.WriteBytes)
				}
			}
			if dt > 0 {
				add("host_disk_read_bytes_per_second", rd/dt)
				add("host_disk_write_bytes_per_second", wr/dt)
			}
		}
		h.lastIO, h.lastIOt = io, now
	}
	if l, err := load.AvgWithContext(ctx); err == nil {
		add("host_load1", l.Load1)
		add("host_load5", l.Load5)
		add("host_load15", l.Load15)
	}
	if conns, err := net.ConnectionsWithoutUidsWithContext(ctx, "tcp"); err == nil {
		by := map[string]float64{}
		for _, c := range conns {
			by[c.Status]++
		}
		for _, st := range []string{"ESTABLISHED", "LISTEN", "TIME_WAIT", "CLOSE_WAIT", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "LAST_ACK", "CLOSING"} {
			add("host_tcp_connections", by[st], "state", st)
		}
	}
	if h.proc != nil {
		if n, err := h.proc.NumFDsWithContext(ctx); err == nil {
			add("process_open_fds", float64(n))
		}
		if mi, err := h.proc.MemoryInfoWithContext(ctx); err == nil {
			add("process_resident_bytes", float64(mi.RSS))
		}
		if pc, err := h.proc.PercentWithContext(ctx, 0); err == nil {
			add("process_cpu_percent", pc)
		}
		if n, err := h.proc.NumThreadsWithContext(ctx); err == nil {
			add("process_threads", float64(n))
		}
	}
	return out
}

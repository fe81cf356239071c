package monitor

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestRollupRetentionAvailability writes three hours of probe results every 30 s, rolls them
// up twice (idempotent), checks the 5-minute and hourly buckets, the chart resolution, the
// availability the status page shows, and retention pruning.
func TestRollupRetentionAvailability(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock() // 02:00:00 UTC, on an hour boundary
		e := newEnv(t, db, c)
		tg := e.target(t, Target{Name: "稽查办案系统"})
		start := c.Now()
		var results []Result
		for i := 0; i < 360; i++ { // 3 hours
			at := start.Add(time.Duration(i) * 30 * time.Second)
			ok := !(i >= 10 && i < 20) // down for 5 minutes (02:05–02:10): 10 of 360 failures
			results = append(results, Result{TargetID: tg, Started: at, OK: ok, Latency: time.Duration(100+i%10) * time.Millisecond})
		}
		if err := e.s.StoreResults(ctx, results); err != nil {
			t.Fatal(err)
		}
		c.Add(3*time.Hour + time.Minute)
		for range 2 {
			if _, err := e.s.Rollup(ctx, 4*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		var b5 []struct {
			At    int64   `db:"at"`
			Sum   float64 `db:"vsum"`
			Count int64   `db:"vcount"`
			Min   float64 `db:"vmin"`
		}
		if err := db.Select(ctx, &b5, `SELECT r.at, r.vsum, r.vcount, r.vmin FROM monitor_rollups r JOIN monitor_series s ON s.id = r.series_id
			WHERE s.name = 'probe_success' AND r.step = 300 ORDER BY r.at`); err != nil {
			t.Fatal(err)
		}
		if len(b5) != 36 {
			t.Fatalf("5-minute buckets: %d", len(b5))
		}
		if b5[1].At != start.Add(5*time.Minute).UnixMilli() || b5[1].Count != 10 || b5[1].Sum != 0 || b5[0].Sum != 10 || b5[1].Min != 0 {
			t.Fatalf("bucket 02:05: %+v, 02:00: %+v", b5[1], b5[0])
		}
		var hours []struct {
			Sum   float64 `db:"vsum"`
			Count int64   `db:"vcount"`
		}
		db.Select(ctx, &hours, `SELECT r.vsum, r.vcount FROM monitor_rollups r JOIN monitor_series s ON s.id = r.series_id
			WHERE s.name = 'probe_success' AND r.step = 3600 ORDER BY r.at`)
		if len(hours) != 3 || hours[0].Count != 120 || hours[0].Sum != 110 || hours[1].Sum != 120 {
			t.Fatalf("hourly: %+v", hours)
		}
		// Charts: raw within 6 hours, 5-minute rollups within 14 days, hourly beyond.
		now := c.Now()
		for _, x := range []struct {
			span time.Duration
			step int
			pts  int
		}{{4 * time.Hour, 0, 360}, {2 * 24 * time.Hour, 300, 36}, {30 * 24 * time.Hour, 3600, 3}} {
			list, err := e.s.Query(ctx, "probe_success", nil, tg, now.Add(-x.span), now)
			if err != nil || len(list) != 1 || list[0].Step != x.step || len(list[0].Points) != x.pts {
				t.Fatalf("query over %s: %v %+v", x.span, err, list)
			}
		}
		// Availability: 350 of 360 probes succeeded.
		av, err := e.s.Availability(ctx, now.Add(-24*time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := av[tg], 350.0/360; math.Abs(got-want) > 1e-9 {
			t.Fatalf("availability %v, want %v", got, want)
		}
		st, err := e.s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range st.Systems {
			if x.Code == "enforcement" || x.Code == "entity" {
				if x.Code == "entity" && (x.Avail24h == nil || math.Abs(*x.Avail24h-100*350.0/360) > 1e-6 || x.State != "up") {
					t.Fatalf("status of entity: %+v", x)
				}
			}
		}
		// Retention: after 8 days raw samples go, rollups stay; after 91 days the 5-minute ones go too.
		c.Add(8 * 24 * time.Hour)
		if _, err := e.s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_samples`); n != 0 {
			t.Fatalf("raw samples after 8 days: %d", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_rollups WHERE step = 300`); n == 0 {
			t.Fatal("5-minute rollups pruned too early")
		}
		c.Add(83 * 24 * time.Hour)
		e.s.Prune(ctx)
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_rollups WHERE step = 300`); n != 0 {
			t.Fatalf("5-minute rollups after 91 days: %d", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_rollups WHERE step = 3600`); n == 0 {
			t.Fatal("hourly rollups pruned too early")
		}
		// Retention is configurable and validated.
		if err := e.s.SetRetention(ctx, db, Retention{RawDays: 3, FiveMinDay: 30, HourlyDays: 365}); err != nil {
			t.Fatal(err)
		}
		if r, _ := e.s.Retention(ctx); r.RawDays != 3 || r.FiveMinDay != 30 || r.HourlyDays != 365 {
			t.Fatalf("retention: %+v", r)
		}
		if err := e.s.SetRetention(ctx, db, Retention{RawDays: 10, FiveMinDay: 5, HourlyDays: 365}); err == nil {
			t.Fatal("5-minute retention shorter than raw accepted")
		}
	})
}

func TestNodeExporterScrape(t *testing.T) {
	page := func(idle, user float64) string {
		return `# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.75
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8.0e+09
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 2.0e+09
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1.0e+11
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1.0e+09
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 2.5e+10
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1.0e+09
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} ` + ftoa(idle) + `
node_cpu_seconds_total{cpu="0",mode="user"} ` + ftoa(user) + `
`
	}
	n := newNodeState()
	fams, err := ParseMetrics(stringsReader(page(100, 100)))
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]float64{}
	for _, s := range n.samples(1, fams) {
		first[s.Name+labelString(s.Labels)] = s.Value
	}
	if first["host_load1"] != 0.75 || first["host_memory_used_percent"] != 75 || first["host_disk_used_percentmount=/"] != 75 {
		t.Fatalf("first scrape: %v", first)
	}
	if _, ok := first["host_disk_used_percentmount=/run"]; ok {
		t.Fatal("tmpfs reported")
	}
	if _, ok := first["host_cpu_percent"]; ok {
		t.Fatal("CPU from a single scrape")
	}
	fams, _ = ParseMetrics(stringsReader(page(130, 110))) // 30 s idle, 10 s busy → 25 %
	for _, s := range n.samples(1, fams) {
		if s.Name == "host_cpu_percent" && math.Abs(s.Value-25) > 1e-9 {
			t.Fatalf("cpu %v", s.Value)
		}
	}
	if _, err := ParseMetrics(stringsReader("node_load1{ 1\n")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestHostCollector(t *testing.T) {
	h := newHostCollector("test-host")
	got := map[string]bool{}
	now := time.Now()
	for _, s := range h.collect(context.Background(), now) {
		got[s.Name] = true
		if s.Labels["host"] != "test-host" {
			t.Fatalf("labels %v", s.Labels)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for _, s := range h.collect(context.Background(), now.Add(time.Second)) {
		got[s.Name] = true
	}
	for _, want := range []string{"host_cpu_percent", "host_memory_used_percent", "host_disk_used_percent", "host_load1",
		"host_tcp_connections", "process_open_fds", "process_resident_bytes", "host_disk_read_bytes_per_second"} {
		if !got[want] {
			t.Errorf("missing %s", want)
		}
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestProbeNodeTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("# TYPE node_load1 gauge\nnode_load1 1.5\n"))
	}))
	defer srv.Close()
	r := probe(t, Target{ID: 9, SystemID: 1, Name: "node", Kind: KindNode, Address: srv.URL + "/metrics", IntervalSeconds: 30})
	if !r.OK || len(r.Samples) != 1 || r.Samples[0].Name != "host_load1" {
		t.Fatalf("node probe: %+v", r)
	}
	smp := resultSamples(r)
	if smp[len(smp)-1].Labels["target"] != "9" || smp[len(smp)-1].TargetID != 9 {
		t.Fatalf("node samples: %+v", smp)
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("# nothing\n")) }))
	defer empty.Close()
	if r := probe(t, Target{ID: 9, SystemID: 1, Name: "node", Kind: KindNode, Address: empty.URL, IntervalSeconds: 30}); r.OK {
		t.Fatalf("empty page accepted: %+v", r)
	}
}

// TestPrunePartitionedSamples stores ten days of hourly probe results and prunes them with
// the 7-day retention: exactly the samples older than 7 days go. On PostgreSQL the samples
// live in daily partitions (DESIGN §10): the whole days before the cut-off go by dropping
// their partition, the older hours of the day that straddles it by deletion.
func TestPrunePartitionedSamples(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock() // 2026-09-01 02:00 UTC, 10:00 in Xi'an
		e := newEnv(t, db, c)
		tg := e.target(t, Target{Name: "登记注册系统"})
		start := c.Now()
		if _, err := SamplePartitions.Maintain(ctx, db, start); err != nil {
			t.Fatal(err)
		}
		var results []Result
		for i := 0; i < 240; i++ {
			results = append(results, Result{TargetID: tg, Started: start.Add(time.Duration(i) * time.Hour), OK: true, Latency: 50 * time.Millisecond})
		}
		if err := e.s.StoreResults(ctx, results); err != nil {
			t.Fatal(err)
		}
		// Days 8 to 10 had no partition yet: the default partition took them, and the daily
		// maintenance moves them out.
		if _, err := SamplePartitions.Maintain(ctx, db, start); err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == store.Postgres {
			if n := e.count(t, `SELECT COUNT(*) FROM monitor_samples_default`); n != 0 {
				t.Fatalf("%d samples left in the default partition", n)
			}
		}
		c.Add(240 * time.Hour)
		cutoff := c.Now().Add(-7 * 24 * time.Hour).UnixMilli()
		before := e.count(t, `SELECT COUNT(*) FROM monitor_samples`)
		keep := e.count(t, `SELECT COUNT(*) FROM monitor_samples WHERE at >= ?`, cutoff)
		if keep == 0 || keep == before {
			t.Fatalf("%d of %d samples within retention: the test data does not straddle the cut-off", keep, before)
		}
		n, err := e.s.Prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after := e.count(t, `SELECT COUNT(*) FROM monitor_samples`); after != keep || n != int64(before-keep) {
			t.Fatalf("after prune %d samples (want %d), %d reported deleted (want %d)", after, keep, n, before-keep)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM monitor_samples WHERE at < ?`, cutoff); n != 0 {
			t.Fatalf("%d samples older than the retention left", n)
		}
		if db.Dialect() == store.Postgres {
			days, err := SamplePartitions.Partitions(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if len(days) == 0 || days[0].AddDate(0, 0, 1).UnixMilli() <= cutoff || days[0].UnixMilli() > cutoff {
				t.Fatalf("oldest partition left starts %v; the cut-off is %v", days, time.UnixMilli(cutoff))
			}
		}
	})
}

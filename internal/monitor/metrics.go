package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"zhsj/internal/store"
)

// promMetrics are the module's own metrics on /metrics.
type promMetrics struct {
	drift       prometheus.Histogram
	probes      *prometheus.CounterVec
	skipped     prometheus.Counter
	targets     prometheus.Gauge
	alertsFired *prometheus.CounterVec
}

func newPromMetrics(db *store.DB, reg prometheus.Registerer) *promMetrics {
	m := &promMetrics{
		drift: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhsj_monitor_probe_start_delay_seconds", Help: "Delay between a probe's scheduled slot and its start.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhsj_monitor_probes_total", Help: "Probe runs by target kind and result.",
		}, []string{"kind", "result"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhsj_monitor_probes_skipped_total", Help: "Probe slots skipped because the previous run of the target was still going.",
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhsj_monitor_targets_scheduled", Help: "Targets the engine of this instance is probing.",
		}),
		alertsFired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhsj_monitor_alerts_fired_total", Help: "Alerts that started firing, by severity.",
		}, []string{"severity"}),
	}
	if reg != nil {
		reg.MustRegister(m.drift, m.probes, m.skipped, m.targets, m.alertsFired, &dbCollector{db: db})
	}
	return m
}

func (m *promMetrics) observeProbe(kind string, r Result) {
	res := "success"
	if !r.OK {
		res = "failure"
	}
	m.probes.WithLabelValues(kind, res).Inc()
}

// dbCollector reports state kept in the database at scrape time: open alerts, the job run
// history and the notification queue.
type dbCollector struct{ db *store.DB }

var (
	descAlerts = prometheus.NewDesc("zhsj_monitor_alerts_open", "Open alerts by state and severity.", []string{"state", "severity"}, nil)
	descJobRun = prometheus.NewDesc("zhsj_job_runs", "Job runs in the kept history by job and status.", []string{"job", "status"}, nil)
	descJobEnd = prometheus.NewDesc("zhsj_job_last_finished_timestamp_seconds", "When each job last finished.", []string{"job", "status"}, nil)
	descQueue  = prometheus.NewDesc("zhsj_notify_deliveries", "Notification deliveries by status.", []string{"status"}, nil)
	descTarget = prometheus.NewDesc("zhsj_monitor_targets", "Monitoring targets by status.", []string{"status"}, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlerts, descJobRun, descJobEnd, descQueue, descTarget} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var rows []struct {
		A string  `db:"a"`
		B string  `db:"b"`
		N float64 `db:"n"`
	}
	if c.db.Select(ctx, &rows, `SELECT state AS a, severity AS b, COUNT(*) AS n FROM monitor_alerts WHERE state <> 'resolved' GROUP BY state, severity`) == nil {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, r.N, r.A, r.B)
		}
	}
	rows = nil
	if c.db.Select(ctx, &rows, `SELECT job AS a, status AS b, COUNT(*) AS n FROM job_runs GROUP BY job, status`) == nil {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descJobRun, prometheus.GaugeValue, r.N, r.A, r.B)
		}
	}
	var ends []struct {
		Job    string    `db:"job"`
		Status string    `db:"status"`
		At     time.Time `db:"at"`
	}
	if c.db.Select(ctx, &ends, `SELECT job, status, finished_at AS at FROM job_runs r WHERE id = (SELECT MAX(id) FROM job_runs x
		WHERE x.job = r.job AND x.status = r.status AND x.finished_at IS NOT NULL)`) == nil {
		for _, r := range ends {
			ch <- prometheus.MustNewConstMetric(descJobEnd, prometheus.GaugeValue, float64(r.At.UnixMilli())/1000, r.Job, r.Status)
		}
	}
	rows = nil
	if c.db.Select(ctx, &rows, `SELECT status AS a, '' AS b, COUNT(*) AS n FROM notify_deliveries GROUP BY status`) == nil {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, r.N, r.A)
		}
	}
	rows = nil
	if c.db.Select(ctx, &rows, `SELECT status AS a, '' AS b, COUNT(*) AS n FROM monitor_targets WHERE enabled GROUP BY status`) == nil {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descTarget, prometheus.GaugeValue, r.N, r.A)
		}
	}
}

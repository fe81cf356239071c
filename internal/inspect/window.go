package inspect

import (
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// metricWindow keeps the metrics as the previous inspection in this process read them, so that
// the error rate and the p95 of an inspection cover the time since that inspection, not the
// whole life of a process that may have run for months.
type metricWindow struct {
	mu  sync.Mutex
	at  time.Time
	mfs []*dto.MetricFamily
}

func (w *metricWindow) get() ([]*dto.MetricFamily, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mfs, w.at
}

func (w *metricWindow) set(mfs []*dto.MetricFamily, at time.Time) {
	if mfs == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mfs, w.at = mfs, at
}

// windowed returns the family name as read in this run minus its value at the previous
// inspection, and a phrase naming the window.
func windowed(e *env, name string) (*dto.MetricFamily, string) {
	cur := family(e.read, name)
	prev := family(e.base, name)
	if cur == nil || prev == nil {
		return cur, "自进程启动以来"
	}
	old := map[string]*dto.Metric{}
	for _, m := range prev.Metric {
		old[labelKey(m)] = m
	}
	out := &dto.MetricFamily{Name: cur.Name, Type: cur.Type}
	for _, m := range cur.Metric {
		p := old[labelKey(m)]
		d := &dto.Metric{Label: m.Label}
		switch {
		case m.Counter != nil:
			d.Counter = &dto.Counter{Value: proto.Float64(m.GetCounter().GetValue() - p.GetCounter().GetValue())}
		case m.Histogram != nil:
			h, ph := m.GetHistogram(), p.GetHistogram()
			pb := map[float64]uint64{}
			for _, b := range ph.GetBucket() {
				pb[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			dh := &dto.Histogram{SampleCount: proto.Uint64(h.GetSampleCount() - ph.GetSampleCount())}
			for _, b := range h.Bucket {
				dh.Bucket = append(dh.Bucket, &dto.Bucket{UpperBound: b.UpperBound, CumulativeCount: proto.Uint64(b.GetCumulativeCount() - pb[b.GetUpperBound()])})
			}
			d.Histogram = dh
		default:
			continue
		}
		out.Metric = append(out.Metric, d)
	}
	return out, "自上次巡检（" + e.baseAt.Format("01-02 15:04") + "）以来"
}

func labelKey(m *dto.Metric) string {
	var b strings.Builder
	for _, l := range m.Label {
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

package monitor

import (
	"context"
	"net/http"
	"time"

	"zhsj/internal/web"
)

// SystemStatus is one row of the public status page.
type SystemStatus struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	State      string   `json:"state"` // up | partial | down | maintenance | nodata
	StateLabel string   `json:"state_label"`
	Targets    int      `json:"targets"`
	Down       int      `json:"down"`
	Avail24h   *float64 `json:"availability_24h"` // percent; nil without data
	Avail7d    *float64 `json:"availability_7d"`
	Avail30d   *float64 `json:"availability_30d"`
}

// statusPage is the public status page.
type statusPage struct {
	Systems     []SystemStatus `json:"systems"`
	Overall     string         `json:"overall"`
	OverallText string         `json:"overall_text"`
	GeneratedAt time.Time      `json:"generated_at"`
}

var stateLabels = map[string]string{"up": "运行正常", "partial": "部分异常", "down": "服务中断", "maintenance": "维护中", "nodata": "暂无数据"}

// statusTTL is how long the public page is served from memory.
const statusTTL = 30 * time.Second

// Status computes the public status of every public system.
func (s *Service) Status(ctx context.Context) (*statusPage, error) {
	now := s.now()
	systems, err := s.Systems(ctx)
	if err != nil {
		return nil, err
	}
	targets, err := s.Targets(ctx, 0)
	if err != nil {
		return nil, err
	}
	sils, err := s.Silences(ctx, true)
	if err != nil {
		return nil, err
	}
	avail := map[time.Duration]map[int64]float64{}
	for _, d := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		if avail[d], err = s.Availability(ctx, now.Add(-d), now); err != nil {
			return nil, err
		}
	}
	p := &statusPage{GeneratedAt: now, Overall: "up"}
	for _, sys := range systems {
		if !sys.Public {
			continue
		}
		st := SystemStatus{Code: sys.Code, Name: sys.Name}
		up, unknown := 0, 0
		inMaint := false
		sums := map[time.Duration][2]float64{}
		for _, t := range targets {
			if t.SystemID != sys.ID || !t.Enabled {
				continue
			}
			st.Targets++
			switch t.Status {
			case "up":
				up++
			case "down":
				st.Down++
			default:
				unknown++
			}
			for _, x := range sils {
				if x.Kind == "maintenance" && x.activeAt(now) && x.RuleID == nil && x.matches(0, &t.ID, &t.SystemID) {
					inMaint = true
				}
			}
			for d, m := range avail {
				if v, ok := m[t.ID]; ok {
					sum := sums[d]
					sums[d] = [2]float64{sum[0] + v, sum[1] + 1}
				}
			}
		}
		pct := func(d time.Duration) *float64 {
			if x := sums[d]; x[1] > 0 {
				v := 100 * x[0] / x[1]
				return &v
			}
			return nil
		}
		st.Avail24h, st.Avail7d, st.Avail30d = pct(24*time.Hour), pct(7*24*time.Hour), pct(30*24*time.Hour)
		switch {
		case inMaint:
			st.State = "maintenance"
		case st.Targets == 0 || up+st.Down == 0:
			st.State = "nodata"
		case st.Down == 0:
			st.State = "up"
		case up == 0:
			st.State = "down"
		default:
			st.State = "partial"
		}
		st.StateLabel = stateLabels[st.State]
		if st.State == "down" || (st.State == "partial" && p.Overall != "down") {
			p.Overall = map[bool]string{true: "down", false: "partial"}[st.State == "down"]
		}
		p.Systems = append(p.Systems, st)
	}
	withData := 0
	for _, x := range p.Systems {
		if x.State != "nodata" {
			withData++
		}
	}
	if withData == 0 {
		p.Overall = "nodata"
	}
	p.OverallText = map[string]string{"nodata": "暂无监控数据", "up": "所有系统运行正常", "partial": "部分系统存在异常，运维人员正在处理", "down": "有系统服务中断，运维人员正在处理"}[p.Overall]
	return p, nil
}

// cachedStatus serves the status page from memory for statusTTL: the page is public.
func (s *Service) cachedStatus(ctx context.Context) (*statusPage, error) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	if s.statusCache != nil && time.Since(s.statusAt) < statusTTL {
		return s.statusCache, nil
	}
	p, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	s.statusCache, s.statusAt = p, time.Now()
	return p, nil
}

// pageStatus is the public read-only status page (no login): JSON for API clients.
func (s *Service) pageStatus(w http.ResponseWriter, r *http.Request) {
	p, err := s.cachedStatus(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.JSON(w, http.StatusOK, p)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	s.pages.Render(w, r, "monitor_status.html", web.PageData{Title: "系统运行状态", Data: p})
}

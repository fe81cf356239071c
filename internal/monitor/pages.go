package monitor

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"zhsj/internal/notify"
	"zhsj/internal/web"
)

func (s *Service) render(w http.ResponseWriter, r *http.Request, page, title string, crumbs []web.Crumb, data any) {
	s.pages.Render(w, r, page, web.PageData{Title: title, Crumbs: append([]web.Crumb{{Title: "运维中心"}}, crumbs...), Data: data})
}

type systemGroup struct {
	System  System
	Targets []Target
	Up      int
	Down    int
}

type targetsPage struct {
	Groups          []systemGroup
	Total, Up, Down int
	Firing          int
	KindLabels      map[string]string
}

func (s *Service) pageTargets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	systems, err := s.Systems(ctx)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	targets, err := s.Targets(ctx, 0)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := targetsPage{KindLabels: KindLabels}
	for _, sys := range systems {
		g := systemGroup{System: sys}
		for _, t := range targets {
			if t.SystemID == sys.ID {
				g.Targets = append(g.Targets, t.Redacted())
				d.Total++
				switch t.Status {
				case "up":
					g.Up++
					d.Up++
				case "down":
					g.Down++
					d.Down++
				}
			}
		}
		d.Groups = append(d.Groups, g)
	}
	_, d.Firing, _ = s.Alerts(ctx, AlertFilter{State: StateFiring, Size: 1})
	s.render(w, r, "monitor_targets.html", "监控目标", []web.Crumb{{Title: "监控目标"}}, d)
}

type chartBlock struct {
	ID     string
	Title  string
	Option map[string]any
	Empty  bool
}

type targetPage struct {
	Target     *Target
	Systems    []System
	Targets    []Target
	Kinds      []string
	KindLabels map[string]string
	Charts     []chartBlock
	Alerts     []Alert
}

func (s *Service) pageTarget(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := targetPage{Kinds: Kinds, KindLabels: KindLabels}
	var err error
	if d.Systems, err = s.Systems(ctx); err != nil {
		web.Fail(w, r, err)
		return
	}
	if d.Targets, err = s.Targets(ctx, 0); err != nil {
		web.Fail(w, r, err)
		return
	}
	title := "新增监控目标"
	if r.PathValue("id") != "" {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		t, err := s.Target(ctx, id)
		if err != nil {
			fail(w, r, err)
			return
		}
		t = t.Redacted()
		d.Target, title = &t, t.Name
		to := s.now()
		from := to.Add(-6 * time.Hour)
		for _, c := range []struct{ metric, title, unit string }{
			{"probe_duration_seconds", "探测耗时（秒）", "秒"},
			{"probe_success", "探测结果（1 成功 / 0 失败）", ""},
		} {
			list, err := s.Query(ctx, c.metric, nil, id, from, to)
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			d.Charts = append(d.Charts, lineChart("chart-"+c.metric, c.title, list, func(SeriesInfo) string { return t.Name }))
		}
		alerts, _, err := s.Alerts(ctx, AlertFilter{Size: 500})
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		for _, a := range alerts {
			if a.TargetID != nil && *a.TargetID == id && len(d.Alerts) < 20 {
				d.Alerts = append(d.Alerts, a)
			}
		}
	}
	s.render(w, r, "monitor_target.html", title, []web.Crumb{{Title: "监控目标", Path: "/monitor"}, {Title: title}}, d)
}

// lineChart builds an ECharts line chart option from series.
func lineChart(id, title string, list []SeriesInfo, name func(SeriesInfo) string) chartBlock {
	var series []map[string]any
	points := 0
	for _, si := range list {
		var data [][2]any
		for _, p := range si.Points {
			data = append(data, [2]any{p.At.UnixMilli(), p.Value})
		}
		points += len(data)
		series = append(series, map[string]any{"name": name(si), "type": "line", "showSymbol": false, "data": data})
	}
	return chartBlock{ID: id, Title: title, Empty: points == 0, Option: map[string]any{
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"type": "scroll", "bottom": 0},
		"grid":    map[string]any{"left": 56, "right": 16, "top": 16, "bottom": 40},
		"xAxis":   map[string]any{"type": "time"},
		"yAxis":   map[string]any{"type": "value", "scale": true},
		"series":  series,
	}}
}

type alertsPage struct {
	State   string
	States  [][2]string
	Items   []Alert
	Total   int
	Page    int
	Pages   int
	PrevURL string
	NextURL string
	CanAck  bool
}

func (s *Service) pageAlerts(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "active"
	}
	if state == "all" {
		state = ""
	}
	items, total, err := s.Alerts(r.Context(), AlertFilter{State: state, Page: p.Page, Size: p.Size})
	if err != nil {
		fail(w, r, err)
		return
	}
	if state == "" {
		state = "all"
	}
	d := alertsPage{State: state, Items: items, Total: total, Page: p.Page, Pages: max((total+p.Size-1)/p.Size, 1),
		States: [][2]string{{"active", "未恢复"}, {"firing", "告警中"}, {"resolved", "已恢复"}, {"all", "全部"}},
		CanAck: web.ViewerFrom(r.Context()).Can(PermAlertAck)}
	d.PrevURL, d.NextURL = web.PageLinks(r.URL, p, total)
	s.render(w, r, "monitor_alerts.html", "告警", []web.Crumb{{Title: "告警"}}, d)
}

func (s *Service) pageAlert(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	a, err := s.Alert(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	evs, err := s.AlertEvents(r.Context(), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := map[string]any{"Alert": a, "Events": evs, "CanAck": web.ViewerFrom(r.Context()).Can(PermAlertAck)}
	s.render(w, r, "monitor_alert.html", "告警详情", []web.Crumb{{Title: "告警", Path: "/monitor/alerts"}, {Title: fmt.Sprintf("告警 %d", id)}}, d)
}

type rulesPage struct {
	Rules      []Rule
	Systems    map[int64]string
	SystemList []System
	Severities []string
	SevLabels  map[string]string
	Ops        []string
	CanWrite   bool
	Edit       *Rule // the rule being edited (?edit=ID), nil for a new one
}

func (s *Service) pageRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.Rules(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	systems, err := s.Systems(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := rulesPage{Rules: rules, Systems: map[int64]string{}, SystemList: systems, Severities: Severities, SevLabels: SeverityLabels, Ops: ops,
		CanWrite: web.ViewerFrom(r.Context()).Can(PermRuleWrite)}
	for _, x := range systems {
		d.Systems[x.ID] = x.Name
	}
	if id, err := strconv.ParseInt(r.URL.Query().Get("edit"), 10, 64); err == nil && d.CanWrite {
		for i := range rules {
			if rules[i].ID == id {
				d.Edit = &rules[i]
			}
		}
	}
	s.render(w, r, "monitor_rules.html", "告警规则", []web.Crumb{{Title: "告警规则"}}, d)
}

func (s *Service) pageSilences(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	list, err := s.Silences(ctx, false)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	systems, err := s.Systems(ctx)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	targets, err := s.Targets(ctx, 0)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	rules, err := s.Rules(ctx)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	names := map[string]string{}
	for _, x := range systems {
		names["s"+itoa(x.ID)] = x.Name
	}
	for _, x := range targets {
		names["t"+itoa(x.ID)] = x.Name
	}
	for _, x := range rules {
		names["r"+itoa(x.ID)] = x.Name
	}
	now := s.now()
	type row struct {
		Silence
		Scope  string
		Active bool
		Ended  bool
	}
	var rows []row
	for _, x := range list {
		scope := ""
		if x.SystemID != nil {
			scope += "系统：" + names["s"+itoa(*x.SystemID)] + " "
		}
		if x.TargetID != nil {
			scope += "目标：" + names["t"+itoa(*x.TargetID)] + " "
		}
		if x.RuleID != nil {
			scope += "规则：" + names["r"+itoa(*x.RuleID)]
		}
		if scope == "" {
			scope = "全部告警"
		}
		rows = append(rows, row{Silence: x, Scope: scope, Active: x.activeAt(now), Ended: !x.EndsAt.After(now)})
	}
	d := map[string]any{"Rows": rows, "Systems": systems, "Targets": targets, "Rules": rules,
		"CanWrite":     web.ViewerFrom(ctx).Can(PermSilenceWrite),
		"DefaultStart": now.In(shanghai).Format("2006-01-02T15:04"), "DefaultEnd": now.Add(2 * time.Hour).In(shanghai).Format("2006-01-02T15:04")}
	s.render(w, r, "monitor_silences.html", "屏蔽与维护窗口", []web.Crumb{{Title: "屏蔽与维护窗口"}}, d)
}

// hostCharts are the charts of the host metrics page.
var hostCharts = []struct{ metric, title string }{
	{"host_cpu_percent", "CPU 使用率（%）"},
	{"host_memory_used_percent", "内存使用率（%）"},
	{"host_disk_used_percent", "磁盘使用率（%）"},
	{"host_load1", "1 分钟负载"},
	{"host_disk_read_bytes_per_second", "磁盘读（字节/秒）"},
	{"host_disk_write_bytes_per_second", "磁盘写（字节/秒）"},
	{"host_tcp_connections", "TCP 连接数（按状态）"},
	{"process_open_fds", "zhsj 进程打开文件数"},
	{"process_resident_bytes", "zhsj 进程常驻内存（字节）"},
}

var chartRanges = []struct {
	Key   string
	Label string
	D     time.Duration
}{{"1h", "1 小时", time.Hour}, {"6h", "6 小时", 6 * time.Hour}, {"24h", "24 小时", 24 * time.Hour}, {"7d", "7 天", 7 * 24 * time.Hour}, {"30d", "30 天", 30 * 24 * time.Hour}}

func (s *Service) pageCharts(w http.ResponseWriter, r *http.Request) {
	rng := r.URL.Query().Get("range")
	span := 6 * time.Hour
	found := false
	for _, x := range chartRanges {
		if x.Key == rng {
			span, found = x.D, true
		}
	}
	if !found {
		rng = "6h"
	}
	host := r.URL.Query().Get("host")
	match := map[string]string{}
	if host != "" {
		match["host"] = host
	}
	to := s.now()
	var charts []chartBlock
	for i, c := range hostCharts {
		list, err := s.Query(r.Context(), c.metric, match, 0, to.Add(-span), to)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		charts = append(charts, lineChart(fmt.Sprintf("chart-%d", i), c.title, list, seriesName))
	}
	d := map[string]any{"Charts": charts, "Range": rng, "Ranges": chartRanges, "Host": host}
	s.render(w, r, "monitor_charts.html", "主机指标", []web.Crumb{{Title: "主机指标"}}, d)
}

// seriesName names a series in a legend from its labels.
func seriesName(si SeriesInfo) string {
	if si.Labels == "" {
		return si.Name
	}
	return si.Labels
}

type channelsPage struct {
	Channels []channelView
	Kinds    []string
	Labels   map[string]string
	CanWrite bool
	CanTest  bool
}

func (s *Service) pageChannels(w http.ResponseWriter, r *http.Request) {
	list, err := s.opt.Notify.Channels(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := channelsPage{Kinds: notify.Kinds, Labels: map[string]string{}, CanWrite: web.ViewerFrom(r.Context()).Can(PermChannelWrite),
		CanTest: web.ViewerFrom(r.Context()).Can(PermChannelTest)}
	for _, k := range notify.Kinds {
		d.Labels[k] = notify.KindLabel(k)
	}
	for _, c := range list {
		d.Channels = append(d.Channels, viewChannel(c))
	}
	s.render(w, r, "monitor_channels.html", "通知渠道", []web.Crumb{{Title: "通知渠道"}}, d)
}

type deliveryRow struct {
	notify.Delivery
	ChannelName string
	StatusLabel string
}

func (s *Service) pageDeliveries(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	q := r.URL.Query()
	ch, _ := strconv.ParseInt(q.Get("channel"), 10, 64)
	list, total, err := s.opt.Notify.Deliveries(r.Context(), notify.DeliveryFilter{ChannelID: ch, Status: q.Get("status"), Page: p.Page, Size: p.Size})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	chans, err := s.opt.Notify.Channels(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	names := map[int64]string{}
	for _, c := range chans {
		names[c.ID] = c.Name
	}
	rows := make([]deliveryRow, len(list))
	for i, d := range list {
		rows[i] = deliveryRow{Delivery: d, ChannelName: names[d.ChannelID], StatusLabel: notify.StatusLabel(d.Status)}
	}
	pages := max((total+p.Size-1)/p.Size, 1)
	d := map[string]any{"Rows": rows, "Total": total, "Page": p.Page, "Pages": pages, "Channels": chans, "Channel": ch, "Status": q.Get("status"),
		"Statuses": []string{notify.StatusQueued, notify.StatusSending, notify.StatusSent, notify.StatusFailed, notify.StatusMerged}, "StatusLabel": notify.StatusLabel}
	d["PrevURL"], d["NextURL"] = web.PageLinks(r.URL, p, total)
	s.render(w, r, "monitor_deliveries.html", "通知发送记录", []web.Crumb{{Title: "通知发送记录"}}, d)
}

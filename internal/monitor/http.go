package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/notify"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Routes are the module's pages and API. Monitoring objects belong to the provincial platform,
// not to a region: every route but the public status page is ProvinceWide.
func (s *Service) Routes() []web.Route {
	routes := []web.Route{
		{Method: "GET", Pattern: "/status", Permission: web.Public, Summary: "公开的系统运行状态页（无需登录）", Handler: s.pageStatus},

		{Method: "GET", Pattern: "/monitor", Permission: PermTargetRead, Summary: "监控目标总览", Handler: s.pageTargets},
		{Method: "GET", Pattern: "/monitor/targets/new", Permission: PermTargetWrite, Summary: "新增监控目标", Handler: s.pageTarget},
		{Method: "GET", Pattern: "/monitor/targets/{id}", Permission: PermTargetRead, Summary: "监控目标详情与图表", Handler: s.pageTarget},
		{Method: "GET", Pattern: "/monitor/alerts", Permission: PermAlertRead, Summary: "告警列表", Handler: s.pageAlerts},
		{Method: "GET", Pattern: "/monitor/alerts/{id}", Permission: PermAlertRead, Summary: "告警详情与历史", Handler: s.pageAlert},
		{Method: "GET", Pattern: "/monitor/rules", Permission: PermAlertRead, Summary: "告警规则", Handler: s.pageRules},
		{Method: "GET", Pattern: "/monitor/silences", Permission: PermAlertRead, Summary: "告警屏蔽与维护窗口", Handler: s.pageSilences},
		{Method: "GET", Pattern: "/monitor/charts", Permission: PermTargetRead, Summary: "主机与进程指标图表", Handler: s.pageCharts},
		{Method: "GET", Pattern: "/notify/channels", Permission: PermChannelRead, Summary: "通知渠道", Handler: s.pageChannels},
		{Method: "GET", Pattern: "/notify/deliveries", Permission: PermDeliveryRead, Summary: "通知发送记录", Handler: s.pageDeliveries},

		{Method: "GET", Pattern: "/api/v1/monitor/systems", Permission: PermTargetRead, Summary: "监控系统列表", Handler: s.apiSystems},
		{Method: "POST", Pattern: "/api/v1/monitor/systems", Permission: PermTargetWrite, Summary: "新增监控系统", Handler: s.apiSaveSystem},
		{Method: "PUT", Pattern: "/api/v1/monitor/systems/{id}", Permission: PermTargetWrite, Summary: "修改监控系统", Handler: s.apiSaveSystem},
		{Method: "GET", Pattern: "/api/v1/monitor/targets", Permission: PermTargetRead, Summary: "监控目标列表", Handler: s.apiTargets},
		{Method: "POST", Pattern: "/api/v1/monitor/targets", Permission: PermTargetWrite, Summary: "新增监控目标", Handler: s.apiSaveTarget},
		{Method: "GET", Pattern: "/api/v1/monitor/targets/{id}", Permission: PermTargetRead, Summary: "监控目标详情", Handler: s.apiTarget},
		{Method: "PUT", Pattern: "/api/v1/monitor/targets/{id}", Permission: PermTargetWrite, Summary: "修改监控目标", Handler: s.apiSaveTarget},
		{Method: "DELETE", Pattern: "/api/v1/monitor/targets/{id}", Permission: PermTargetWrite, Summary: "删除监控目标", Handler: s.apiDeleteTarget},
		{Method: "POST", Pattern: "/api/v1/monitor/targets/{id}/probe", Permission: PermTargetWrite, Summary: "立即探测一次（不写入结果）", Handler: s.apiProbeNow},
		{Method: "GET", Pattern: "/api/v1/monitor/series", Permission: PermTargetRead, Summary: "查询指标序列", Handler: s.apiSeries},
		{Method: "GET", Pattern: "/api/v1/monitor/rules", Permission: PermAlertRead, Summary: "告警规则列表", Handler: s.apiRules},
		{Method: "POST", Pattern: "/api/v1/monitor/rules", Permission: PermRuleWrite, Summary: "新增告警规则", Handler: s.apiSaveRule},
		{Method: "PUT", Pattern: "/api/v1/monitor/rules/{id}", Permission: PermRuleWrite, Summary: "修改告警规则", Handler: s.apiSaveRule},
		{Method: "DELETE", Pattern: "/api/v1/monitor/rules/{id}", Permission: PermRuleWrite, Summary: "删除告警规则", Handler: s.apiDeleteRule},
		{Method: "GET", Pattern: "/api/v1/monitor/alerts", Permission: PermAlertRead, Summary: "告警列表", Handler: s.apiAlerts},
		{Method: "GET", Pattern: "/api/v1/monitor/alerts/{id}", Permission: PermAlertRead, Summary: "告警详情与历史", Handler: s.apiAlert},
		{Method: "POST", Pattern: "/api/v1/monitor/alerts/{id}/ack", Permission: PermAlertAck, Summary: "确认告警", Handler: s.apiAck},
		{Method: "GET", Pattern: "/api/v1/monitor/silences", Permission: PermAlertRead, Summary: "告警屏蔽与维护窗口列表", Handler: s.apiSilences},
		{Method: "POST", Pattern: "/api/v1/monitor/silences", Permission: PermSilenceWrite, Summary: "新增告警屏蔽或维护窗口", Handler: s.apiSaveSilence},
		{Method: "DELETE", Pattern: "/api/v1/monitor/silences/{id}", Permission: PermSilenceWrite, Summary: "提前结束告警屏蔽", Handler: s.apiExpireSilence},
		{Method: "GET", Pattern: "/api/v1/monitor/settings", Permission: PermTargetRead, Summary: "监控设置（数据保留期、事件通知渠道）", Handler: s.apiSettings},
		{Method: "PUT", Pattern: "/api/v1/monitor/settings", Permission: PermSettingsWrite, Summary: "修改监控设置", Handler: s.apiSaveSettings},

		{Method: "GET", Pattern: "/api/v1/notify/channels", Permission: PermChannelRead, Summary: "通知渠道列表", Handler: s.apiChannels},
		{Method: "POST", Pattern: "/api/v1/notify/channels", Permission: PermChannelWrite, Summary: "新增通知渠道", Handler: s.apiSaveChannel},
		{Method: "GET", Pattern: "/api/v1/notify/channels/{id}", Permission: PermChannelRead, Summary: "通知渠道详情（密钥已隐藏）", Handler: s.apiChannel},
		{Method: "PUT", Pattern: "/api/v1/notify/channels/{id}", Permission: PermChannelWrite, Summary: "修改通知渠道", Handler: s.apiSaveChannel},
		{Method: "DELETE", Pattern: "/api/v1/notify/channels/{id}", Permission: PermChannelWrite, Summary: "删除通知渠道", Handler: s.apiDeleteChannel},
		{Method: "POST", Pattern: "/api/v1/notify/channels/{id}/test", Permission: PermChannelTest, Summary: "发送测试通知", Handler: s.apiTestChannel},
		{Method: "GET", Pattern: "/api/v1/notify/deliveries", Permission: PermDeliveryRead, Summary: "通知发送记录", Handler: s.apiDeliveries},
	}
	for i := range routes {
		routes[i].ProvinceWide = routes[i].Permission != web.Public
	}
	return routes
}

// fail maps the module's errors onto HTTP errors.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var inv invalidError
	switch {
	case errors.As(err, &inv):
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "invalid", "%s", inv.msg))
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, notify.ErrChannelNotFound):
		web.Fail(w, r, web.ErrNotFound)
	case errors.Is(err, notify.ErrRateLimited):
		web.Fail(w, r, web.Errorf(http.StatusTooManyRequests, "rate_limited", "%s", err.Error()))
	default:
		web.Fail(w, r, err)
	}
}

// audited runs f in a transaction and records the audit entry it returns in the same one.
func (s *Service) audited(r *http.Request, f func(tx *store.Tx) (audit.Entry, error)) error {
	return s.db.InTx(r.Context(), func(tx *store.Tx) error {
		e, err := f(tx)
		if err != nil {
			return err
		}
		return s.recordAudit(r, tx, e)
	})
}

func (s *Service) recordAudit(r *http.Request, q store.Q, e audit.Entry) error {
	if s.opt.Audit == nil {
		return nil
	}
	e.Kind = audit.KindOperation
	if e.Result == "" {
		e.Result = audit.ResultSuccess
	}
	return s.opt.Audit.Record(r.Context(), q, audit.FromRequest(r, e))
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return 0, false
	}
	return id, true
}

// flexFloat accepts a JSON number or a numeric string (from page forms).
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return invalid("数值无效: %s", s)
	}
	*f = flexFloat(v)
	return nil
}

// flexTime accepts RFC 3339 or a local (Asia/Shanghai) "2006-01-02T15:04" from page forms.
type flexTime struct{ time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if v, err := time.ParseInLocation(layout, s, shanghai); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return invalid("时间格式无效: %s", s)
}

func optID(n int64) *int64 {
	if n <= 0 {
		return nil
	}
	return &n
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := web.Decode(r, v); err != nil {
		var inv invalidError
		if errors.As(err, &inv) {
			fail(w, r, inv)
		} else {
			web.Fail(w, r, err)
		}
		return false
	}
	return true
}

// ---- systems ----

func (s *Service) apiSystems(w http.ResponseWriter, r *http.Request) {
	list, err := s.Systems(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiSaveSystem(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code        string `json:"code"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Sort        int    `json:"sort"`
		Public      *bool  `json:"public"`
	}
	if !decode(w, r, &in) {
		return
	}
	sys := System{Code: in.Code, Name: in.Name, Description: in.Description, Sort: in.Sort, Public: in.Public == nil || *in.Public}
	action := "monitor.system.create"
	if r.Method == http.MethodPut {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		sys.ID, action = id, "monitor.system.update"
	}
	var id int64
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		var err error
		id, err = s.SaveSystem(r.Context(), tx, sys)
		return audit.Entry{Action: action, ObjectType: "monitor_system", ObjectID: itoa(id), Detail: "监控系统「" + sys.Name + "」"}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	s.invalidateStatus()
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "已保存"})
}

func (s *Service) invalidateStatus() {
	s.statusMu.Lock()
	s.statusCache = nil
	s.statusMu.Unlock()
}

// ---- targets ----

func (s *Service) apiTargets(w http.ResponseWriter, r *http.Request) {
	sys, _ := strconv.ParseInt(r.URL.Query().Get("system"), 10, 64)
	list, err := s.Targets(r.Context(), sys)
	if err != nil {
		fail(w, r, err)
		return
	}
	for i := range list {
		list[i] = list[i].Redacted()
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiTarget(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := s.Target(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, t.Redacted())
}

// targetInput is a target as the API takes it: options nested in config, or flat (forms).
type targetInput struct {
	SystemID        int64         `json:"system_id"`
	ParentID        int64         `json:"parent_id"`
	Name            string        `json:"name"`
	Kind            string        `json:"kind"`
	Address         string        `json:"address"`
	IntervalSeconds int           `json:"interval_seconds"`
	TimeoutMS       int           `json:"timeout_ms"`
	Retries         *int          `json:"retries"`
	Enabled         *bool         `json:"enabled"`
	Config          *TargetConfig `json:"config"`
	TargetConfig
}

func (in targetInput) target() Target {
	t := Target{SystemID: in.SystemID, ParentID: optID(in.ParentID), Name: in.Name, Kind: in.Kind, Address: in.Address,
		IntervalSeconds: in.IntervalSeconds, TimeoutMS: in.TimeoutMS, Retries: 1, Enabled: in.Enabled == nil || *in.Enabled, Config: in.TargetConfig}
	if in.Retries != nil {
		t.Retries = *in.Retries
	}
	if in.Config != nil {
		t.Config = *in.Config
	}
	return t
}

func (s *Service) apiSaveTarget(w http.ResponseWriter, r *http.Request) {
	var in targetInput
	if !decode(w, r, &in) {
		return
	}
	t := in.target()
	action := "monitor.target.create"
	if r.Method == http.MethodPut {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		t.ID, action = id, "monitor.target.update"
	}
	var id int64
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		var err error
		id, err = s.SaveTarget(r.Context(), tx, t, iam.FromContext(r.Context()).UserID)
		return audit.Entry{Action: action, ObjectType: "monitor_target", ObjectID: itoa(id),
			Detail: fmt.Sprintf("%s监控目标「%s」（%s %s）", map[bool]string{true: "新增", false: "修改"}[t.ID == 0], t.Name, KindLabels[t.Kind], redactAddress(t.Kind, t.Address))}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	s.reload()
	s.invalidateStatus()
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "已保存"})
}

func (s *Service) apiDeleteTarget(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		t, err := getTarget(r.Context(), tx, id)
		if err != nil {
			return audit.Entry{}, err
		}
		return audit.Entry{Action: "monitor.target.delete", ObjectType: "monitor_target", ObjectID: itoa(id),
			Detail: "删除监控目标「" + t.Name + "」及其指标数据"}, s.DeleteTarget(r.Context(), tx, id)
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	s.forgetSeries()
	s.reload()
	s.invalidateStatus()
	web.JSON(w, http.StatusOK, map[string]any{"message": "已删除"})
}

// apiProbeNow runs the target's probe once and returns the result without storing it.
func (s *Service) apiProbeNow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := s.Target(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	res := NewProber(s.opt.SelfURL).Probe(r.Context(), t)
	out := map[string]any{"ok": res.OK, "latency_ms": float64(res.Latency.Microseconds()) / 1000, "error": res.Error,
		"attempts": res.Attempts, "status_code": res.StatusCode}
	if !res.CertExpires.IsZero() {
		out["cert_expires_at"] = res.CertExpires.UTC()
	}
	if res.OK {
		out["message"] = fmt.Sprintf("探测成功，耗时 %.1f 毫秒", out["latency_ms"])
	} else {
		out["message"] = "探测失败：" + res.Error
	}
	web.JSON(w, http.StatusOK, out)
}

func (s *Service) apiSeries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if !metricRE.MatchString(name) {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "invalid", "请指定指标名称 name"))
		return
	}
	to, from := s.now(), s.now().Add(-6*time.Hour)
	for k, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := q.Get(k); v != "" {
			var ft flexTime
			if err := ft.UnmarshalJSON([]byte(strconv.Quote(v))); err != nil || ft.IsZero() {
				fail(w, r, invalid("%s 时间格式无效", k))
				return
			}
			*dst = ft.Time
		}
	}
	if !to.After(from) {
		fail(w, r, invalid("结束时间须晚于开始时间"))
		return
	}
	match, err := parseMatchers(q.Get("match"))
	if err != nil {
		fail(w, r, err)
		return
	}
	target, _ := strconv.ParseInt(q.Get("target"), 10, 64)
	list, err := s.Query(r.Context(), name, match, target, from, to)
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": list, "from": from, "to": to})
}

// ---- rules ----

func (s *Service) apiRules(w http.ResponseWriter, r *http.Request) {
	list, err := s.Rules(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiSaveRule(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name          string    `json:"name"`
		Metric        string    `json:"metric"`
		Matchers      string    `json:"matchers"`
		SystemID      int64     `json:"system_id"`
		TargetID      int64     `json:"target_id"`
		Op            string    `json:"op"`
		Threshold     flexFloat `json:"threshold"`
		ForSeconds    int       `json:"for_seconds"`
		Severity      string    `json:"severity"`
		RepeatSeconds int       `json:"repeat_seconds"`
		Channels      string    `json:"channels"`
		Description   string    `json:"description"`
		Enabled       *bool     `json:"enabled"`
	}
	if !decode(w, r, &in) {
		return
	}
	rule := Rule{Name: in.Name, Metric: in.Metric, Matchers: in.Matchers, SystemID: optID(in.SystemID), TargetID: optID(in.TargetID),
		Op: in.Op, Threshold: float64(in.Threshold), ForSeconds: in.ForSeconds, Severity: in.Severity, RepeatSeconds: in.RepeatSeconds,
		Channels: in.Channels, Description: in.Description, Enabled: in.Enabled == nil || *in.Enabled}
	action := "monitor.rule.create"
	if r.Method == http.MethodPut {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		rule.ID, action = id, "monitor.rule.update"
	}
	var id int64
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		var err error
		id, err = s.SaveRule(r.Context(), tx, rule)
		return audit.Entry{Action: action, ObjectType: "monitor_rule", ObjectID: itoa(id),
			Detail: fmt.Sprintf("告警规则「%s」：%s，持续 %d 秒，级别 %s", rule.Name, rule.Condition(), rule.ForSeconds, SeverityLabels[rule.Severity])}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "已保存"})
}

func (s *Service) apiDeleteRule(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		var name string
		if err := tx.Get(r.Context(), &name, `SELECT name FROM monitor_rules WHERE id = ?`, id); err != nil {
			return audit.Entry{}, err
		}
		_, err := tx.Exec(r.Context(), `DELETE FROM monitor_rules WHERE id = ?`, id)
		return audit.Entry{Action: "monitor.rule.delete", ObjectType: "monitor_rule", ObjectID: itoa(id), Detail: "删除告警规则「" + name + "」及其告警历史"}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已删除"})
}

// ---- alerts ----

func (s *Service) apiAlerts(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	sys, _ := strconv.ParseInt(r.URL.Query().Get("system"), 10, 64)
	list, total, err := s.Alerts(r.Context(), AlertFilter{State: r.URL.Query().Get("state"), SystemID: sys, Page: p.Page, Size: p.Size})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[Alert]{Items: list, Total: total, Page: p.Page, Size: p.Size})
}

func (s *Service) apiAlert(w http.ResponseWriter, r *http.Request) {
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
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"alert": a, "events": evs})
}

func (s *Service) apiAck(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 && !decode(w, r, &in) {
		return
	}
	p := iam.FromContext(r.Context())
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		return audit.Entry{Action: "monitor.alert.ack", ObjectType: "monitor_alert", ObjectID: itoa(id), Detail: "确认告警 " + in.Note},
			s.Ack(r.Context(), tx, id, p.Account, strings.TrimSpace(in.Note))
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已确认，不再重复通知"})
}

// ---- silences ----

func (s *Service) apiSilences(w http.ResponseWriter, r *http.Request) {
	list, err := s.Silences(r.Context(), r.URL.Query().Get("active") == "1")
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiSaveSilence(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind          string   `json:"kind"`
		SystemID      int64    `json:"system_id"`
		TargetID      int64    `json:"target_id"`
		RuleID        int64    `json:"rule_id"`
		StartsAt      flexTime `json:"starts_at"`
		EndsAt        flexTime `json:"ends_at"`
		Recurrence    string   `json:"recurrence"`
		Weekdays      string   `json:"weekdays"`
		WindowStart   string   `json:"window_start"`
		WindowMinutes int      `json:"window_minutes"`
		Comment       string   `json:"comment"`
	}
	if !decode(w, r, &in) {
		return
	}
	x := Silence{Kind: in.Kind, SystemID: optID(in.SystemID), TargetID: optID(in.TargetID), RuleID: optID(in.RuleID),
		StartsAt: in.StartsAt.Time, EndsAt: in.EndsAt.Time, Recurrence: in.Recurrence, Weekdays: in.Weekdays,
		WindowStart: in.WindowStart, WindowMinutes: in.WindowMinutes, Comment: in.Comment, CreatedBy: iam.FromContext(r.Context()).Account}
	var id int64
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		var err error
		id, err = s.SaveSilence(r.Context(), tx, x)
		return audit.Entry{Action: "monitor.silence.create", ObjectType: "monitor_silence", ObjectID: itoa(id),
			Detail: fmt.Sprintf("新增%s：%s（%s）", x.KindLabel(), x.Describe(), x.Comment)}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	s.invalidateStatus()
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "已保存"})
}

func (s *Service) apiExpireSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		return audit.Entry{Action: "monitor.silence.expire", ObjectType: "monitor_silence", ObjectID: itoa(id), Detail: "提前结束告警屏蔽"},
			s.ExpireSilence(r.Context(), tx, id)
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	s.invalidateStatus()
	web.JSON(w, http.StatusOK, map[string]any{"message": "已结束"})
}

// ---- settings ----

type settings struct {
	Retention
	EventChannels string `json:"event_channels"`
}

func (s *Service) settings(ctx context.Context) (settings, error) {
	r, err := s.Retention(ctx)
	st := settings{Retention: r}
	s.db.Get(ctx, &st.EventChannels, `SELECT value FROM settings WHERE key = ?`, eventChannelsKey)
	return st, err
}

func (s *Service) apiSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.settings(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, st)
}

func (s *Service) apiSaveSettings(w http.ResponseWriter, r *http.Request) {
	var in settings
	if !decode(w, r, &in) {
		return
	}
	ids := parseIDs(in.EventChannels)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = itoa(id)
	}
	err := s.audited(r, func(tx *store.Tx) (audit.Entry, error) {
		if err := s.SetRetention(r.Context(), tx, in.Retention); err != nil {
			return audit.Entry{}, err
		}
		for _, id := range ids {
			var n int
			if err := tx.Get(r.Context(), &n, `SELECT COUNT(*) FROM notify_channels WHERE id = ?`, id); err != nil {
				return audit.Entry{}, err
			}
			if n == 0 {
				return audit.Entry{}, invalid("通知渠道 %d 不存在", id)
			}
		}
		_, err := tx.Exec(r.Context(), `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, eventChannelsKey, strings.Join(parts, ","), s.now())
		return audit.Entry{Action: "monitor.settings.update", ObjectType: "settings", ObjectID: retentionKey,
			Detail: fmt.Sprintf("监控数据保留期：原始 %d 天，5 分钟汇总 %d 天，小时汇总 %d 天；事件通知渠道：%s",
				in.RawDays, in.FiveMinDay, in.HourlyDays, orDefault(strings.Join(parts, ","), "全部启用的渠道"))}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已保存"})
}

// ---- notification channels (the hub's HTTP face) ----

type channelView struct {
	notify.Channel
	KindLabel string `json:"kind_label"`
}

func viewChannel(c notify.Channel) channelView {
	c.Config = notify.RedactConfig(c.Config)
	return channelView{Channel: c, KindLabel: notify.KindLabel(c.Kind)}
}

func (s *Service) apiChannels(w http.ResponseWriter, r *http.Request) {
	list, err := s.opt.Notify.Channels(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	out := make([]channelView, len(list))
	for i, c := range list {
		out[i] = viewChannel(c)
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (s *Service) apiChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	c, err := s.opt.Notify.Channel(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, viewChannel(c))
}

// hubError turns the hub's validation errors (plain errors with Chinese text) into 400s.
func hubError(err error) error {
	if errors.Is(err, notify.ErrChannelNotFound) || errors.Is(err, notify.ErrRateLimited) {
		return err
	}
	for _, r := range err.Error() {
		if r >= 0x4e00 && r <= 0x9fff {
			return invalidError{err.Error()}
		}
	}
	return err
}

func (s *Service) apiSaveChannel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name    string          `json:"name"`
		Kind    string          `json:"kind"`
		Config  json.RawMessage `json:"config"`
		Enabled *bool           `json:"enabled"`
	}
	if !decode(w, r, &in) {
		return
	}
	// Page forms send the configuration as a JSON text.
	if cfg := bytes.TrimSpace(in.Config); len(cfg) > 0 && cfg[0] == '"' {
		var text string
		json.Unmarshal(cfg, &text)
		if strings.TrimSpace(text) == "" {
			text = "{}"
		}
		if !json.Valid([]byte(text)) {
			fail(w, r, invalid("渠道配置须为 JSON 对象"))
			return
		}
		in.Config = json.RawMessage(text)
	}
	ch := notify.Channel{Name: in.Name, Kind: in.Kind, Config: in.Config, Enabled: in.Enabled == nil || *in.Enabled}
	ctx := r.Context()
	var err error
	action := "notify.channel.create"
	if r.Method == http.MethodPut {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		ch.ID, action = id, "notify.channel.update"
		err = s.opt.Notify.UpdateChannel(ctx, ch)
	} else {
		ch.ID, err = s.opt.Notify.CreateChannel(ctx, ch)
	}
	if err != nil {
		fail(w, r, hubError(err))
		return
	}
	// The hub commits the channel itself; the audit record follows at once.
	if err := s.recordAudit(r, nil, audit.Entry{Action: action, ObjectType: "notify_channel", ObjectID: itoa(ch.ID),
		Detail: fmt.Sprintf("通知渠道「%s」（%s，%s）", ch.Name, notify.KindLabel(ch.Kind), map[bool]string{true: "启用", false: "停用"}[ch.Enabled])}); err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": ch.ID, "message": "已保存"})
}

func (s *Service) apiDeleteChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	c, err := s.opt.Notify.Channel(r.Context(), id)
	if err == nil {
		err = s.opt.Notify.DeleteChannel(r.Context(), id)
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := s.recordAudit(r, nil, audit.Entry{Action: "notify.channel.delete", ObjectType: "notify_channel", ObjectID: itoa(id),
		Detail: "删除通知渠道「" + c.Name + "」及其发送记录"}); err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已删除"})
}

func (s *Service) apiTestChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	did, sendErr := s.opt.Notify.SendTest(r.Context(), id)
	if errors.Is(sendErr, notify.ErrChannelNotFound) || errors.Is(sendErr, notify.ErrRateLimited) {
		fail(w, r, sendErr)
		return
	}
	result, detail := audit.ResultSuccess, "发送测试通知成功"
	if sendErr != nil {
		result, detail = audit.ResultFailure, "发送测试通知失败"
	}
	if err := s.recordAudit(r, nil, audit.Entry{Action: "notify.channel.test", ObjectType: "notify_channel", ObjectID: itoa(id), Result: result, Detail: detail}); err != nil {
		fail(w, r, err)
		return
	}
	if sendErr != nil {
		if did == 0 {
			fail(w, r, hubError(sendErr))
			return
		}
		web.Fail(w, r, web.Errorf(http.StatusBadGateway, "send_failed", "测试消息发送失败：%s（发送记录 %d）", sendErr.Error(), did))
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": did, "message": "测试消息已发送，请在接收端确认"})
}

func (s *Service) apiDeliveries(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ch, _ := strconv.ParseInt(r.URL.Query().Get("channel"), 10, 64)
	list, total, err := s.opt.Notify.Deliveries(r.Context(), notify.DeliveryFilter{ChannelID: ch, Status: r.URL.Query().Get("status"), Page: p.Page, Size: p.Size})
	if err != nil {
		fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[notify.Delivery]{Items: list, Total: total, Page: p.Page, Size: p.Size})
}

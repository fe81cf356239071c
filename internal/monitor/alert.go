package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/events"
	"zhsj/internal/notify"
	"zhsj/internal/store"
)

// Alert states.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// StateLabels are the Chinese names of alert states.
var StateLabels = map[string]string{StatePending: "待触发", StateFiring: "告警中", StateResolved: "已恢复"}

// Alert is one alert: a rule's condition holding on one series.
type Alert struct {
	ID             int64      `db:"id" json:"id"`
	RuleID         int64      `db:"rule_id" json:"rule_id"`
	Fingerprint    string     `db:"fingerprint" json:"fingerprint"`
	SeriesID       *int64     `db:"series_id" json:"series_id,omitempty"`
	TargetID       *int64     `db:"target_id" json:"target_id,omitempty"`
	SystemID       *int64     `db:"system_id" json:"system_id,omitempty"`
	Labels         string     `db:"labels" json:"labels"`
	State          string     `db:"state" json:"state"`
	Severity       string     `db:"severity" json:"severity"`
	Value          float64    `db:"value" json:"value"`
	Summary        string     `db:"summary" json:"summary"`
	StartedAt      time.Time  `db:"started_at" json:"started_at"`
	FiredAt        *time.Time `db:"fired_at" json:"fired_at,omitempty"`
	ResolvedAt     *time.Time `db:"resolved_at" json:"resolved_at,omitempty"`
	LastEvalAt     time.Time  `db:"last_eval_at" json:"last_eval_at"`
	LastNotifiedAt *time.Time `db:"last_notified_at" json:"last_notified_at,omitempty"`
	NotifyCount    int        `db:"notify_count" json:"notify_count"`
	SilencedBy     *int64     `db:"silenced_by" json:"silenced_by,omitempty"`
	InhibitedBy    *int64     `db:"inhibited_by" json:"inhibited_by,omitempty"`
	AckedBy        string     `db:"acked_by" json:"acked_by"`
	AckedAt        *time.Time `db:"acked_at" json:"acked_at,omitempty"`
	AckNote        string     `db:"ack_note" json:"ack_note"`

	RuleName   string `db:"rule_name" json:"rule_name"`
	TargetName string `db:"target_name" json:"target_name"`
	SystemName string `db:"system_name" json:"system_name"`
	SystemCode string `db:"system_code" json:"system_code"`
}

// SeverityLabel is the Chinese grade.
func (a Alert) SeverityLabel() string { return SeverityLabels[a.Severity] }

// StateLabel is the Chinese state.
func (a Alert) StateLabel() string { return StateLabels[a.State] }

// Subject names what the alert is about: system · target (or the labels).
func (a Alert) Subject() string {
	var parts []string
	if a.SystemName != "" {
		parts = append(parts, a.SystemName)
	}
	if a.TargetName != "" {
		parts = append(parts, a.TargetName)
	} else if a.Labels != "" {
		parts = append(parts, a.Labels)
	}
	return strings.Join(parts, " · ")
}

const alertSelect = `SELECT a.*, COALESCE(r.name, '') AS rule_name, COALESCE(t.name, '') AS target_name,
	COALESCE(y.name, '') AS system_name, COALESCE(y.code, '') AS system_code
	FROM monitor_alerts a LEFT JOIN monitor_rules r ON r.id = a.rule_id
	LEFT JOIN monitor_targets t ON t.id = a.target_id LEFT JOIN monitor_systems y ON y.id = a.system_id`

// candidate is a series a rule looks at.
type candidate struct {
	SeriesID   int64    `db:"id"`
	Name       string   `db:"name"`
	Labels     string   `db:"labels"`
	TargetID   *int64   `db:"target_id"`
	Value      *float64 `db:"last_value"`
	LastAt     *int64   `db:"last_at"`
	SystemID   *int64   `db:"system_id"`
	Interval   *int     `db:"interval_seconds"`
	TimeoutMS  *int     `db:"timeout_ms"`
	Retries    *int     `db:"retries"`
	Enabled    *bool    `db:"enabled"`
	TargetName *string  `db:"target_name"`
	LastError  *string  `db:"last_error"`
}

// fresh reports whether the series' newest value is recent enough to judge on.
func (c candidate) fresh(now time.Time, hostInterval time.Duration) bool {
	if c.Value == nil || c.LastAt == nil {
		return false
	}
	stale := 5 * time.Minute
	if hostInterval > 0 {
		stale = max(stale, 4*hostInterval)
	}
	if c.TargetID != nil {
		if c.Enabled == nil || !*c.Enabled {
			return false
		}
		if c.Interval != nil && c.TimeoutMS != nil && c.Retries != nil {
			stale = 3*time.Duration(*c.Interval)*time.Second + time.Duration(*c.TimeoutMS**c.Retries+*c.TimeoutMS)*time.Millisecond + 30*time.Second
		}
	}
	return now.Sub(time.UnixMilli(*c.LastAt)) <= stale
}

// transition is a state change made by one evaluation.
type transition struct {
	alert Alert
	kind  string // firing | resolved
}

// Evaluate runs every enabled rule against the newest values: pending → firing after the
// rule's duration, firing → resolved when the condition clears (or data stops: a stale
// series, a disabled target), pending alerts that clear vanish. Then it sends what is due:
// firing notices (grouped by system and channels), repeats, and recoveries, respecting
// silences, maintenance windows and inhibition (an alert on a target whose parent target has
// a firing alert is inhibited). The same condition never opens a second alert: the
// fingerprint (rule, series) is unique among open alerts.
func (s *Service) Evaluate(ctx context.Context) error {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	now := s.now()
	var rules []Rule
	if err := s.db.Select(ctx, &rules, `SELECT * FROM monitor_rules WHERE enabled ORDER BY id`); err != nil {
		return err
	}
	var open []Alert
	if err := s.db.Select(ctx, &open, alertSelect+` WHERE a.state <> 'resolved'`); err != nil {
		return err
	}
	active := map[string]Alert{}
	for _, a := range open {
		active[a.Fingerprint] = a
	}
	seen := map[string]bool{}
	var changes []transition
	byMetric := map[string][]candidate{}
	for _, r := range rules {
		cands, ok := byMetric[r.Metric]
		if !ok {
			if err := s.db.Select(ctx, &cands, `SELECT s.id, s.name, s.labels, s.target_id, s.last_value, s.last_at, t.system_id,
				t.interval_seconds, t.timeout_ms, t.retries, t.enabled, t.name AS target_name, t.last_error
				FROM monitor_series s LEFT JOIN monitor_targets t ON t.id = s.target_id WHERE s.name = ?`, r.Metric); err != nil {
				return err
			}
			byMetric[r.Metric] = cands
		}
		match, _ := parseMatchers(r.Matchers)
		for _, c := range cands {
			if r.TargetID != nil && (c.TargetID == nil || *c.TargetID != *r.TargetID) {
				continue
			}
			if r.SystemID != nil && (c.SystemID == nil || *c.SystemID != *r.SystemID) {
				continue
			}
			if !labelsMatch(c.Labels, match) || !c.fresh(now, s.opt.HostInterval) {
				continue
			}
			fp := r.fingerprint(c.SeriesID)
			seen[fp] = true
			cond := compare(*c.Value, r.Op, r.Threshold)
			a, exists := active[fp]
			var err error
			switch {
			case cond && !exists:
				var t *transition
				t, err = s.openAlert(ctx, r, c, now)
				if t != nil {
					changes = append(changes, *t)
				}
			case cond && a.State == StatePending && now.Sub(a.StartedAt) >= time.Duration(r.ForSeconds)*time.Second:
				a.Value, a.Summary = *c.Value, summary(r, c)
				err = s.fire(ctx, &a, now)
				changes = append(changes, transition{a, StateFiring})
			case cond:
				if a.Value != *c.Value || a.Summary != summary(r, c) {
					_, err = s.db.Exec(ctx, `UPDATE monitor_alerts SET value = ?, summary = ?, last_eval_at = ? WHERE id = ?`, *c.Value, summary(r, c), now, a.ID)
				}
			case exists:
				a.Value = *c.Value
				var t *transition
				t, err = s.close(ctx, a, now, "")
				if t != nil {
					changes = append(changes, *t)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	// Open alerts nobody looked at: the rule was disabled or deleted, the series went stale or
	// its target was disabled. They end.
	for fp, a := range active {
		if seen[fp] {
			continue
		}
		t, err := s.close(ctx, a, now, "无数据（目标停用、规则停用或指标不再上报）")
		if err != nil {
			return err
		}
		if t != nil {
			changes = append(changes, *t)
		}
	}
	return s.dispatch(ctx, rules, changes, now)
}

func (r Rule) fingerprint(seriesID int64) string { return fmt.Sprintf("%d/%d", r.ID, seriesID) }

// summary describes the value that triggered.
func summary(r Rule, c candidate) string {
	v := formatValue(r.Metric, *c.Value)
	if r.Metric == "probe_success" && c.LastError != nil && *c.LastError != "" {
		return "探测失败：" + *c.LastError
	}
	return fmt.Sprintf("%s 当前值 %s（阈值 %s %s）", metricLabel(r.Metric), v, r.Op, strconv.FormatFloat(r.Threshold, 'f', -1, 64))
}

func formatValue(metric string, v float64) string {
	switch {
	case strings.HasSuffix(metric, "_percent"):
		return fmt.Sprintf("%.1f%%", v)
	case strings.HasSuffix(metric, "_seconds"):
		return fmt.Sprintf("%.3f 秒", v)
	case strings.HasSuffix(metric, "_days_left"):
		return fmt.Sprintf("%.1f 天", v)
	case metric == "probe_success":
		if v >= 1 {
			return "成功"
		}
		return "失败"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// metricLabels name the well-known metrics in Chinese.
var metricLabels = map[string]string{
	"probe_success": "探测结果", "probe_duration_seconds": "探测耗时", "probe_http_status_code": "HTTP 状态码",
	"probe_cert_days_left": "证书剩余天数", "host_cpu_percent": "CPU 使用率", "host_memory_used_percent": "内存使用率",
	"host_disk_used_percent": "磁盘使用率", "host_load1": "1 分钟负载", "host_tcp_connections": "TCP 连接数",
	"process_open_fds": "进程打开文件数", "process_resident_bytes": "进程常驻内存",
}

func metricLabel(m string) string {
	if l := metricLabels[m]; l != "" {
		return l
	}
	return m
}

func alertPayload(a Alert) map[string]any {
	p := map[string]any{"alert": a.ID, "rule": a.RuleID, "severity": a.Severity, "group": "system:" + a.SystemCode, "system": a.SystemCode}
	if a.TargetID != nil {
		p["target"] = *a.TargetID
	}
	return p
}

func addEvent(ctx context.Context, q store.Q, id int64, at time.Time, kind, detail string) error {
	_, err := q.Exec(ctx, `INSERT INTO monitor_alert_events (alert_id, at, kind, detail) VALUES (?, ?, ?, ?)`, id, at, kind, detail)
	return err
}

// openAlert inserts a new pending (or, without a duration, firing) alert.
func (s *Service) openAlert(ctx context.Context, r Rule, c candidate, now time.Time) (*transition, error) {
	a := Alert{RuleID: r.ID, Fingerprint: r.fingerprint(c.SeriesID), SeriesID: &c.SeriesID, TargetID: c.TargetID, SystemID: c.SystemID,
		Labels: c.Labels, State: StatePending, Severity: r.Severity, Value: *c.Value, Summary: summary(r, c), StartedAt: now, LastEvalAt: now,
		RuleName: r.Name}
	if c.TargetName != nil {
		a.TargetName = *c.TargetName
	}
	var fired bool
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		a.ID, err = store.InsertID(ctx, tx, `INSERT INTO monitor_alerts (rule_id, fingerprint, series_id, target_id, system_id, labels, state,
			severity, value, summary, started_at, last_eval_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
			a.RuleID, a.Fingerprint, a.SeriesID, a.TargetID, a.SystemID, a.Labels, a.Severity, a.Value, a.Summary, now, now)
		if err != nil {
			return err
		}
		if err := addEvent(ctx, tx, a.ID, now, StatePending, a.Summary); err != nil {
			return err
		}
		if r.ForSeconds == 0 {
			fired = true
			return s.fireTx(ctx, tx, &a, now)
		}
		return nil
	})
	if err != nil || !fired {
		return nil, err
	}
	return &transition{a, StateFiring}, nil
}

func (s *Service) fire(ctx context.Context, a *Alert, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.fireTx(ctx, tx, a, now) })
}

func (s *Service) fireTx(ctx context.Context, tx *store.Tx, a *Alert, now time.Time) error {
	if err := s.fillNames(ctx, tx, a); err != nil {
		return err
	}
	a.State, a.FiredAt = StateFiring, &now
	if _, err := tx.Exec(ctx, `UPDATE monitor_alerts SET state = 'firing', fired_at = ?, value = ?, summary = ?, last_eval_at = ? WHERE id = ?`,
		now, a.Value, a.Summary, now, a.ID); err != nil {
		return err
	}
	if err := addEvent(ctx, tx, a.ID, now, StateFiring, a.Summary); err != nil {
		return err
	}
	s.m.alertsFired.WithLabelValues(a.Severity).Inc()
	return events.Publish(ctx, tx, "monitor.alert.firing", alertPayload(*a))
}

// fillNames loads the names shown in notifications.
func (s *Service) fillNames(ctx context.Context, q store.Q, a *Alert) error {
	var x struct {
		Rule   string `db:"rule_name"`
		Target string `db:"target_name"`
		System string `db:"system_name"`
		Code   string `db:"system_code"`
	}
	err := q.Get(ctx, &x, `SELECT COALESCE(r.name, '') AS rule_name, COALESCE(t.name, '') AS target_name,
		COALESCE(y.name, '') AS system_name, COALESCE(y.code, '') AS system_code
		FROM monitor_rules r LEFT JOIN monitor_targets t ON t.id = ? LEFT JOIN monitor_systems y ON y.id = ? WHERE r.id = ?`,
		a.TargetID, a.SystemID, a.RuleID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a.RuleName, a.TargetName, a.SystemName, a.SystemCode = x.Rule, x.Target, x.System, x.Code
	return nil
}

// close ends an open alert: a pending one vanishes (it never fired), a firing one resolves.
func (s *Service) close(ctx context.Context, a Alert, now time.Time, why string) (*transition, error) {
	if a.State == StatePending {
		_, err := s.db.Exec(ctx, `DELETE FROM monitor_alerts WHERE id = ? AND state = 'pending'`, a.ID)
		return nil, err
	}
	detail := "条件不再满足，已恢复"
	if why != "" {
		detail = why
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE monitor_alerts SET state = 'resolved', resolved_at = ?, last_eval_at = ?, value = ? WHERE id = ? AND state = 'firing'`,
			now, now, a.Value, a.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if err := addEvent(ctx, tx, a.ID, now, StateResolved, detail); err != nil {
			return err
		}
		return events.Publish(ctx, tx, "monitor.alert.resolved", alertPayload(a))
	})
	a.State, a.ResolvedAt = StateResolved, &now
	return &transition{a, StateResolved}, err
}

// dispatch updates silence and inhibition marks of firing alerts and sends what is due.
func (s *Service) dispatch(ctx context.Context, rules []Rule, changes []transition, now time.Time) error {
	ruleByID := map[int64]Rule{}
	for _, r := range rules {
		ruleByID[r.ID] = r
	}
	var firing []Alert
	if err := s.db.Select(ctx, &firing, alertSelect+` WHERE a.state = 'firing' ORDER BY a.id`); err != nil {
		return err
	}
	sils, err := s.Silences(ctx, true)
	if err != nil {
		return err
	}
	// Inhibition: a firing alert on a target inhibits the alerts of the targets below it.
	var parents []struct {
		ID       int64  `db:"id"`
		ParentID *int64 `db:"parent_id"`
	}
	if err := s.db.Select(ctx, &parents, `SELECT id, parent_id FROM monitor_targets WHERE parent_id IS NOT NULL`); err != nil {
		return err
	}
	parentOf := map[int64]int64{}
	for _, p := range parents {
		parentOf[p.ID] = *p.ParentID
	}
	firingOn := map[int64]int64{} // target → a firing alert on it
	for _, a := range firing {
		if a.TargetID != nil {
			if _, ok := firingOn[*a.TargetID]; !ok {
				firingOn[*a.TargetID] = a.ID
			}
		}
	}
	inhibitor := func(a Alert) *int64 {
		if a.TargetID == nil {
			return nil
		}
		seen := map[int64]bool{}
		for t := *a.TargetID; ; {
			p, ok := parentOf[t]
			if !ok || seen[p] {
				return nil
			}
			seen[p] = true
			if id, ok := firingOn[p]; ok {
				return &id
			}
			t = p
		}
	}
	var due []notice
	for _, a := range firing {
		var sil *int64
		for _, x := range sils {
			if x.activeAt(now) && x.matches(a.RuleID, a.TargetID, a.SystemID) {
				sil = &x.ID
				break
			}
		}
		inh := inhibitor(a)
		if !sameID(sil, a.SilencedBy) || !sameID(inh, a.InhibitedBy) {
			err := s.db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `UPDATE monitor_alerts SET silenced_by = ?, inhibited_by = ? WHERE id = ?`, sil, inh, a.ID); err != nil {
					return err
				}
				switch {
				case sil != nil && !sameID(sil, a.SilencedBy):
					return addEvent(ctx, tx, a.ID, now, "silenced", fmt.Sprintf("被屏蔽规则 %d 屏蔽，不发送通知", *sil))
				case inh != nil && !sameID(inh, a.InhibitedBy):
					return addEvent(ctx, tx, a.ID, now, "inhibited", fmt.Sprintf("上级目标告警 %d 触发中，本告警被抑制", *inh))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if sil != nil || inh != nil {
			continue
		}
		r, ok := ruleByID[a.RuleID]
		if !ok {
			continue
		}
		switch {
		case a.NotifyCount == 0:
			due = append(due, notice{a, r, StateFiring})
		case r.RepeatSeconds > 0 && a.AckedAt == nil && a.LastNotifiedAt != nil &&
			now.Sub(*a.LastNotifiedAt) >= time.Duration(r.RepeatSeconds)*time.Second:
			due = append(due, notice{a, r, "repeat"})
		}
	}
	for _, c := range changes {
		if c.kind != StateResolved {
			continue
		}
		var a Alert
		if err := s.db.Get(ctx, &a, alertSelect+` WHERE a.id = ?`, c.alert.ID); err != nil {
			return err
		}
		r, ok := ruleByID[a.RuleID]
		if a.NotifyCount > 0 && ok {
			due = append(due, notice{a, r, StateResolved})
		}
	}
	return s.send(ctx, due, now)
}

func sameID(a, b *int64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// notice is one alert to tell about.
type notice struct {
	a    Alert
	r    Rule
	kind string // firing | repeat | resolved
}

// send groups notices by system, kind and channels and queues one message per group and
// channel, marking the alerts notified in the same transaction. Queuing is idempotent: the
// dedup key names the alerts and their notification counts.
func (s *Service) send(ctx context.Context, due []notice, now time.Time) error {
	if len(due) == 0 || s.opt.Notify == nil {
		return nil
	}
	enabled, err := s.enabledChannels(ctx)
	if err != nil {
		return err
	}
	groups := map[string][]notice{}
	var keys []string
	for _, n := range due {
		chs := n.r.ChannelIDs()
		if len(chs) == 0 {
			chs = enabled
		}
		var parts []string
		for _, id := range chs {
			parts = append(parts, itoa(id))
		}
		kind := n.kind
		if kind == "repeat" {
			kind = StateFiring
		}
		k := fmt.Sprintf("%s|%s|%s", n.a.SystemCode, kind, strings.Join(parts, ","))
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], n)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		chs := parseIDs(strings.Split(k, "|")[2])
		msg := s.message(g, now)
		h := sha256.New()
		for _, n := range g {
			fmt.Fprintf(h, "%d.%s.%d;", n.a.ID, n.kind, n.a.NotifyCount)
		}
		msg.Dedup = "monitor.alert." + hex.EncodeToString(h.Sum(nil))[:32]
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			sent := 0
			for _, ch := range chs {
				if !containsID(enabled, ch) {
					continue
				}
				if _, err := s.opt.Notify.Enqueue(ctx, tx, ch, msg); err != nil {
					if errors.Is(err, notify.ErrChannelDisabled) || errors.Is(err, notify.ErrChannelNotFound) {
						continue
					}
					return err
				}
				sent++
			}
			for _, n := range g {
				if n.kind == StateResolved {
					if err := addEvent(ctx, tx, n.a.ID, now, "notified", fmt.Sprintf("已发送恢复通知（%d 个渠道）", sent)); err != nil {
						return err
					}
					continue
				}
				if _, err := tx.Exec(ctx, `UPDATE monitor_alerts SET notify_count = notify_count + 1, last_notified_at = ? WHERE id = ?`, now, n.a.ID); err != nil {
					return err
				}
				detail := fmt.Sprintf("已发送告警通知（%d 个渠道）", sent)
				if n.kind == "repeat" {
					detail = fmt.Sprintf("告警持续，已重复通知（%d 个渠道）", sent)
				}
				if err := addEvent(ctx, tx, n.a.ID, now, "notified", detail); err != nil {
					return err
				}
			}
			if sent > 0 {
				tx.AfterCommit(s.opt.Notify.Wake)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (s *Service) enabledChannels(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.db.Select(ctx, &ids, `SELECT id FROM notify_channels WHERE enabled ORDER BY id`)
	return ids, err
}

// message renders a group of notices in Chinese.
func (s *Service) message(g []notice, now time.Time) notify.Message {
	top := g[0]
	for _, n := range g {
		if sevRank(n.a.Severity) > sevRank(top.a.Severity) {
			top = n
		}
	}
	resolved := top.kind == StateResolved
	var title string
	var b strings.Builder
	link := ""
	if s.opt.BaseURL != "" {
		link = strings.TrimRight(s.opt.BaseURL, "/") + "/monitor/alerts"
		if len(g) == 1 {
			link += "/" + itoa(top.a.ID)
		}
	}
	if len(g) == 1 {
		a := top.a
		if resolved {
			title = fmt.Sprintf("【已恢复】%s：%s", a.RuleName, a.Subject())
		} else {
			title = fmt.Sprintf("【%s】%s：%s", a.SeverityLabel(), a.RuleName, a.Subject())
		}
		writeAlert(&b, top, now)
	} else {
		sys := top.a.SystemName
		if sys == "" {
			sys = "主机与平台"
		}
		if resolved {
			title = fmt.Sprintf("【已恢复】%s %d 条告警已恢复", sys, len(g))
		} else {
			title = fmt.Sprintf("【%s】%s %d 条告警", top.a.SeverityLabel(), sys, len(g))
		}
		for i, n := range g {
			fmt.Fprintf(&b, "### %d. %s：%s\n", i+1, n.a.RuleName, n.a.Subject())
			writeAlert(&b, n, now)
			b.WriteString("\n")
		}
	}
	sev := notifySeverity(top.a.Severity)
	if resolved {
		sev = notify.SeverityResolved
	}
	return notify.Message{Title: title, Text: strings.TrimSpace(b.String()), Severity: sev, Link: link}
}

func writeAlert(b *strings.Builder, n notice, now time.Time) {
	a := n.a
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(b, "- **%s**：%s\n", k, v)
		}
	}
	line("告警级别", a.SeverityLabel())
	line("所属系统", a.SystemName)
	line("监控目标", a.TargetName)
	if a.TargetName == "" {
		line("指标标签", a.Labels)
	}
	line("告警规则", fmt.Sprintf("%s（%s）", n.r.Name, n.r.Condition()))
	line("告警详情", a.Summary)
	fired := a.StartedAt
	if a.FiredAt != nil {
		fired = *a.FiredAt
	}
	line("开始时间", fired.In(shanghai).Format("2006-01-02 15:04:05"))
	switch n.kind {
	case StateResolved:
		end := now
		if a.ResolvedAt != nil {
			end = *a.ResolvedAt
		}
		line("恢复时间", end.In(shanghai).Format("2006-01-02 15:04:05"))
		line("持续时长", humanDuration(end.Sub(fired)))
	case "repeat":
		line("已持续", humanDuration(now.Sub(fired)))
		line("提示", "告警尚未确认，按规则重复通知")
	}
}

func sevRank(s string) int {
	for i, x := range Severities {
		if x == s {
			return i
		}
	}
	return -1
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h >= 24:
		return fmt.Sprintf("%d 天 %d 小时 %d 分", h/24, h%24, m)
	case h > 0:
		return fmt.Sprintf("%d 小时 %d 分", h, m)
	case m > 0:
		return fmt.Sprintf("%d 分 %d 秒", m, sec)
	}
	return fmt.Sprintf("%d 秒", sec)
}

// AlertFilter selects alerts.
type AlertFilter struct {
	State    string // "" all | active (pending+firing) | firing | pending | resolved
	SystemID int64
	Page     int
	Size     int
}

// Alerts lists alerts, newest first, with the total count.
func (s *Service) Alerts(ctx context.Context, f AlertFilter) ([]Alert, int, error) {
	where, args := "1 = 1", []any{}
	switch f.State {
	case "":
	case "active":
		where += " AND a.state <> 'resolved'"
	case StateFiring, StatePending, StateResolved:
		where += " AND a.state = ?"
		args = append(args, f.State)
	default:
		return nil, 0, invalid("状态只能是 active、firing、pending 或 resolved")
	}
	if f.SystemID != 0 {
		where += " AND a.system_id = ?"
		args = append(args, f.SystemID)
	}
	var total int
	if err := s.db.Get(ctx, &total, `SELECT COUNT(*) FROM monitor_alerts a WHERE `+where, args...); err != nil {
		return nil, 0, err
	}
	size := f.Size
	if size <= 0 {
		size = 50
	}
	size = min(size, 500)
	page := max(f.Page, 1)
	var out []Alert
	err := s.db.Select(ctx, &out, alertSelect+` WHERE `+where+` ORDER BY a.id DESC LIMIT ? OFFSET ?`, append(args, size, (page-1)*size)...)
	return out, total, err
}

// Alert returns one alert.
func (s *Service) Alert(ctx context.Context, id int64) (Alert, error) {
	var a Alert
	err := s.db.Get(ctx, &a, alertSelect+` WHERE a.id = ?`, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, ErrNotFound
	}
	return a, err
}

// AlertEvent is one entry of an alert's history.
type AlertEvent struct {
	ID      int64     `db:"id" json:"id"`
	AlertID int64     `db:"alert_id" json:"alert_id"`
	At      time.Time `db:"at" json:"at"`
	Kind    string    `db:"kind" json:"kind"`
	Detail  string    `db:"detail" json:"detail"`
}

// EventLabels name the history entries.
var EventLabels = map[string]string{StatePending: "条件满足（待触发）", StateFiring: "触发告警", StateResolved: "恢复",
	"notified": "发送通知", "silenced": "被屏蔽", "inhibited": "被抑制", "acked": "已确认"}

// Label names the entry.
func (e AlertEvent) Label() string { return EventLabels[e.Kind] }

// AlertEvents returns an alert's history, oldest first.
func (s *Service) AlertEvents(ctx context.Context, id int64) ([]AlertEvent, error) {
	var out []AlertEvent
	err := s.db.Select(ctx, &out, `SELECT * FROM monitor_alert_events WHERE alert_id = ? ORDER BY id`, id)
	return out, err
}

// Ack acknowledges a firing alert: it stops repeated notifications.
func (s *Service) Ack(ctx context.Context, q store.Q, id int64, actor, note string) error {
	now := s.now()
	res, err := q.Exec(ctx, `UPDATE monitor_alerts SET acked_by = ?, acked_at = ?, ack_note = ? WHERE id = ? AND state = 'firing' AND acked_at IS NULL`,
		actor, now, note, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Alert(ctx, id); err != nil {
			return err
		}
		return invalid("只有尚未确认的告警中记录可以确认")
	}
	detail := actor + " 确认告警"
	if note != "" {
		detail += "：" + note
	}
	return addEvent(ctx, q, id, now, "acked", detail)
}

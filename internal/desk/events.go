package desk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// flexID accepts an id sent as a JSON string or number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("编号应为字符串或数字: %s", b)
	}
	*f = flexID(n.String())
	return nil
}

type alertPayload struct {
	Alert    flexID `json:"alert"`
	Group    flexID `json:"group"`
	Severity string `json:"severity"`
	System   string `json:"system"`
	Title    string `json:"title"`
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// Subscribe registers the desk's event handlers on the bus.
func (d *Desk) Subscribe(bus *events.Bus) {
	bus.Subscribe(EventAlertFiring, "desk.alerts", d.OnAlertFiring)
	bus.Subscribe(EventAlertResolved, "desk.alerts", d.OnAlertResolved)
	bus.Subscribe(EventFindingOpened, "desk.findings", d.OnFindingOpened)
}

// OnAlertFiring opens one ticket per alert group: the first alert of a group creates a
// ticket from source "alert", later alerts of the group are linked to it, and an alert that
// fires again while its ticket awaits verification reopens it. Idempotent per alert id.
func (d *Desk) OnAlertFiring(ctx context.Context, e events.Event) error {
	var p alertPayload
	if err := e.Decode(&p); err != nil {
		return fmt.Errorf("告警事件内容无效: %w", err)
	}
	if p.Alert == "" {
		return errors.New("告警事件缺少 alert 编号")
	}
	group := string(p.Group)
	if group == "" {
		group = "alert:" + string(p.Alert)
	}
	p.System = truncRunes(strings.TrimSpace(p.System), 100)
	// The monitor sends its system code; the ticket shows the system's name when known.
	if p.System != "" && tableExists(ctx, d.db, "monitor_systems") {
		var name string
		if err := d.db.Get(ctx, &name, `SELECT name FROM monitor_systems WHERE code = ?`, p.System); err == nil && name != "" {
			p.System = truncRunes(name, 100)
		}
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		res, err := tx.Exec(ctx, `INSERT INTO desk_alerts(alert, grp, severity, system, fired_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert) DO NOTHING`,
			string(p.Alert), group, p.Severity, p.System, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // delivered before
		}
		a := systemActor()
		var tid int64
		err = tx.Get(ctx, &tid, `SELECT t.id FROM desk_tickets t JOIN desk_ticket_links l ON l.ticket_id = t.id
			WHERE l.kind = 'alert_group' AND l.ref = ? AND t.state <> 'closed' ORDER BY t.id DESC LIMIT 1`, group)
		switch {
		case err == nil:
			t, err := lockTicket(ctx, tx, iam.System(), tid)
			if err != nil {
				return err
			}
			if err := linkTicket(ctx, tx, tid, "alert", string(p.Alert), severityName(p.Severity)+"告警", now); err != nil {
				return err
			}
			if t.State == StateVerifying {
				if err := d.apply(ctx, tx, a, t, TransitionInput{Action: ActReopen, Note: "同组告警 " + string(p.Alert) + " 再次触发，自动重新打开"}, true, now); err != nil {
					return err
				}
			} else if err := d.record(ctx, tx, nil, audit.Entry{Action: "desk.ticket.link", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(tid),
				RegionCode: t.RegionCode, Detail: fmt.Sprintf("告警 %s 并入运维单 %s（告警组 %s）", p.Alert, t.No, group)}); err != nil {
				return err
			}
		case errors.Is(err, store.ErrNotFound):
			title := strings.TrimSpace(p.Title)
			if title == "" {
				title = fmt.Sprintf("%s%s告警", firstNonEmpty(p.System, "未知系统"), severityName(p.Severity))
			}
			in := TicketInput{Title: truncRunes("【监控告警】"+title, 200), Source: "alert", System: p.System, Reporter: "监控告警（自动）",
				ReporterUnit: "运维中心", RegionCode: iam.ProvinceCode,
				Description: fmt.Sprintf("运维中心告警自动生成。\n告警编号：%s\n告警组：%s\n级别：%s\n系统：%s", p.Alert, group, severityName(p.Severity), firstNonEmpty(p.System, "—"))}
			if tid, err = d.insertTicket(ctx, tx, a, in, nil, nil, now); err != nil {
				return err
			}
			if err := linkTicket(ctx, tx, tid, "alert_group", group, "", now); err != nil {
				return err
			}
			if err := linkTicket(ctx, tx, tid, "alert", string(p.Alert), severityName(p.Severity)+"告警", now); err != nil {
				return err
			}
		default:
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE desk_alerts SET ticket_id = ? WHERE alert = ?`, tid, string(p.Alert))
		return err
	})
}

func linkTicket(ctx context.Context, q store.Q, ticketID int64, kind, ref, note string, now any) error {
	_, err := q.Exec(ctx, `INSERT INTO desk_ticket_links(ticket_id, kind, ref, note, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		ticketID, kind, ref, note, now)
	return err
}

// OnAlertResolved marks the alert recovered; when every alert linked to its ticket has
// recovered, the ticket moves to verification (验证) on its own.
func (d *Desk) OnAlertResolved(ctx context.Context, e events.Event) error {
	var p alertPayload
	if err := e.Decode(&p); err != nil {
		return fmt.Errorf("告警恢复事件内容无效: %w", err)
	}
	if p.Alert == "" {
		return errors.New("告警恢复事件缺少 alert 编号")
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		var tid *int64
		if err := tx.Get(ctx, &tid, `SELECT ticket_id FROM desk_alerts WHERE alert = ?`, string(p.Alert)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil // an alert the desk never heard fire
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_alerts SET resolved_at = ? WHERE alert = ? AND resolved_at IS NULL`, now, string(p.Alert)); err != nil {
			return err
		}
		if tid == nil {
			return nil
		}
		var open int
		if err := tx.Get(ctx, &open, `SELECT COUNT(*) FROM desk_alerts WHERE ticket_id = ? AND resolved_at IS NULL`, *tid); err != nil {
			return err
		}
		if open > 0 {
			return nil
		}
		t, err := lockTicket(ctx, tx, iam.System(), *tid)
		if err != nil {
			return err
		}
		if !t.Active() {
			return nil
		}
		return d.apply(ctx, tx, systemActor(), t, TransitionInput{Action: ActResolve, Note: "监控告警已全部恢复，自动转入验证"}, true, now)
	})
}

type findingPayload struct {
	Finding    flexID `json:"finding"`
	Inspection flexID `json:"inspection"`
	Severity   string `json:"severity"`
	System     string `json:"system"`
	Title      string `json:"title"`
	Deadline   string `json:"deadline"`
	Owner      string `json:"owner"`
}

// OnFindingOpened opens one ticket per inspection finding (source "inspection").
func (d *Desk) OnFindingOpened(ctx context.Context, e events.Event) error {
	var p findingPayload
	if err := e.Decode(&p); err != nil {
		return fmt.Errorf("巡检发现事件内容无效: %w", err)
	}
	if p.Finding == "" {
		return errors.New("巡检发现事件缺少 finding 编号")
	}
	p.System = truncRunes(strings.TrimSpace(p.System), 100)
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM desk_ticket_links WHERE kind = 'finding' AND ref = ?`, string(p.Finding)); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		now := d.Now()
		title := strings.TrimSpace(p.Title)
		if title == "" {
			title = fmt.Sprintf("%s巡检发现隐患 #%s", p.System, p.Finding)
		}
		in := TicketInput{Title: truncRunes("【巡检发现】"+title, 200), Source: "inspection", System: p.System, Reporter: "巡检（自动）",
			ReporterUnit: "运维中心", RegionCode: iam.ProvinceCode,
			Description: fmt.Sprintf("巡检发现自动生成。\n发现编号：%s\n巡检：%s\n风险：%s\n系统：%s\n整改责任人：%s\n整改期限：%s", p.Finding,
				firstNonEmpty(string(p.Inspection), "—"), firstNonEmpty(p.Severity, "—"), firstNonEmpty(p.System, "—"), firstNonEmpty(p.Owner, "—"),
				firstNonEmpty(p.Deadline, "—"))}
		tid, err := d.insertTicket(ctx, tx, systemActor(), in, nil, nil, now)
		if err != nil {
			return err
		}
		return linkTicket(ctx, tx, tid, "finding", string(p.Finding), firstNonEmpty(string(p.Inspection), ""), now)
	})
}

// Package desk is the service desk (服务台): operation-and-maintenance tickets (运维单) through
// the procured lifecycle 受理 → 登记 → 分级 → 响应 → 排查 → 处理 → 验证 → 闭环 with 挂起 and
// 重新打开, SLA clocks on configurable calendars with warnings and an escalation chain, the
// bureau's approval gate for production changes, a knowledge base with Chinese search,
// problem records, training records and the monthly and annual work reports.
//
// It hears of alerts and inspection findings through events (monitor.alert.firing,
// monitor.alert.resolved, inspect.finding.opened) and tells others through events
// (desk.ticket.sla_warning, desk.ticket.sla_breached) and the notification hub.
package desk

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/notify"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Permissions of the service desk.
const (
	PermTicketRead   = "desk.ticket.read"
	PermTicketCreate = "desk.ticket.create"
	PermTicketWrite  = "desk.ticket.write"
	PermApprove      = "desk.approval.decide"
	PermKBRead       = "desk.kb.read"
	PermKBWrite      = "desk.kb.write"
	PermReportRead   = "desk.report.read"
)

// Events the desk publishes.
const (
	EventSLAWarning  = "desk.ticket.sla_warning"
	EventSLABreached = "desk.ticket.sla_breached"
)

// Events the desk consumes.
const (
	EventAlertFiring   = "monitor.alert.firing"
	EventAlertResolved = "monitor.alert.resolved"
	EventFindingOpened = "inspect.finding.opened"
)

//go:embed templates
var templates embed.FS

// Templates are the desk's page templates.
func Templates() fs.FS { return templates }

// Options configure the desk.
type Options struct {
	Audit   *audit.Log
	Notify  *notify.Hub
	BaseURL string           // for links in notifications
	Now     func() time.Time // clock; default store.Now
	Logger  *slog.Logger
}

// Desk is the service desk module.
type Desk struct {
	db      *store.DB
	audit   *audit.Log
	notify  *notify.Hub
	baseURL string
	log     *slog.Logger
	pages   *web.Pages

	mu  sync.RWMutex
	now func() time.Time
}

// New builds the desk on db.
func New(db *store.DB, o Options) *Desk {
	if o.Now == nil {
		o.Now = store.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Desk{db: db, audit: o.Audit, notify: o.Notify, baseURL: o.BaseURL, log: o.Logger.With("module", "desk"), now: o.Now}
}

// SetClock replaces the desk's clock (tests drive SLA clocks with it).
func (d *Desk) SetClock(now func() time.Time) {
	d.mu.Lock()
	d.now = now
	d.mu.Unlock()
}

// Now is the desk's current time (UTC, millisecond precision).
func (d *Desk) Now() time.Time {
	d.mu.RLock()
	f := d.now
	d.mu.RUnlock()
	return f().UTC().Truncate(time.Millisecond)
}

// DB returns the desk's database.
func (d *Desk) DB() *store.DB { return d.db }

// SetPages gives the desk the page renderer.
func (d *Desk) SetPages(p *web.Pages) { d.pages = p }

// Permissions declares the desk's permissions for the role editor.
func (d *Desk) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermTicketRead, Name: "查看运维单", Group: "服务台"},
		{Code: PermTicketCreate, Name: "提交运维单", Group: "服务台"},
		{Code: PermTicketWrite, Name: "处理运维单（流转、SLA 配置、问题集、培训记录）", Group: "服务台"},
		{Code: PermApprove, Name: "审批生产变更（局方）", Group: "服务台"},
		{Code: PermKBRead, Name: "查看知识库", Group: "服务台"},
		{Code: PermKBWrite, Name: "编辑知识库", Group: "服务台"},
		{Code: PermReportRead, Name: "查看与生成服务台工作报告", Group: "服务台"},
	}
}

// Menu is the desk's part of the left menu.
func (d *Desk) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "服务台", Title: "运维单", Path: "/desk/tickets", Permission: PermTicketRead, Order: 10},
		{Group: "服务台", Title: "提交运维单", Path: "/desk/tickets/new", Permission: PermTicketCreate, Order: 20},
		{Group: "服务台", Title: "变更审批", Path: "/desk/approvals", Permission: PermApprove, Order: 30},
		{Group: "服务台", Title: "知识库", Path: "/desk/kb", Permission: PermKBRead, Order: 40},
		{Group: "服务台", Title: "问题集", Path: "/desk/problems", Permission: PermTicketRead, Order: 50},
		{Group: "服务台", Title: "SLA 与升级", Path: "/desk/sla", Permission: PermTicketRead, Order: 60},
		{Group: "服务台", Title: "工作报告", Path: "/desk/reports", Permission: PermReportRead, Order: 70},
		{Group: "服务台", Title: "培训记录", Path: "/desk/trainings", Permission: PermReportRead, Order: 80},
	}
}

// record writes an audit entry inside q, filling request details from r when given.
func (d *Desk) record(ctx context.Context, q store.Q, r *http.Request, e audit.Entry) error {
	if d.audit == nil {
		return nil
	}
	if r != nil {
		e = audit.FromRequest(r, e)
	} else if e.Actor == "" {
		e.Actor = "system"
	}
	if e.Kind == "" {
		e.Kind = audit.KindOperation
	}
	if e.Result == "" {
		e.Result = audit.ResultSuccess
	}
	return d.audit.Record(ctx, q, e)
}

// actor is who performs a change: a person through HTTP, or the system (events, jobs).
type actor struct {
	p *iam.Principal
	r *http.Request
}

func systemActor() actor { return actor{p: iam.System()} }

func (a actor) id() *int64 {
	if a.p == nil || a.p.UserID == 0 {
		return nil
	}
	id := a.p.UserID
	return &id
}

func (a actor) name() string {
	if a.p == nil || a.p.UserID == 0 {
		return "系统"
	}
	if a.p.Name != "" {
		return a.p.Name
	}
	return a.p.Account
}

func badRequest(code, format string, args ...any) error {
	return web.Errorf(http.StatusBadRequest, code, format, args...)
}

func conflict(code, format string, args ...any) error {
	return web.Errorf(http.StatusConflict, code, format, args...)
}

// monthOf is the YYYY-MM of t in Asia/Shanghai.
func monthOf(t time.Time) string { return t.In(web.Shanghai()).Format("2006-01") }

func shanghai() *time.Location { return web.Shanghai() }

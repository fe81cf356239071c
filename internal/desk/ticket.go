package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// scopeCols are the data-scope columns of desk_tickets.
var scopeCols = iam.Cols{Region: "t.region_code", Dept: "t.dept_id", Owner: "t.created_by"}

// TicketInput is what a person or a partner system submits.
type TicketInput struct {
	Title        string `json:"title"`
	Description  string `json:"description"`
	Source       string `json:"source"` // web | mobile | api (alert and inspection are automatic)
	Category     string `json:"category"`
	System       string `json:"system"`
	Reporter     string `json:"reporter"`
	ReporterUnit string `json:"reporter_unit"`
	ChangeKind   string `json:"change_kind"`
	RegionCode   string `json:"region_code"`
}

func (in *TicketInput) normalize() error {
	in.Title = strings.TrimSpace(in.Title)
	in.Description = strings.TrimSpace(in.Description)
	in.Category = strings.TrimSpace(in.Category)
	in.System = strings.TrimSpace(in.System)
	in.Reporter = strings.TrimSpace(in.Reporter)
	in.ReporterUnit = strings.TrimSpace(in.ReporterUnit)
	in.ChangeKind = strings.TrimSpace(in.ChangeKind)
	if in.Title == "" {
		return badRequest("missing_title", "请填写运维单标题（简要描述问题）")
	}
	if err := checkLen("标题", in.Title, 200); err != nil {
		return err
	}
	if err := checkLen("问题描述", in.Description, 8000); err != nil {
		return err
	}
	for _, f := range []struct{ label, v string }{{"系统", in.System}, {"报告人", in.Reporter}, {"报告单位", in.ReporterUnit}} {
		if err := checkLen(f.label, f.v, 100); err != nil {
			return err
		}
	}
	if in.Category != "" {
		if err := checkCategory(in.Category); err != nil {
			return err
		}
	}
	return checkChangeKind(in.ChangeKind)
}

// CreateTicket accepts a ticket (受理) from a person or partner system. The region defaults to
// the caller's jurisdiction and must lie inside it.
func (d *Desk) CreateTicket(ctx context.Context, r *http.Request, p *iam.Principal, in TicketInput) (*Ticket, error) {
	switch in.Source {
	case "":
		in.Source = "web"
	case "web", "mobile", "api":
	default:
		return nil, badRequest("bad_source", "来源只能是 web、mobile 或 api（告警与巡检来源由系统自动生成）")
	}
	if p.TokenID != 0 {
		in.Source = "api"
	}
	if err := in.normalize(); err != nil {
		return nil, err
	}
	if in.RegionCode == "" {
		in.RegionCode = p.Region
	}
	var id int64
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		path, err := iam.RegionPath(ctx, tx, in.RegionCode)
		if err != nil {
			return badRequest("bad_region", "%v", err)
		}
		if !p.WithinJurisdiction(path) {
			return web.Errorf(http.StatusForbidden, "out_of_scope", "所选区划不在您的辖区内")
		}
		if in.Reporter == "" {
			in.Reporter = p.Name
		}
		if in.ReporterUnit == "" {
			in.ReporterUnit = p.DeptName
		}
		var reporterID, dept *int64
		if p.UserID != 0 {
			reporterID = &p.UserID
		}
		if p.DeptID != 0 {
			dept = &p.DeptID
		}
		id, err = d.insertTicket(ctx, tx, actor{p: p, r: r}, in, reporterID, dept, d.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.GetTicket(ctx, p, id)
}

// insertTicket writes a new ticket in 受理 with its first transition, starts its clocks and
// audits it.
func (d *Desk) insertTicket(ctx context.Context, tx *store.Tx, a actor, in TicketInput, reporterID, dept *int64, now time.Time) (int64, error) {
	id, err := store.InsertID(ctx, tx, `INSERT INTO desk_tickets(title, description, source, state, category, system, reporter, reporter_unit,
		reporter_user_id, change_kind, created_month, region_code, dept_id, created_by, created_at, updated_at)
		VALUES (?, ?, ?, 'accepted', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.Title, in.Description, in.Source, in.Category, in.System, in.Reporter, in.ReporterUnit, reporterID,
		in.ChangeKind, monthOf(now), in.RegionCode, dept, a.id(), now, now)
	if err != nil {
		return 0, err
	}
	no := ticketNo(id, now)
	if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET no = ? WHERE id = ?`, no, id); err != nil {
		return 0, err
	}
	if err := indexTitle(ctx, tx, id, "", in.Title); err != nil {
		return 0, err
	}
	if err := insertTransition(ctx, tx, id, ActCreate, "", StateAccepted, "来源："+SourceNames[in.Source], nil, a, now); err != nil {
		return 0, err
	}
	t, err := lockTicket(ctx, tx, iam.System(), id)
	if err != nil {
		return 0, err
	}
	if err := d.syncClocks(ctx, tx, t, now); err != nil {
		return 0, err
	}
	return id, d.record(ctx, tx, a.r, audit.Entry{Action: "desk.ticket.create", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(id),
		RegionCode: in.RegionCode, Detail: fmt.Sprintf("受理运维单 %s（%s，来源：%s）", no, in.Title, SourceNames[in.Source])})
}

func insertTransition(ctx context.Context, q store.Q, id int64, action, from, to, note string, fields map[string]any, a actor, now time.Time) error {
	if fields == nil {
		fields = map[string]any{}
	}
	_, err := q.Exec(ctx, `INSERT INTO desk_transitions(ticket_id, action, from_state, to_state, note, fields, actor_id, actor, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, action, from, to, note, jsonString(fields), a.id(), a.name(), now)
	return err
}

// lockTicket reads a ticket inside a write transaction within p's data scope (locking the row
// on PostgreSQL).
func lockTicket(ctx context.Context, q store.Q, p *iam.Principal, id int64) (*Ticket, error) {
	where, args := p.Filter(scopeCols)
	sel := `SELECT ` + ticketCols + ` FROM desk_tickets t WHERE t.id = ? AND ` + where
	if q.Dialect() == store.Postgres {
		sel += ` FOR UPDATE`
	}
	var t Ticket
	if err := q.Get(ctx, &t, sel, append([]any{id}, args...)...); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return &t, nil
}

// GetTicket returns one ticket within p's data scope.
func (d *Desk) GetTicket(ctx context.Context, p *iam.Principal, id int64) (*Ticket, error) {
	where, args := p.Filter(scopeCols)
	var t Ticket
	if err := d.db.Get(ctx, &t, `SELECT `+ticketCols+` FROM desk_tickets t WHERE t.id = ? AND `+where, append([]any{id}, args...)...); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return &t, nil
}

// TicketFilter narrows the ticket list.
type TicketFilter struct {
	State    string `json:"state"`
	Category string `json:"category"`
	Grade    int    `json:"grade"`
	System   string `json:"system"`
	Source   string `json:"source"`
	Assignee int64  `json:"assignee"`
	Mine     bool   `json:"mine"` // reported or created by the caller
	Open     bool   `json:"open"` // not closed
	Q        string `json:"q"`    // number or title substring

	title *titleMatch // resolved by ListTickets
}

// titleMatch is a title search resolved against the term index.
type titleMatch struct {
	cond   string
	args   []any
	driven bool // the query reads the rarest term's postings (alias p0), newest first
	none   bool // a term no ticket holds: nothing matches
}

// likeEscape quotes LIKE wildcards in a user's text (used with ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// maxProbeTerms bounds the terms a title search probes; the final LIKE checks the rest.
const maxProbeTerms = 4

// matchTitle turns a title search into a condition: the tickets holding the query's rarest
// terms (probed through the term index, rarest first), confirmed by a substring match. A
// one-character query has no terms and scans the narrow title index instead.
func matchTitle(ctx context.Context, q store.Q, text string) (*titleMatch, error) {
	like := "%" + likeEscape(strings.ToLower(text)) + "%" // case-insensitive on both databases
	terms := Terms(text)
	if len(terms) == 0 || (len(terms) == 1 && len([]rune(terms[0])) == 1) {
		return &titleMatch{cond: `LOWER(t.title) LIKE ? ESCAPE '\'`, args: []any{like}}, nil
	}
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	args := make([]any, len(terms))
	for i, t := range terms {
		args[i] = t
	}
	var df []struct {
		Term string `db:"term"`
		N    int64  `db:"n"`
	}
	if err := q.Select(ctx, &df, `SELECT term, n FROM desk_ticket_term_df WHERE term IN (`+strings.TrimSuffix(strings.Repeat("?,", len(terms)), ",")+`)`, args...); err != nil {
		return nil, err
	}
	if len(df) < len(terms) {
		return &titleMatch{none: true}, nil
	}
	for _, x := range df {
		if x.N <= 0 {
			return &titleMatch{none: true}, nil
		}
	}
	sort.Slice(df, func(i, j int) bool { return df[i].N < df[j].N })
	df = df[:min(len(df), maxProbeTerms)]
	cond := `p0.term = ?`
	margs := []any{df[0].Term}
	for i, x := range df[1:] {
		p := fmt.Sprintf("p%d", i+1)
		cond += ` AND EXISTS (SELECT 1 FROM desk_ticket_terms ` + p + ` WHERE ` + p + `.term = ? AND ` + p + `.ticket_id = p0.ticket_id)`
		margs = append(margs, x.Term)
	}
	cond += ` AND LOWER(t.title) LIKE ? ESCAPE '\'`
	return &titleMatch{cond: cond, args: append(margs, like), driven: true}, nil
}

// indexTitle keeps a ticket's title terms and the terms' ticket counts up to date.
func indexTitle(ctx context.Context, q store.Q, id int64, old, title string) error {
	had := map[string]bool{}
	if old != "" {
		for _, t := range Terms(old) {
			had[t] = true
		}
	}
	has := map[string]bool{}
	for _, t := range Terms(title) {
		has[t] = true
	}
	for t := range had {
		if has[t] {
			continue
		}
		if _, err := q.Exec(ctx, `DELETE FROM desk_ticket_terms WHERE term = ? AND ticket_id = ?`, t, id); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE desk_ticket_term_df SET n = n - 1 WHERE term = ?`, t); err != nil {
			return err
		}
	}
	for t := range has {
		if had[t] {
			continue
		}
		if _, err := q.Exec(ctx, `INSERT INTO desk_ticket_terms(term, ticket_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, t, id); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO desk_ticket_term_df(term, n) VALUES (?, 1)
			ON CONFLICT (term) DO UPDATE SET n = desk_ticket_term_df.n + 1`, t); err != nil {
			return err
		}
	}
	return nil
}

func (f TicketFilter) where(p *iam.Principal) (string, []any) {
	where, args := p.Filter(scopeCols)
	add := func(cond string, v ...any) {
		where += " AND " + cond
		args = append(args, v...)
	}
	if f.State != "" {
		add("t.state = ?", f.State)
	}
	if f.Open {
		// Listed states rather than <> 'closed', so that the state indexes are used.
		add("t.state IN ('accepted', 'registered', 'graded', 'responded', 'investigating', 'handling', 'verifying', 'pending')")
	}
	if f.Category != "" {
		add("t.category = ?", f.Category)
	}
	if f.Grade != 0 {
		add("t.grade = ?", f.Grade)
	}
	if f.System != "" {
		add("t.system = ?", f.System)
	}
	if f.Source != "" {
		add("t.source = ?", f.Source)
	}
	if f.Assignee != 0 {
		add("t.assignee_id = ?", f.Assignee)
	}
	if f.Mine {
		add("(t.created_by = ? OR t.reporter_user_id = ?)", p.UserID, p.UserID)
	}
	if f.Q != "" {
		if isTicketNo(f.Q) {
			add("t.no = ?", strings.ToUpper(f.Q))
		} else if f.title != nil {
			add(f.title.cond, f.title.args...)
		}
	}
	return where, args
}

func isTicketNo(q string) bool {
	q = strings.ToUpper(q)
	if len(q) < 3 || !strings.HasPrefix(q, "YW") {
		return false
	}
	for _, r := range q[2:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// TicketList is a page of tickets. A title search counts at most CountCap matches: Capped
// says there are more.
type TicketList struct {
	web.List[Ticket]
	Capped bool `json:"total_capped,omitempty"`
}

// CountCap bounds the count of a title search.
const CountCap = 1000

// ListTickets returns a page of tickets within p's data scope, newest first.
func (d *Desk) ListTickets(ctx context.Context, p *iam.Principal, f TicketFilter, pg web.Page) (TicketList, error) {
	out := TicketList{List: web.List[Ticket]{Page: pg.Page, Size: pg.Size, Items: []Ticket{}}}
	f.Q = strings.TrimSpace(f.Q)
	if f.Q != "" && !isTicketNo(f.Q) {
		m, err := matchTitle(ctx, d.db, f.Q)
		if err != nil {
			return out, err
		}
		if m.none {
			return out, nil
		}
		f.title = m
	}
	where, args := f.where(p)
	from, order := "desk_tickets t", "t.id"
	if f.title != nil && f.title.driven {
		// Read the rarest term's postings newest first and stop at the page.
		from, order = "desk_ticket_terms p0 JOIN desk_tickets t ON t.id = p0.ticket_id", "p0.ticket_id"
	}
	if f.title != nil {
		if err := d.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT ?) x`,
			append(args, CountCap+1)...); err != nil {
			return out, err
		}
		if out.Total > CountCap {
			out.Total, out.Capped = CountCap, true
		}
	} else if err := d.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM desk_tickets t WHERE `+where, args...); err != nil {
		return out, err
	}
	err := d.db.Select(ctx, &out.Items, `SELECT `+ticketCols+` FROM `+from+` WHERE `+where+` ORDER BY `+order+` DESC LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	return out, err
}

// TransitionInput moves a ticket along its lifecycle. Which fields are required depends on
// the action.
type TransitionInput struct {
	Action       string `json:"action"`
	Note         string `json:"note"`
	Reporter     string `json:"reporter,omitempty"`
	ReporterUnit string `json:"reporter_unit,omitempty"`
	System       string `json:"system,omitempty"`
	Category     string `json:"category,omitempty"`
	ChangeKind   string `json:"change_kind,omitempty"`
	Impact       int    `json:"impact,omitempty"`
	Urgency      int    `json:"urgency,omitempty"`
	AssigneeID   int64  `json:"assignee_id,omitempty"`
	Cause        string `json:"cause,omitempty"`
	Method       string `json:"method,omitempty"`
	VerifyResult string `json:"verify_result,omitempty"`
}

// Transition performs one lifecycle step requested by a person.
func (d *Desk) Transition(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in TransitionInput) (*Ticket, error) {
	if _, ok := actionFrom[in.Action]; !ok {
		return nil, badRequest("bad_action", "未知的流转操作 %q", in.Action)
	}
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, id)
		if err != nil {
			return err
		}
		return d.apply(ctx, tx, actor{p: p, r: r}, t, in, false, d.Now())
	})
	if err != nil {
		return nil, err
	}
	return d.GetTicket(ctx, p, id)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// activeMS is the time since acceptance minus the time spent pending.
func activeMS(t *Ticket, now time.Time) int64 {
	return max(now.Sub(t.CreatedAt).Milliseconds()-t.PausedMS, 0)
}

// apply performs action on t (locked in tx). internal marks steps the system takes on its
// own (alert recovery, the bureau's refusal), which may start from more states.
func (d *Desk) apply(ctx context.Context, tx *store.Tx, a actor, t *Ticket, in TransitionInput, internal bool, now time.Time) error {
	from := t.State
	allowed := actionFrom[in.Action]
	if internal && (in.Action == ActResolve || in.Action == ActRefuse) {
		allowed = []string{StateAccepted, StateRegistered, StateGraded, StateResponded, StateInvestigating, StateHandling, StatePending}
	}
	if !slices.Contains(allowed, from) {
		return conflict("bad_transition", "运维单当前状态为「%s」，不能执行「%s」", StateNames[from], ActionNames[in.Action])
	}
	to := actionTo[in.Action]
	note := strings.TrimSpace(in.Note)
	if err := checkLen("说明", note, 4000); err != nil {
		return err
	}
	sets := []string{}
	args := []any{}
	fields := map[string]any{}
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
		if col != "updated_at" {
			fields[col] = v
		}
	}
	// Leaving 挂起 (by resume, or by a system step from pending) ends the pause.
	endPause := func() error {
		var started time.Time
		if err := tx.Get(ctx, &started, `SELECT started_at FROM desk_pauses WHERE ticket_id = ? AND ended_at IS NULL AND kind = 'pending'`, t.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_pauses SET ended_at = ? WHERE ticket_id = ? AND ended_at IS NULL AND kind = 'pending'`, now, t.ID); err != nil {
			return err
		}
		t.PausedMS += now.Sub(started).Milliseconds()
		set("paused_ms", t.PausedMS)
		set("resume_state", "")
		set("pending_reason", "")
		return nil
	}
	switch in.Action {
	case ActRegister:
		reporter := firstNonEmpty(in.Reporter, t.Reporter)
		system := firstNonEmpty(in.System, t.System)
		category := firstNonEmpty(in.Category, t.Category)
		if reporter == "" {
			return badRequest("missing_reporter", "登记须填写报告人")
		}
		if system == "" {
			return badRequest("missing_system", "登记须填写所属系统")
		}
		if category == "" {
			return badRequest("missing_category", "登记须选择问题类别")
		}
		if err := checkCategory(category); err != nil {
			return err
		}
		for _, f := range []struct{ label, v string }{{"系统", system}, {"报告人", reporter}, {"报告单位", in.ReporterUnit}} {
			if err := checkLen(f.label, f.v, 100); err != nil {
				return err
			}
		}
		set("reporter", reporter)
		set("system", system)
		set("category", category)
		if u := strings.TrimSpace(in.ReporterUnit); u != "" {
			set("reporter_unit", u)
		}
		if in.ChangeKind != "" {
			if err := checkChangeKind(in.ChangeKind); err != nil {
				return err
			}
			set("change_kind", in.ChangeKind)
			t.ChangeKind = in.ChangeKind
		}
	case ActGrade:
		if in.Impact == 0 || in.Urgency == 0 {
			return badRequest("missing_grading", "分级须选择影响范围和紧急程度")
		}
		g, err := LoadMatrix(ctx, tx).Grade(in.Impact, in.Urgency)
		if err != nil {
			return err
		}
		set("impact", in.Impact)
		set("urgency", in.Urgency)
		set("grade", g)
		t.Grade = g
		if note == "" {
			note = "定级：" + GradeName(g)
		}
	case ActRespond:
		assignee := in.AssigneeID
		if assignee == 0 && t.AssigneeID != nil {
			assignee = *t.AssigneeID
		}
		if assignee == 0 {
			return badRequest("missing_assignee", "响应须指派处理人")
		}
		if note == "" {
			return badRequest("missing_note", "响应须填写反馈给用户的安排说明")
		}
		var name string
		if err := tx.Get(ctx, &name, `SELECT name FROM users WHERE id = ? AND status = 'active'`, assignee); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return badRequest("bad_assignee", "处理人不存在或已停用")
			}
			return err
		}
		set("assignee_id", assignee)
		set("assignee_name", name)
		set("acknowledged_at", now)
		set("ack_ms", activeMS(t, now))
		t.AcknowledgedAt = &now
	case ActInvestigate:
	case ActHandle:
		if t.ChangeKind != "" && t.Approval != "approved" {
			return conflict("approval_required", "该运维单涉及生产变更（%s），须经局方审批同意后才能进入处理；用户方领导不同意进行处理请求的，不得擅自进行处理", ChangeKinds[t.ChangeKind])
		}
		if err := checkText("note", "采取的措施", note, 4, 4000); err != nil {
			return err
		}
		set("measures_at", now)
		t.MeasuresAt = &now
	case ActResolve:
		if from == StatePending {
			if err := endPause(); err != nil {
				return err
			}
		}
		if in.Cause != "" {
			if err := checkText("cause", "事件原因", in.Cause, 4, 4000); err != nil {
				return err
			}
			set("cause", strings.TrimSpace(in.Cause))
		}
		if in.Method != "" {
			if err := checkText("method", "处理方法", in.Method, 4, 4000); err != nil {
				return err
			}
			set("method", strings.TrimSpace(in.Method))
		}
		set("resolved_at", now)
		set("resolve_ms", activeMS(t, now))
		t.ResolvedAt = &now
		if _, err := tx.Exec(ctx, `INSERT INTO desk_pauses(ticket_id, kind, reason, started_at) VALUES (?, 'verifying', '验证中', ?)`, t.ID, now); err != nil {
			return err
		}
	case ActClose:
		cause := firstNonEmpty(in.Cause, t.Cause)
		method := firstNonEmpty(in.Method, t.Method)
		if err := checkText("cause", "事件原因", cause, 4, 4000); err != nil {
			return err
		}
		if err := checkText("method", "处理方法", method, 4, 4000); err != nil {
			return err
		}
		if err := checkText("verify_result", "验证结果", in.VerifyResult, 2, 2000); err != nil {
			return err
		}
		set("cause", cause)
		set("method", method)
		set("verify_result", strings.TrimSpace(in.VerifyResult))
		set("close_code", "resolved")
		set("closed_at", now)
		if _, err := tx.Exec(ctx, `UPDATE desk_pauses SET ended_at = ? WHERE ticket_id = ? AND ended_at IS NULL`, now, t.ID); err != nil {
			return err
		}
	case ActSuspend:
		if err := checkText("note", "挂起原因", note, 2, 2000); err != nil {
			return err
		}
		set("resume_state", from)
		set("pending_reason", note)
		if _, err := tx.Exec(ctx, `INSERT INTO desk_pauses(ticket_id, kind, reason, started_at) VALUES (?, 'pending', ?, ?)`, t.ID, note, now); err != nil {
			return err
		}
	case ActResume:
		to = t.ResumeState
		if to == "" {
			to = StateRegistered
		}
		if err := endPause(); err != nil {
			return err
		}
	case ActReopen:
		if t.CloseCode == "refused" {
			return conflict("refused", "局方不同意处理的运维单不能重新打开；如需处理请重新提交运维单并申请审批")
		}
		if err := checkText("note", "重新打开的原因", note, 2, 2000); err != nil {
			return err
		}
		// The time in verification (or closed) does not count against the clocks.
		if t.ResolvedAt != nil {
			t.PausedMS += now.Sub(*t.ResolvedAt).Milliseconds()
			set("paused_ms", t.PausedMS)
			if _, err := tx.Exec(ctx, `UPDATE desk_pauses SET ended_at = ? WHERE ticket_id = ? AND kind = 'verifying' AND started_at = ?`,
				now, t.ID, *t.ResolvedAt); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE desk_sla_clocks SET status = 'running', stopped_at = NULL
				WHERE ticket_id = ? AND status = 'stopped' AND stopped_at = ?`, t.ID, *t.ResolvedAt); err != nil {
				return err
			}
		}
		set("reopen_count", t.ReopenCount+1)
		set("resolved_at", nil)
		set("resolve_ms", nil)
		set("closed_at", nil)
		set("close_code", "")
		set("verify_result", "")
		t.ResolvedAt = nil
	case ActRefuse:
		if from == StatePending {
			if err := endPause(); err != nil {
				return err
			}
		}
		set("cause", "变更申请未获局方批准")
		set("method", RefusalText)
		set("verify_result", "不予处理：局方不同意")
		set("close_code", "refused")
		set("closed_at", now)
	}
	set("state", to)
	set("updated_at", now)
	t.State = to
	if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, t.ID)...); err != nil {
		return err
	}
	delete(fields, "state")
	if err := insertTransition(ctx, tx, t.ID, in.Action, from, to, note, fields, a, now); err != nil {
		return err
	}
	fresh, err := lockTicket(ctx, tx, iam.System(), t.ID)
	if err != nil {
		return err
	}
	if err := d.syncClocks(ctx, tx, fresh, now); err != nil {
		return err
	}
	detail := fmt.Sprintf("运维单 %s：%s（%s → %s）", t.No, ActionNames[in.Action], StateNames[from], StateNames[to])
	if note != "" {
		detail += "，说明：" + note
	}
	return d.record(ctx, tx, a.r, audit.Entry{Action: "desk.ticket." + in.Action, ObjectType: "desk_ticket", ObjectID: fmt.Sprint(t.ID),
		RegionCode: t.RegionCode, Detail: detail})
}

// RefusalText is the procured rule quoted when the bureau refuses a change.
const RefusalText = "用户方领导不同意进行处理请求，不得擅自进行处理"

// TicketUpdate edits descriptive fields of an open ticket.
type TicketUpdate struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	System      *string `json:"system"`
	Category    *string `json:"category"`
	ChangeKind  *string `json:"change_kind"`
	AssigneeID  *int64  `json:"assignee_id"`
}

// UpdateTicket edits an open ticket's descriptive fields (audited).
func (d *Desk) UpdateTicket(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in TicketUpdate) (*Ticket, error) {
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if t.State == StateClosed {
			return conflict("closed", "运维单已闭环，不能修改；如需继续处理请重新打开")
		}
		var sets []string
		var args []any
		var changed []string
		set := func(col, label string, v any) {
			sets = append(sets, col+" = ?")
			args = append(args, v)
			changed = append(changed, label)
		}
		if in.Title != nil {
			v := strings.TrimSpace(*in.Title)
			if v == "" {
				return badRequest("missing_title", "标题不能为空")
			}
			if err := checkLen("标题", v, 200); err != nil {
				return err
			}
			set("title", "标题", v)
			if err := indexTitle(ctx, tx, id, t.Title, v); err != nil {
				return err
			}
		}
		if in.Description != nil {
			if err := checkLen("问题描述", *in.Description, 8000); err != nil {
				return err
			}
			set("description", "问题描述", strings.TrimSpace(*in.Description))
		}
		if in.System != nil {
			v := strings.TrimSpace(*in.System)
			if v == "" && t.State != StateAccepted {
				return badRequest("missing_system", "已登记的运维单须有所属系统")
			}
			if err := checkLen("系统", v, 100); err != nil {
				return err
			}
			set("system", "系统", v)
		}
		if in.Category != nil {
			if err := checkCategory(*in.Category); err != nil {
				return err
			}
			set("category", "类别", *in.Category)
		}
		if in.ChangeKind != nil && *in.ChangeKind != t.ChangeKind {
			if err := checkChangeKind(*in.ChangeKind); err != nil {
				return err
			}
			if t.Approval != "" {
				return conflict("approval_exists", "已提交局方审批，不能再修改变更类型")
			}
			set("change_kind", "变更类型", *in.ChangeKind)
		}
		if in.AssigneeID != nil {
			var name string
			if err := tx.Get(ctx, &name, `SELECT name FROM users WHERE id = ? AND status = 'active'`, *in.AssigneeID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return badRequest("bad_assignee", "处理人不存在或已停用")
				}
				return err
			}
			set("assignee_id", "处理人", *in.AssigneeID)
			set("assignee_name", "处理人", name)
		}
		if len(sets) == 0 {
			return nil
		}
		now := d.Now()
		sets = append(sets, "updated_at = ?")
		args = append(args, now)
		if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.ticket.update", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(id),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("修改运维单 %s：%s", t.No, strings.Join(slices.Compact(changed), "、"))})
	})
	if err != nil {
		return nil, err
	}
	return d.GetTicket(ctx, p, id)
}

// Transitions lists a ticket's recorded steps, oldest first.
func (d *Desk) Transitions(ctx context.Context, id int64) ([]Transition, error) {
	out := []Transition{}
	err := d.db.Select(ctx, &out, `SELECT id, ticket_id, action, from_state, to_state, note, fields, actor_id, actor, at
		FROM desk_transitions WHERE ticket_id = ? ORDER BY id`, id)
	return out, err
}

// Link is a ticket's link to an alert, alert group or inspection finding.
type Link struct {
	Kind      string    `db:"kind" json:"kind"`
	Ref       string    `db:"ref" json:"ref"`
	Note      string    `db:"note" json:"note"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// KindName is the Chinese name of the link kind.
func (l Link) KindName() string {
	return map[string]string{"alert": "告警", "alert_group": "告警组", "finding": "巡检发现"}[l.Kind]
}

// Links lists a ticket's links.
func (d *Desk) Links(ctx context.Context, id int64) ([]Link, error) {
	out := []Link{}
	err := d.db.Select(ctx, &out, `SELECT kind, ref, note, created_at FROM desk_ticket_links WHERE ticket_id = ? ORDER BY id`, id)
	return out, err
}

// Plan is one dated step of a resolution timetable.
type Plan struct {
	ID        int64     `db:"id" json:"id"`
	Step      string    `db:"step" json:"step"`
	DueDate   string    `db:"due_date" json:"due_date"`
	Done      bool      `db:"done" json:"done"`
	CreatedBy string    `db:"created_by" json:"created_by"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// Plans lists a ticket's timetable.
func (d *Desk) Plans(ctx context.Context, id int64) ([]Plan, error) {
	out := []Plan{}
	err := d.db.Select(ctx, &out, `SELECT id, step, due_date, done, created_by, created_at FROM desk_plans WHERE ticket_id = ? ORDER BY due_date, id`, id)
	return out, err
}

// PlanStep is one dated step.
type PlanStep struct {
	Step    string `json:"step"`
	DueDate string `json:"due_date"`
}

// PlanInput is a resolution timetable: dated steps, the last being the resolution. Pages send
// the parallel arrays step_text[] and due_date[] instead of steps.
type PlanInput struct {
	Steps    []PlanStep `json:"steps"`
	StepText []string   `json:"step_text"`
	DueDate  []string   `json:"due_date"`
}

// AddPlan records a resolution timetable (解决时间表) for a ticket that cannot be solved within
// 24 hours; it satisfies the timetable target.
func (d *Desk) AddPlan(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in PlanInput) error {
	if len(in.StepText) != len(in.DueDate) {
		return badRequest("bad_steps", "解决时间表的每个步骤都须填写内容和计划日期")
	}
	for i := range in.StepText {
		in.Steps = append(in.Steps, PlanStep{Step: in.StepText[i], DueDate: in.DueDate[i]})
	}
	if len(in.Steps) == 0 {
		return badRequest("missing_steps", "解决时间表至少需要一个带日期的步骤")
	}
	if len(in.Steps) > 50 {
		return badRequest("too_many_steps", "解决时间表最多 50 个步骤")
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if !t.Active() {
			return conflict("not_active", "运维单已进入验证或闭环，无需解决时间表")
		}
		now := d.Now()
		today := now.In(shanghai()).Format(time.DateOnly)
		last := t.PlanDue
		a := actor{p: p, r: r}
		for i, s := range in.Steps {
			step := strings.TrimSpace(s.Step)
			if err := checkText("step", fmt.Sprintf("第 %d 步的内容", i+1), step, 2, 500); err != nil {
				return err
			}
			day, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s.DueDate), shanghai())
			if err != nil {
				return badRequest("bad_date", "第 %d 步的计划日期 %q 无效，应为 YYYY-MM-DD", i+1, s.DueDate)
			}
			ds := day.Format(time.DateOnly)
			if ds < today {
				return badRequest("past_date", "第 %d 步的计划日期 %s 早于今天", i+1, ds)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_plans(ticket_id, step, due_date, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
				id, step, ds, a.name(), now); err != nil {
				return err
			}
			if ds > last {
				last = ds
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_tickets SET plan_due = ?, updated_at = ? WHERE id = ?`, last, now, id); err != nil {
			return err
		}
		t.PlanDue = last
		if err := d.syncClocks(ctx, tx, t, now); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.ticket.plan", ObjectType: "desk_ticket", ObjectID: fmt.Sprint(id),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("运维单 %s 提交解决时间表 %d 步，预计解决日期 %s", t.No, len(in.Steps), last)})
	})
}

// Assignees lists active users who may handle tickets (holders of desk.ticket.write).
func (d *Desk) Assignees(ctx context.Context) ([]struct {
	ID   int64  `db:"id" json:"id"`
	Name string `db:"name" json:"name"`
}, error) {
	var out []struct {
		ID   int64  `db:"id" json:"id"`
		Name string `db:"name" json:"name"`
	}
	err := d.db.Select(ctx, &out, `SELECT DISTINCT u.id, u.name FROM users u JOIN user_roles ur ON ur.user_id = u.id
		JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE u.status = 'active' AND rp.permission = ? ORDER BY u.id`, PermTicketWrite)
	return out, err
}

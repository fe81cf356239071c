package desk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app"
	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
	"zhsj/internal/iam"
)

// clock is the controllable clock the desk runs on in tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a running application with its desk on a controllable clock.
type env struct {
	*apptest.Env
	t     *testing.T
	desk  *desk.Desk
	clock *clock
	ctx   context.Context
}

// start is Monday 2 March 2026 09:00 in Shanghai.
var start = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, e *apptest.Env) *env {
	t.Helper()
	d := app.DeskOf(e.App)
	if d == nil {
		t.Fatal("the desk is not wired")
	}
	c := &clock{t: start}
	d.SetClock(c.Now)
	return &env{Env: e, t: t, desk: d, clock: c, ctx: context.Background()}
}

// approverRole creates the bureau approver's role (desk.approval.decide and reading).
func (e *env) approverRole() {
	e.t.Helper()
	if _, err := e.App.IAM.CreateRole(e.ctx, nil, iam.System(), iam.RoleInput{Code: "bureau", Name: "局方审批人", DataScope: iam.ScopeAll,
		Permissions: []string{desk.PermApprove, desk.PermTicketRead, desk.PermKBRead, desk.PermReportRead}}); err != nil {
		e.t.Fatal(err)
	}
}

type ticketJSON struct {
	desk.Ticket
	NextActions []string          `json:"next_actions"`
	Transitions []desk.Transition `json:"transitions"`
	Clocks      []desk.Clock      `json:"clocks"`
	Escalations []desk.Escalation `json:"escalations"`
	Links       []desk.Link       `json:"links"`
	Plans       []desk.Plan       `json:"plans"`
	Approvals   []desk.Approval   `json:"approvals"`
}

func (t ticketJSON) clock(target string) desk.Clock {
	for _, c := range t.Clocks {
		if c.Target == target {
			return c
		}
	}
	return desk.Clock{}
}

func mustStatus(t *testing.T, res *apptest.Response, status int, what string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, res.Status, status, res.Body)
	}
}

func mustError(t *testing.T, res *apptest.Response, status int, code, what string) {
	t.Helper()
	if res.Status != status || res.ErrorCode() != code {
		t.Fatalf("%s: got %d %s, want %d %s", what, res.Status, res.Body, status, code)
	}
}

func create(t *testing.T, c *apptest.Client, body map[string]any) ticketJSON {
	t.Helper()
	res := c.Do("POST", "/api/v1/desk/tickets", body)
	mustStatus(t, res, 201, "create ticket")
	var tk ticketJSON
	if err := res.JSON(&tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

func get(t *testing.T, c *apptest.Client, id int64) ticketJSON {
	t.Helper()
	res := c.Do("GET", fmt.Sprintf("/api/v1/desk/tickets/%d", id), nil)
	mustStatus(t, res, 200, "get ticket")
	var tk ticketJSON
	if err := res.JSON(&tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

func step(t *testing.T, c *apptest.Client, id int64, body map[string]any) {
	t.Helper()
	res := c.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/transitions", id), body)
	mustStatus(t, res, 200, fmt.Sprint("transition ", body["action"]))
}

// through moves a ticket from 受理 to the given state with valid fields.
func through(t *testing.T, c *apptest.Client, id int64, assignee int64, impact, urgency int, until string) {
	t.Helper()
	steps := []struct {
		state string
		body  map[string]any
	}{
		{desk.StateRegistered, map[string]any{"action": "register", "reporter": "王科员", "system": "主体服务", "category": "页面访问"}},
		{desk.StateGraded, map[string]any{"action": "grade", "impact": impact, "urgency": urgency}},
		{desk.StateResponded, map[string]any{"action": "respond", "assignee_id": assignee, "note": "已安排工程师处理"}},
		{desk.StateInvestigating, map[string]any{"action": "investigate"}},
		{desk.StateHandling, map[string]any{"action": "handle", "note": "调整连接池参数并重启"}},
		{desk.StateVerifying, map[string]any{"action": "resolve", "cause": "数据库连接池耗尽", "method": "扩大连接池并优化慢查询"}},
		{desk.StateClosed, map[string]any{"action": "close", "verify_result": "用户确认恢复正常"}},
	}
	for _, s := range steps {
		step(t, c, id, s.body)
		if s.state == until {
			return
		}
	}
}

func decode[T any](t *testing.T, res *apptest.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", res.Body, err)
	}
	return v
}

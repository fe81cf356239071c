package desk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"zhsj/internal/audit"
	"zhsj/internal/store"
)

// Ticket states: the procured lifecycle plus 挂起.
const (
	StateAccepted      = "accepted"      // 受理
	StateRegistered    = "registered"    // 登记
	StateGraded        = "graded"        // 分级
	StateResponded     = "responded"     // 响应
	StateInvestigating = "investigating" // 排查
	StateHandling      = "handling"      // 处理
	StateVerifying     = "verifying"     // 验证
	StateClosed        = "closed"        // 闭环
	StatePending       = "pending"       // 挂起
)

// Lifecycle is the procured order of states.
var Lifecycle = []string{StateAccepted, StateRegistered, StateGraded, StateResponded, StateInvestigating, StateHandling, StateVerifying, StateClosed}

// StateNames are the Chinese names of the states.
var StateNames = map[string]string{
	StateAccepted: "受理", StateRegistered: "登记", StateGraded: "分级", StateResponded: "响应",
	StateInvestigating: "排查", StateHandling: "处理", StateVerifying: "验证", StateClosed: "闭环", StatePending: "挂起",
}

// Transition actions.
const (
	ActRegister    = "register"    // 受理 → 登记
	ActGrade       = "grade"       // 登记 → 分级
	ActRespond     = "respond"     // 分级 → 响应
	ActInvestigate = "investigate" // 响应 → 排查
	ActHandle      = "handle"      // 排查 → 处理 (approval gate)
	ActResolve     = "resolve"     // 处理 → 验证
	ActClose       = "close"       // 验证 → 闭环
	ActSuspend     = "suspend"     // → 挂起
	ActResume      = "resume"      // 挂起 → previous state
	ActReopen      = "reopen"      // 验证/闭环 → 排查 (重新打开)
	ActRefuse      = "refuse"      // 排查 → 闭环 when the bureau refuses a change
	ActCreate      = "create"
)

// ActionNames are the Chinese names of the actions.
var ActionNames = map[string]string{
	ActCreate: "受理", ActRegister: "登记", ActGrade: "分级", ActRespond: "响应", ActInvestigate: "开始排查",
	ActHandle: "开始处理", ActResolve: "提交验证", ActClose: "闭环", ActSuspend: "挂起", ActResume: "恢复",
	ActReopen: "重新打开", ActRefuse: "拒绝处理（局方不同意）",
}

// actionFrom lists the states each action starts from.
var actionFrom = map[string][]string{
	ActRegister:    {StateAccepted},
	ActGrade:       {StateRegistered},
	ActRespond:     {StateGraded},
	ActInvestigate: {StateResponded},
	ActHandle:      {StateInvestigating},
	ActResolve:     {StateHandling},
	ActClose:       {StateVerifying},
	ActSuspend:     {StateRegistered, StateGraded, StateResponded, StateInvestigating, StateHandling},
	ActResume:      {StatePending},
	ActReopen:      {StateVerifying, StateClosed},
}

// actionTo is the state an action leads to (resume returns to the saved state).
var actionTo = map[string]string{
	ActRegister: StateRegistered, ActGrade: StateGraded, ActRespond: StateResponded, ActInvestigate: StateInvestigating,
	ActHandle: StateHandling, ActResolve: StateVerifying, ActClose: StateClosed, ActSuspend: StatePending,
	ActReopen: StateInvestigating, ActRefuse: StateClosed,
}

// NextActions returns the actions available from a state, in the order a page offers them.
func NextActions(state string) []string {
	var out []string
	for _, a := range []string{ActRegister, ActGrade, ActRespond, ActInvestigate, ActHandle, ActResolve, ActClose, ActResume, ActReopen, ActSuspend} {
		if slices.Contains(actionFrom[a], state) {
			out = append(out, a)
		}
	}
	return out
}

// Categories are the procured kinds of requests.
var Categories = []string{"页面访问", "功能异常", "接口失败", "数据错误", "业务中断", "数据库", "中间件", "安全软件", "系统报错", "咨询", "需求变更"}

// Grades: 1 is the most severe.
var GradeNames = map[int]string{1: "特别重大", 2: "重大", 3: "较大", 4: "一般"}

// GradeName is the Chinese name of a grade, "未分级" for 0.
func GradeName(g int) string {
	if n, ok := GradeNames[g]; ok {
		return n
	}
	return "未分级"
}

// Impact and urgency levels, 1 highest.
var (
	ImpactNames  = map[int]string{1: "全局（全省或多个系统）", 2: "较大（单个系统或多个地市）", 3: "有限（单个地市或部门）", 4: "个别（个别用户）"}
	UrgencyNames = map[int]string{1: "极高（业务中断）", 2: "高（严重影响办理）", 3: "中（部分功能受影响）", 4: "低（可延后处理）"}
)

// Matrix maps impact (row) × urgency (column), both 1..4, to a grade.
type Matrix [4][4]int

// DefaultMatrix follows the ITSM practice (iTop, GLPI, JSM) mapped onto the four national
// grades.
var DefaultMatrix = Matrix{
	{1, 1, 2, 3},
	{1, 2, 3, 4},
	{2, 3, 4, 4},
	{3, 4, 4, 4},
}

// Grade returns the grade of impact × urgency, or an error for levels outside 1..4.
func (m Matrix) Grade(impact, urgency int) (int, error) {
	if impact < 1 || impact > 4 {
		return 0, badRequest("bad_impact", "影响范围须为 1–4 级")
	}
	if urgency < 1 || urgency > 4 {
		return 0, badRequest("bad_urgency", "紧急程度须为 1–4 级")
	}
	return m[impact-1][urgency-1], nil
}

const matrixKey = "desk.grade_matrix"

// LoadMatrix reads the configured grading matrix (the default when none is set).
func LoadMatrix(ctx context.Context, q store.Q) Matrix {
	var raw string
	if err := q.Get(ctx, &raw, `SELECT value FROM settings WHERE key = ?`, matrixKey); err != nil {
		return DefaultMatrix
	}
	var m Matrix
	if json.Unmarshal([]byte(raw), &m) != nil || m.validate() != nil {
		return DefaultMatrix
	}
	return m
}

func (m Matrix) validate() error {
	for i := range m {
		for j := range m[i] {
			if m[i][j] < 1 || m[i][j] > 4 {
				return badRequest("bad_matrix", "分级矩阵第 %d 行第 %d 列须为 1–4（特别重大…一般）", i+1, j+1)
			}
		}
	}
	return nil
}

// Change kinds that need the bureau's approval.
var ChangeKinds = map[string]string{"upgrade": "版本升级", "data_fix": "数据修正", "config": "配置变更"}

// Sources of tickets.
var SourceNames = map[string]string{"web": "网页", "mobile": "移动端", "api": "接口", "alert": "监控告警", "inspection": "巡检发现"}

// Ticket is one 运维单.
type Ticket struct {
	ID             int64      `db:"id" json:"id"`
	No             string     `db:"no" json:"no"`
	Title          string     `db:"title" json:"title"`
	Description    string     `db:"description" json:"description"`
	Source         string     `db:"source" json:"source"`
	State          string     `db:"state" json:"state"`
	ResumeState    string     `db:"resume_state" json:"resume_state,omitempty"`
	PendingReason  string     `db:"pending_reason" json:"pending_reason,omitempty"`
	Category       string     `db:"category" json:"category"`
	System         string     `db:"system" json:"system"`
	Reporter       string     `db:"reporter" json:"reporter"`
	ReporterUnit   string     `db:"reporter_unit" json:"reporter_unit"`
	ReporterUserID *int64     `db:"reporter_user_id" json:"reporter_user_id,omitempty"`
	Impact         int        `db:"impact" json:"impact"`
	Urgency        int        `db:"urgency" json:"urgency"`
	Grade          int        `db:"grade" json:"grade"`
	ChangeKind     string     `db:"change_kind" json:"change_kind"`
	Approval       string     `db:"approval" json:"approval"`
	AssigneeID     *int64     `db:"assignee_id" json:"assignee_id,omitempty"`
	AssigneeName   string     `db:"assignee_name" json:"assignee_name"`
	Cause          string     `db:"cause" json:"cause"`
	Method         string     `db:"method" json:"method"`
	VerifyResult   string     `db:"verify_result" json:"verify_result"`
	CloseCode      string     `db:"close_code" json:"close_code"`
	ReopenCount    int        `db:"reopen_count" json:"reopen_count"`
	PlanDue        string     `db:"plan_due" json:"plan_due"`
	AcknowledgedAt *time.Time `db:"acknowledged_at" json:"acknowledged_at,omitempty"`
	MeasuresAt     *time.Time `db:"measures_at" json:"measures_at,omitempty"`
	ResolvedAt     *time.Time `db:"resolved_at" json:"resolved_at,omitempty"`
	ClosedAt       *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	AckMS          *int64     `db:"ack_ms" json:"ack_ms,omitempty"`
	ResolveMS      *int64     `db:"resolve_ms" json:"resolve_ms,omitempty"`
	PausedMS       int64      `db:"paused_ms" json:"paused_ms"`
	CreatedMonth   string     `db:"created_month" json:"-"`
	RegionCode     string     `db:"region_code" json:"region_code"`
	DeptID         *int64     `db:"dept_id" json:"dept_id,omitempty"`
	CreatedBy      *int64     `db:"created_by" json:"created_by,omitempty"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time  `db:"updated_at" json:"updated_at"`
}

// StateName is the Chinese name of the ticket's state.
func (t *Ticket) StateName() string { return StateNames[t.State] }

// GradeName is the Chinese name of the ticket's grade.
func (t *Ticket) GradeName() string { return GradeName(t.Grade) }

// SourceName is the Chinese name of the ticket's source.
func (t *Ticket) SourceName() string { return SourceNames[t.Source] }

// ChangeName is the Chinese name of the ticket's change kind.
func (t *Ticket) ChangeName() string { return ChangeKinds[t.ChangeKind] }

// Active reports whether the ticket is neither in verification nor closed.
func (t *Ticket) Active() bool { return t.State != StateVerifying && t.State != StateClosed }

const ticketCols = `t.id, t.no, t.title, t.description, t.source, t.state, t.resume_state, t.pending_reason, t.category,
	t.system, t.reporter, t.reporter_unit, t.reporter_user_id, t.impact, t.urgency, t.grade, t.change_kind, t.approval,
	t.assignee_id, t.assignee_name, t.cause, t.method, t.verify_result, t.close_code, t.reopen_count, t.plan_due,
	t.acknowledged_at, t.measures_at, t.resolved_at, t.closed_at, t.ack_ms, t.resolve_ms, t.paused_ms, t.created_month,
	t.region_code, t.dept_id, t.created_by, t.created_at, t.updated_at`

// Transition is one recorded lifecycle step.
type Transition struct {
	ID        int64     `db:"id" json:"id"`
	TicketID  int64     `db:"ticket_id" json:"ticket_id"`
	Action    string    `db:"action" json:"action"`
	FromState string    `db:"from_state" json:"from_state"`
	ToState   string    `db:"to_state" json:"to_state"`
	Note      string    `db:"note" json:"note"`
	Fields    string    `db:"fields" json:"fields"`
	ActorID   *int64    `db:"actor_id" json:"actor_id,omitempty"`
	Actor     string    `db:"actor" json:"actor"`
	At        time.Time `db:"at" json:"at"`
}

// ActionName is the Chinese name of the step.
func (tr Transition) ActionName() string { return ActionNames[tr.Action] }

// FromName and ToName are the Chinese names of the states.
func (tr Transition) FromName() string { return StateNames[tr.FromState] }
func (tr Transition) ToName() string   { return StateNames[tr.ToState] }

// placeholders are answers that do not describe anything ("正确、真实填写").
var placeholders = []string{"无", "暂无", "略", "同上", "见上", "测试", "test", "无无", "不详", "未知", "/", "-", "——", "...", "。。。"}

// checkText validates a required free-text field: present, meaningful and bounded.
func checkText(field, label, v string, minRunes, maxRunes int) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return badRequest("missing_"+field, "请填写%s", label)
	}
	if slices.Contains(placeholders, strings.ToLower(v)) || utf8.RuneCountInString(v) < minRunes {
		return badRequest("vague_"+field, "%s须正确、真实填写（至少 %d 个字），不能只写“%s”", label, minRunes, v)
	}
	if utf8.RuneCountInString(v) > maxRunes {
		return badRequest("long_"+field, "%s不能超过 %d 个字", label, maxRunes)
	}
	return nil
}

func checkLen(label, v string, maxRunes int) error {
	if utf8.RuneCountInString(v) > maxRunes {
		return badRequest("too_long", "%s不能超过 %d 个字", label, maxRunes)
	}
	return nil
}

func checkCategory(c string) error {
	if !slices.Contains(Categories, c) {
		return badRequest("bad_category", "问题类别“%s”无效，应为：%s", c, strings.Join(Categories, "、"))
	}
	return nil
}

func checkChangeKind(k string) error {
	if _, ok := ChangeKinds[k]; k != "" && !ok {
		return badRequest("bad_change_kind", "变更类型只能是 版本升级(upgrade)、数据修正(data_fix)、配置变更(config) 或留空")
	}
	return nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

func ticketNo(id int64, created time.Time) string {
	return fmt.Sprintf("YW%s%06d", created.In(shanghai()).Format("20060102"), id)
}

// ParseMatrix reads a matrix written as four lines of four grades ("1 1 2 3").
func ParseMatrix(text string) (Matrix, error) {
	var m Matrix
	lines := strings.FieldsFunc(strings.TrimSpace(text), func(r rune) bool { return r == '\n' || r == ';' })
	if len(lines) != 4 {
		return m, badRequest("bad_matrix", "分级矩阵须为 4 行（影响范围 1–4），每行 4 个等级（紧急程度 1–4）")
	}
	for i, l := range lines {
		f := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == ',' || r == '，' || r == '\t' || r == '\r' })
		if len(f) != 4 {
			return m, badRequest("bad_matrix", "分级矩阵第 %d 行须有 4 个等级", i+1)
		}
		for j, s := range f {
			n, err := strconv.Atoi(s)
			if err != nil {
				return m, badRequest("bad_matrix", "分级矩阵第 %d 行第 %d 列 %q 不是 1–4 的数字", i+1, j+1, s)
			}
			m[i][j] = n
		}
	}
	return m, m.validate()
}

// Text writes the matrix as ParseMatrix reads it.
func (m Matrix) Text() string {
	var b strings.Builder
	for i, row := range m {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d %d %d %d", row[0], row[1], row[2], row[3])
	}
	return b.String()
}

// SaveMatrix stores the grading matrix; tickets already graded keep their grade.
func (d *Desk) SaveMatrix(ctx context.Context, r *http.Request, m Matrix) error {
	if err := m.validate(); err != nil {
		return err
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, matrixKey, jsonString(m), d.Now()); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.sla.matrix", ObjectType: "desk_setting", ObjectID: matrixKey,
			Detail: "修改分级矩阵：" + strings.ReplaceAll(m.Text(), "\n", "；")})
	})
}

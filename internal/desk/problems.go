package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Problem is a problem record (问题集): the cause behind recurring incidents, with its known
// error and workaround.
type Problem struct {
	ID          int64     `db:"id" json:"id"`
	Title       string    `db:"title" json:"title"`
	Description string    `db:"description" json:"description"`
	System      string    `db:"system" json:"system"`
	Category    string    `db:"category" json:"category"`
	Status      string    `db:"status" json:"status"`
	RootCause   string    `db:"root_cause" json:"root_cause"`
	KnownError  string    `db:"known_error" json:"known_error"`
	Workaround  string    `db:"workaround" json:"workaround"`
	Author      string    `db:"author" json:"author"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
	TicketCount int       `db:"ticket_count" json:"ticket_count"`
	Tickets     []Ticket  `db:"-" json:"tickets,omitempty"`
}

// ProblemStatusNames are the Chinese names of problem statuses.
var ProblemStatusNames = map[string]string{"open": "分析中", "known_error": "已知错误", "resolved": "已解决", "closed": "已关闭"}

// StatusName is the Chinese name of the status.
func (p Problem) StatusName() string { return ProblemStatusNames[p.Status] }

const problemSelect = `SELECT p.id, p.title, p.description, p.system, p.category, p.status, p.root_cause, p.known_error, p.workaround,
	p.author, p.created_at, p.updated_at, (SELECT COUNT(*) FROM desk_problem_tickets x WHERE x.problem_id = p.id) AS ticket_count
	FROM desk_problems p`

// ProblemInput creates or edits a problem record.
type ProblemInput struct {
	Title       string  `json:"title"`
	Description string  `json:"description"`
	System      string  `json:"system"`
	Category    string  `json:"category"`
	Status      string  `json:"status"`
	RootCause   string  `json:"root_cause"`
	KnownError  string  `json:"known_error"`
	Workaround  string  `json:"workaround"`
	Tickets     []int64 `json:"tickets"`
}

func (in *ProblemInput) normalize() error {
	in.Title = strings.TrimSpace(in.Title)
	in.System = strings.TrimSpace(in.System)
	if in.Title == "" {
		return badRequest("missing_title", "请填写问题标题")
	}
	if in.Status == "" {
		in.Status = "open"
	}
	if _, ok := ProblemStatusNames[in.Status]; !ok {
		return badRequest("bad_status", "问题状态只能是 open、known_error、resolved 或 closed")
	}
	if in.Category != "" {
		if err := checkCategory(in.Category); err != nil {
			return err
		}
	}
	if in.Status == "known_error" && (strings.TrimSpace(in.KnownError) == "" || strings.TrimSpace(in.Workaround) == "") {
		return badRequest("missing_known_error", "标记为已知错误须填写已知错误描述和临时解决方案")
	}
	for _, f := range []struct {
		label, v string
		max      int
	}{{"标题", in.Title, 200}, {"描述", in.Description, 8000}, {"系统", in.System, 100}, {"根本原因", in.RootCause, 8000},
		{"已知错误", in.KnownError, 8000}, {"临时解决方案", in.Workaround, 8000}} {
		if err := checkLen(f.label, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

// SaveProblem creates (id 0) or updates a problem record and links its incidents.
func (d *Desk) SaveProblem(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in ProblemInput) (int64, error) {
	if err := in.normalize(); err != nil {
		return 0, err
	}
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		a := actor{p: p, r: r}
		if id == 0 {
			var err error
			id, err = store.InsertID(ctx, tx, `INSERT INTO desk_problems(title, description, system, category, status, root_cause, known_error, workaround,
				author, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				in.Title, in.Description, in.System, in.Category, in.Status, in.RootCause, in.KnownError, in.Workaround, a.name(), a.id(), now, now)
			if err != nil {
				return err
			}
		} else {
			res, err := tx.Exec(ctx, `UPDATE desk_problems SET title = ?, description = ?, system = ?, category = ?, status = ?, root_cause = ?,
				known_error = ?, workaround = ?, updated_at = ? WHERE id = ?`,
				in.Title, in.Description, in.System, in.Category, in.Status, in.RootCause, in.KnownError, in.Workaround, now, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return web.ErrNotFound
			}
		}
		for _, tid := range in.Tickets {
			if _, err := lockTicket(ctx, tx, p, tid); err != nil {
				return badRequest("bad_ticket", "关联的运维单 %d 不存在或不在您的数据范围内", tid)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_problem_tickets(problem_id, ticket_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, tid); err != nil {
				return err
			}
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.problem.save", ObjectType: "desk_problem", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("保存问题「%s」（%s），关联运维单 %d 个", in.Title, ProblemStatusNames[in.Status], len(in.Tickets))})
	})
	return id, err
}

// Problems lists problem records, newest first.
func (d *Desk) Problems(ctx context.Context, status string) ([]Problem, error) {
	out := []Problem{}
	where, args := "1=1", []any{}
	if status != "" {
		where, args = "p.status = ?", []any{status}
	}
	err := d.db.Select(ctx, &out, problemSelect+` WHERE `+where+` ORDER BY p.id DESC LIMIT 500`, args...)
	return out, err
}

// GetProblem returns one problem with the linked tickets p may see.
func (d *Desk) GetProblem(ctx context.Context, p *iam.Principal, id int64) (*Problem, error) {
	var pr Problem
	if err := d.db.Get(ctx, &pr, problemSelect+` WHERE p.id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	where, args := p.Filter(scopeCols)
	pr.Tickets = []Ticket{}
	err := d.db.Select(ctx, &pr.Tickets, `SELECT `+ticketCols+` FROM desk_tickets t JOIN desk_problem_tickets x ON x.ticket_id = t.id
		WHERE x.problem_id = ? AND `+where+` ORDER BY t.id DESC`, append([]any{id}, args...)...)
	return &pr, err
}

// ProblemsForTicket lists the problems a ticket belongs to.
func (d *Desk) ProblemsForTicket(ctx context.Context, ticketID int64) ([]Problem, error) {
	out := []Problem{}
	err := d.db.Select(ctx, &out, problemSelect+` JOIN desk_problem_tickets y ON y.problem_id = p.id WHERE y.ticket_id = ? ORDER BY p.id`, ticketID)
	return out, err
}

// Candidate is a group of recurring incidents not yet under a problem record.
type Candidate struct {
	System   string `db:"system" json:"system"`
	Category string `db:"category" json:"category"`
	Count    int    `db:"n" json:"count"`
}

// Candidates finds recurring incidents: at least min tickets of the same system and category
// in the last days, none of them linked to a problem yet.
func (d *Desk) Candidates(ctx context.Context, p *iam.Principal, days, minCount int) ([]Candidate, error) {
	where, args := p.Filter(scopeCols)
	out := []Candidate{}
	err := d.db.Select(ctx, &out, `SELECT t.system, t.category, COUNT(*) AS n FROM desk_tickets t
		WHERE t.created_at >= ? AND t.system <> '' AND t.category <> ''
		AND NOT EXISTS (SELECT 1 FROM desk_problem_tickets x WHERE x.ticket_id = t.id) AND `+where+`
		GROUP BY t.system, t.category HAVING COUNT(*) >= ? ORDER BY n DESC, t.system LIMIT 50`,
		append(append([]any{d.Now().AddDate(0, 0, -days)}, args...), minCount)...)
	return out, err
}

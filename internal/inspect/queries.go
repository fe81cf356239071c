package inspect

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

func regionScope(p *iam.Principal, col string) (string, []any) {
	return p.Filter(iam.Cols{Region: col})
}

// Runs lists runs inside the principal's scope, newest first (planID 0: every plan).
func (s *Service) Runs(ctx context.Context, p *iam.Principal, planID int64, offset, limit int) ([]Run, int, error) {
	w, args := regionScope(p, "region_code")
	if planID > 0 {
		w += " AND plan_id = ?"
		args = append(args, planID)
	}
	var total int
	if err := s.db.Get(ctx, &total, `SELECT COUNT(*) FROM inspect_runs WHERE `+w, args...); err != nil {
		return nil, 0, err
	}
	out := []Run{}
	err := s.db.Select(ctx, &out, `SELECT `+runCols+` FROM inspect_runs WHERE `+w+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	return out, total, err
}

// Run returns one run inside the principal's scope.
func (s *Service) Run(ctx context.Context, q store.Q, p *iam.Principal, id int64) (*Run, error) {
	w, args := regionScope(p, "region_code")
	var r Run
	err := q.Get(ctx, &r, `SELECT `+runCols+` FROM inspect_runs WHERE id = ? AND `+w, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &r, err
}

// Report returns the current report data of a run inside the principal's scope.
func (s *Service) Report(ctx context.Context, p *iam.Principal, id int64) (*ReportData, error) {
	if _, err := s.Run(ctx, s.db, p, id); err != nil {
		return nil, err
	}
	var version int
	if err := s.db.Get(ctx, &version, `SELECT COALESCE(MAX(version), 0) FROM inspect_reports WHERE run_id = ?`, id); err != nil {
		return nil, err
	}
	return s.reportData(ctx, s.db, id, version)
}

// ReviewInput is the reviewer's sign-off.
type ReviewInput struct {
	Note string `json:"note"`
}

// Review records the reviewer's sign-off (复核) and archives a new version of the report
// carrying the reviewer. The inspector of a manual run cannot review it.
func (s *Service) Review(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in ReviewInput) (int, error) {
	in.Note = strings.TrimSpace(in.Note)
	if len([]rune(in.Note)) > 1000 {
		return 0, web.Errorf(400, "invalid_note", "复核意见不超过 1000 字")
	}
	var version int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		run, err := s.Run(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if run.Status != "done" {
			return web.Errorf(409, "run_not_done", "巡检尚未完成，不能复核")
		}
		if run.ReviewedAt != nil {
			return web.Errorf(409, "already_reviewed", "该巡检报告已于 %s 由 %s 复核", run.ReviewedAt.In(shanghai).Format("2006-01-02 15:04"), run.Reviewer)
		}
		if run.Actor == p.Account {
			return web.Errorf(409, "self_review", "巡检执行人不能复核自己的巡检报告，请由其他人员复核")
		}
		reviewer := firstNonEmpty(p.Name, p.Account)
		if _, err := tx.Exec(ctx, `UPDATE inspect_runs SET reviewer = ?, reviewed_at = ?, review_note = ? WHERE id = ?`, reviewer, s.Now(), in.Note, id); err != nil {
			return err
		}
		if err := s.archive(ctx, tx, id, p.Account); err != nil {
			return err
		}
		if err := tx.Get(ctx, &version, `SELECT MAX(version) FROM inspect_reports WHERE run_id = ?`, id); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, entry(r, audit.Entry{Action: "inspect.report.review", ObjectType: "inspect_run", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("复核巡检报告 #%d（%s），归档第 %d 版；意见：%s", id, run.PlanName, version, firstNonEmpty(in.Note, "无"))}))
	})
	return version, err
}

// FindingFilter narrows the findings list.
type FindingFilter struct {
	Status string // "" | open | rectifying | closed | unclosed
	RunID  int64
}

// Findings lists findings inside the principal's scope, unclosed and nearest deadline first.
func (s *Service) Findings(ctx context.Context, p *iam.Principal, f FindingFilter, offset, limit int) ([]Finding, int, error) {
	w, args := regionScope(p, "region_code")
	switch f.Status {
	case "":
	case "unclosed":
		w += " AND status <> 'closed'"
	case FindingOpen, FindingRectifying, FindingClosed:
		w += " AND status = ?"
		args = append(args, f.Status)
	default:
		return nil, 0, web.Errorf(400, "invalid_status", "状态须为 open、rectifying、closed 或 unclosed")
	}
	if f.RunID > 0 {
		w += " AND (run_id = ? OR last_run_id = ?)"
		args = append(args, f.RunID, f.RunID)
	}
	var total int
	if err := s.db.Get(ctx, &total, `SELECT COUNT(*) FROM inspect_findings WHERE `+w, args...); err != nil {
		return nil, 0, err
	}
	out := []Finding{}
	err := s.db.Select(ctx, &out, `SELECT `+findingCols+` FROM inspect_findings WHERE `+w+`
		ORDER BY CASE WHEN status = 'closed' THEN 1 ELSE 0 END, deadline, id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	return out, total, err
}

// FindingInput changes a finding: owner, deadline, status and rectification.
type FindingInput struct {
	Owner         *string `json:"owner"`
	Deadline      *string `json:"deadline"`
	Status        *string `json:"status"`
	Rectification *string `json:"rectification"`
}

// UpdateFinding applies in to a finding inside the principal's scope.
func (s *Service) UpdateFinding(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in FindingInput) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		w, args := regionScope(p, "region_code")
		var f Finding
		err := tx.Get(ctx, &f, `SELECT `+findingCols+` FROM inspect_findings WHERE id = ? AND `+w, append([]any{id}, args...)...)
		if errors.Is(err, store.ErrNotFound) {
			return web.ErrNotFound
		} else if err != nil {
			return err
		}
		var changes []string
		if in.Owner != nil {
			o := strings.TrimSpace(*in.Owner)
			if err := s.ownerExists(ctx, tx, o); err != nil {
				return err
			}
			if o != f.Owner {
				changes = append(changes, fmt.Sprintf("责任人 %s → %s", firstNonEmpty(f.Owner, "无"), firstNonEmpty(o, "无")))
			}
			f.Owner = o
		}
		if in.Deadline != nil {
			d := strings.TrimSpace(*in.Deadline)
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return web.Errorf(400, "invalid_deadline", "整改期限须为 YYYY-MM-DD 格式的日期")
			}
			if d != f.Deadline {
				changes = append(changes, fmt.Sprintf("整改期限 %s → %s", f.Deadline, d))
			}
			f.Deadline = d
		}
		if in.Rectification != nil {
			rc := strings.TrimSpace(*in.Rectification)
			if len([]rune(rc)) > 2000 {
				return web.Errorf(400, "invalid_rectification", "整改措施不超过 2000 字")
			}
			if rc != f.Rectification {
				changes = append(changes, "整改措施已更新")
			}
			f.Rectification = rc
		}
		now := s.Now()
		if in.Status != nil && *in.Status != f.Status {
			st := *in.Status
			if FindingStatusLabels[st] == "" {
				return web.Errorf(400, "invalid_status", "状态须为 open（待整改）、rectifying（整改中）或 closed（已整改）")
			}
			if st == FindingClosed && f.Rectification == "" {
				return web.Errorf(400, "rectification_required", "关闭隐患前请填写整改措施")
			}
			if f.Status == FindingClosed {
				// Reopening: another open finding of the same check would clash.
				var n int
				if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM inspect_findings WHERE code = ? AND region_code = ? AND status <> 'closed'`, f.Code, f.RegionCode); err != nil {
					return err
				}
				if n > 0 {
					return web.Errorf(409, "finding_reopened_elsewhere", "该检查项已有未关闭的隐患，不能重新打开本条")
				}
				f.ClosedAt, f.ClosedNote = nil, ""
			} else if st == FindingClosed {
				f.ClosedAt, f.ClosedNote = &now, "人工确认整改完成（"+p.Account+"）"
			}
			changes = append(changes, fmt.Sprintf("状态 %s → %s", FindingStatusLabels[f.Status], FindingStatusLabels[st]))
			f.Status = st
		}
		if len(changes) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE inspect_findings SET owner = ?, deadline = ?, status = ?, rectification = ?, closed_at = ?, closed_note = ?, updated_at = ? WHERE id = ?`,
			f.Owner, f.Deadline, f.Status, f.Rectification, f.ClosedAt, f.ClosedNote, now, id); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, entry(r, audit.Entry{Action: "inspect.finding.update", ObjectType: "inspect_finding", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("隐患 #%d（%s）：%s", id, f.Title, strings.Join(changes, "；"))}))
	})
}

// entry completes an audit entry of a successful operation from the request.
func entry(r *http.Request, e audit.Entry) audit.Entry {
	e.Kind, e.Result = audit.KindOperation, audit.ResultSuccess
	return audit.FromRequest(r, e)
}

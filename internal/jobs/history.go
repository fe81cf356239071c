package jobs

import (
	"context"
	"encoding/json"
	"time"
)

// Job describes a registered job and its schedule row, for the operations pages.
type Job struct {
	Name       string
	Title      string
	Spec       string
	Enabled    bool
	NextRunAt  time.Time
	Running    bool
	LeaseOwner string // instance running it now
}

// Jobs lists the registered jobs by name.
func (s *Scheduler) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := s.rows(ctx)
	if err != nil {
		return nil, err
	}
	var out []Job
	for _, r := range rows {
		if s.jobs[r.Name] == nil {
			continue
		}
		out = append(out, Job{Name: r.Name, Title: r.Title, Spec: r.Spec, Enabled: r.Enabled, NextRunAt: r.NextRunAt,
			Running: r.LeaseOwner != "", LeaseOwner: r.LeaseOwner})
	}
	return out, nil
}

// RunRecord is one row of the run history.
type RunRecord struct {
	ID          int64      `db:"id"`
	Job         string     `db:"job"`
	Trigger     string     `db:"trigger_kind"`
	ScheduledAt *time.Time `db:"scheduled_at"`
	Actor       string     `db:"actor"`
	Instance    string     `db:"instance"`
	Status      string     `db:"status"`
	StartedAt   time.Time  `db:"started_at"`
	FinishedAt  *time.Time `db:"finished_at"`
	CountsJSON  string     `db:"counts"`
	Notes       string     `db:"notes"`
	Error       string     `db:"error"`

	Counts map[string]int64 `db:"-"`
}

// Runs lists a job's runs, newest first; name "" lists all jobs.
func (s *Scheduler) Runs(ctx context.Context, name string, limit int) ([]RunRecord, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	q := `SELECT id, job, trigger_kind, scheduled_at, actor, instance, status, started_at, finished_at, counts, notes, error
		FROM job_runs`
	args := []any{}
	if name != "" {
		q += ` WHERE job = ?`
		args = append(args, name)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	var out []RunRecord
	if err := s.db.Select(ctx, &out, q, args...); err != nil {
		return nil, err
	}
	for i := range out {
		json.Unmarshal([]byte(out[i].CountsJSON), &out[i].Counts)
	}
	return out, nil
}

// GetRun returns one run.
func (s *Scheduler) GetRun(ctx context.Context, id int64) (RunRecord, error) {
	var r RunRecord
	err := s.db.Get(ctx, &r, `SELECT id, job, trigger_kind, scheduled_at, actor, instance, status, started_at, finished_at, counts, notes, error
		FROM job_runs WHERE id = ?`, id)
	if err == nil {
		json.Unmarshal([]byte(r.CountsJSON), &r.Counts)
	}
	return r, err
}

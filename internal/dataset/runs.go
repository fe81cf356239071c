package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Run is one ingestion run (推送任务运行记录).
type Run struct {
	ID           int64      `db:"id" json:"id"`
	Dataset      string     `db:"dataset" json:"dataset"`
	TaskName     string     `db:"task_name" json:"task_name"`
	ScheduleType string     `db:"schedule_type" json:"schedule_type"`
	SourceKind   string     `db:"source_kind" json:"source_kind"`
	SourceName   string     `db:"source_name" json:"source_name"`
	Status       string     `db:"status" json:"status"`
	Actor        string     `db:"actor" json:"actor"`
	RegionCode   string     `db:"region_code" json:"region_code"`
	StartedAt    time.Time  `db:"started_at" json:"started_at"`
	HeartbeatAt  time.Time  `db:"heartbeat_at" json:"heartbeat_at"`
	FinishedAt   *time.Time `db:"finished_at" json:"finished_at"`
	DurationMS   int64      `db:"duration_ms" json:"duration_ms"`
	BytesTotal   int64      `db:"bytes_total" json:"bytes_total"`
	BytesRead    int64      `db:"bytes_read" json:"bytes_read"`
	Read         int64      `db:"read_count" json:"read"`
	Upserted     int64      `db:"upserted" json:"upserted"`
	Unchanged    int64      `db:"unchanged" json:"unchanged"`
	Quarantined  int64      `db:"quarantined" json:"quarantined"`
	WarningsRaw  string     `db:"warnings" json:"-"`
	Notes        string     `db:"notes" json:"notes"`
	Error        string     `db:"error" json:"error"`
	Phase        string     `db:"phase" json:"phase"` // after the last batch: what the running run does

	Warnings []Warning `db:"-" json:"warnings"`
}

// Warning is one counted warning of a run.
type Warning struct {
	Text  string `json:"text"`
	Count int64  `json:"count"`
}

const runCols = `id, dataset, task_name, schedule_type, source_kind, source_name, status, actor, region_code, started_at, heartbeat_at,
	finished_at, duration_ms, bytes_total, bytes_read, read_count, upserted, unchanged, quarantined, warnings, notes, error, phase`

// Labels shown to people.
var (
	ScheduleLabels = map[string]string{ScheduleManual: "手动", ScheduleScheduled: "定时", ScheduleRealtime: "实时"}
	StatusLabels   = map[string]string{StatusRunning: "运行中", StatusCommitted: "成功", StatusFailed: "失败", StatusInterrupted: "中断"}
	KindLabels     = map[string]string{KindFile: "文件（命令行）", KindUpload: "文件上传", KindHTTPPull: "HTTP 拉取", KindHTTPPush: "HTTP 推送",
		KindSQLPull: "数据库拉取", KindReplay: "隔离区重放", "seed": "演示数据"}
)

func (r *Run) decode() {
	var w map[string]int64
	json.Unmarshal([]byte(r.WarningsRaw), &w)
	for k, v := range w {
		r.Warnings = append(r.Warnings, Warning{Text: k, Count: v})
	}
	sort.Slice(r.Warnings, func(i, j int) bool { return r.Warnings[i].Count > r.Warnings[j].Count })
}

// ScheduleLabel etc. are for templates.
func (r Run) ScheduleLabel() string { return ScheduleLabels[r.ScheduleType] }
func (r Run) StatusLabel() string   { return StatusLabels[r.Status] }
func (r Run) KindLabel() string     { return KindLabels[r.SourceKind] }
func (r Run) DatasetTitle() string {
	if d, ok := Get(r.Dataset); ok {
		return d.TitleZh
	}
	return r.Dataset
}

// StatusClass is the tag colour of the status.
func (r Run) StatusClass() string {
	switch r.Status {
	case StatusCommitted:
		return "ok"
	case StatusRunning:
		return "warn"
	}
	return "bad"
}

// Percent is the share of the input read, for the progress bar (0–100).
func (r Run) Percent() int {
	if r.Status != StatusRunning {
		return 100
	}
	if r.BytesTotal <= 0 {
		return 0
	}
	p := int(r.BytesRead * 100 / r.BytesTotal)
	return min(max(p, 0), 99)
}

// Duration is the run's duration for people.
func (r Run) Duration() string {
	d := time.Duration(r.DurationMS) * time.Millisecond
	if r.Status == StatusRunning {
		d = time.Since(r.StartedAt)
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d 毫秒", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f 秒", d.Seconds())
	}
	return fmt.Sprintf("%d 分 %d 秒", int(d.Minutes()), int(d.Seconds())%60)
}

// NoteLines splits the notes.
func (r Run) NoteLines() []string {
	if r.Notes == "" {
		return nil
	}
	return strings.Split(r.Notes, "\n")
}

// RunFilter selects runs.
type RunFilter struct {
	Dataset  string
	Status   string
	Schedule string
}

// ListRuns returns a page of runs within the caller's scope (runs are scoped by the region
// of whoever ran them; scheduled and system runs belong to the province).
func (m *Module) ListRuns(ctx context.Context, p *iam.Principal, f RunFilter, page web.Page) ([]Run, int, error) {
	where, args := p.Filter(iam.Cols{Region: "region_code"})
	conds := []string{where}
	if f.Dataset != "" {
		conds = append(conds, "dataset = ?")
		args = append(args, f.Dataset)
	}
	if f.Status != "" {
		conds = append(conds, "status = ?")
		args = append(args, f.Status)
	}
	if f.Schedule != "" {
		conds = append(conds, "schedule_type = ?")
		args = append(args, f.Schedule)
	}
	w := strings.Join(conds, " AND ")
	var total int
	if err := m.db.Get(ctx, &total, `SELECT COUNT(*) FROM ds_ingest_runs WHERE `+w, args...); err != nil {
		return nil, 0, err
	}
	var out []Run
	if err := m.db.Select(ctx, &out, `SELECT `+runCols+` FROM ds_ingest_runs WHERE `+w+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, page.Size, page.Offset())...); err != nil {
		return nil, 0, err
	}
	for i := range out {
		out[i].decode()
	}
	return out, total, nil
}

// GetRun returns one run within the caller's scope.
func (m *Module) GetRun(ctx context.Context, p *iam.Principal, id int64) (*Run, error) {
	where, args := p.Filter(iam.Cols{Region: "region_code"})
	var r Run
	err := m.db.Get(ctx, &r, `SELECT `+runCols+` FROM ds_ingest_runs WHERE id = ? AND `+where, append([]any{id}, args...)...)
	if err == store.ErrNotFound {
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.decode()
	return &r, nil
}

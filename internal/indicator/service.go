// Package indicator is the indicator layer (指标维护): indicators declared as data (code,
// name, definition, unit, library, the SQL aggregate over datasets, dimensions, lineage),
// versioned and audited; their values materialised per region level × period by the job
// indicator.refresh — fully on demand and incrementally after each dataset.ingest.committed
// event — with each value's computation time; and the theme and topic libraries that group
// them. Dashboards read values through Service.
package indicator

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

//go:embed seed/indicators.json
var seedJSON []byte

// Templates are the module's page templates.
func Templates() fs.FS { return templates }

// Permissions (leader: indicator.*.read; analyst: indicator.*).
const (
	PermRead      = "indicator.definition.read"
	PermWrite     = "indicator.definition.write"
	PermRecompute = "indicator.value.recompute"
)

// Names of the job, the subscriber and the events.
const (
	JobRefresh        = "indicator.refresh"
	Subscriber        = "indicator.refresh"
	EventUpdated      = "indicator.values.updated"
	EventRequested    = "indicator.recompute.requested"
	EventIngestDone   = "dataset.ingest.committed"
	EventIngestFailed = "dataset.ingest.failed"
)

// QualityScore is a dataset's data-quality score from the quality engine.
type QualityScore struct {
	Score float64   `json:"score"`
	At    time.Time `json:"at"`
}

// QualityFunc returns a dataset's latest quality score; ok false when there is none.
type QualityFunc func(ctx context.Context, dataset string) (QualityScore, bool)

// Service is the indicator layer.
type Service struct {
	db    *store.DB
	audit *audit.Log
	jobs  *jobs.Scheduler
	log   *slog.Logger
	pages *web.Pages

	// Quality, when set, supplies datasets' quality scores (the quality engine's table).
	Quality QualityFunc

	mu      sync.RWMutex
	defs    map[string]*Definition
	order   []string
	version int64
	loaded  bool
}

// Definition is a stored indicator: its current spec and bookkeeping.
type Definition struct {
	Spec
	Version    int        `json:"version"`
	Origin     string     `json:"origin"`
	Enabled    bool       `json:"enabled"`
	Edited     bool       `json:"edited"`
	UpdatedBy  string     `json:"updated_by"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ComputedAt *time.Time `json:"computed_at"`
}

// New returns the service. Jobs may be nil in tools that only read.
func New(db *store.DB, a *audit.Log, j *jobs.Scheduler, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, audit: a, jobs: j, log: log}
}

// SetPages receives the page renderer.
func (s *Service) SetPages(p *web.Pages) { s.pages = p }

// DB returns the database (for the dashboards built on the service).
func (s *Service) DB() *store.DB { return s.db }

// SeedSpecs returns the built-in catalogue.
func SeedSpecs() ([]Spec, error) {
	var specs []Spec
	if err := json.Unmarshal(seedJSON, &specs); err != nil {
		return nil, fmt.Errorf("seed/indicators.json: %w", err)
	}
	for i := range specs {
		specs[i].Normalize()
		if err := specs[i].Validate(); err != nil {
			return nil, fmt.Errorf("seed/indicators.json %s: %w", specs[i].Code, err)
		}
	}
	return specs, checkRefs(specs)
}

// checkRefs checks that ratio and weighted indicators reference known indicators without a
// cycle, and that a ratio's parts have matching breakdowns.
func checkRefs(specs []Spec) error {
	by := map[string]*Spec{}
	for i := range specs {
		by[specs[i].Code] = &specs[i]
	}
	var visit func(code string, path []string) error
	visit = func(code string, path []string) error {
		for _, p := range path {
			if p == code {
				return bad("numerator", "指标引用形成循环：%s", strings.Join(append(path, code), " → "))
			}
		}
		s := by[code]
		for _, r := range s.Refs() {
			if by[r] == nil {
				return bad("numerator", "指标 %s 引用了不存在的指标 %s", code, r)
			}
			if err := visit(r, append(path, code)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range specs {
		if err := visit(s.Code, nil); err != nil {
			return err
		}
		if s.Kind == KindRatio {
			if by[s.Numerator].breakdown(by) != by[s.Denominator].breakdown(by) && !s.DenAll {
				return bad("denominator", "比率指标 %s 的分子与分母分组字段不一致", s.Code)
			}
		}
	}
	return nil
}

// breakdown is the breakdown an indicator's values have (ratios take their numerator's).
func (s *Spec) breakdown(by map[string]*Spec) string {
	if s.Kind == KindRatio && by[s.Numerator] != nil {
		return by[s.Numerator].breakdown(by)
	}
	return s.Breakdown
}

// Init seeds the catalogue: missing indicators are added, unedited seed indicators follow the
// built-in definition; anything a person changed is kept. Safe at every start.
func (s *Service) Init(ctx context.Context) error {
	specs, err := SeedSpecs()
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var changed []string
		for _, sp := range specs {
			b, _ := json.Marshal(sp)
			var cur struct {
				Spec    string `db:"spec"`
				Version int    `db:"version"`
				Edited  bool   `db:"edited"`
			}
			err := tx.Get(ctx, &cur, `SELECT spec, version, edited FROM ind_definitions WHERE code = ?`, sp.Code)
			now := store.Now()
			switch {
			case errors.Is(err, store.ErrNotFound):
				if _, err := tx.Exec(ctx, `INSERT INTO ind_definitions(code, name, library, spec, version, origin, enabled, edited, updated_by, updated_at)
					VALUES (?, ?, ?, ?, 1, 'seed', TRUE, FALSE, 'system', ?)`, sp.Code, sp.Name, sp.Library, string(b), now); err != nil {
					return err
				}
				if err := addVersion(ctx, tx, sp.Code, 1, string(b), "system", "内置指标"); err != nil {
					return err
				}
				changed = append(changed, sp.Code)
			case err != nil:
				return err
			case !cur.Edited && cur.Spec != string(b):
				v := cur.Version + 1
				if _, err := tx.Exec(ctx, `UPDATE ind_definitions SET name = ?, library = ?, spec = ?, version = ?, updated_at = ? WHERE code = ?`,
					sp.Name, sp.Library, string(b), v, now, sp.Code); err != nil {
					return err
				}
				if err := addVersion(ctx, tx, sp.Code, v, string(b), "system", "随系统升级更新内置指标定义"); err != nil {
					return err
				}
				changed = append(changed, sp.Code)
			}
		}
		if len(changed) == 0 {
			return nil
		}
		// One request computes the new and changed built-in indicators at the next run.
		if _, err := request(ctx, tx, Request{Kind: "codes", Codes: changed, Source: "seed"}); err != nil {
			return err
		}
		return bumpState(ctx, tx, 2)
	})
	if err != nil {
		return fmt.Errorf("指标目录初始化: %w", err)
	}
	return nil
}

func addVersion(ctx context.Context, q store.Q, code string, v int, spec, by, note string) error {
	_, err := q.Exec(ctx, `INSERT INTO ind_definition_versions(code, version, spec, changed_by, changed_at, note) VALUES (?, ?, ?, ?, ?, ?)`,
		code, v, spec, by, store.Now(), note)
	return err
}

type defRow struct {
	Code       string     `db:"code"`
	Spec       string     `db:"spec"`
	Version    int        `db:"version"`
	Origin     string     `db:"origin"`
	Enabled    bool       `db:"enabled"`
	Edited     bool       `db:"edited"`
	UpdatedBy  string     `db:"updated_by"`
	UpdatedAt  time.Time  `db:"updated_at"`
	ComputedAt *time.Time `db:"computed_at"`
}

// load returns the definitions, reloading them when another instance or request changed them.
func (s *Service) load(ctx context.Context) (map[string]*Definition, []string, error) {
	var v int64
	if err := s.db.Get(ctx, &v, `SELECT version FROM ind_state WHERE id = 2`); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	if s.loaded && s.version == v {
		defs, order := s.defs, s.order
		s.mu.RUnlock()
		return defs, order, nil
	}
	s.mu.RUnlock()
	var rows []defRow
	if err := s.db.Select(ctx, &rows, `SELECT code, spec, version, origin, enabled, edited, updated_by, updated_at, computed_at FROM ind_definitions`); err != nil {
		return nil, nil, err
	}
	defs := map[string]*Definition{}
	var order []string
	for _, r := range rows {
		d := &Definition{Version: r.Version, Origin: r.Origin, Enabled: r.Enabled, Edited: r.Edited, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt, ComputedAt: r.ComputedAt}
		if err := json.Unmarshal([]byte(r.Spec), &d.Spec); err != nil {
			return nil, nil, fmt.Errorf("指标 %s 定义损坏: %w", r.Code, err)
		}
		defs[r.Code] = d
		order = append(order, r.Code)
	}
	sort.Slice(order, func(i, j int) bool { return catalogueLess(defs[order[i]], defs[order[j]]) })
	s.mu.Lock()
	s.defs, s.order, s.version, s.loaded = defs, order, v, true
	s.mu.Unlock()
	return defs, order, nil
}

// catalogueLess orders the catalogue: seed order first (by their position in the seed
// file), then user indicators by code.
func catalogueLess(a, b *Definition) bool {
	ia, ib := seedIndex(a.Code), seedIndex(b.Code)
	if ia != ib {
		return ia < ib
	}
	return a.Code < b.Code
}

var seedOrder = func() map[string]int {
	m := map[string]int{}
	specs, _ := SeedSpecs()
	for i, s := range specs {
		m[s.Code] = i
	}
	return m
}()

func seedIndex(code string) int {
	if i, ok := seedOrder[code]; ok {
		return i
	}
	return 1 << 20
}

// computedAt refreshes the computation times (they change with every run, the cache does not).
func (s *Service) computedAt(ctx context.Context) (map[string]*time.Time, error) {
	var rows []struct {
		Code string     `db:"code"`
		At   *time.Time `db:"computed_at"`
	}
	if err := s.db.Select(ctx, &rows, `SELECT code, computed_at FROM ind_definitions`); err != nil {
		return nil, err
	}
	out := make(map[string]*time.Time, len(rows))
	for _, r := range rows {
		out[r.Code] = r.At
	}
	return out, nil
}

// Get returns one definition.
func (s *Service) Get(ctx context.Context, code string) (*Definition, error) {
	defs, _, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	d, ok := defs[strings.ToUpper(code)]
	if !ok {
		return nil, web.Errorf(http.StatusNotFound, "not_found", "指标 %s 不存在", code)
	}
	return d, nil
}

// List returns every definition in catalogue order.
func (s *Service) List(ctx context.Context) ([]*Definition, error) {
	defs, order, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Definition, len(order))
	for i, c := range order {
		out[i] = defs[c]
	}
	return out, nil
}

// specs returns the enabled specs, optionally only those named.
func (s *Service) specs(ctx context.Context, codes []string) ([]*Spec, error) {
	defs, order, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, c := range codes {
		want[c] = true
	}
	var out []*Spec
	for _, c := range order {
		d := defs[c]
		if d.Enabled && (len(codes) == 0 || want[c]) {
			sp := d.Spec
			out = append(out, &sp)
		}
	}
	return out, nil
}

// Request is a recompute request.
type Request struct {
	ID          int64    `json:"id"`
	Kind        string   `json:"kind"` // full | dataset | codes
	Dataset     string   `json:"dataset,omitempty"`
	Codes       []string `json:"codes,omitempty"`
	Regions     []string `json:"regions,omitempty"`
	Periods     []string `json:"periods,omitempty"`
	Source      string   `json:"source"`
	RequestedBy string   `json:"requested_by,omitempty"`
}

// request records a recompute request inside q's transaction; a request from an event is
// recorded once however often the event is delivered.
func request(ctx context.Context, q store.Q, r Request) (int64, error) {
	js := func(v []string) string {
		if v == nil {
			v = []string{}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	ins := `INSERT INTO ind_requests(kind, dataset, codes, regions, periods, source, requested_by, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`
	args := []any{r.Kind, r.Dataset, js(r.Codes), js(r.Regions), js(r.Periods), r.Source, r.RequestedBy, store.Now()}
	if strings.HasPrefix(r.Source, "event:") {
		_, err := q.Exec(ctx, ins+` ON CONFLICT (source) WHERE source LIKE 'event:%' DO NOTHING`, args...)
		return 0, err
	}
	return store.InsertID(ctx, q, ins, args...)
}

// RequestFull asks for a full recompute of every indicator and starts the job.
func (s *Service) RequestFull(ctx context.Context, r *http.Request, actor string) (int64, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if id, err = request(ctx, tx, Request{Kind: "full", Source: "user:" + actor, RequestedBy: actor}); err != nil {
			return err
		}
		if err := events.Publish(ctx, tx, EventRequested, map[string]any{"request_id": id}); err != nil {
			return err
		}
		if r != nil && s.audit != nil {
			return s.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "indicator.recompute", ObjectType: "indicator", ObjectID: "*",
				Result: audit.ResultSuccess, Detail: "请求全量重算全部指标"}))
		}
		return nil
	})
	return id, err
}

// Kick starts the job unless it is running; ErrBusy means a running job will see the request
// or a retry must try again.
func (s *Service) Kick(ctx context.Context, actor string) error {
	if s.jobs == nil {
		return jobs.ErrNotStarted
	}
	_, err := s.jobs.RunNow(ctx, JobRefresh, actor)
	return err
}

// HandleEvent is the subscriber of dataset.ingest.committed / failed and of
// indicator.recompute.requested: it records the request (once per event) and starts the job;
// while the job is busy it fails so that the bus delivers it again shortly, until a run has
// taken the request.
func (s *Service) HandleEvent(ctx context.Context, e events.Event) error {
	source := "event:" + strconv.FormatInt(e.ID, 10)
	switch e.Name {
	case EventIngestDone, EventIngestFailed:
		var p struct {
			Dataset  string   `json:"dataset"`
			RunID    int64    `json:"run_id"`
			Upserted *int64   `json:"upserted"`
			Regions  []string `json:"regions"`
			Periods  []string `json:"periods"`
		}
		if err := e.Decode(&p); err != nil {
			return fmt.Errorf("事件 %s 载荷无效: %w", e.Name, err)
		}
		if _, ok := Dataset(p.Dataset); !ok {
			return nil // a dataset no indicator can read
		}
		if e.Name == EventIngestDone && p.Upserted != nil && *p.Upserted == 0 {
			return nil // the run changed no row
		}
		if e.Name == EventIngestFailed { // committed batches of a failed run: recompute the dataset
			p.Regions, p.Periods = nil, nil
		}
		if _, err := request(ctx, s.db, Request{Kind: "dataset", Dataset: p.Dataset, Regions: p.Regions, Periods: p.Periods, Source: source}); err != nil {
			return err
		}
	case EventRequested:
		var p struct {
			RequestID int64 `json:"request_id"`
		}
		if err := e.Decode(&p); err != nil {
			return err
		}
		source = "" // the request row exists already
		var status string
		if err := s.db.Get(ctx, &status, `SELECT status FROM ind_requests WHERE id = ?`, p.RequestID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		if status != "pending" {
			return nil
		}
	default:
		return nil
	}
	if source != "" {
		var status string
		if err := s.db.Get(ctx, &status, `SELECT status FROM ind_requests WHERE source = ?`, source); err == nil && status != "pending" {
			return nil // already computed by an earlier delivery's run
		}
	}
	err := s.Kick(ctx, "event")
	if errors.Is(err, jobs.ErrBusy) {
		return errors.New("指标计算任务正在运行，稍后重试")
	}
	if errors.Is(err, jobs.ErrNotStarted) {
		return nil // tools without a scheduler: the request waits for the next run
	}
	return err
}

// RunJob is the body of the job indicator.refresh: it drains the request queue (a scheduled
// run first asks for a full recompute, the nightly safety net).
func (s *Service) RunJob(ctx context.Context, run *jobs.Run) error {
	if err := s.failInterrupted(ctx, run.ID); err != nil {
		return err
	}
	if run.Trigger == jobs.TriggerSchedule {
		if _, err := request(ctx, s.db, Request{Kind: "full", Source: "schedule"}); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		n, err := s.Drain(ctx, run.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		run.Add("requests", int64(n))
	}
	return ctx.Err()
}

// failInterrupted marks as failed the computations that a dead process left "running", so
// that the catalogue does not show them as running for ever (their requests stay pending and
// are computed again). One refresh job runs at a time, so a computation of an earlier job run
// that is over is dead; one outside the job (seeding) is taken as dead after an hour.
func (s *Service) failInterrupted(ctx context.Context, jobRunID int64) error {
	now := store.Now()
	_, err := s.db.Exec(ctx, `UPDATE ind_runs SET status = 'failed', finished_at = ?, error = '计算中断（进程退出），请求将重新计算'
		WHERE status = 'running' AND (job_run_id <> ? AND job_run_id IN (SELECT id FROM job_runs WHERE status <> 'running')
			OR job_run_id IS NULL AND started_at < ?)`, now, jobRunID, now.Add(-time.Hour))
	return err
}

type requestRow struct {
	ID      int64  `db:"id"`
	Kind    string `db:"kind"`
	Dataset string `db:"dataset"`
	Codes   string `db:"codes"`
	Regions string `db:"regions"`
	Periods string `db:"periods"`
	Source  string `db:"source"`
}

// Drain processes the pending requests once and returns how many it took.
func (s *Service) Drain(ctx context.Context, jobRunID int64) (int, error) {
	var rows []requestRow
	if err := s.db.Select(ctx, &rows, `SELECT id, kind, dataset, codes, regions, periods, source FROM ind_requests
		WHERE status = 'pending' ORDER BY id LIMIT 500`); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	maxID := rows[len(rows)-1].ID
	var sources []string
	full := false
	codes := map[string]bool{}
	type dsScope struct {
		regions map[string]bool // nil = every region
		months  map[string]bool // nil = every period
	}
	byDS := map[string]*dsScope{}
	var dsOrder []string
	for _, r := range rows {
		sources = append(sources, r.Source)
		switch r.Kind {
		case "full":
			full = true
		case "codes":
			var cs []string
			json.Unmarshal([]byte(r.Codes), &cs)
			for _, c := range cs {
				codes[c] = true
			}
		case "dataset":
			sc := byDS[r.Dataset]
			if sc == nil {
				sc = &dsScope{regions: map[string]bool{}, months: map[string]bool{}}
				byDS[r.Dataset] = sc
				dsOrder = append(dsOrder, r.Dataset)
			}
			var regs, pers []string
			json.Unmarshal([]byte(r.Regions), &regs)
			json.Unmarshal([]byte(r.Periods), &pers)
			if len(regs) == 0 {
				sc.regions = nil
			} else if sc.regions != nil {
				for _, g := range regs {
					sc.regions[g] = true
				}
			}
			ms, ok := months(pers)
			if len(pers) == 0 || !ok {
				sc.months = nil
			} else if sc.months != nil {
				for m := range ms {
					sc.months[m] = true
				}
			}
		}
	}
	var units []Unit
	switch {
	case full:
		units = append(units, Unit{Kind: "full"})
	default:
		if len(codes) > 0 {
			units = append(units, Unit{Kind: "codes", Codes: sortedKeys(codes)})
		}
		for _, d := range dsOrder {
			sc := byDS[d]
			u := Unit{Kind: "incremental", Dataset: d, Scope: Scope{Counties: sc.regions, Months: sc.months}}
			units = append(units, u)
		}
	}
	for _, u := range units {
		u.Source = strings.Join(sources, ",")
		if _, err := s.Compute(ctx, u, jobRunID); err != nil {
			_, ferr := s.db.Exec(context.WithoutCancel(ctx), `UPDATE ind_requests SET status = 'failed', error = ?, done_at = ? WHERE status = 'pending' AND id <= ?`,
				truncate(err.Error(), 2000), store.Now(), maxID)
			return 0, errors.Join(err, ferr)
		}
	}
	_, err := s.db.Exec(ctx, `UPDATE ind_requests SET status = 'done', done_at = ?, run_id = ? WHERE status = 'pending' AND id <= ?`, store.Now(), jobRunID, maxID)
	return len(rows), err
}

// months expands event periods (YYYY, YYYY-MM or YYYY-MM-DD) to months; ok false when one is
// not understood (then every period is recomputed).
func months(periods []string) (map[string]bool, bool) {
	out := map[string]bool{}
	for _, p := range periods {
		p = strings.TrimSpace(p)
		switch {
		case len(p) == 4:
			y, err := time.Parse("2006", p)
			if err != nil {
				return nil, false
			}
			for m := 0; m < 12; m++ {
				out[y.AddDate(0, m, 0).Format("2006-01")] = true
			}
		case len(p) >= 7:
			t, err := time.Parse("2006-01", p[:7])
			if err != nil {
				return nil, false
			}
			out[t.Format("2006-01")] = true
		default:
			return nil, false
		}
	}
	return out, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Unit is one unit of computation: everything, some indicators fully, or one dataset's
// indicators for a scope.
type Unit struct {
	Kind    string // full | codes | incremental
	Codes   []string
	Dataset string
	Scope   Scope
	Source  string
}

// RunRecord is one row of the computation history.
type RunRecord struct {
	ID         int64      `db:"id" json:"id"`
	Kind       string     `db:"kind" json:"kind"`
	Source     string     `db:"source" json:"source"`
	Dataset    string     `db:"dataset" json:"dataset"`
	Codes      string     `db:"codes" json:"codes"`
	Regions    string     `db:"regions" json:"regions"`
	Periods    string     `db:"periods" json:"periods"`
	Cells      int64      `db:"cells" json:"cells"`
	JobRunID   *int64     `db:"job_run_id" json:"job_run_id"`
	Status     string     `db:"status" json:"status"`
	StartedAt  time.Time  `db:"started_at" json:"started_at"`
	FinishedAt *time.Time `db:"finished_at" json:"finished_at"`
	DurationMS int64      `db:"duration_ms" json:"duration_ms"`
	Error      string     `db:"error" json:"error"`
}

// KindLabel is the run kind in Chinese.
func (r RunRecord) KindLabel() string {
	return map[string]string{"full": "全量重算", "codes": "按指标重算", "incremental": "增量刷新"}[r.Kind]
}

// Compute runs one unit: reads the datasets, replaces the affected values, records the run
// and publishes indicator.values.updated. jobRunID may be 0 (seeding, tests).
func (s *Service) Compute(ctx context.Context, u Unit, jobRunID int64) (*RunRecord, error) {
	start := time.Now()
	specs, err := s.specs(ctx, u.Codes)
	if err != nil {
		return nil, err
	}
	if u.Kind == "incremental" {
		var keep []*Spec
		for _, sp := range specs {
			if sp.Kind == KindAggregate && sp.reads(u.Dataset) {
				if sp.Dataset != u.Dataset {
					// It reads the dataset in a subquery: any of its cells may change.
					keep = append(keep, sp)
					continue
				}
				keep = append(keep, sp)
			}
		}
		specs = keep
	}
	var codes []string
	for _, sp := range specs {
		if sp.Kind == KindAggregate {
			codes = append(codes, sp.Code)
		}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	var regions, periods []string
	if u.Scope.Counties != nil {
		regions = sortedKeys(u.Scope.Counties)
	}
	if u.Scope.Months != nil {
		periods = sortedKeys(u.Scope.Months)
	}
	var jr any
	if jobRunID > 0 {
		jr = jobRunID
	}
	runID, err := store.InsertID(ctx, s.db, `INSERT INTO ind_runs(kind, source, dataset, codes, regions, periods, job_run_id, status, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)`, u.Kind, truncate(u.Source, 1000), u.Dataset, js(orEmpty(codes)), js(orEmpty(regions)), js(orEmpty(periods)), jr, store.Now())
	if err != nil {
		return nil, err
	}
	cells, err := s.computeSpecs(ctx, specs, u, runID)
	finish := store.Now()
	rec := &RunRecord{ID: runID, Kind: u.Kind, Dataset: u.Dataset, Cells: cells, Status: "succeeded", DurationMS: time.Since(start).Milliseconds(), FinishedAt: &finish}
	if err != nil {
		rec.Status, rec.Error = "failed", truncate(err.Error(), 4000)
	}
	werr := s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE ind_runs SET status = ?, cells = ?, finished_at = ?, duration_ms = ?, error = ? WHERE id = ?`,
			rec.Status, cells, finish, rec.DurationMS, rec.Error, runID); err != nil {
			return err
		}
		if rec.Status != "succeeded" {
			return nil
		}
		return events.Publish(ctx, tx, EventUpdated, map[string]any{"run_id": runID, "kind": u.Kind, "dataset": u.Dataset,
			"codes": orEmpty(codes), "regions": orEmpty(regions), "periods": orEmpty(periods)})
	})
	return rec, errors.Join(err, werr)
}

func orEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (s *Service) computeSpecs(ctx context.Context, specs []*Spec, u Unit, runID int64) (int64, error) {
	groups, err := groupSpecs(specs)
	if err != nil {
		return 0, err
	}
	sc := Scope{}
	if u.Kind == "incremental" {
		sc = u.Scope
	}
	// The groups are read in parallel (the read pool; a full recompute is dominated by scans)
	// and written one after the other by this goroutine (one writer); at most `workers`
	// computed groups wait in memory.
	type result struct {
		g    *group
		cs   []computed
		read time.Duration
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo, done := make(chan *group), make(chan result)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4, len(groups)) {
		wg.Go(func() {
			for g := range todo {
				gsc := sc
				if g.ds.Name != u.Dataset {
					gsc = Scope{} // reads the changed dataset only in a subquery
				}
				t0 := time.Now()
				cs, err := s.computeGroup(ctx, g, gsc)
				done <- result{g: g, cs: cs, read: time.Since(t0), err: err}
			}
		})
	}
	go func() {
		defer close(todo)
		for _, g := range groups {
			select {
			case todo <- g:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	var total int64
	var firstErr error
	for r := range done {
		if firstErr != nil {
			continue // drain the workers
		}
		if r.err != nil {
			firstErr = r.err
			cancel()
			continue
		}
		t1 := time.Now()
		n, err := s.write(ctx, r.cs, runID)
		s.log.Debug("indicator: group computed", "dataset", r.g.ds.Name, "codes", r.g.codes(), "cells", n, "read", r.read, "write", time.Since(t1))
		if err != nil {
			firstErr = err
			cancel()
			continue
		}
		total += n
	}
	if firstErr != nil {
		return total, firstErr
	}
	if u.Kind == "full" {
		// Values of indicators that no longer exist or are disabled go.
		if _, err := s.db.Exec(ctx, `DELETE FROM ind_values WHERE code NOT IN (SELECT code FROM ind_definitions WHERE enabled)`); err != nil {
			return total, err
		}
	}
	return total, nil
}

// Runs lists the computation history, newest first; code filters to runs that computed it.
func (s *Service) Runs(ctx context.Context, code string, limit int) ([]RunRecord, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT id, kind, source, dataset, codes, regions, periods, cells, job_run_id, status, started_at, finished_at, duration_ms, error FROM ind_runs`
	var args []any
	if code != "" {
		q += ` WHERE codes LIKE ?`
		args = append(args, `%"`+code+`"%`)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	var out []RunRecord
	err := s.db.Select(ctx, &out, q, args...)
	return out, err
}

// StateVersion is bumped by every transaction that writes values (pages poll it).
func (s *Service) StateVersion(ctx context.Context) (int64, time.Time, error) {
	var row struct {
		Version int64     `db:"version"`
		At      time.Time `db:"updated_at"`
	}
	err := s.db.Get(ctx, &row, `SELECT version, updated_at FROM ind_state WHERE id = 1`)
	return row.Version, row.At, err
}

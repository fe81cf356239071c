// Package jobs runs named Go functions on cron schedules, once per occurrence across all
// instances, and keeps their run history.
//
// Each registered job has a job_schedule row. An instance claims a due occurrence by
// moving next_run_at forward with a compare-and-set that also takes the row's lease, so
// exactly one instance wins each occurrence; the lease is renewed while the job runs and
// keeps every other run of the job (scheduled or manual) out. A lease that expires
// (crashed or stalled instance) is taken over: the interrupted run is recorded as failed
// and the job is free again. Missed occurrences are not replayed one by one: the next
// claim runs once and schedules from the current time.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"zhsj/internal/store"
)

// Func is a job's body. It should honour ctx (cancelled on Stop or a lost lease) and be
// safe to run again after an interrupted run.
type Func func(ctx context.Context, run *Run) error

// Trigger and status values stored in job_runs.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"

	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// TriggerLabels and StatusLabels are the Chinese names shown to people.
var (
	TriggerLabels = map[string]string{TriggerSchedule: "定时", TriggerManual: "手动"}
	StatusLabels  = map[string]string{StatusRunning: "运行中", StatusSucceeded: "成功", StatusFailed: "失败"}
)

var (
	ErrBusy       = errors.New("任务正在运行，请稍后再试")
	ErrUnknownJob = errors.New("未知的任务")
	ErrNotStarted = errors.New("任务调度器未启动")
)

// Shanghai is the default zone of cron expressions.
var Shanghai = store.China

var (
	parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)
)

// ParseSpec checks a cron expression: five fields, or six with seconds first, or a
// descriptor such as @daily or @every 10m; CRON_TZ=Zone may prefix it.
func ParseSpec(spec string) (cron.Schedule, error) { return parser.Parse(spec) }

// Options tune a Scheduler; zero values take the defaults.
type Options struct {
	Instance     string           // recorded on runs and leases; default host:pid:random
	Now          func() time.Time // clock; default store.Now
	Location     *time.Location   // zone of cron expressions; default Shanghai
	PollInterval time.Duration    // longest sleep between looks at the schedule; default 1s
	Lease        time.Duration    // run lease, renewed every Lease/3; default 1m
	Logger       *slog.Logger
}

// Scheduler runs the registered jobs. Register, then Start; Stop at shutdown.
type Scheduler struct {
	db  *store.DB
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	jobs    map[string]*job
	order   []*job
	ctx     context.Context // set by Start; runs live under it
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
	kick    chan struct{}
}

type job struct {
	name, title, spec string
	sched             cron.Schedule
	fn                Func
}

// New returns a Scheduler on db.
func New(db *store.DB, o Options) *Scheduler {
	if o.Instance == "" {
		o.Instance = instanceID()
	}
	if o.Now == nil {
		o.Now = store.Now
	}
	if o.Location == nil {
		o.Location = Shanghai
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Scheduler{db: db, opt: o, log: o.Logger, jobs: map[string]*job{}, kick: make(chan struct{}, 1)}
}

// Register adds a job: a stable name ("quality.rules.run"), a Chinese title, a cron spec
// (seconds optional) and the function. It panics on a bad name or spec or a duplicate:
// jobs are fixed in code.
func (s *Scheduler) Register(name, title, spec string, fn Func) {
	sched, err := ParseSpec(spec)
	if err != nil {
		panic(fmt.Sprintf("jobs: %s: bad cron spec %q: %v", name, spec, err))
	}
	if !nameRE.MatchString(name) || title == "" || fn == nil {
		panic(fmt.Sprintf("jobs: bad job %q", name))
	}
	if sched.Next(time.Now()).IsZero() {
		panic(fmt.Sprintf("jobs: %s: cron spec %q never fires", name, spec))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		panic("jobs: Register after Start")
	}
	if s.jobs[name] != nil {
		panic("jobs: duplicate job " + name)
	}
	j := &job{name: name, title: title, spec: spec, sched: sched, fn: fn}
	s.jobs[name] = j
	s.order = append(s.order, j)
}

func (s *Scheduler) next(j *job, after time.Time) time.Time {
	return j.sched.Next(after.In(s.opt.Location)).UTC().Truncate(time.Millisecond)
}

// Start writes the schedule rows of new or changed jobs and starts the scheduling loop.
// Cancelling ctx or calling Stop ends it.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.sync(ctx); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return errors.New("jobs: already started")
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { s.loop(s.ctx) })
	return nil
}

// Stop ends scheduling, cancels running jobs and waits until they are recorded.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.stopped = true
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

// sync makes a schedule row per registered job; a changed spec reschedules.
func (s *Scheduler) sync(ctx context.Context) error {
	now := s.opt.Now()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, j := range s.order {
			next := s.next(j, now)
			if _, err := tx.Exec(ctx, `INSERT INTO job_schedule(name, title, spec, next_run_at, updated_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (name) DO NOTHING`, j.name, j.title, j.spec, next, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE job_schedule SET title = ?, updated_at = ? WHERE name = ? AND title <> ?`,
				j.title, now, j.name, j.title); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE job_schedule SET spec = ?, next_run_at = ?, updated_at = ? WHERE name = ? AND spec <> ?`,
				j.spec, next, now, j.name, j.spec); err != nil {
				return err
			}
		}
		return nil
	})
}

type scheduleRow struct {
	Name       string     `db:"name"`
	Title      string     `db:"title"`
	Spec       string     `db:"spec"`
	Enabled    bool       `db:"enabled"`
	NextRunAt  time.Time  `db:"next_run_at"`
	LeaseOwner string     `db:"lease_owner"`
	LeaseUntil *time.Time `db:"lease_until"`
	RunID      *int64     `db:"run_id"`
}

func (s *Scheduler) rows(ctx context.Context) ([]scheduleRow, error) {
	var rows []scheduleRow
	err := s.db.Select(ctx, &rows, `SELECT name, title, spec, enabled, next_run_at, lease_owner, lease_until, run_id
		FROM job_schedule ORDER BY name`)
	return rows, err
}

func (s *Scheduler) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		t.Reset(s.tick(ctx))
	}
}

// tick takes over expired leases, claims due occurrences and says how long to sleep.
func (s *Scheduler) tick(ctx context.Context) time.Duration {
	rows, err := s.rows(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("jobs: read schedule", "err", err)
		}
		return s.opt.PollInterval
	}
	now := s.opt.Now()
	wait := s.opt.PollInterval
	soon := func(at time.Time) { wait = max(0, min(wait, at.Sub(now))) }
	for _, r := range rows {
		j := s.jobs[r.Name]
		if j == nil {
			continue // registered by another version of the program
		}
		if r.LeaseOwner != "" {
			if r.LeaseUntil == nil || r.LeaseUntil.Before(now) {
				if err := s.takeOver(ctx, r, now); err != nil && ctx.Err() == nil {
					s.log.Error("jobs: take over expired lease", "job", r.Name, "err", err)
				}
				wait = 0
			} else {
				soon(*r.LeaseUntil)
			}
			continue
		}
		if !r.Enabled {
			continue
		}
		if r.NextRunAt.After(now) {
			soon(r.NextRunAt)
			continue
		}
		if err := s.claim(ctx, j, r.NextRunAt, now); err != nil {
			if ctx.Err() == nil {
				s.log.Error("jobs: claim", "job", r.Name, "err", err)
			}
			continue
		}
		wait = 0 // look again at the row we or another instance just moved on
	}
	return wait
}

// claim runs the occurrence at seen if this instance wins the compare-and-set.
func (s *Scheduler) claim(ctx context.Context, j *job, seen, now time.Time) error {
	var run *Run
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE job_schedule SET next_run_at = ?, lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE name = ? AND next_run_at = ? AND lease_owner = '' AND enabled`,
			s.next(j, now), s.opt.Instance, now.Add(s.opt.Lease), now, j.name, seen)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // another instance took it
		}
		run, err = s.begin(ctx, tx, j, TriggerSchedule, seen, "", now)
		return err
	})
	if err == nil && run != nil {
		s.wg.Go(func() { s.execute(run) }) // the loop holds the group open, so Add is safe
	}
	return err
}

// takeOver frees a job whose lease expired and records its run as interrupted.
func (s *Scheduler) takeOver(ctx context.Context, r scheduleRow, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		q := `UPDATE job_schedule SET lease_owner = '', lease_until = NULL, run_id = NULL, updated_at = ?
			WHERE name = ? AND lease_owner = ? AND `
		args := []any{now, r.Name, r.LeaseOwner}
		if r.LeaseUntil == nil {
			q += `lease_until IS NULL`
		} else {
			q += `lease_until = ?`
			args = append(args, *r.LeaseUntil)
		}
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 || r.RunID == nil {
			return nil // renewed or taken over meanwhile
		}
		msg := fmt.Sprintf("运行实例 %s 未在租约到期前完成或续约，视为中断；由实例 %s 接管", r.LeaseOwner, s.opt.Instance)
		s.log.Warn("jobs: took over expired lease", "job", r.Name, "run", *r.RunID, "owner", r.LeaseOwner)
		_, err = tx.Exec(ctx, `UPDATE job_runs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = ?`,
			StatusFailed, now, msg, *r.RunID, StatusRunning)
		return err
	})
}

// begin records a new run inside the claiming transaction and ties the lease to it.
func (s *Scheduler) begin(ctx context.Context, tx *store.Tx, j *job, trigger string, scheduled time.Time, actor string, now time.Time) (*Run, error) {
	var sched *time.Time
	if !scheduled.IsZero() {
		sched = &scheduled
	}
	id, err := store.InsertID(ctx, tx, `INSERT INTO job_runs(job, trigger_kind, scheduled_at, actor, instance, status, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, j.name, trigger, sched, actor, s.opt.Instance, StatusRunning, now)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE job_schedule SET run_id = ? WHERE name = ?`, id, j.name); err != nil {
		return nil, err
	}
	return &Run{ID: id, Job: j.name, Title: j.title, Trigger: trigger, ScheduledAt: scheduled, Actor: actor,
		StartedAt: now, fn: j.fn, counts: map[string]int64{}}, nil
}

// RunNow starts a manual run of the job on this instance and returns its run id; the
// run goes on in the background. ErrBusy when the job is running anywhere.
func (s *Scheduler) RunNow(ctx context.Context, name, actor string) (int64, error) {
	j := s.jobs[name]
	if j == nil {
		return 0, ErrUnknownJob
	}
	// Reserve the run's place in the wait group while Stop cannot have begun waiting.
	s.mu.Lock()
	if s.ctx == nil || s.stopped {
		s.mu.Unlock()
		return 0, ErrNotStarted
	}
	s.wg.Add(1)
	s.mu.Unlock()
	launched := false
	defer func() {
		if !launched {
			s.wg.Done()
		}
	}()
	now := s.opt.Now()
	var r scheduleRow
	if err := s.db.Get(ctx, &r, `SELECT name, title, spec, enabled, next_run_at, lease_owner, lease_until, run_id
		FROM job_schedule WHERE name = ?`, name); err != nil {
		return 0, err
	}
	if r.LeaseOwner != "" && (r.LeaseUntil == nil || r.LeaseUntil.Before(now)) {
		if err := s.takeOver(ctx, r, now); err != nil {
			return 0, err
		}
	}
	var run *Run
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE job_schedule SET lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE name = ? AND lease_owner = ''`, s.opt.Instance, now.Add(s.opt.Lease), now, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrBusy
		}
		run, err = s.begin(ctx, tx, j, TriggerManual, time.Time{}, actor, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	launched = true
	go func() {
		defer s.wg.Done()
		s.execute(run)
	}()
	return run.ID, nil
}

// SetEnabled pauses or resumes a job's schedule (manual runs stay possible). Resuming
// schedules from now, so paused occurrences are not made up.
func (s *Scheduler) SetEnabled(ctx context.Context, name string, enabled bool) error {
	j := s.jobs[name]
	if j == nil {
		return ErrUnknownJob
	}
	now := s.opt.Now()
	_, err := s.db.Exec(ctx, `UPDATE job_schedule SET enabled = ?, next_run_at = ?, updated_at = ? WHERE name = ?`,
		enabled, s.next(j, now), now, name)
	s.wake()
	return err
}

func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

var errLeaseLost = errors.New("租约已被其他实例接管，运行被取消")

func (s *Scheduler) execute(r *Run) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(ctx, r, cancel, stop)
	}()
	err := call(ctx, r)
	close(stop)
	<-renewed
	if err != nil && context.Cause(ctx) == errLeaseLost {
		err = fmt.Errorf("%w: %v", errLeaseLost, err)
	}
	s.finish(r, err)
	s.wake()
}

func call(ctx context.Context, r *Run) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return r.fn(ctx, r)
}

// renew extends the lease and saves progress every Lease/3; if the lease was taken over it
// cancels the run.
func (s *Scheduler) renew(ctx context.Context, r *Run, cancel context.CancelCauseFunc, stop chan struct{}) {
	t := time.NewTicker(s.opt.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.opt.Now()
		res, err := s.db.Exec(ctx, `UPDATE job_schedule SET lease_until = ? WHERE name = ? AND run_id = ? AND lease_owner = ?`,
			now.Add(s.opt.Lease), r.Job, r.ID, s.opt.Instance)
		if err != nil {
			s.log.Error("jobs: renew lease", "job", r.Job, "run", r.ID, "err", err)
			continue
		}
		if n, _ := res.RowsAffected(); n != 1 {
			s.log.Error("jobs: lease lost, cancelling run", "job", r.Job, "run", r.ID)
			cancel(errLeaseLost)
			return
		}
		counts, notes := r.snapshot()
		if _, err := s.db.Exec(ctx, `UPDATE job_runs SET counts = ?, notes = ? WHERE id = ? AND status = ?`,
			counts, notes, r.ID, StatusRunning); err != nil {
			s.log.Error("jobs: save progress", "job", r.Job, "run", r.ID, "err", err)
		}
	}
}

// finish records the outcome and frees the lease.
func (s *Scheduler) finish(r *Run, runErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, msg := StatusSucceeded, ""
	if runErr != nil {
		status, msg = StatusFailed, runErr.Error()
		if len(msg) > 8000 {
			msg = msg[:8000]
		}
	}
	counts, notes := r.snapshot()
	now := s.opt.Now()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE job_runs SET status = ?, finished_at = ?, counts = ?, notes = ?, error = ?
			WHERE id = ? AND status = ?`, status, now, counts, notes, msg, r.ID, StatusRunning)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			s.log.Warn("jobs: run ended after it was taken over", "job", r.Job, "run", r.ID, "status", status)
		}
		_, err = tx.Exec(ctx, `UPDATE job_schedule SET lease_owner = '', lease_until = NULL, run_id = NULL, updated_at = ?
			WHERE name = ? AND run_id = ? AND lease_owner = ?`, now, r.Job, r.ID, s.opt.Instance)
		return err
	})
	if err != nil {
		s.log.Error("jobs: record run", "job", r.Job, "run", r.ID, "err", err)
	} else if runErr != nil {
		s.log.Warn("jobs: run failed", "job", r.Job, "run", r.ID, "err", runErr)
	}
}

// Run is one execution of a job, handed to its function to report what it did.
type Run struct {
	ID          int64
	Job, Title  string
	Trigger     string    // TriggerSchedule or TriggerManual
	ScheduledAt time.Time // the occurrence, zero for manual runs
	Actor       string    // who asked, for manual runs
	StartedAt   time.Time

	fn     Func
	mu     sync.Mutex
	counts map[string]int64
	notes  []string
}

const maxNotes = 100

// Add adds n to the counter key ("rows", "failed", …).
func (r *Run) Add(key string, n int64) {
	r.mu.Lock()
	r.counts[key] += n
	r.mu.Unlock()
}

// Note appends a line to the run's notes (the last 100 are kept).
func (r *Run) Note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if len(line) > 1000 {
		line = line[:1000]
	}
	r.mu.Lock()
	r.notes = append(r.notes, line)
	if len(r.notes) > maxNotes {
		r.notes = r.notes[len(r.notes)-maxNotes:]
	}
	r.mu.Unlock()
}

// Counts returns a copy of the counters.
func (r *Run) Counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

func (r *Run) snapshot() (counts, notes string) {
	b, _ := json.Marshal(r.Counts())
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(b), strings.Join(r.notes, "\n")
}

func instanceID() string {
	host, _ := os.Hostname()
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Prune deletes the records of finished runs: successful ones started before okBefore, failed
// ones (what inspections look for) started before failedBefore. A running run is never
// deleted. It returns how many went.
func (s *Scheduler) Prune(ctx context.Context, okBefore, failedBefore time.Time) (int64, error) {
	res, err := s.db.Exec(ctx, `DELETE FROM job_runs WHERE (status = ? AND started_at < ?) OR (status = ? AND started_at < ?)`,
		StatusSucceeded, okBefore, StatusFailed, failedBefore)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

package dataset

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Schedule types of a run (调度类型).
const (
	ScheduleManual    = "manual"    // 手动
	ScheduleScheduled = "scheduled" // 定时
	ScheduleRealtime  = "realtime"  // 实时
)

// Source kinds of a run.
const (
	KindFile     = "file"
	KindUpload   = "upload"
	KindHTTPPull = "http_pull"
	KindHTTPPush = "http_push"
	KindSQLPull  = "sql_pull"
	KindReplay   = "replay"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusCommitted   = "committed"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Events published by ingestion.
const (
	EventCommitted = "dataset.ingest.committed"
	EventFailed    = "dataset.ingest.failed"
)

// CommittedEvent is the payload of dataset.ingest.committed: what changed, so that indicators
// and dashboards refresh only the affected regions and periods ("YYYY-MM" of PeriodField).
type CommittedEvent struct {
	Dataset  string   `json:"dataset"`
	RunID    int64    `json:"run_id"`
	Upserted int64    `json:"upserted"`
	Regions  []string `json:"regions"`
	Periods  []string `json:"periods"`
}

// FailedEvent is the payload of dataset.ingest.failed.
type FailedEvent struct {
	Dataset string `json:"dataset"`
	RunID   int64  `json:"run_id"`
	Error   string `json:"error"`
}

// staleAfter is how long a running run may go without a heartbeat before it counts as
// interrupted (its process died).
const staleAfter = 2 * time.Minute

// Options describe one ingestion run.
type Options struct {
	Dataset     string
	TaskName    string // 任务名称; default derived from the source
	Schedule    string // ScheduleManual (default), ScheduleScheduled, ScheduleRealtime
	Kind        string // KindFile (default), KindUpload, …
	SourceName  string // file name or connector name, stored as the rows' source
	Format      string // csv, xlsx, json, ndjson; "" detects
	Encoding    string // auto (default), utf-8, gbk, gb18030, utf-16
	Sheet       string // XLSX sheet; default the first
	Mapping     Mapping
	Principal   *iam.Principal // who runs it (data scope of writes); nil = system
	Request     *http.Request  // for the audit record, when run from a request
	BytesTotal  int64          // input size, for progress
	ConnectorID int64
	UploadID    int64
	RunID       int64 // an existing run row to use (created by StartRun); 0 creates one
	Progress    func(Progress)
	// OnCommit runs inside the transaction that commits the run (advance a cursor, store an
	// idempotency answer). An error fails the run.
	OnCommit func(ctx context.Context, tx *store.Tx, res *Result) error
}

// Progress is reported after every batch.
type Progress struct {
	RunID       int64 `json:"run_id"`
	Read        int64 `json:"read"`
	Upserted    int64 `json:"upserted"`
	Unchanged   int64 `json:"unchanged"`
	Quarantined int64 `json:"quarantined"`
	BytesRead   int64 `json:"bytes_read"`
	BytesTotal  int64 `json:"bytes_total"`
	// Phase is what the run does after its last batch (every record is read), in Chinese:
	// rebuilding deferred indexes, refreshing statistics. Empty while records are loaded.
	Phase string `json:"phase,omitempty"`
}

// Result is the summary of a run.
type Result struct {
	RunID       int64            `json:"run_id"`
	Dataset     string           `json:"dataset"`
	Status      string           `json:"status"`
	Read        int64            `json:"read"`
	Upserted    int64            `json:"upserted"`
	Unchanged   int64            `json:"unchanged"`
	Quarantined int64            `json:"quarantined"`
	DurationMS  int64            `json:"duration_ms"`
	Source      string           `json:"source"`
	Error       string           `json:"error,omitempty"`
	Warnings    map[string]int64 `json:"warnings,omitempty"`
	Notes       []string         `json:"notes,omitempty"`
	Regions     []string         `json:"regions,omitempty"`
	Periods     []string         `json:"periods,omitempty"`

	start time.Time
}

// batchRows bounds the rows written per transaction; stmtRows bounds the rows of one
// multi-row statement (SQLite allows 32,766 parameters per statement).
const (
	batchRows = 16000
	stmtRows  = 500
)

// batchBytes bounds the input bytes held per batch (wide records flush sooner).
const batchBytes = 2 << 20

// flushEvery bounds the time between batches (heartbeat and progress for slow sources).
const flushEvery = 2 * time.Second

// maxDupKeys bounds the memory spent detecting duplicate keys within one run.
const maxDupKeys = 5_000_000

// goodRow is a validated record ready to upsert.
type goodRow struct {
	vals   []any
	key    string
	hash   string // row_hash
	region string
	period string // PeriodField value
	qid    int64
	raw    map[string]string // kept only when the writer's scope may still refuse the row
}

// badRow is a record for the quarantine.
type badRow struct {
	line   int
	key    string
	region string
	raw    map[string]string
	errs   []Issue
	qid    int64
}

// runState is the working state of one run.
type runState struct {
	m        *Module
	ds       *Dataset
	o        Options
	res      *Result
	cat      *Catalog
	regions  map[string]string // code → path, for the writer's scope
	scope    string            // region path prefix the writer may write; "" = anywhere
	cm       colMap
	upsert   map[int]string // statement by row count
	good     []goodRow
	bad      []badRow
	seen     map[uint64]seenKey
	noDup    bool
	started  time.Time
	lastSend time.Time
	regSet   map[string]bool
	perSet   map[string]bool
	src      source
	now      time.Time
	batch    int
	pending  int       // input bytes in the pending batch
	full     *sql.Stmt // prepared full-size upsert
	flushed  int       // batches committed
	noPre    bool      // skip the pre-read of stored rows (nothing was found so far)
	sameDup  int64     // records repeated identically within the source (counted unchanged)
	pgCols   []string  // PostgreSQL: the column types of the upsert (see pgUpsertSQL)
	pgSQL    string
	progress Progress // the last one reported
}

type seenKey struct {
	line int32
	hash uint64
}

// StartRun creates the run row of a run that will be fed later (uploads run in the
// background; the caller gets the id at once).
func (m *Module) StartRun(ctx context.Context, o Options) (int64, error) {
	ds, ok := Get(o.Dataset)
	if !ok {
		return 0, fmt.Errorf("未知的数据集 %q（可选：%s）", o.Dataset, strings.Join(Names(), "、"))
	}
	o = defaults(ds, o)
	var id int64
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		if err := m.markStale(ctx, tx); err != nil {
			return err
		}
		region := iam.ProvinceCode
		var actorID any
		if o.Principal != nil && o.Principal.Region != "" {
			region = o.Principal.Region
		}
		if o.Principal != nil && o.Principal.UserID != 0 {
			actorID = o.Principal.UserID
		}
		now := m.now()
		var err error
		id, err = store.InsertID(ctx, tx, `INSERT INTO ds_ingest_runs(dataset, task_name, schedule_type, source_kind, source_name, connector_id, upload_id,
			status, actor, actor_id, region_code, started_at, heartbeat_at, bytes_total)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
			ds.Name, o.TaskName, o.Schedule, o.Kind, o.SourceName, nullID(o.ConnectorID), nullID(o.UploadID),
			actorName(o.Principal), actorID, region, now, now, o.BytesTotal)
		if err != nil {
			return err
		}
		return m.record(ctx, tx, o, audit.Entry{Action: "dataset.ingest.start", ObjectType: "ingest_run", ObjectID: strconv.FormatInt(id, 10),
			Result: audit.ResultSuccess, Detail: fmt.Sprintf("开始导入数据集“%s”：%s", ds.TitleZh, o.TaskName)})
	})
	return id, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func actorName(p *iam.Principal) string {
	if p == nil || p.Account == "" {
		return "system"
	}
	return p.Account
}

func defaults(ds *Dataset, o Options) Options {
	if o.Schedule == "" {
		o.Schedule = ScheduleManual
	}
	if o.Kind == "" {
		o.Kind = KindFile
	}
	if o.TaskName == "" {
		o.TaskName = ds.TitleZh + "导入"
		if o.SourceName != "" {
			o.TaskName += "：" + o.SourceName
		}
	}
	if o.Principal == nil {
		o.Principal = iam.System()
	}
	return o
}

// markStale marks runs whose process stopped without finishing (kill -9, power loss).
func (m *Module) markStale(ctx context.Context, tx *store.Tx) error {
	var stale []struct {
		ID      int64  `db:"id"`
		Dataset string `db:"dataset"`
	}
	cutoff := m.now().Add(-staleAfter)
	if err := tx.Select(ctx, &stale, `SELECT id, dataset FROM ds_ingest_runs WHERE status = 'running' AND heartbeat_at < ?`, cutoff); err != nil {
		return err
	}
	for _, s := range stale {
		const msg = "运行中断：进程未正常结束（已提交的批次保留，重新运行即可补齐，不会重复）"
		if _, err := tx.Exec(ctx, `UPDATE ds_ingest_runs SET status = 'interrupted', error = ?, phase = '', finished_at = heartbeat_at WHERE id = ? AND status = 'running'`, msg, s.ID); err != nil {
			return err
		}
		if err := events.Publish(ctx, tx, EventFailed, FailedEvent{Dataset: s.Dataset, RunID: s.ID, Error: msg}); err != nil {
			return err
		}
	}
	return nil
}

// Ingest reads r (a file in o.Format, detected when empty) into the dataset. The result is
// returned also when the run failed (Status "failed", Error set, err non-nil).
func (m *Module) Ingest(ctx context.Context, r io.Reader, o Options) (*Result, error) {
	ds, ok := Get(o.Dataset)
	if !ok {
		return nil, fmt.Errorf("未知的数据集 %q（可选：%s）", o.Dataset, strings.Join(Names(), "、"))
	}
	o = defaults(ds, o)
	start := time.Now()
	if o.RunID == 0 {
		id, err := m.StartRun(ctx, o)
		if err != nil {
			return nil, err
		}
		o.RunID = id
	}
	src, err := openSource(r, o.Format, o.SourceName, o.Encoding, o.Sheet)
	if err != nil {
		return m.fail(ctx, ds, o, &Result{RunID: o.RunID, Dataset: ds.Name, start: start}, err)
	}
	return m.runSource(ctx, ds, src, o)
}

// runSource runs the pipeline over src for the run o.RunID.
func (m *Module) runSource(ctx context.Context, ds *Dataset, src source, o Options) (*Result, error) {
	res := &Result{RunID: o.RunID, Dataset: ds.Name, Status: StatusRunning, Source: src.Describe(), Warnings: map[string]int64{}, start: time.Now()}
	rs := &runState{m: m, ds: ds, o: o, res: res, upsert: map[int]string{}, seen: map[uint64]seenKey{},
		started: time.Now(), lastSend: time.Now(), regSet: map[string]bool{}, perSet: map[string]bool{}, src: src,
		now: m.now()}
	defer func() {
		if rs.full != nil {
			rs.full.Close()
		}
	}()
	var err error
	if rs.cat, err = LoadCatalog(ctx, m.db); err != nil {
		return m.fail(ctx, ds, o, res, err)
	}
	if err := rs.loadScope(ctx); err != nil {
		return m.fail(ctx, ds, o, res, err)
	}
	// Indexes deferred by a bulk load whose process died are built again first.
	if err := m.recoverTable(ctx, ds.Table); err != nil {
		return m.fail(ctx, ds, o, res, err)
	}
	defer m.bulkPragmas(ctx)()
	if err := ds.resolve(src.Columns(), o.Mapping, &rs.cm); err != nil {
		return m.fail(ctx, ds, o, res, &fatal{err.Error()})
	}
	if src.Fixed() {
		if miss := ds.missingRequired(&rs.cm); len(miss) > 0 {
			return m.fail(ctx, ds, o, res, fatalf("缺少必需的列：%s。请检查表头，或在导入时指定列映射", strings.Join(miss, "；")))
		}
	}
	// Four stages, batches in order: this goroutine reads records into chunks; workers (one
	// per core) parse, validate, seal and hash the chunks; a collector takes them back in
	// input order (duplicate keys, warnings, batching); the writer commits the batches. The
	// channels bound what is in memory: a few chunks, and at most two batches.
	wctx, stopWriter := context.WithCancel(ctx)
	defer stopWriter()
	batches := make(chan *batch, 1)
	werr := make(chan error, 1)
	go func() {
		for b := range batches {
			if err := rs.flush(wctx, b); err != nil {
				stopWriter()
				werr <- err
				for range batches {
				}
				return
			}
		}
		werr <- nil
	}()
	nw := max(runtime.GOMAXPROCS(0), 1)
	work := make(chan *chunk, 2*nw)
	ordered := make(chan *chunk, 4*nw)
	var workers sync.WaitGroup
	for range nw {
		workers.Add(1)
		go func() {
			defer workers.Done()
			w := &worker{hasher: sha256.New()}
			for c := range work {
				rs.validateChunk(w, c)
				close(c.done)
			}
		}()
	}
	collected := make(chan bool, 1) // whether the input was collected to its end
	go func() {
		var read int64
		var offset int64
		send := func(last bool) bool {
			full := len(rs.good)+len(rs.bad) >= rs.batchSize() || rs.pending > batchBytes
			b := &batch{good: rs.good, bad: rs.bad, read: read, offset: offset, last: last, full: full}
			rs.good, rs.bad = make([]goodRow, 0, len(b.good)), nil
			rs.pending, rs.lastSend = 0, time.Now()
			select {
			case batches <- b:
				return true
			case <-wctx.Done():
				return false
			}
		}
		ok := true
		for c := range ordered {
			if !ok {
				continue // the writer failed: drain
			}
			<-c.done
			for i := range c.items {
				it := &c.items[i]
				read++
				rs.pending += it.size
				rs.accept(it, c)
				if len(rs.good)+len(rs.bad) >= rs.batchSize() || rs.pending > batchBytes || time.Since(rs.lastSend) > flushEvery {
					offset = c.offset
					if !send(false) {
						ok = false
						break
					}
				}
			}
			offset = c.offset
			if c.last && ok && (len(rs.good) > 0 || len(rs.bad) > 0) {
				ok = send(true)
			}
		}
		collected <- ok
	}()
	var readErr error
	cur := newChunk(rs.cm, 0)
	dispatch := func(last bool) bool {
		c := cur
		c.offset, c.last = src.Offset(), last
		c.items = make([]item, len(c.recs))
		cur = newChunk(rs.cm, len(c.recs))
		select {
		case ordered <- c:
		case <-wctx.Done():
			return false
		}
		select {
		case work <- c:
			return true
		case <-wctx.Done():
			return false
		}
	}
	for readErr == nil {
		if err := ctx.Err(); err != nil {
			readErr = fatalf("导入已取消（已提交的批次保留，重新运行即可补齐）")
			break
		}
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		res.Read++
		if len(rec.vals) > len(rs.cm.fields) {
			if err := rs.ds.resolve(rs.src.Columns(), rs.o.Mapping, &rs.cm); err != nil {
				rec.merr = err.Error()
			}
			cur.cm = rs.cm // later records of the chunk may be wider; each maps by its own width
		}
		cur.recs = append(cur.recs, rec)
		for _, v := range rec.vals {
			cur.bytes += len(v)
		}
		if len(cur.recs) >= chunkRows || cur.bytes > chunkBytes || time.Since(cur.start) > flushEvery/4 {
			if !dispatch(false) {
				break
			}
		}
	}
	if readErr == nil {
		dispatch(true) // also when empty: it carries the end of the input
	}
	close(work)
	close(ordered)
	workers.Wait()
	<-collected
	close(batches)
	writeErr := <-werr
	res.Unchanged += rs.sameDup
	if readErr != nil {
		return m.fail(ctx, ds, o, res, readErr)
	}
	if writeErr != nil {
		return m.fail(ctx, ds, o, res, writeErr)
	}
	// The indexes a bulk load deferred (this one's, or a dead one's) are built before the
	// run commits.
	phase := func(text string) { rs.phase(ctx, text) }
	if err := m.rebuildIndexes(ctx, ds.Table, o.RunID, nil, phase); err != nil {
		return m.fail(ctx, ds, o, res, err)
	}
	if n, ok := m.db.AnalyzedRows(ctx, ds.Table); res.Upserted >= analyzeMinRows && (!ok || res.Upserted*10 >= n) {
		phase("数据已全部写入，正在更新查询统计信息")
		if err := m.db.Analyze(ctx, ds.Table); err != nil {
			m.log.Warn("dataset: analyze after load", "dataset", ds.Name, "err", err)
		}
	}
	if len(rs.cm.ignored) > 0 {
		res.Notes = append(res.Notes, "以下列未对应到数据集字段，已忽略："+strings.Join(rs.cm.ignored, "、"))
	}
	if rs.noDup {
		res.Notes = append(res.Notes, fmt.Sprintf("记录超过 %d 条，未检查文件内主键重复（重复者以后出现的为准）", maxDupKeys))
	}
	res.Regions = sortedSet(rs.regSet)
	res.Periods = sortedSet(rs.perSet)
	if len(res.Periods) > 240 { // keep the event small: whole years instead of months
		ys := map[string]bool{}
		for _, p := range res.Periods {
			ys[p[:4]] = true
		}
		res.Periods = sortedSet(ys)
	}
	res.DurationMS = time.Since(rs.started).Milliseconds()
	err = m.db.InTx(ctx, func(tx *store.Tx) error {
		res.Status = StatusCommitted
		if o.OnCommit != nil {
			if err := o.OnCommit(ctx, tx, res); err != nil {
				return err
			}
		}
		if err := m.finishRun(ctx, tx, res); err != nil {
			return err
		}
		if err := events.Publish(ctx, tx, EventCommitted, CommittedEvent{Dataset: ds.Name, RunID: res.RunID, Upserted: res.Upserted, Regions: res.Regions, Periods: res.Periods}); err != nil {
			return err
		}
		return m.record(ctx, tx, o, audit.Entry{Action: "dataset.ingest.run", ObjectType: "ingest_run", ObjectID: strconv.FormatInt(res.RunID, 10),
			Result: audit.ResultSuccess, Detail: fmt.Sprintf("导入数据集“%s”完成：读取 %d 条，写入 %d 条，未变化 %d 条，隔离 %d 条（%s）",
				ds.TitleZh, res.Read, res.Upserted, res.Unchanged, res.Quarantined, o.TaskName)})
	})
	if err != nil {
		res.Status = StatusRunning
		return m.fail(ctx, ds, o, res, err)
	}
	return res, nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Module) finishRun(ctx context.Context, tx *store.Tx, res *Result) error {
	warn, _ := json.Marshal(res.Warnings)
	now := m.now()
	_, err := tx.Exec(ctx, `UPDATE ds_ingest_runs SET status = ?, finished_at = ?, heartbeat_at = ?, duration_ms = ?, read_count = ?, upserted = ?, unchanged = ?,
		quarantined = ?, warnings = ?, notes = ?, error = ?, phase = '', bytes_read = CASE WHEN bytes_total > 0 THEN bytes_total ELSE bytes_read END WHERE id = ?`,
		res.Status, now, now, res.DurationMS, res.Read, res.Upserted, res.Unchanged, res.Quarantined, string(warn),
		strings.Join(res.Notes, "\n"), res.Error, res.RunID)
	return err
}

// fail records the run as failed (its committed batches stay: they are valid and a rerun
// completes the rest without duplicates) and publishes dataset.ingest.failed.
func (m *Module) fail(ctx context.Context, ds *Dataset, o Options, res *Result, cause error) (*Result, error) {
	ctx = context.WithoutCancel(ctx)
	msg := cause.Error()
	var f *fatal
	if !errors.As(cause, &f) {
		m.log.Error("dataset: ingest failed", "dataset", ds.Name, "run", res.RunID, "err", cause)
		msg = "导入失败：" + msg
	}
	res.Status, res.Error = StatusFailed, msg
	// Indexes deferred by this bulk load are built again (the rows it committed stay).
	if err := m.rebuildIndexes(ctx, ds.Table, res.RunID, func(d *deferredIndexes) bool { return d.RunID != res.RunID && m.ownerAlive(ctx, d) }, nil); err != nil {
		m.log.Error("dataset: rebuild deferred indexes", "dataset", ds.Name, "run", res.RunID, "err", err)
	}
	if res.DurationMS == 0 && !res.start.IsZero() {
		res.DurationMS = time.Since(res.start).Milliseconds()
	}
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		if err := m.finishRun(ctx, tx, res); err != nil {
			return err
		}
		if err := events.Publish(ctx, tx, EventFailed, FailedEvent{Dataset: ds.Name, RunID: res.RunID, Error: msg}); err != nil {
			return err
		}
		return m.record(ctx, tx, o, audit.Entry{Action: "dataset.ingest.run", ObjectType: "ingest_run", ObjectID: strconv.FormatInt(res.RunID, 10),
			Result: audit.ResultFailure, Detail: fmt.Sprintf("导入数据集“%s”失败：%s", ds.TitleZh, truncate(msg, 500))})
	})
	if err != nil {
		m.log.Error("dataset: record failed run", "run", res.RunID, "err", err)
	}
	return res, errors.New(msg)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// record writes an audit entry for a run inside tx.
func (m *Module) record(ctx context.Context, tx *store.Tx, o Options, e audit.Entry) error {
	if m.audit == nil {
		return nil
	}
	e.Kind = audit.KindOperation
	if o.Request != nil {
		e = audit.FromRequest(o.Request, e)
	} else if e.Actor == "" {
		e.Actor = actorName(o.Principal)
		if o.Principal != nil {
			e.ActorID = o.Principal.UserID
			e.RegionCode = o.Principal.Region
		}
	}
	return m.audit.Record(ctx, tx, e)
}

// loadScope reads the region paths when the writer's jurisdiction is below the province.
func (rs *runState) loadScope(ctx context.Context) error {
	p := rs.o.Principal
	if p == nil || p.RegionPath == "" || p.RegionPath == "/"+iam.ProvinceCode+"/" {
		return nil
	}
	rs.scope = p.RegionPath
	var rows []struct {
		Code string `db:"code"`
		Path string `db:"path"`
	}
	if err := rs.m.db.Select(ctx, &rows, `SELECT code, path FROM regions`); err != nil {
		return err
	}
	rs.regions = map[string]string{}
	for _, r := range rows {
		rs.regions[r.Code] = r.Path
	}
	return nil
}

func (rs *runState) inScope(region string) bool {
	if rs.scope == "" {
		return true
	}
	return strings.HasPrefix(rs.regions[region], rs.scope)
}

func (rs *runState) batchSize() int {
	if rs.m.batchRows > 0 {
		return rs.m.batchRows
	}
	return batchRows
}

// stmtSize is the number of rows per multi-row statement.
func (rs *runState) stmtSize() int {
	if rs.batch > 0 {
		return rs.batch
	}
	rs.batch = min(30000/(len(rs.ds.columns())+6), stmtRows)
	return rs.batch
}

// fieldRaw collects the raw value of each field from a record: the first non-empty column
// mapped to it. It returns the values by field index and the unit of the chosen column, in
// the buffers rawBuf and unitBuf (grown when needed).
func fieldRaw(ds *Dataset, cm *colMap, rec *record, rawBuf, unitBuf *[]string) ([]string, []string) {
	n := len(ds.Fields)
	if cap(*rawBuf) < n {
		*rawBuf, *unitBuf = make([]string, n), make([]string, n)
	}
	raw, units := (*rawBuf)[:n], (*unitBuf)[:n]
	for i := range raw {
		raw[i], units[i] = "", ""
	}
	for ci, v := range rec.vals {
		if ci >= len(cm.fields) {
			break
		}
		fi := cm.fields[ci]
		if fi < 0 || raw[fi] != "" || strings.TrimSpace(v) == "" {
			continue
		}
		raw[fi], units[fi] = v, cm.units[ci]
	}
	return raw, units
}

// chunkRows and chunkBytes bound the records validated together by one worker (wide
// records make smaller chunks: at most 6·GOMAXPROCS chunks are in flight).
const (
	chunkRows  = 256
	chunkBytes = 128 << 10
)

// chunk is a run of consecutive records, validated by one worker and collected in order.
type chunk struct {
	recs   []*record
	items  []item
	cm     colMap // the column mapping when the chunk was read (it only grows)
	offset int64  // input bytes read after the chunk
	last   bool   // the input ends with this chunk
	bytes  int    // input bytes of the records
	start  time.Time
	done   chan struct{}
}

func newChunk(cm colMap, capacity int) *chunk {
	return &chunk{recs: make([]*record, 0, max(capacity, 16)), cm: cm, start: time.Now(), done: make(chan struct{})}
}

// worker is the reusable state of one validating goroutine.
type worker struct {
	raw, units []string
	hasher     hash.Hash
	buf        []byte
	sum        [sha256.Size]byte
}

var sepNull, sepField = []byte{0}, []byte{0x1e}

// fnv64a is FNV-1a of s (hash/fnv without the allocations).
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// item is one record after validation: a bad row, or a good row with its warnings and hashes.
type item struct {
	rec     *record
	bad     *badRow
	good    goodRow
	warns   []Issue
	keyHash uint64 // FNV-1a of the key, for duplicate detection
	rowHash uint64
	size    int // input bytes of the record
}

func (rs *runState) validateChunk(w *worker, c *chunk) {
	for i, rec := range c.recs {
		c.items[i] = rs.validateRecord(w, &c.cm, rec)
	}
}

// validateRecord parses, validates, seals and hashes one record. It only reads the run's
// state, so workers run it in parallel.
func (rs *runState) validateRecord(w *worker, cm *colMap, rec *record) item {
	it := item{rec: rec}
	for _, v := range rec.vals {
		it.size += len(v)
	}
	if rec.merr != "" {
		it.bad = &badRow{line: rec.line, qid: rec.qid, errs: []Issue{{Code: IssueUnparseable, Message: rec.merr}}}
		return it
	}
	raw, units := fieldRaw(rs.ds, cm, rec, &w.raw, &w.units)
	rawMap := func() map[string]string { return rawMapOf(rs.ds, raw, rec) }
	if rec.perr != "" {
		b := rs.badRegion(badRow{line: rec.line, qid: rec.qid, raw: rawMap(), errs: []Issue{{Code: IssueUnparseable, Title: "整行", Message: rec.perr}}})
		it.bad = &b
		return it
	}
	p := parseRecord(rs.ds, rs.cat, raw, units)
	rs.checkScope(p)
	key := p.key()
	if len(p.errs) > 0 {
		b := rs.badRegion(badRow{line: rec.line, qid: rec.qid, key: keyDisplay(key), region: p.str(ColRegion), raw: rawMap(), errs: p.errs})
		it.bad = &b
		return it
	}
	it.warns = p.warns
	row, h, hexHash := rs.prepare(w, p)
	it.keyHash, it.rowHash = fnv64a(key), h
	it.good = goodRow{vals: row, key: key, hash: hexHash, region: p.str(ColRegion), period: p.str(rs.ds.PeriodField), qid: rec.qid}
	if rs.scope != "" {
		it.good.raw = rawMap()
	}
	return it
}

// accept takes a validated record into the pending batch, in input order: warnings,
// duplicate keys within the run.
func (rs *runState) accept(it *item, c *chunk) {
	rec := it.rec
	if it.bad != nil {
		rs.bad = append(rs.bad, *it.bad)
		return
	}
	for _, w := range it.warns {
		rs.res.Warnings[w.Title+"："+issueLabel(w.Code)]++
	}
	if !rs.noDup {
		k, h := it.keyHash, it.rowHash
		if prev, dup := rs.seen[k]; dup {
			if prev.hash == h {
				rs.sameDup++ // the same record twice in one source: nothing to write
				rs.res.Warnings["文件内重复记录（内容相同）"]++
				return
			}
			var raw, units []string
			raw, _ = fieldRaw(rs.ds, &c.cm, rec, &raw, &units)
			rs.addBad(badRow{line: rec.line, qid: rec.qid, key: keyDisplay(it.good.key), region: it.good.region, raw: rawMapOf(rs.ds, raw, rec),
				errs: []Issue{{Field: strings.Join(rs.ds.Key, ","), Title: "主键", Code: IssueDuplicateKey,
					Message: fmt.Sprintf("与第 %d 行的主键相同但内容不同（已按先出现的一行写入，请核对后更正或重放本行）", prev.line)}}})
			return
		}
		if len(rs.seen) >= maxDupKeys {
			rs.noDup, rs.seen = true, nil
		} else {
			rs.seen[k] = seenKey{line: int32(rec.line), hash: h}
		}
	}
	rs.good = append(rs.good, it.good)
}

// rawMapOf is the record's raw values by field name (what the quarantine keeps).
func rawMapOf(ds *Dataset, raw []string, rec *record) map[string]string {
	m := map[string]string{}
	for i, v := range raw {
		if v != "" {
			m[ds.Fields[i].Name] = v
		}
	}
	if rec.raw != "" {
		m[rawKey] = rec.raw
	}
	return m
}

func (rs *runState) addBad(b badRow) { rs.bad = append(rs.bad, rs.badRegion(b)) }

// badRegion files a bad row under its region, or the writer's when that is unknown or
// outside the writer's jurisdiction.
func (rs *runState) badRegion(b badRow) badRow {
	if b.region == "" || !rs.inScope(b.region) {
		b.region = rs.o.Principal.Region
		if b.region == "" {
			b.region = iam.ProvinceCode
		}
	}
	return b
}

// rawKey holds the raw text of a record that could not be parsed.
const rawKey = "_raw"

// parseRecord parses raw values (by field index) into a record.
func parseRecord(ds *Dataset, cat *Catalog, raw, units []string) *parsed {
	p := &parsed{ds: ds, cat: cat, vals: make(map[string]any, len(ds.Fields))}
	for i := range ds.Fields {
		f := &ds.Fields[i]
		if f.Derived {
			continue
		}
		v := raw[i]
		if strings.TrimSpace(v) == "" {
			v = f.Default
		}
		if v == "" {
			continue
		}
		u := ""
		if units != nil {
			u = units[i]
		}
		p.parseField(f, v, u)
	}
	if p.currency != "" && p.str("currency") == "" {
		if _, ok := ds.Field("currency"); ok {
			p.vals["currency"] = p.currency
		}
	}
	if ds.derive != nil {
		ds.derive(p)
	}
	if p.str(ColRegion) == "" && !p.hasError(ColRegion) {
		for _, rf := range ds.regionFrom {
			if code, ok := regionFromCredit(p.str(rf)); ok {
				p.vals[ColRegion] = code
				break
			}
		}
	}
	for i := range ds.Fields {
		f := &ds.Fields[i]
		if f.Required && p.vals[f.Name] == nil && !p.hasError(f.Name) {
			msg := "必填字段为空"
			if f.Name == ColRegion {
				msg = "缺少行政区划（未提供区划代码或名称，也无法从统一社会信用代码推断）"
			}
			p.fail(f, IssueRequired, msg)
		}
	}
	return p
}

func (p *parsed) hasError(field string) bool {
	for _, e := range p.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

// key is the record's natural key as one string (parts joined by \x1f).
func (p *parsed) key() string {
	parts := make([]string, len(p.ds.Key))
	for i, k := range p.ds.Key {
		parts[i] = canonical(p.vals[k])
	}
	return strings.Join(parts, "\x1f")
}

func keyDisplay(k string) string { return strings.ReplaceAll(k, "\x1f", " / ") }

func canonical(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return strconv.FormatInt(x.UnixMilli(), 10)
	}
	return fmt.Sprint(v)
}

// checkScope quarantines a record whose region lies outside the writer's jurisdiction.
func (rs *runState) checkScope(p *parsed) {
	reg := p.str(ColRegion)
	if reg == "" || rs.inScope(reg) {
		return
	}
	f, _ := rs.ds.Field(ColRegion)
	p.fail(f, IssueOutOfScope, fmt.Sprintf("行政区划 %s 不在您的管辖范围（%s）内，需由上级用户导入", reg, rs.o.Principal.RegionName))
}

// prepare turns a valid record into the upsert's values and its row hash.
func (rs *runState) prepare(w *worker, p *parsed) ([]any, uint64, string) {
	ds := rs.ds
	h := w.hasher
	write := func(s string) { w.buf = append(w.buf[:0], s...); h.Write(w.buf) }
	h.Reset()
	vals := make([]any, 0, len(ds.Fields)+4)
	var extra map[string]any
	for i := range ds.Fields {
		f := &ds.Fields[i]
		v := p.vals[f.Name]
		switch {
		case f.Extra:
			if v != nil {
				if extra == nil {
					extra = map[string]any{}
				}
				extra[f.Name] = v
			}
			continue
		case f.Type.Sealed():
			if v == nil {
				vals = append(vals, nil, nil, nil, nil)
				h.Write(sepNull)
				continue
			}
			s := v.(string)
			idx := gm.BlindIndex(rs.m.keys, f.SealPurpose(), s)
			enc, err := rs.m.keys.Seal(f.SealPurpose(), []byte(s))
			if err != nil {
				panic(err) // a broken keyring: nothing can be stored safely
			}
			var check any
			if c := p.checks[f.Name]; c != "" {
				check = c
			}
			vals = append(vals, enc, idx, mask(f.Type, s), check)
			write(idx)
		default:
			vals = append(vals, v)
			write(canonical(v))
		}
		h.Write(sepField)
	}
	if ds.ExtraColumn != "" {
		if extra == nil {
			extra = map[string]any{} // "{}"
		}
		b, _ := json.Marshal(extra) // sorted keys: a stable text
		vals = append(vals, string(b))
		h.Write(b)
	}
	sum := h.Sum(w.sum[:0])
	hexSum := hex.EncodeToString(sum[:16])
	vals = append(vals, hexSum)
	return vals, binary.BigEndian.Uint64(sum[:8]), hexSum
}

// upsertSQL builds the batch upsert for n rows: insert new keys, update changed rows only.
// (Plain ? parameters: modernc.org/sqlite looks numbered ones up by a linear scan per bind.)
func (rs *runState) upsertSQL(n int) string {
	if s, ok := rs.upsert[n]; ok {
		return s
	}
	ds := rs.ds
	cols := append(ds.columns(), ColRowHash, ColSource, ColFirstSeen, ColLastUpdated, ColLastRun)
	var b strings.Builder
	b.WriteString("INSERT INTO " + ds.Table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ph)
	}
	b.WriteString(onConflict(ds, cols))
	s := rs.m.db.Dialect().Rebind(b.String())
	rs.upsert[n] = s
	return s
}

// onConflict is the upsert's tail: on the natural key, update every column but the key and
// the first-seen stamp, and only when the row hash changed (unchanged rows stay unwritten).
func onConflict(ds *Dataset, cols []string) string {
	var set []string
	for _, c := range cols {
		if !ds.IsKey(c) && c != ColFirstSeen {
			set = append(set, c+" = excluded."+c)
		}
	}
	return " ON CONFLICT (" + strings.Join(ds.Key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ") +
		" WHERE " + ds.Table + ".row_hash <> excluded.row_hash"
}

// upsertArgs are the arguments of upsertSQL for rows: each row's values, then the run's
// source, time and id.
func (rs *runState) upsertArgs(rows []goodRow) []any {
	args := make([]any, 0, len(rows)*(len(rows[0].vals)+4))
	for _, g := range rows {
		args = append(args, g.vals...)
		args = append(args, rs.o.SourceName, rs.now, rs.now, rs.o.RunID)
	}
	return args
}

// fullStmt is the full-size upsert, prepared once per run on the writer (never inside a
// transaction: on SQLite the writer is the transaction's connection). Only worth it when a
// batch holds several full statements.
func (rs *runState) fullStmt(ctx context.Context, rows int) (*sql.Stmt, error) {
	if rs.full != nil || rows < 2*rs.stmtSize() || rs.pgCols != nil {
		return rs.full, nil
	}
	st, err := rs.m.db.Writer().PrepareContext(ctx, rs.upsertSQL(rs.stmtSize()))
	if err != nil {
		return nil, err
	}
	rs.full = st
	return st, nil
}

// batch is one transaction's worth of validated records, handed from the reading stage to
// the writing stage.
type batch struct {
	good   []goodRow
	bad    []badRow
	read   int64 // records read so far (for the run row)
	offset int64 // input bytes read so far
	last   bool  // the source has ended
	full   bool  // sent because it was full (not because time passed)
}

// existingRow is what the table already holds for a key of the batch.
type existingRow struct{ hash, region string }

// existing reads row hash and region of the batch's keys that are already stored.
func (rs *runState) existing(ctx context.Context, tx *store.Tx, good []goodRow) (map[string]existingRow, error) {
	ds := rs.ds
	var q string
	args := make([]any, 0, len(good)*len(ds.Key))
	if len(ds.Key) == 1 {
		q = "SELECT " + ds.Key[0] + ", row_hash, region_code FROM " + ds.Table + " WHERE " + ds.Key[0] + " IN (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(good)), ", ") + ")"
		for _, g := range good {
			args = append(args, g.key)
		}
	} else {
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ds.Key)), ", ") + ")"
		q = "SELECT " + strings.Join(ds.Key, ", ") + ", row_hash, region_code FROM " + ds.Table + " WHERE (" + strings.Join(ds.Key, ", ") + ") IN (" +
			strings.TrimSuffix(strings.Repeat(one+", ", len(good)), ", ") + ")"
		for _, g := range good {
			for _, part := range strings.Split(g.key, "\x1f") {
				args = append(args, part)
			}
		}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]existingRow{}
	parts := make([]string, len(ds.Key)+2)
	ptrs := make([]any, len(parts))
	for i := range parts {
		ptrs[i] = &parts[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		n := len(ds.Key)
		out[strings.Join(parts[:n], "\x1f")] = existingRow{hash: parts[n], region: parts[n+1]}
	}
	return out, rows.Err()
}

// flush writes the pending batch in one transaction: rows whose stored version differs (or
// that are new), the quarantine rows, the resolution of replayed rows and the run's
// counters. Unchanged rows are not written at all; a row that exists in a region outside
// the writer's jurisdiction is refused (a city user cannot overwrite another city's record).
func (rs *runState) flush(ctx context.Context, b *batch) error {
	if len(b.good) == 0 && len(b.bad) == 0 {
		return nil
	}
	res := rs.res
	noPre := false
	var up, unch, quar int64
	regs, pers := map[string]bool{}, map[string]bool{}
	bad := b.bad
	if err := rs.loadPGCols(ctx); err != nil {
		return err
	}
	full, err := rs.fullStmt(ctx, len(b.good))
	if err != nil {
		return err
	}
	err = rs.m.db.InTx(ctx, func(tx *store.Tx) error {
		up, unch, quar = 0, 0, 0
		noPre = false
		clear(regs)
		clear(pers)
		bad = b.bad
		var write []goodRow
		var resolved []any
		if rs.flushed == 0 && !b.last && b.full && len(b.good) >= bulkMinRows {
			if _, err := rs.deferIndexes(ctx, tx); err != nil {
				return err
			}
		}
		if len(b.good) > 0 && rs.noPre {
			// Nothing stored was found so far and no jurisdiction is to be checked: the
			// upsert alone keeps unchanged rows unwritten (row_hash) and counts them.
			write = b.good
			for _, g := range b.good {
				if g.qid != 0 {
					resolved = append(resolved, g.qid)
				}
			}
		} else if len(b.good) > 0 {
			have := map[string]existingRow{}
			for chunk := range slices.Chunk(b.good, rs.stmtSize()) {
				h, err := rs.existing(ctx, tx, chunk)
				if err != nil {
					return err
				}
				maps.Copy(have, h)
			}
			if len(have) == 0 && rs.scope == "" {
				noPre = true
			}
			for _, g := range b.good {
				if e, ok := have[g.key]; ok {
					if !rs.inScope(e.region) {
						bad = append(bad, badRow{key: keyDisplay(g.key), region: rs.o.Principal.Region, qid: g.qid, raw: g.raw,
							errs: []Issue{{Field: ColRegion, Title: "行政区划代码", Code: IssueOutOfScope, Message: fmt.Sprintf("该记录已存在于管辖范围以外的区划 %s，不能修改", e.region)}}})
						continue
					}
					if e.hash == g.hash {
						unch++
						if g.qid != 0 {
							resolved = append(resolved, g.qid)
						}
						continue
					}
				}
				write = append(write, g)
				if g.qid != 0 {
					resolved = append(resolved, g.qid)
				}
			}
		}
		size := rs.stmtSize()
		if rs.pgCols != nil {
			size = max(len(write), 1) // one statement of arrays for the whole batch
		}
		for chunk := range slices.Chunk(write, size) {
			var r sql.Result
			var err error
			if rs.pgCols != nil {
				r, err = tx.Exec(ctx, rs.pgUpsertSQL(), rs.pgUpsertArgs(chunk)...)
			} else if args := rs.upsertArgs(chunk); len(chunk) == rs.stmtSize() && full != nil {
				r, err = tx.Stmt(ctx, full).ExecContext(ctx, args...)
			} else {
				r, err = tx.Exec(ctx, rs.upsertSQL(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			up, unch = up+n, unch+int64(len(chunk))-n
			for _, g := range chunk {
				regs[g.region] = true
				if len(g.period) >= 7 {
					pers[g.period[:7]] = true
				}
			}
		}
		if len(resolved) > 0 {
			ph := strings.TrimSuffix(strings.Repeat("?, ", len(resolved)), ", ")
			args := append([]any{rs.now, actorName(rs.o.Principal), rs.o.RunID, rs.o.RunID}, resolved...)
			if _, err := tx.Exec(ctx, `UPDATE ds_quarantine SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolved_run_id = ?, last_run_id = ?
				WHERE status = 'open' AND id IN (`+ph+`)`, args...); err != nil {
				return err
			}
		}
		for _, b := range bad {
			if err := rs.quarantine(ctx, tx, b); err != nil {
				return err
			}
			quar++
		}
		_, err := tx.Exec(ctx, `UPDATE ds_ingest_runs SET read_count = ?, upserted = ?, unchanged = ?, quarantined = ?, bytes_read = ?, heartbeat_at = ? WHERE id = ?`,
			b.read, res.Upserted+up, res.Unchanged+unch, res.Quarantined+quar, b.offset, rs.m.now(), rs.o.RunID)
		return err
	})
	if err != nil {
		return err
	}
	rs.flushed++
	rs.noPre = rs.noPre || noPre
	res.Upserted += up
	res.Unchanged += unch
	res.Quarantined += quar
	for k := range regs {
		rs.regSet[k] = true
	}
	for k := range pers {
		rs.perSet[k] = true
	}
	rs.progress = Progress{RunID: rs.o.RunID, Read: b.read, Upserted: res.Upserted, Unchanged: res.Unchanged, Quarantined: res.Quarantined,
		BytesRead: b.offset, BytesTotal: rs.o.BytesTotal}
	if rs.o.Progress != nil {
		rs.o.Progress(rs.progress)
	}
	return nil
}

// phase records what the run does after its last batch, for its page (committed at once, so
// that readers see it while the step runs) and for the caller's progress.
func (rs *runState) phase(ctx context.Context, text string) {
	if _, err := rs.m.db.Exec(ctx, `UPDATE ds_ingest_runs SET phase = ?, heartbeat_at = ? WHERE id = ? AND status = ?`,
		text, rs.m.now(), rs.o.RunID, StatusRunning); err != nil {
		rs.m.log.Warn("dataset: record run phase", "run", rs.o.RunID, "err", err)
	}
	if rs.o.Progress != nil {
		p := rs.progress
		p.RunID, p.Phase = rs.o.RunID, text
		rs.o.Progress(p)
	}
}

// Quarantine statuses.
const (
	QuarantineOpen      = "open"
	QuarantineResolved  = "resolved"
	QuarantineDiscarded = "discarded"
)

// purposeQuarantine seals quarantined raw records (they may hold personal data).
const purposeQuarantine = "dataset.quarantine"

var personalRe = regexp.MustCompile(`\d{17}[\dXx]|\d{15}|1[3-9]\d{9}`)

// display returns raw with personal values masked, for pages.
func displayRaw(ds *Dataset, raw map[string]string) map[string]string {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if f, ok := ds.Field(k); ok && f.Type.Sealed() {
			out[k] = mask(f.Type, fold(v))
			continue
		}
		if k == rawKey {
			v = personalRe.ReplaceAllStringFunc(v, func(s string) string { return mask(TypeIDNo, s) })
		}
		out[k] = v
	}
	return out
}

func rawHash(dataset string, raw map[string]string) string {
	b, _ := json.Marshal(raw)
	s := sha256.Sum256(append([]byte(dataset+"\x00"), b...))
	return hex.EncodeToString(s[:16])
}

// quarantine stores a bad record: a new open row, or the existing open row of the same raw
// record (rerun of the same file), or — for a replayed row — that row itself.
func (rs *runState) quarantine(ctx context.Context, tx *store.Tx, b badRow) error {
	errs, _ := json.Marshal(b.errs)
	now := rs.m.now()
	if b.qid != 0 {
		_, err := tx.Exec(ctx, `UPDATE ds_quarantine SET errors = ?, last_run_id = ?, updated_at = ? WHERE id = ?`, string(errs), rs.o.RunID, now, b.qid)
		return err
	}
	plain, _ := json.Marshal(b.raw)
	sealed, err := rs.m.keys.Seal(purposeQuarantine, plain)
	if err != nil {
		return err
	}
	disp, _ := json.Marshal(displayRaw(rs.ds, b.raw))
	_, err = tx.Exec(ctx, `INSERT INTO ds_quarantine(dataset, run_id, last_run_id, source_name, line_no, record_key, region_code, display, sealed, errors, raw_hash,
		status, times_seen, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)
		ON CONFLICT (dataset, raw_hash) WHERE status = 'open' DO UPDATE SET last_run_id = excluded.last_run_id, times_seen = ds_quarantine.times_seen + 1,
		line_no = excluded.line_no, source_name = excluded.source_name, updated_at = excluded.updated_at,
		errors = CASE WHEN ds_quarantine.corrected THEN ds_quarantine.errors ELSE excluded.errors END`,
		rs.ds.Name, rs.o.RunID, rs.o.RunID, rs.o.SourceName, b.line, b.key, b.region, string(disp), sealed, string(errs), rawHash(rs.ds.Name, b.raw), now, now)
	return err
}

var issueLabels = map[string]string{
	"uscc_check_char": "统一社会信用代码校验码错误", "uscc_length": "统一社会信用代码长度错误", "uscc_charset": "统一社会信用代码含非法字符",
	"uscc_reg_dept": "登记管理部门代码无效", "uscc_entity_type": "机构类别代码无效", "uscc_region_format": "统一社会信用代码区划码格式错误",
	"id_check": "身份证号码校验码错误", "id_length": "身份证号码长度错误", "id_format": "身份证号码格式错误", "id_birth_invalid": "身份证出生日期无效",
	"id_birth_future": "身份证出生日期晚于今天", "mobile_format": "手机号码格式错误", "mobile_length": "手机号码长度错误", "mobile_prefix": "手机号码号段无效",
	"licence_format": "许可证编号格式错误", "region_historical": "旧行政区划代码（已映射为现行代码）",
	IssueBadCode: "不在代码表中", IssueBadIndustry: "行业代码无效",
}

func issueLabel(code string) string {
	if l, ok := issueLabels[code]; ok {
		return l
	}
	return code
}

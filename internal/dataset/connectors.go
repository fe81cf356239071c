package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Connectors pull data on a schedule (HTTP paged JSON APIs, PostgreSQL or MySQL tables) or
// describe a push source. Each keeps an incremental cursor that advances only in the
// transaction that commits a run, so a failed or killed run is simply read again.

// Connector kinds.
const (
	ConnHTTPPull = "http_pull"
	ConnSQLPull  = "sql_pull"
)

// ConnectorConfig is the non-secret configuration of a connector.
type ConnectorConfig struct {
	// HTTP pull
	URL         string            `json:"url,omitempty"`
	Auth        string            `json:"auth,omitempty"`         // "" | bearer | signed
	AppID       string            `json:"app_id,omitempty"`       // signed: X-App-Id
	PageParam   string            `json:"page_param,omitempty"`   // default "page" (1-based)
	SizeParam   string            `json:"size_param,omitempty"`   // default "size"
	PageSize    int               `json:"page_size,omitempty"`    // default 500
	RecordsPath string            `json:"records_path,omitempty"` // dot path of the record array, e.g. "data.items"; "" = the body is the array
	CursorParam string            `json:"cursor_param,omitempty"` // query parameter carrying the cursor, e.g. "updated_after"
	MaxPages    int               `json:"max_pages,omitempty"`    // safety bound; default 10000
	Headers     map[string]string `json:"headers,omitempty"`
	// SQL pull
	Driver string `json:"driver,omitempty"` // postgres | mysql
	Table  string `json:"table,omitempty"`
	Cols   string `json:"columns,omitempty"` // default *
	Where  string `json:"where,omitempty"`   // extra condition, e.g. "deleted = 0"
	// both
	CursorField string  `json:"cursor_field,omitempty"` // record field / column whose maximum becomes the next cursor
	Mapping     Mapping `json:"mapping,omitempty"`
	TimeoutSec  int     `json:"timeout_sec,omitempty"` // per request / query; default 60
}

// Connector is a stored connector (its secret is never returned).
type Connector struct {
	ID          int64           `db:"id" json:"id"`
	Name        string          `db:"name" json:"name"`
	Dataset     string          `db:"dataset" json:"dataset"`
	Kind        string          `db:"kind" json:"kind"`
	ConfigRaw   string          `db:"config" json:"-"`
	Config      ConnectorConfig `db:"-" json:"config"`
	Secret      []byte          `db:"secret_enc" json:"-"`
	HasSecret   bool            `db:"-" json:"has_secret"`
	Schedule    string          `db:"schedule" json:"schedule"`
	Enabled     bool            `db:"enabled" json:"enabled"`
	Cursor      string          `db:"cursor_value" json:"cursor"`
	CursorAt    *time.Time      `db:"cursor_updated_at" json:"cursor_updated_at"`
	LastRunID   *int64          `db:"last_run_id" json:"last_run_id"`
	CreatedBy   string          `db:"created_by" json:"created_by"`
	CreatedAt   time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time       `db:"updated_at" json:"updated_at"`
	LastRunTime *time.Time      `db:"-" json:"last_run_at"`
}

// ConnectorInput creates or changes a connector.
type ConnectorInput struct {
	Name     string          `json:"name"`
	Dataset  string          `json:"dataset"`
	Kind     string          `json:"kind"`
	Config   ConnectorConfig `json:"config"`
	Secret   *string         `json:"secret"` // token, signing secret or DSN; nil keeps the stored one
	Schedule string          `json:"schedule"`
	Enabled  *bool           `json:"enabled"`
}

const purposeConnector = "dataset.connector"

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func (in *ConnectorInput) validate() error {
	bad := func(f string, a ...any) error { return web.Errorf(http.StatusBadRequest, "bad_connector", f, a...) }
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len([]rune(in.Name)) > 100 {
		return bad("请填写连接名称（不超过 100 字）")
	}
	if _, ok := Get(in.Dataset); !ok {
		return bad("未知的数据集 %q", in.Dataset)
	}
	c := &in.Config
	switch in.Kind {
	case ConnHTTPPull:
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			return bad("请填写 http:// 或 https:// 开头的接口地址")
		}
		if c.Auth != "" && c.Auth != "bearer" && c.Auth != "signed" {
			return bad("认证方式应为 bearer（令牌）或 signed（签名）")
		}
		if c.Auth == "signed" && c.AppID == "" {
			return bad("签名认证需要填写 app_id")
		}
	case ConnSQLPull:
		if c.Driver != "postgres" && c.Driver != "mysql" {
			return bad("数据库类型应为 postgres 或 mysql")
		}
		if !identRe.MatchString(c.Table) {
			return bad("表名 %q 无效", c.Table)
		}
		if c.CursorField == "" || !identRe.MatchString(c.CursorField) {
			return bad("数据库拉取需要增量游标列（如 updated_at）")
		}
		if c.Cols != "" {
			for _, col := range strings.Split(c.Cols, ",") {
				if !identRe.MatchString(strings.TrimSpace(col)) {
					return bad("列名 %q 无效", col)
				}
			}
		}
		if strings.ContainsAny(c.Where, ";") || strings.Contains(strings.ToLower(c.Where), "--") {
			return bad("附加条件不能包含分号或注释")
		}
	default:
		return bad("连接类型应为 http_pull 或 sql_pull")
	}
	if in.Schedule != "" {
		if _, err := jobs.ParseSpec(in.Schedule); err != nil {
			return bad("调度表达式无效：%v", err)
		}
	}
	return nil
}

const connectorCols = `id, name, dataset, kind, config, secret_enc, schedule, enabled, cursor_value, cursor_updated_at, last_run_id, created_by, created_at, updated_at`

func (c *Connector) decode() {
	json.Unmarshal([]byte(c.ConfigRaw), &c.Config)
	c.HasSecret = len(c.Secret) > 0
}

// Connectors lists the connectors.
func (m *Module) Connectors(ctx context.Context) ([]Connector, error) {
	var out []Connector
	if err := m.db.Select(ctx, &out, `SELECT `+connectorCols+` FROM ds_connectors ORDER BY id`); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].decode()
	}
	return out, nil
}

// GetConnector returns one connector.
func (m *Module) GetConnector(ctx context.Context, q store.Q, id int64) (*Connector, error) {
	var c Connector
	if err := q.Get(ctx, &c, `SELECT `+connectorCols+` FROM ds_connectors WHERE id = ?`, id); err != nil {
		if err == store.ErrNotFound {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	c.decode()
	return &c, nil
}

// SaveConnector creates (id 0) or changes a connector, audited; the secret is sealed.
func (m *Module) SaveConnector(ctx context.Context, r *http.Request, id int64, in ConnectorInput) (int64, error) {
	if err := in.validate(); err != nil {
		return 0, err
	}
	cfg, _ := json.Marshal(in.Config)
	var sealed []byte
	if in.Secret != nil && *in.Secret != "" {
		var err error
		if sealed, err = m.keys.Seal(purposeConnector, []byte(*in.Secret)); err != nil {
			return 0, err
		}
	}
	enabled := in.Enabled == nil || *in.Enabled
	now := m.now()
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if id == 0 {
			id, err = store.InsertID(ctx, tx, `INSERT INTO ds_connectors(name, dataset, kind, config, secret_enc, schedule, enabled, created_by, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, in.Name, in.Dataset, in.Kind, string(cfg), sealed, in.Schedule, enabled, web.Info(ctx).Actor, now, now)
		} else {
			q := `UPDATE ds_connectors SET name = ?, dataset = ?, kind = ?, config = ?, schedule = ?, enabled = ?, updated_at = ?`
			args := []any{in.Name, in.Dataset, in.Kind, string(cfg), in.Schedule, enabled, now}
			if sealed != nil {
				q += `, secret_enc = ?`
				args = append(args, sealed)
			}
			res, e := tx.Exec(ctx, q+` WHERE id = ?`, append(args, id)...)
			if e != nil {
				return e
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return web.ErrNotFound
			}
		}
		if err != nil {
			if strings.Contains(strings.ToLower(err.Error()), "unique") {
				return web.Errorf(http.StatusConflict, "name_taken", "连接名称“%s”已存在", in.Name)
			}
			return err
		}
		return m.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "dataset.connector.save", ObjectType: "connector",
			ObjectID: strconv.FormatInt(id, 10), Result: audit.ResultSuccess,
			Detail: fmt.Sprintf("保存数据源连接“%s”（%s → %s，调度 %s）", in.Name, in.Kind, in.Dataset, orDash(in.Schedule))}))
	})
	return id, err
}

func orDash(s string) string {
	if s == "" {
		return "手动"
	}
	return s
}

// RunConnector runs one connector now: reads from the cursor, ingests, and advances the
// cursor in the committing transaction.
func (m *Module) RunConnector(ctx context.Context, id int64, schedule string, p *iam.Principal, r *http.Request) (*Result, error) {
	c, err := m.GetConnector(ctx, m.db, id)
	if err != nil {
		return nil, err
	}
	ds, _ := Get(c.Dataset)
	secret := ""
	if len(c.Secret) > 0 {
		b, err := m.keys.Open(purposeConnector, c.Secret)
		if err != nil {
			return nil, fmt.Errorf("连接密钥无法解密：%w", err)
		}
		secret = string(b)
	}
	kind := KindHTTPPull
	if c.Kind == ConnSQLPull {
		kind = KindSQLPull
	}
	o := defaults(ds, Options{Dataset: ds.Name, TaskName: c.Name, Schedule: schedule, Kind: kind, SourceName: c.Name, ConnectorID: c.ID,
		Principal: p, Request: r, Mapping: c.Config.Mapping})
	if o.RunID, err = m.StartRun(ctx, o); err != nil {
		return nil, err
	}
	timeout := time.Duration(c.Config.TimeoutSec) * time.Second
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	var src cursorSource
	switch c.Kind {
	case ConnHTTPPull:
		src = newHTTPSource(ctx, c.Config, secret, c.Cursor, timeout)
	case ConnSQLPull:
		src, err = openSQLSource(ctx, c.Config, secret, c.Cursor, timeout)
		if err != nil {
			return m.fail(ctx, ds, o, &Result{RunID: o.RunID, Dataset: ds.Name, start: time.Now()}, err)
		}
	}
	defer src.Close()
	o.OnCommit = func(ctx context.Context, tx *store.Tx, res *Result) error {
		next := src.Cursor()
		if next != c.Cursor && next != "" {
			res.Notes = append(res.Notes, fmt.Sprintf("增量游标：%s → %s", orDash2(c.Cursor), next))
		}
		// Compare-and-set: a concurrent run that committed first wins; this one then fails and
		// its rows (already idempotent) stay.
		q := `UPDATE ds_connectors SET cursor_value = ?, cursor_updated_at = ?, last_run_id = ? WHERE id = ? AND cursor_value = ?`
		resu, err := tx.Exec(ctx, q, next, m.now(), res.RunID, c.ID, c.Cursor)
		if err != nil {
			return err
		}
		if n, _ := resu.RowsAffected(); n == 0 {
			return errors.New("增量游标已被另一运行推进，本次不推进")
		}
		return nil
	}
	return m.runSource(ctx, ds, src, o)
}

func orDash2(s string) string {
	if s == "" {
		return "（起点）"
	}
	return s
}

// cursorSource is a source that also reports the cursor to continue from.
type cursorSource interface {
	source
	Cursor() string
	Close() error
}

// cursorMax keeps the greatest cursor value seen, comparing numbers as numbers and other
// values (ISO dates and times) as text.
type cursorMax struct{ v string }

func (c *cursorMax) see(v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	if c.v == "" {
		c.v = v
		return
	}
	a, ea := strconv.ParseFloat(c.v, 64)
	b, eb := strconv.ParseFloat(v, 64)
	if ea == nil && eb == nil {
		if b > a {
			c.v = v
		}
		return
	}
	if v > c.v {
		c.v = v
	}
}

// runDueConnectors runs every enabled connector whose cron schedule has come due since its
// last run. It is the body of the dataset.connectors job (each minute, once across
// instances through the job lease).
func (m *Module) runDueConnectors(ctx context.Context, run *jobs.Run) error {
	cs, err := m.Connectors(ctx)
	if err != nil {
		return err
	}
	now := m.now()
	var errs []error
	for _, c := range cs {
		if !c.Enabled || c.Schedule == "" {
			continue
		}
		last := c.CreatedAt
		var lastStart sql.NullTime
		m.db.QueryRow(ctx, `SELECT MAX(started_at) FROM ds_ingest_runs WHERE connector_id = ?`, c.ID).Scan(&lastStart)
		if lastStart.Valid {
			last = lastStart.Time
		}
		if !connectorDue(c.Schedule, last, now) {
			continue
		}
		res, err := m.RunConnector(ctx, c.ID, ScheduleScheduled, iam.System(), nil)
		run.Add("runs", 1)
		if err != nil {
			run.Add("failed", 1)
			run.Note("%s：%v", c.Name, err)
			errs = append(errs, err)
			continue
		}
		run.Add("upserted", res.Upserted)
		run.Add("quarantined", res.Quarantined)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d 个连接运行失败", len(errs))
	}
	return nil
}

// RegisterJobs registers the module's scheduled work.
// connectorDue reports whether a connector with cron spec, last started at last, is due at
// now. Cron fields are Beijing time, as for every other job: "0 0 2 * * *" is 02:00 CST.
func connectorDue(spec string, last, now time.Time) bool {
	sched, err := jobs.ParseSpec(spec)
	if err != nil {
		return false
	}
	return !sched.Next(last.In(jobs.Shanghai)).After(now)
}

func (m *Module) RegisterJobs(s *jobs.Scheduler) {
	s.Register("dataset.connectors", "数据源连接定时拉取", "0 * * * * *", m.runDueConnectors)
	s.Register("dataset.uploads.prune", "清理 30 天前的上传文件", "0 40 3 * * *", func(ctx context.Context, run *jobs.Run) error {
		res, err := m.db.Exec(ctx, `DELETE FROM ds_uploads WHERE created_at < ?`, m.now().AddDate(0, 0, -30))
		if err == nil {
			n, _ := res.RowsAffected()
			run.Add("deleted", n)
		}
		return err
	})
}

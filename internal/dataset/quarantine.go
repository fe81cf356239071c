package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// QuarantineRow is one quarantined record as shown to people (personal values masked).
type QuarantineRow struct {
	ID         int64             `db:"id" json:"id"`
	Dataset    string            `db:"dataset" json:"dataset"`
	RunID      int64             `db:"run_id" json:"run_id"`
	LastRunID  int64             `db:"last_run_id" json:"last_run_id"`
	SourceName string            `db:"source_name" json:"source_name"`
	Line       int               `db:"line_no" json:"line"`
	RecordKey  string            `db:"record_key" json:"record_key"`
	RegionCode string            `db:"region_code" json:"region_code"`
	Status     string            `db:"status" json:"status"`
	TimesSeen  int               `db:"times_seen" json:"times_seen"`
	Corrected  bool              `db:"corrected" json:"corrected"`
	CreatedAt  time.Time         `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time         `db:"updated_at" json:"updated_at"`
	ResolvedBy string            `db:"resolved_by" json:"resolved_by,omitempty"`
	Note       string            `db:"note" json:"note,omitempty"`
	DisplayRaw string            `db:"display" json:"-"`
	ErrorsRaw  string            `db:"errors" json:"-"`
	Values     map[string]string `db:"-" json:"values"`
	Errors     []Issue           `db:"-" json:"errors"`
}

// StatusLabel is the Chinese status.
func (q QuarantineRow) StatusLabel() string {
	return map[string]string{QuarantineOpen: "待处理", QuarantineResolved: "已重放入库", QuarantineDiscarded: "已忽略"}[q.Status]
}

// ErrorFor returns the issues of one field (for the correction form).
func (q QuarantineRow) ErrorFor(field string) string {
	var out []string
	for _, e := range q.Errors {
		if e.Field == field || (strings.Contains(e.Field, ",") && strings.Contains(","+e.Field+",", ","+field+",")) {
			out = append(out, e.Message)
		}
	}
	return strings.Join(out, "；")
}

func (q *QuarantineRow) decode() {
	json.Unmarshal([]byte(q.DisplayRaw), &q.Values)
	json.Unmarshal([]byte(q.ErrorsRaw), &q.Errors)
}

const quarantineCols = `id, dataset, run_id, last_run_id, source_name, line_no, record_key, region_code, status, times_seen, corrected,
	created_at, updated_at, resolved_by, note, display, errors`

// QuarantineFilter selects quarantine rows.
type QuarantineFilter struct {
	Status string // "" = open
	RunID  int64
	Field  string // rows with an issue on this field
	Q      string // key contains
}

// ListQuarantine returns a page of the dataset's quarantine within the caller's scope.
func (m *Module) ListQuarantine(ctx context.Context, p *iam.Principal, ds *Dataset, f QuarantineFilter, page web.Page) ([]QuarantineRow, int, error) {
	where, args := p.Filter(iam.Cols{Region: "q.region_code"})
	conds := []string{"q.dataset = ?", where}
	args = append([]any{ds.Name}, args...)
	if f.Status == "" {
		f.Status = QuarantineOpen
	}
	if f.Status != "all" {
		conds = append(conds, "q.status = ?")
		args = append(args, f.Status)
	}
	if f.RunID != 0 {
		conds = append(conds, "(q.last_run_id = ? OR q.run_id = ?)")
		args = append(args, f.RunID, f.RunID)
	}
	if f.Field != "" {
		conds = append(conds, "q.errors LIKE ?")
		args = append(args, `%"field":"`+likeEscape(f.Field)+`%`)
	}
	if f.Q != "" {
		conds = append(conds, "q.record_key LIKE ?")
		args = append(args, "%"+likeEscape(f.Q)+"%")
	}
	w := strings.Join(conds, " AND ")
	var total int
	if err := m.db.Get(ctx, &total, `SELECT COUNT(*) FROM ds_quarantine q WHERE `+w, args...); err != nil {
		return nil, 0, err
	}
	var rows []QuarantineRow
	if err := m.db.Select(ctx, &rows, `SELECT `+prefixCols("q.", quarantineCols)+` FROM ds_quarantine q WHERE `+w+` ORDER BY q.id LIMIT ? OFFSET ?`,
		append(args, page.Size, page.Offset())...); err != nil {
		return nil, 0, err
	}
	for i := range rows {
		rows[i].decode()
	}
	return rows, total, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer("%", "", "_", "", "\\", "").Replace(s)
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// GetQuarantine returns one row within the caller's scope.
func (m *Module) GetQuarantine(ctx context.Context, p *iam.Principal, ds *Dataset, id int64) (*QuarantineRow, error) {
	where, args := p.Filter(iam.Cols{Region: "q.region_code"})
	var row QuarantineRow
	err := m.db.Get(ctx, &row, `SELECT `+prefixCols("q.", quarantineCols)+` FROM ds_quarantine q WHERE q.id = ? AND q.dataset = ? AND `+where,
		append([]any{id, ds.Name}, args...)...)
	if err == store.ErrNotFound {
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	row.decode()
	return &row, nil
}

// unsealRaw reads the full raw record of a quarantine row.
func (m *Module) unsealRaw(sealed []byte) (map[string]string, error) {
	b, err := m.keys.Open(purposeQuarantine, sealed)
	if err != nil {
		return nil, fmt.Errorf("隔离记录无法解密：%w", err)
	}
	raw := map[string]string{}
	return raw, json.Unmarshal(b, &raw)
}

// Correct applies corrected values (field → new raw value; "" clears) to an open quarantined
// record and validates it again. It returns the remaining issues; an empty list means the
// record is ready to replay.
func (m *Module) Correct(ctx context.Context, r *http.Request, p *iam.Principal, ds *Dataset, id int64, values map[string]string) ([]Issue, error) {
	for k := range values {
		if f, ok := ds.Field(k); !ok || f.Derived {
			return nil, web.Errorf(http.StatusBadRequest, "unknown_field", "数据集“%s”没有字段 %q", ds.TitleZh, k)
		}
	}
	if _, err := m.GetQuarantine(ctx, p, ds, id); err != nil {
		return nil, err
	}
	cat, err := LoadCatalog(ctx, m.db)
	if err != nil {
		return nil, err
	}
	var issues []Issue
	err = m.db.InTx(ctx, func(tx *store.Tx) error {
		var row struct {
			Status string `db:"status"`
			Sealed []byte `db:"sealed"`
		}
		if err := tx.Get(ctx, &row, `SELECT status, sealed FROM ds_quarantine WHERE id = ?`, id); err != nil {
			return err
		}
		if row.Status != QuarantineOpen {
			return web.Errorf(http.StatusConflict, "not_open", "该记录已处理（%s），不能再更正", map[string]string{QuarantineResolved: "已重放入库", QuarantineDiscarded: "已忽略"}[row.Status])
		}
		raw, err := m.unsealRaw(row.Sealed)
		if err != nil {
			return err
		}
		var changed []string
		for k, v := range values {
			v = strings.TrimSpace(v)
			if f, _ := ds.Field(k); v == "" && f.Type.Sealed() {
				continue // personal values are shown masked: an empty input leaves them as they are
			}
			if raw[k] == v {
				continue
			}
			changed = append(changed, fieldTitle(ds, k))
			if v == "" {
				delete(raw, k)
			} else {
				raw[k] = v
			}
		}
		sort.Strings(changed)
		issues = m.check(ds, cat, p, raw)
		plain, _ := json.Marshal(raw)
		sealed, err := m.keys.Seal(purposeQuarantine, plain)
		if err != nil {
			return err
		}
		disp, _ := json.Marshal(displayRaw(ds, raw))
		errs, _ := json.Marshal(issues)
		region := iam.ProvinceCode
		if p != nil && p.Region != "" {
			region = p.Region
		}
		pr := parseRecord(ds, cat, rawSlice(ds, raw), nil)
		if reg := pr.str(ColRegion); reg != "" {
			if ok, _ := iam.RegionWithin(ctx, tx, reg, region); ok {
				region = reg
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE ds_quarantine SET sealed = ?, display = ?, errors = ?, corrected = TRUE, updated_at = ?, record_key = ?, region_code = ? WHERE id = ?`,
			sealed, string(disp), string(errs), m.now(), keyDisplay(pr.key()), region, id); err != nil {
			return err
		}
		detail := fmt.Sprintf("更正数据集“%s”隔离记录 #%d：%s", ds.TitleZh, id, strings.Join(changed, "、"))
		if len(issues) == 0 {
			detail += "（已通过校验，可重放）"
		} else {
			detail += fmt.Sprintf("（仍有 %d 个问题）", len(issues))
		}
		return m.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "dataset.quarantine.correct",
			ObjectType: "quarantine", ObjectID: strconv.FormatInt(id, 10), Result: audit.ResultSuccess, Detail: detail}))
	})
	return issues, err
}

func fieldTitle(ds *Dataset, name string) string {
	if f, ok := ds.Field(name); ok {
		return f.TitleZh
	}
	return name
}

// rawSlice orders a raw map by field index.
func rawSlice(ds *Dataset, raw map[string]string) []string {
	out := make([]string, len(ds.Fields))
	for i, f := range ds.Fields {
		out[i] = raw[f.Name]
	}
	return out
}

// check validates a raw record as the pipeline would (without the in-run duplicate check).
func (m *Module) check(ds *Dataset, cat *Catalog, p *iam.Principal, raw map[string]string) []Issue {
	pr := parseRecord(ds, cat, rawSlice(ds, raw), nil)
	if reg := pr.str(ColRegion); reg != "" && p != nil && p.RegionPath != "" && p.RegionPath != "/"+iam.ProvinceCode+"/" {
		var path string
		m.db.Get(context.Background(), &path, `SELECT path FROM regions WHERE code = ?`, reg)
		if !strings.HasPrefix(path, p.RegionPath) {
			f, _ := ds.Field(ColRegion)
			pr.fail(f, IssueOutOfScope, fmt.Sprintf("行政区划 %s 不在您的管辖范围（%s）内，需由上级用户处理", reg, p.RegionName))
		}
	}
	if len(pr.errs) == 0 && raw[rawKey] != "" && onlyRaw(ds, raw) {
		pr.errs = append(pr.errs, Issue{Code: IssueUnparseable, Title: "整行", Message: "原始行无法解析，请逐项填写字段值"})
	}
	if pr.errs == nil {
		return []Issue{}
	}
	return pr.errs
}

func onlyRaw(ds *Dataset, raw map[string]string) bool {
	for _, f := range ds.Fields {
		if raw[f.Name] != "" {
			return false
		}
	}
	return true
}

// Discard marks open quarantined records as not to be loaded, with a reason.
func (m *Module) Discard(ctx context.Context, r *http.Request, p *iam.Principal, ds *Dataset, ids []int64, note string) (int64, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return 0, web.Errorf(http.StatusBadRequest, "note_required", "请填写忽略原因")
	}
	if len(ids) == 0 {
		return 0, web.Errorf(http.StatusBadRequest, "ids_required", "请选择要忽略的记录")
	}
	where, args := p.Filter(iam.Cols{Region: "region_code"})
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	var n int64
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		a := []any{m.now(), actorName(p), truncate(note, 500), ds.Name}
		for _, id := range ids {
			a = append(a, id)
		}
		res, err := tx.Exec(ctx, `UPDATE ds_quarantine SET status = 'discarded', resolved_at = ?, resolved_by = ?, note = ?
			WHERE status = 'open' AND dataset = ? AND id IN (`+ph+`) AND `+where, append(a, args...)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return web.ErrNotFound
		}
		return m.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "dataset.quarantine.discard",
			ObjectType: "quarantine", ObjectID: joinIDs(ids), Result: audit.ResultSuccess,
			Detail: fmt.Sprintf("忽略数据集“%s”隔离记录 %d 条，原因：%s", ds.TitleZh, n, truncate(note, 200))}))
	})
	return n, err
}

func joinIDs(ids []int64) string {
	s := make([]string, 0, len(ids))
	for _, id := range ids {
		s = append(s, strconv.FormatInt(id, 10))
	}
	return truncate(strings.Join(s, ","), 100)
}

// Replay runs open quarantined records (the given ids, or all open ones in the caller's scope
// when ids is empty) through the pipeline again: valid ones are written and marked resolved,
// the others keep their row with the new issues.
func (m *Module) Replay(ctx context.Context, ds *Dataset, ids []int64, o Options) (*Result, error) {
	where, args := o.Principal.Filter(iam.Cols{Region: "region_code"})
	q := `SELECT id, line_no, sealed FROM ds_quarantine WHERE dataset = ? AND status = 'open' AND ` + where
	a := append([]any{ds.Name}, args...)
	if len(ids) > 0 {
		q += ` AND id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
		for _, id := range ids {
			a = append(a, id)
		}
	}
	var rows []struct {
		ID     int64  `db:"id"`
		Line   int    `db:"line_no"`
		Sealed []byte `db:"sealed"`
	}
	if err := m.db.Select(ctx, &rows, q+` ORDER BY id`, a...); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, web.Errorf(http.StatusBadRequest, "nothing_to_replay", "没有可重放的待处理记录")
	}
	src := &sliceSource{desc: fmt.Sprintf("隔离区重放 %d 条", len(rows))}
	for _, f := range ds.Fields {
		src.cols = append(src.cols, f.Name)
	}
	for _, r := range rows {
		raw, err := m.unsealRaw(r.Sealed)
		if err != nil {
			return nil, err
		}
		rec := &record{line: r.Line, vals: rawSlice(ds, raw), qid: r.ID}
		if onlyRaw(ds, raw) && raw[rawKey] != "" {
			rec.perr, rec.raw = "原始行无法解析，请先逐项填写字段值再重放", raw[rawKey]
		}
		src.recs = append(src.recs, rec)
	}
	o.Dataset, o.Kind = ds.Name, KindReplay
	if o.TaskName == "" {
		o.TaskName = ds.TitleZh + "隔离区重放"
	}
	o.SourceName = "隔离区重放"
	o.Mapping = identityMapping(ds)
	o = defaults(ds, o)
	id, err := m.StartRun(ctx, o)
	if err != nil {
		return nil, err
	}
	o.RunID = id
	return m.runSource(ctx, ds, src, o)
}

func identityMapping(ds *Dataset) Mapping {
	m := Mapping{}
	for _, f := range ds.Fields {
		m[f.Name] = f.Name
		if f.Derived {
			m[f.Name] = "-"
		}
	}
	return m
}

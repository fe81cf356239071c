package indicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Entry is one indicator as the catalogue shows it.
type Entry struct {
	*Definition
	GroupTitles []string       `json:"group_titles"`
	Formula     string         `json:"formula"` // human formula
	SQL         string         `json:"sql"`     // the aggregate at county × finest period, for aggregates
	Lineage     []LineageItem  `json:"lineage"`
	Quality     []DatasetScore `json:"quality"`
}

// DatasetScore is a source dataset's quality score, when the quality engine has one.
type DatasetScore struct {
	Dataset string     `json:"dataset"`
	Title   string     `json:"title"`
	Score   *float64   `json:"score"` // nil: 暂无质量评分
	At      *time.Time `json:"at,omitempty"`
}

// Text is the score with one decimal, or "" when there is none.
func (d DatasetScore) Text() string {
	if d.Score == nil {
		return ""
	}
	return strconv.FormatFloat(*d.Score, 'f', 1, 64)
}

// Catalogue returns every indicator with formula, lineage, last computation and the quality
// of its sources.
func (s *Service) Catalogue(ctx context.Context) ([]Entry, error) {
	defs, order, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	at, err := s.computedAt(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(order))
	for _, c := range order {
		out = append(out, s.entry(ctx, defs, defs[c], at))
	}
	return out, nil
}

// Entry returns one indicator's catalogue entry.
func (s *Service) Entry(ctx context.Context, code string) (Entry, error) {
	defs, _, err := s.load(ctx)
	if err != nil {
		return Entry{}, err
	}
	d, ok := defs[strings.ToUpper(code)]
	if !ok {
		return Entry{}, web.Errorf(http.StatusNotFound, "not_found", "指标 %s 不存在", code)
	}
	at, err := s.computedAt(ctx)
	if err != nil {
		return Entry{}, err
	}
	return s.entry(ctx, defs, d, at), nil
}

func (s *Service) entry(ctx context.Context, defs map[string]*Definition, d *Definition, at map[string]*time.Time) Entry {
	dd := *d
	dd.ComputedAt = at[d.Code]
	e := Entry{Definition: &dd}
	for _, g := range d.Groups {
		t, _ := GroupTitle(g)
		e.GroupTitles = append(e.GroupTitles, t)
	}
	e.Formula = formula(defs, &d.Spec)
	if d.Kind == KindAggregate {
		e.SQL = d.Spec.SQL(s.db.Dialect(), LevelCounty, d.finest())
	} else {
		for _, r := range d.Refs() {
			dd.ComputedAt = latest(dd.ComputedAt, at[r])
		}
	}
	e.Lineage = lineageOf(defs, &d.Spec, 0)
	for _, l := range e.Lineage {
		ds := DatasetScore{Dataset: l.Dataset, Title: l.Title}
		if s.Quality != nil {
			if q, ok := s.Quality(ctx, l.Dataset); ok {
				v, t := q.Score, q.At
				ds.Score, ds.At = &v, &t
			}
		}
		e.Quality = append(e.Quality, ds)
	}
	return e
}

// lineageOf merges the lineage of an indicator and, for derived ones, of its inputs.
func lineageOf(defs map[string]*Definition, sp *Spec, depth int) []LineageItem {
	if sp.Kind == KindAggregate {
		return sp.lineage()
	}
	if depth > 8 {
		return nil
	}
	var out []LineageItem
	idx := map[string]int{}
	for _, r := range sp.Refs() {
		d := defs[r]
		if d == nil {
			continue
		}
		for _, l := range lineageOf(defs, &d.Spec, depth+1) {
			i, ok := idx[l.Dataset]
			if !ok {
				idx[l.Dataset] = len(out)
				out = append(out, LineageItem{Dataset: l.Dataset, Title: l.Title})
				i = len(out) - 1
			}
			seen := map[string]bool{}
			for _, f := range out[i].Fields {
				seen[f] = true
			}
			for _, f := range l.Fields {
				if !seen[f] {
					out[i].Fields = append(out[i].Fields, f)
				}
			}
		}
	}
	return out
}

// formula describes how an indicator is computed, in Chinese.
func formula(defs map[string]*Definition, sp *Spec) string {
	name := func(code string) string {
		if d := defs[code]; d != nil {
			return d.Name + "（" + code + "）"
		}
		return code
	}
	switch sp.Kind {
	case KindRatio:
		f := name(sp.Numerator) + " ÷ " + name(sp.Denominator)
		if sp.DenAll {
			f = name(sp.Numerator) + " ÷ " + name(sp.Denominator) + "［累计］"
		}
		if sp.Scale != 0 && sp.Scale != 1 {
			f += " × " + strconv.FormatFloat(sp.Scale, 'f', -1, 64)
		}
		return f
	case KindWeighted:
		var parts []string
		for _, p := range sp.Parts {
			parts = append(parts, name(p.Code)+" × "+strconv.FormatFloat(p.Weight, 'f', -1, 64))
		}
		return strings.Join(parts, " + ")
	}
	ds, _ := Dataset(sp.Dataset)
	title := sp.Dataset
	if ds != nil {
		title = ds.TitleZh
	}
	agg := map[string]string{AggCount: "COUNT(*)", AggSum: "SUM(" + sp.Expr + ")", AggCountDistinct: "COUNT(DISTINCT " + sp.Expr + ")"}[sp.Agg]
	f := title + "：" + agg
	if sp.Filter != "" {
		f += " WHERE " + sp.Filter
	}
	if sp.Breakdown != "" {
		f += "，按 " + sp.Breakdown + " 分组"
	}
	if sp.Cumulative {
		f += "，累计至期末"
	}
	return f
}

// Input is a definition as people submit it.
type Input struct {
	Spec
	Enabled *bool  `json:"enabled,omitempty"`
	Note    string `json:"note"` // why it changed, kept with the version
}

// Save creates (code new) or changes an indicator: validated, tried against the database,
// stored as a new version, audited, and its history recomputed by the job.
func (s *Service) Save(ctx context.Context, r *http.Request, p *iam.Principal, in Input, create bool) (*Definition, error) {
	sp := in.Spec
	sp.Normalize()
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	defs, _, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	cur, exists := defs[sp.Code]
	switch {
	case create && exists:
		return nil, web.Errorf(http.StatusConflict, "exists", "指标编码 %s 已存在", sp.Code)
	case !create && !exists:
		return nil, web.Errorf(http.StatusNotFound, "not_found", "指标 %s 不存在", sp.Code)
	}
	all := make([]Spec, 0, len(defs)+1)
	for c, d := range defs {
		if c != sp.Code {
			all = append(all, d.Spec)
		}
	}
	all = append(all, sp)
	if err := checkRefs(all); err != nil {
		return nil, err
	}
	if err := s.try(ctx, &sp); err != nil {
		return nil, err
	}
	enabled := true
	if exists {
		enabled = cur.Enabled
	}
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	b, _ := json.Marshal(sp)
	actor := p.Account
	note := strings.TrimSpace(in.Note)
	if note == "" {
		note = map[bool]string{true: "新增指标", false: "修改指标定义"}[create]
	}
	var version int
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		now := store.Now()
		if create {
			version = 1
			if _, err := tx.Exec(ctx, `INSERT INTO ind_definitions(code, name, library, spec, version, origin, enabled, edited, updated_by, updated_at)
				VALUES (?, ?, ?, ?, 1, 'user', ?, TRUE, ?, ?)`, sp.Code, sp.Name, sp.Library, string(b), enabled, actor, now); err != nil {
				return err
			}
		} else {
			if err := tx.Get(ctx, &version, `SELECT version FROM ind_definitions WHERE code = ?`, sp.Code); err != nil {
				return err
			}
			version++
			if _, err := tx.Exec(ctx, `UPDATE ind_definitions SET name = ?, library = ?, spec = ?, version = ?, enabled = ?, edited = TRUE, updated_by = ?, updated_at = ?
				WHERE code = ?`, sp.Name, sp.Library, string(b), version, enabled, actor, now, sp.Code); err != nil {
				return err
			}
		}
		if err := addVersion(ctx, tx, sp.Code, version, string(b), actor, note); err != nil {
			return err
		}
		if err := bumpState(ctx, tx, 2); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s指标 %s（%s）为第 %d 版：%s", map[bool]string{true: "新增", false: "修改"}[create], sp.Code, sp.Name, version, note)
		if !enabled {
			detail += "；已停用"
			if _, err := tx.Exec(ctx, `DELETE FROM ind_values WHERE code = ?`, sp.Code); err != nil {
				return err
			}
			if err := bumpState(ctx, tx, 1); err != nil {
				return err
			}
		}
		if s.audit != nil {
			if err := s.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "indicator.definition.save", ObjectType: "indicator", ObjectID: sp.Code,
				Result: audit.ResultSuccess, Detail: detail})); err != nil {
				return err
			}
		}
		if sp.Kind != KindAggregate || !enabled {
			return nil // derived indicators are computed when read
		}
		id, err := request(ctx, tx, Request{Kind: "codes", Codes: []string{sp.Code}, Source: "user:" + actor, RequestedBy: actor})
		if err != nil {
			return err
		}
		return events.Publish(ctx, tx, EventRequested, map[string]any{"request_id": id, "code": sp.Code})
	})
	if err != nil {
		return nil, err
	}
	if err := s.Kick(ctx, actor); err != nil && !errors.Is(err, jobs.ErrBusy) && !errors.Is(err, jobs.ErrNotStarted) {
		s.log.Warn("indicator: start recompute", "err", err)
	}
	return s.Get(ctx, sp.Code)
}

// try runs the aggregate's query on no rows, so that a definition the database cannot run is
// refused with its error instead of failing the nightly job.
func (s *Service) try(ctx context.Context, sp *Spec) error {
	if sp.Kind != KindAggregate {
		return nil
	}
	gs, err := groupSpecs([]*Spec{sp})
	if err != nil {
		return err
	}
	g := gs[0]
	for _, level := range []string{LevelCounty, LevelUnit} {
		q, _ := g.query(s.db.Dialect(), level, g.finest, []*Spec{sp}, []string{"1=0"})
		rows, err := s.db.Query(ctx, q)
		if err != nil {
			return bad("filter", "数据库无法执行该定义：%v", err)
		}
		rows.Close()
	}
	return nil
}

// Version is one stored version of a definition.
type Version struct {
	Code      string    `db:"code" json:"code"`
	Version   int       `db:"version" json:"version"`
	SpecJSON  string    `db:"spec" json:"-"`
	Spec      Spec      `db:"-" json:"spec"`
	ChangedBy string    `db:"changed_by" json:"changed_by"`
	ChangedAt time.Time `db:"changed_at" json:"changed_at"`
	Note      string    `db:"note" json:"note"`
}

// Versions lists a definition's versions, newest first.
func (s *Service) Versions(ctx context.Context, code string) ([]Version, error) {
	var out []Version
	if err := s.db.Select(ctx, &out, `SELECT code, version, spec, changed_by, changed_at, note FROM ind_definition_versions WHERE code = ? ORDER BY version DESC`, strings.ToUpper(code)); err != nil {
		return nil, err
	}
	for i := range out {
		json.Unmarshal([]byte(out[i].SpecJSON), &out[i].Spec)
	}
	return out, nil
}

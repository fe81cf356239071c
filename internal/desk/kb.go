package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Article is one knowledge-base article.
type Article struct {
	ID             int64     `db:"id" json:"id"`
	Title          string    `db:"title" json:"title"`
	Symptom        string    `db:"symptom" json:"symptom"`
	Cause          string    `db:"cause" json:"cause"`
	Solution       string    `db:"solution" json:"solution"`
	Systems        string    `db:"systems" json:"systems"`
	Tags           string    `db:"tags" json:"tags"`
	Status         string    `db:"status" json:"status"`
	SourceTicketID *int64    `db:"source_ticket_id" json:"source_ticket_id,omitempty"`
	Author         string    `db:"author" json:"author"`
	CreatedAt      time.Time `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time `db:"updated_at" json:"updated_at"`
	Score          int       `db:"score" json:"score,omitempty"`
	Tickets        []int64   `db:"-" json:"tickets,omitempty"`
}

// StatusName is the Chinese name of the article status.
func (a Article) StatusName() string {
	return map[string]string{"draft": "草稿", "published": "已发布"}[a.Status]
}

// TagList and SystemList split the comma lists.
func (a Article) TagList() []string    { return splitList(a.Tags) }
func (a Article) SystemList() []string { return splitList(a.Systems) }

const articleCols = `a.id, a.title, a.symptom, a.cause, a.solution, a.systems, a.tags, a.status, a.source_ticket_id, a.author, a.created_at, a.updated_at`

// Terms splits text into search terms: overlapping character bigrams of every run of Chinese
// (Han) characters, a lone Han character as itself, and lower-cased runs of Latin letters and
// digits. The same function indexes articles and parses queries, so they always agree.
func Terms(text string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	var han []rune
	var word []rune
	flushHan := func() {
		if len(han) == 1 {
			add(string(han))
		}
		for i := 0; i+1 < len(han); i++ {
			add(string(han[i : i+2]))
		}
		han = han[:0]
	}
	flushWord := func() {
		if len(word) > 0 {
			w := strings.ToLower(string(word))
			if len(w) > 64 {
				w = w[:64]
			}
			add(w)
		}
		word = word[:0]
	}
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)), unicode.IsDigit(r):
			flushHan()
			word = append(word, unicode.ToLower(r))
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return out
}

// indexArticle rebuilds an article's search terms: title and tags weigh 3, symptom and
// systems 2, cause and solution 1.
func indexArticle(ctx context.Context, tx *store.Tx, a *Article) error {
	if _, err := tx.Exec(ctx, `DELETE FROM desk_kb_terms WHERE article_id = ?`, a.ID); err != nil {
		return err
	}
	weights := map[string]int{}
	for _, f := range []struct {
		text string
		w    int
	}{{a.Title, 3}, {a.Tags, 3}, {a.Symptom, 2}, {a.Systems, 2}, {a.Cause, 1}, {a.Solution, 1}} {
		for _, t := range Terms(f.text) {
			weights[t] = max(weights[t], f.w)
		}
	}
	terms := make([]string, 0, len(weights))
	for t := range weights {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	const batch = 200
	for i := 0; i < len(terms); i += batch {
		chunk := terms[i:min(i+batch, len(terms))]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		sb.WriteString(`INSERT INTO desk_kb_terms(term, article_id, weight) VALUES `)
		for j, t := range chunk {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, t, a.ID, weights[t])
		}
		if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// SearchFilter narrows a knowledge search.
type SearchFilter struct {
	Q      string
	Status string // "" means published
	System string
	All    bool // drafts and published
}

// maxQueryTerms bounds the terms a query may use (a pasted page stays cheap).
const maxQueryTerms = 32

// matchNeed is how many of n query terms an article must contain: all of one or two, and
// two thirds of more (so a long phrase still finds articles that word it a little
// differently).
func matchNeed(n int) int {
	if n <= 2 {
		return n
	}
	return (2*n + 2) / 3
}

func (f SearchFilter) where() (string, []any) {
	where, args := "1=1", []any{}
	switch {
	case f.All:
	case f.Status != "":
		where += " AND a.status = ?"
		args = append(args, f.Status)
	default:
		where += " AND a.status = 'published'"
	}
	if f.System != "" {
		where += " AND (',' || a.systems || ',') LIKE ?"
		args = append(args, "%,"+f.System+",%")
	}
	return where, args
}

// Search finds articles: by term matches ranked by weight when the query has terms of two
// or more characters, by substring for a single character, or newest first without a query.
func (d *Desk) Search(ctx context.Context, f SearchFilter, pg web.Page) (web.List[Article], error) {
	return d.search(ctx, f, pg, 0)
}

func (d *Desk) search(ctx context.Context, f SearchFilter, pg web.Page, need int) (web.List[Article], error) {
	out := web.List[Article]{Page: pg.Page, Size: pg.Size, Items: []Article{}}
	where, args := f.where()
	q := strings.TrimSpace(f.Q)
	terms := Terms(q)
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	single := len(terms) == 1 && len([]rune(terms[0])) == 1
	if q == "" || len(terms) == 0 || single {
		if q != "" {
			like := "%" + q + "%"
			where += " AND (a.title LIKE ? OR a.symptom LIKE ? OR a.cause LIKE ? OR a.solution LIKE ? OR a.tags LIKE ? OR a.systems LIKE ?)"
			args = append(args, like, like, like, like, like, like)
		}
		if err := d.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM desk_articles a WHERE `+where, args...); err != nil {
			return out, err
		}
		err := d.db.Select(ctx, &out.Items, `SELECT `+articleCols+`, 0 AS score FROM desk_articles a WHERE `+where+
			` ORDER BY a.updated_at DESC, a.id DESC LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
		return out, err
	}
	if need <= 0 {
		need = matchNeed(len(terms))
	}
	// One pass over the index: the matching articles with their scores, ranked here; then
	// the page's articles by id.
	ph := strings.TrimSuffix(strings.Repeat("?,", len(terms)), ",")
	all := make([]any, 0, len(terms)+1+len(args))
	for _, t := range terms {
		all = append(all, t)
	}
	all = append(append(all, need), args...)
	var hits []struct {
		ID    int64 `db:"article_id"`
		Score int   `db:"score"`
	}
	if err := d.db.Select(ctx, &hits, `SELECT s.article_id, s.score FROM (SELECT article_id, SUM(weight) AS score FROM desk_kb_terms
		WHERE term IN (`+ph+`) GROUP BY article_id HAVING COUNT(*) >= ?) s JOIN desk_articles a ON a.id = s.article_id WHERE `+where, all...); err != nil {
		return out, err
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID > hits[j].ID
	})
	out.Total = len(hits)
	if pg.Offset() >= len(hits) {
		return out, nil
	}
	hits = hits[pg.Offset():min(len(hits), pg.Offset()+pg.Size)]
	ids := make([]any, len(hits))
	score := map[int64]int{}
	for i, h := range hits {
		ids[i] = h.ID
		score[h.ID] = h.Score
	}
	var items []Article
	if err := d.db.Select(ctx, &items, `SELECT `+articleCols+`, 0 AS score FROM desk_articles a WHERE a.id IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`)`, ids...); err != nil {
		return out, err
	}
	for i := range items {
		items[i].Score = score[items[i].ID]
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Score != items[j].Score {
			return items[i].Score > items[j].Score
		}
		return items[i].ID > items[j].ID
	})
	out.Items = items
	return out, nil
}

// Suggest returns the published articles that best match a ticket being registered: its
// title, description and system. It asks for fewer matching terms than a search, since a
// ticket's text is longer than a query.
func (d *Desk) Suggest(ctx context.Context, text, system string, limit int) ([]Article, error) {
	terms := Terms(text)
	if len(terms) == 0 {
		return []Article{}, nil
	}
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	need := max(2, len(terms)/3)
	if len(terms) < 2 {
		need = 1
	}
	res, err := d.search(ctx, SearchFilter{Q: strings.Join(terms, " ")}, web.Page{Page: 1, Size: limit * 3}, need)
	if err != nil {
		return nil, err
	}
	// Articles for the ticket's system come first at equal relevance.
	items := res.Items
	if system != "" {
		for i := range items {
			for _, s := range items[i].SystemList() {
				if s == system {
					items[i].Score += 3
				}
			}
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].Score > items[j].Score })
	}
	if len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}

// GetArticle returns one article with its linked tickets.
func (d *Desk) GetArticle(ctx context.Context, id int64) (*Article, error) {
	var a Article
	if err := d.db.Get(ctx, &a, `SELECT `+articleCols+`, 0 AS score FROM desk_articles a WHERE a.id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	a.Tickets = []int64{}
	err := d.db.Select(ctx, &a.Tickets, `SELECT ticket_id FROM desk_article_tickets WHERE article_id = ? ORDER BY ticket_id`, id)
	return &a, err
}

// ArticleInput creates or edits an article.
type ArticleInput struct {
	Title    string  `json:"title"`
	Symptom  string  `json:"symptom"`
	Cause    string  `json:"cause"`
	Solution string  `json:"solution"`
	Systems  string  `json:"systems"`
	Tags     string  `json:"tags"`
	Status   string  `json:"status"`
	Tickets  []int64 `json:"tickets"`
}

func (in *ArticleInput) normalize() error {
	in.Title = strings.TrimSpace(in.Title)
	in.Systems = strings.Join(splitList(in.Systems), ",")
	in.Tags = strings.Join(splitList(in.Tags), ",")
	if in.Title == "" {
		return badRequest("missing_title", "请填写知识标题")
	}
	if strings.TrimSpace(in.Symptom) == "" && strings.TrimSpace(in.Solution) == "" {
		return badRequest("missing_content", "请至少填写故障现象或解决方法")
	}
	if in.Status == "" {
		in.Status = "draft"
	}
	if in.Status != "draft" && in.Status != "published" {
		return badRequest("bad_status", "状态只能是 draft（草稿）或 published（发布）")
	}
	if in.Status == "published" && strings.TrimSpace(in.Solution) == "" {
		return badRequest("missing_solution", "发布的知识须填写解决方法")
	}
	for _, f := range []struct {
		label, v string
		max      int
	}{{"标题", in.Title, 200}, {"故障现象", in.Symptom, 8000}, {"原因", in.Cause, 8000}, {"解决方法", in.Solution, 16000},
		{"适用系统", in.Systems, 500}, {"标签", in.Tags, 500}} {
		if err := checkLen(f.label, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

// SaveArticle creates (id 0) or updates an article and reindexes it.
func (d *Desk) SaveArticle(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in ArticleInput) (int64, error) {
	if err := in.normalize(); err != nil {
		return 0, err
	}
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		a := actor{p: p, r: r}
		if id == 0 {
			var err error
			id, err = store.InsertID(ctx, tx, `INSERT INTO desk_articles(title, symptom, cause, solution, systems, tags, status, author, created_by, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, in.Title, in.Symptom, in.Cause, in.Solution, in.Systems, in.Tags, in.Status, a.name(), a.id(), now, now)
			if err != nil {
				return err
			}
		} else {
			res, err := tx.Exec(ctx, `UPDATE desk_articles SET title = ?, symptom = ?, cause = ?, solution = ?, systems = ?, tags = ?, status = ?, updated_at = ?
				WHERE id = ?`, in.Title, in.Symptom, in.Cause, in.Solution, in.Systems, in.Tags, in.Status, now, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return web.ErrNotFound
			}
		}
		if in.Tickets != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM desk_article_tickets WHERE article_id = ?`, id); err != nil {
				return err
			}
			for _, tid := range in.Tickets {
				if _, err := lockTicket(ctx, tx, p, tid); err != nil {
					return badRequest("bad_ticket", "关联的运维单 %d 不存在或不在您的数据范围内", tid)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO desk_article_tickets(article_id, ticket_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, tid); err != nil {
					return err
				}
			}
		}
		art := &Article{ID: id, Title: in.Title, Symptom: in.Symptom, Cause: in.Cause, Solution: in.Solution, Systems: in.Systems, Tags: in.Tags}
		if err := indexArticle(ctx, tx, art); err != nil {
			return err
		}
		verb := "修改"
		if r != nil && r.Method == http.MethodPost {
			verb = "新建"
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.kb.save", ObjectType: "desk_article", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("%s知识「%s」（%s）", verb, in.Title, map[string]string{"draft": "草稿", "published": "发布"}[in.Status])})
	})
	return id, err
}

// ArticleFromTicket turns a closed ticket into a draft article (once: a second call returns
// the same draft).
func (d *Desk) ArticleFromTicket(ctx context.Context, r *http.Request, p *iam.Principal, ticketID int64) (int64, bool, error) {
	var id int64
	created := false
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockTicket(ctx, tx, p, ticketID)
		if err != nil {
			return err
		}
		if t.State != StateClosed || t.CloseCode != "resolved" {
			return conflict("not_closed", "只有已闭环（已解决）的运维单才能转为知识")
		}
		if err := tx.Get(ctx, &id, `SELECT id FROM desk_articles WHERE source_ticket_id = ?`, t.ID); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := d.Now()
		a := actor{p: p, r: r}
		art := &Article{Title: t.Title, Symptom: firstNonEmpty(t.Description, t.Title), Cause: t.Cause, Solution: t.Method,
			Systems: t.System, Tags: t.Category}
		id, err = store.InsertID(ctx, tx, `INSERT INTO desk_articles(title, symptom, cause, solution, systems, tags, status, source_ticket_id, author, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?)`, art.Title, art.Symptom, art.Cause, art.Solution, art.Systems, art.Tags, t.ID, a.name(), a.id(), now, now)
		if err != nil {
			return err
		}
		art.ID = id
		created = true
		if _, err := tx.Exec(ctx, `INSERT INTO desk_article_tickets(article_id, ticket_id) VALUES (?, ?)`, id, t.ID); err != nil {
			return err
		}
		if err := indexArticle(ctx, tx, art); err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.kb.from_ticket", ObjectType: "desk_article", ObjectID: fmt.Sprint(id),
			RegionCode: t.RegionCode, Detail: fmt.Sprintf("由运维单 %s 生成知识草稿「%s」", t.No, t.Title)})
	})
	return id, created, err
}

// ArticlesForTicket lists the articles linked to a ticket.
func (d *Desk) ArticlesForTicket(ctx context.Context, ticketID int64) ([]Article, error) {
	out := []Article{}
	err := d.db.Select(ctx, &out, `SELECT `+articleCols+`, 0 AS score FROM desk_articles a JOIN desk_article_tickets x ON x.article_id = a.id
		WHERE x.ticket_id = ? ORDER BY a.id`, ticketID)
	return out, err
}

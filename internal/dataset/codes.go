package dataset

import (
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/width"

	"zhsj/internal/audit"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Code tables are maintained data: seeded from codes/*.csv at start (an item already in the
// database is never overwritten, so edits survive upgrades) and stored in ds_code_items, where
// ingestion looks values up and quality rules check membership:
//
//	col IN (SELECT code FROM ds_code_items WHERE table_name = 'licence_category' AND enabled)
//
// Industry codes are checked by their two-digit 大类 prefix against table "industry".

//go:embed codes/*.csv
var codeFiles embed.FS

// CodeTable is one code table.
type CodeTable struct {
	Name        string    `db:"name" json:"name"`
	TitleZh     string    `db:"title_zh" json:"title_zh"`
	Description string    `db:"description" json:"description"`
	Items       int       `db:"items" json:"items"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// CodeItem is one entry of a code table.
type CodeItem struct {
	Table   string `db:"table_name" json:"table"`
	Code    string `db:"code" json:"code"`
	Name    string `db:"name" json:"name"`
	Parent  string `db:"parent_code" json:"parent_code"`
	Sort    int    `db:"sort" json:"sort"`
	Enabled bool   `db:"enabled" json:"enabled"`
	Origin  string `db:"origin" json:"origin"`
}

// Code table names used by the built-in datasets.
const (
	CodeEntType          = "ent_type"
	CodeIndustry         = "industry"
	CodeLicenceCategory  = "licence_category"
	CodeSamplingCategory = "sampling_category"
	CodeSamplingProduct  = "sampling_product"
)

func readCodeCSV(name string) ([][]string, error) {
	b, err := codeFiles.ReadFile(path.Join("codes", name))
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("codes/%s: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("codes/%s: empty", name)
	}
	return rows[1:], nil
}

// SeedCodeTables loads the embedded code tables into the database; safe at every start.
func SeedCodeTables(ctx context.Context, db *store.DB) error {
	tables, err := readCodeCSV("tables.csv")
	if err != nil {
		return err
	}
	now := store.Now()
	return db.InTx(ctx, func(tx *store.Tx) error {
		for _, t := range tables {
			if len(t) != 3 {
				return fmt.Errorf("codes/tables.csv: want 3 columns")
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ds_code_tables(name, title_zh, description, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET title_zh = excluded.title_zh, description = excluded.description`, t[0], t[1], t[2], now); err != nil {
				return err
			}
			var have int
			if err := tx.Get(ctx, &have, `SELECT COUNT(*) FROM ds_code_items WHERE table_name = ? AND origin = 'seed'`, t[0]); err != nil {
				return err
			}
			items, err := readCodeCSV(t[0] + ".csv")
			if err != nil {
				return err
			}
			if have >= len(items) {
				continue // already seeded; edited items are never overwritten (disable rather than delete)
			}
			for i, it := range items {
				if len(it) != 3 {
					return fmt.Errorf("codes/%s.csv line %d: want 3 columns", t[0], i+2)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO ds_code_items(table_name, code, name, parent_code, sort, enabled, origin, updated_at)
					VALUES (?, ?, ?, ?, ?, TRUE, 'seed', ?) ON CONFLICT (table_name, code) DO NOTHING`, t[0], it[0], it[1], it[2], i+1, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ListCodeTables returns every code table with its item count.
func ListCodeTables(ctx context.Context, q store.Q) ([]CodeTable, error) {
	var out []CodeTable
	err := q.Select(ctx, &out, `SELECT t.name, t.title_zh, t.description, t.updated_at,
		(SELECT COUNT(*) FROM ds_code_items i WHERE i.table_name = t.name) AS items FROM ds_code_tables t ORDER BY t.name`)
	return out, err
}

// CodeItems returns the items of one table in order.
func CodeItems(ctx context.Context, q store.Q, table string) ([]CodeItem, error) {
	var out []CodeItem
	err := q.Select(ctx, &out, `SELECT table_name, code, name, parent_code, sort, enabled, origin FROM ds_code_items
		WHERE table_name = ? ORDER BY sort, code`, table)
	return out, err
}

// Catalog is an in-memory copy of the enabled code items, for lookups during a run.
type Catalog struct {
	tables map[string]*catTable
}

type catTable struct {
	byCode map[string]CodeItem
	byName map[string]string // normalised name → code
}

// LoadCatalog reads every enabled code item.
func LoadCatalog(ctx context.Context, q store.Q) (*Catalog, error) {
	var items []CodeItem
	if err := q.Select(ctx, &items, `SELECT table_name, code, name, parent_code, sort, enabled, origin FROM ds_code_items WHERE enabled ORDER BY table_name, sort, code`); err != nil {
		return nil, err
	}
	c := &Catalog{tables: map[string]*catTable{}}
	for _, it := range items {
		t := c.tables[it.Table]
		if t == nil {
			t = &catTable{byCode: map[string]CodeItem{}, byName: map[string]string{}}
			c.tables[it.Table] = t
		}
		t.byCode[it.Code] = it
		for _, n := range nameKeys(it.Name) {
			if _, dup := t.byName[n]; !dup {
				t.byName[n] = it.Code
			}
		}
	}
	return c, nil
}

// nameKeys are the normalised forms under which a name is found: as written (brackets,
// width and spaces folded) and without a trailing bracketed qualifier.
func nameKeys(s string) []string {
	n := normName(s)
	out := []string{n}
	if i := strings.IndexByte(n, '('); i > 0 && strings.HasSuffix(n, ")") {
		out = append(out, n[:i])
	}
	return out
}

func normName(s string) string {
	s = width.Narrow.String(strings.TrimSpace(s))
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// Lookup finds value in table by code or by name and returns the code.
func (c *Catalog) Lookup(table, value string) (string, bool) {
	t := c.tables[table]
	if t == nil {
		return "", false
	}
	v := strings.TrimSpace(value)
	if !plainASCII(v) { // ASCII is narrow already
		v = strings.TrimSpace(width.Narrow.String(value))
	}
	if _, ok := t.byCode[v]; ok {
		return v, true
	}
	if code, ok := t.byName[normName(v)]; ok {
		return code, true
	}
	// "有限责任公司(自然人投资或控股)" when only "有限责任公司" is listed.
	for _, k := range nameKeys(v)[1:] {
		if code, ok := t.byName[k]; ok {
			return code, true
		}
	}
	return "", false
}

// Item returns the item with code in table.
func (c *Catalog) Item(table, code string) (CodeItem, bool) {
	t := c.tables[table]
	if t == nil {
		return CodeItem{}, false
	}
	it, ok := t.byCode[code]
	return it, ok
}

// Name returns the name of code in table, or "" when unknown.
func (c *Catalog) Name(table, code string) string {
	it, _ := c.Item(table, code)
	return it.Name
}

// PutCodeItem adds or changes an item of an existing code table (maintained data), audited.
// With onlyNew an existing code is refused (409 code_exists) instead of changed; the insert
// itself decides, so two simultaneous adds of one code cannot both succeed.
func (m *Module) PutCodeItem(ctx context.Context, r *http.Request, table, code, name, parent string, enabled, onlyNew bool) error {
	code, name, parent = strings.TrimSpace(code), strings.TrimSpace(name), strings.TrimSpace(parent)
	if code == "" || name == "" || len(code) > 32 || utf8.RuneCountInString(name) > 100 {
		return web.Errorf(http.StatusBadRequest, "bad_code_item", "代码（不超过 32 字符）和名称（不超过 100 字）必填")
	}
	return m.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM ds_code_tables WHERE name = ?`, table); err != nil {
			return err
		}
		if n == 0 {
			return web.ErrNotFound
		}
		var sort int
		tx.Get(ctx, &sort, `SELECT COALESCE(MAX(sort), 0) + 1 FROM ds_code_items WHERE table_name = ?`, table)
		onConflict := `DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code, enabled = excluded.enabled,
			origin = 'user', updated_at = excluded.updated_at`
		if onlyNew {
			onConflict = `DO NOTHING`
		}
		res, err := tx.Exec(ctx, `INSERT INTO ds_code_items(table_name, code, name, parent_code, sort, enabled, origin, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'user', ?)
			ON CONFLICT (table_name, code) `+onConflict, table, code, name, parent, sort, enabled, m.now())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 && onlyNew {
			var have string
			tx.Get(ctx, &have, `SELECT name FROM ds_code_items WHERE table_name = ? AND code = ?`, table, code)
			return web.Errorf(http.StatusConflict, "code_exists", "代码 %s 已存在（%s），如需修改请在列表中点该条目的“修改”", code, have)
		}
		state := "启用"
		if !enabled {
			state = "停用"
		}
		return m.audit.Record(ctx, tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: "dataset.code.write", ObjectType: "code_item",
			ObjectID: table + "/" + code, Result: audit.ResultSuccess, Detail: fmt.Sprintf("代码表 %s：%s %s（%s）", table, code, name, state)}))
	})
}

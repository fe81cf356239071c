// Package quality is the data-quality engine (数据质量核查): rules kept as data (built-in
// templates and custom SQL), execution pushed down to SQL with one scan per dataset, one
// append-only history of results with failed rows kept by key, scores per dataset, GB/T 36344
// dimension, region and overall, drill-down, trend charts and published reports.
//
// The engine knows datasets only through the small descriptor in this file, so that it can be
// developed and tested on fixture tables; the application adapts the dataset registry to it.
package quality

import (
	"fmt"
	"regexp"
	"slices"

	"zhsj/internal/store"
)

// Column types a rule template may care about.
const (
	TypeText     = "text"
	TypeInt      = "int"
	TypeDecimal  = "decimal" // exact decimal held as TEXT
	TypeNumber   = "number"  // numeric column (REAL / NUMERIC)
	TypeDate     = "date"    // TEXT YYYY-MM-DD
	TypeDateTime = "datetime"
	TypeBool     = "bool"
	TypeUSCC     = "uscc"
	TypeRegion   = "region"
	TypeIDNo     = "idno"
	TypeCode     = "code"
	TypeEnum     = "enum"
)

// Column is one field of a dataset as rules see it.
type Column struct {
	Name  string `json:"name"`  // logical field name used in rule parameters
	Title string `json:"title"` // Chinese title
	Type  string `json:"type"`
	// Column is the physical column holding the displayable value ("" = Name). For sealed
	// personal fields it is the masked copy.
	Column string `json:"column,omitempty"`
	// Issue names the column where ingestion materialised the validator's verdict for a field
	// the database cannot read (sealed ID numbers): NULL or '' when valid, an issue code when
	// not. Validity rules on such a field test this column.
	Issue  string `json:"issue,omitempty"`
	Sealed bool   `json:"sealed,omitempty"`
	// JSON names the JSON object column holding a data-driven field (added by definition, not
	// by migration); the value is the member Name of that object.
	JSON      string   `json:"json,omitempty"`
	CodeTable string   `json:"code_table,omitempty"`
	Enum      []string `json:"enum,omitempty"`
	Required  bool     `json:"required,omitempty"`
	NotFuture bool     `json:"not_future,omitempty"`
}

// Physical returns the column holding the value.
func (c Column) Physical() string {
	if c.Column != "" {
		return c.Column
	}
	return c.Name
}

// expr is the SQL expression of the column's value in the row aliased alias. A data-driven
// field is read out of its JSON object column as the field's type: on SQLite ->> already
// yields text, integer or real; on PostgreSQL (where the column is TEXT) numbers are cast from
// the member's text and anything that is not a JSON number reads as NULL.
func (c Column) expr(alias string, d store.Dialect) string {
	if c.JSON == "" {
		return col(alias, c.Physical())
	}
	obj := col(alias, c.JSON)
	if d != store.Postgres {
		return "(" + obj + " ->> '" + c.Name + "')"
	}
	j := "CAST(" + obj + " AS jsonb)"
	member := "(" + j + " ->> '" + c.Name + "')"
	switch c.Type {
	case TypeInt, TypeNumber:
		return "(CASE WHEN jsonb_typeof(" + j + " -> '" + c.Name + "') = 'number' THEN CAST(" + member + " AS NUMERIC) END)"
	case TypeBool:
		return "(CASE WHEN jsonb_typeof(" + j + " -> '" + c.Name + "') = 'boolean' THEN CAST(" + member + " AS BOOLEAN) END)"
	}
	return member
}

// Dataset describes one table the engine checks.
type Dataset struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	Table   string   `json:"table"`
	Key     []string `json:"key"`               // natural key columns (physical)
	Region  string   `json:"region,omitempty"`  // region column ("" = none: results are province-wide)
	Updated string   `json:"updated,omitempty"` // last-updated timestamp column, for freshness
	Columns []Column `json:"columns"`
	// ReadPermission, when set, is the permission that also guards the full-record view.
	ReadPermission string `json:"-"`
}

// keyEquals is the condition "key column k of alias equals a text parameter". Failed rows
// keep their keys as text; a text column is compared as it is, so that its unique index
// finds the row (a CAST would scan the table), other types through their text form.
func (d *Dataset) keyEquals(alias, k string) string {
	for _, c := range d.Columns {
		if c.JSON == "" && c.Physical() == k {
			switch c.Type {
			case TypeText, TypeDecimal, TypeDate, TypeUSCC, TypeRegion, TypeIDNo, TypeCode, TypeEnum:
				return col(alias, k) + " = ?"
			}
		}
	}
	return "CAST(" + col(alias, k) + " AS TEXT) = ?"
}

// Column returns the column with the logical name n.
func (d *Dataset) Column(n string) (Column, bool) {
	for _, c := range d.Columns {
		if c.Name == n {
			return c, true
		}
	}
	return Column{}, false
}

// CodeTables says where maintained code tables live, so that "in code table" rules can check
// membership in SQL: SELECT <Code> FROM <Table> WHERE <Name> = ? [AND <Enabled>].
type CodeTables struct {
	Table   string
	Name    string
	Code    string
	Enabled string
}

// Catalog is the set of datasets rules may run on.
type Catalog struct {
	Datasets []Dataset
	Codes    CodeTables
}

// Get returns the dataset named name.
func (c *Catalog) Get(name string) (*Dataset, bool) {
	for i := range c.Datasets {
		if c.Datasets[i].Name == name {
			return &c.Datasets[i], true
		}
	}
	return nil, false
}

// Tables lists every table custom SQL may read: the dataset tables and the code table.
func (c *Catalog) Tables() []string {
	var out []string
	for _, d := range c.Datasets {
		out = append(out, d.Table)
	}
	if c.Codes.Table != "" {
		out = append(out, c.Codes.Table)
	}
	return out
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check verifies that every name is a plain identifier (they are quoted into SQL) and that keys
// and columns are consistent.
func (c *Catalog) Check() error {
	seen := map[string]bool{}
	ids := func(ds string, names ...string) error {
		for _, n := range names {
			if n != "" && !identRE.MatchString(n) {
				return fmt.Errorf("quality: dataset %s: %q is not a plain identifier", ds, n)
			}
		}
		return nil
	}
	for _, d := range c.Datasets {
		if seen[d.Name] {
			return fmt.Errorf("quality: dataset %s declared twice", d.Name)
		}
		seen[d.Name] = true
		if len(d.Key) == 0 {
			return fmt.Errorf("quality: dataset %s has no key", d.Name)
		}
		if err := ids(d.Name, append([]string{d.Name, d.Table, d.Region, d.Updated}, d.Key...)...); err != nil {
			return err
		}
		for _, col := range d.Columns {
			if err := ids(d.Name, col.Name, col.Column, col.Issue, col.JSON); err != nil {
				return err
			}
			if col.JSON != "" && (col.Sealed || col.Column != "" || col.Issue != "") {
				return fmt.Errorf("quality: dataset %s: JSON field %s cannot be sealed or stored elsewhere", d.Name, col.Name)
			}
		}
	}
	cs := c.Codes
	return ids("code tables", cs.Table, cs.Name, cs.Code, cs.Enabled)
}

// byPhysical returns the column stored in the physical column p.
func (d *Dataset) byPhysical(p string) (Column, bool) {
	i := slices.IndexFunc(d.Columns, func(c Column) bool { return c.JSON == "" && c.Physical() == p })
	if i < 0 {
		return Column{}, false
	}
	return d.Columns[i], true
}

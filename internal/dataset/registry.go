// Package dataset holds the market-supervision datasets (市场主体, 许可证, 监督抽查, 监督检查, 追溯,
// 电动自行车备案, 数据资源目录, 接口调用日志): their typed tables, the registry that describes
// them, the code tables, and the ingestion pipeline that loads files and connectors into them
// with validation, quarantine, replay and run records.
//
// The registry (Get, All) is the contract other modules read: quality builds its rules from
// the descriptors, indicator and dashboard know the tables, key and region columns from it.
package dataset

import (
	"fmt"
	"slices"
	"strings"

	"zhsj/internal/gm"
)

// FieldType is how a field is parsed, validated and stored.
type FieldType string

const (
	TypeText     FieldType = "text"     // TEXT, trimmed, white space collapsed
	TypeInt      FieldType = "int"      // BIGINT / INTEGER
	TypeDecimal  FieldType = "decimal"  // TEXT holding an exact decimal ("500", "1234.5"); Unit says what of
	TypeDate     FieldType = "date"     // TEXT "YYYY-MM-DD" (China Standard Time calendar day)
	TypeDateTime FieldType = "datetime" // TIMESTAMP (UTC)
	TypeBool     FieldType = "bool"     // BOOLEAN (是/否, true/false, 1/0)
	TypeEnum     FieldType = "enum"     // TEXT, one of Enum (synonyms accepted)
	TypeCode     FieldType = "code"     // TEXT, a code of the maintained code table CodeTable
	TypeIndustry FieldType = "industry" // TEXT, GB/T 4754 code ("3311"); its 2-digit 大类 must be in code table "industry"
	TypeUSCC     FieldType = "uscc"     // TEXT, unified social credit code or legacy 15-digit 注册号
	TypeRegion   FieldType = "region"   // TEXT, current six-digit GB/T 2260 Shaanxi code (historical codes and names mapped)
	TypeLicence  FieldType = "licence"  // TEXT, production licence number, normalised "(陕)XK16-204-00012"
	TypeIDNo     FieldType = "idno"     // sealed citizen ID number: columns <name>_enc, <name>_idx, <name>_mask
	TypeMobile   FieldType = "mobile"   // sealed mobile number: columns <name>_enc, <name>_idx, <name>_mask
)

// Sealed reports whether values of the type are personal data stored sealed (SM4-GCM) with
// a blind index and a masked display copy, never in clear.
func (t FieldType) Sealed() bool { return t == TypeIDNo || t == TypeMobile }

// Label is the Chinese name of the type.
func (t FieldType) Label() string {
	return map[FieldType]string{
		TypeText: "文本", TypeInt: "整数", TypeDecimal: "数值", TypeDate: "日期", TypeDateTime: "日期时间",
		TypeBool: "是/否", TypeEnum: "枚举", TypeCode: "代码表", TypeIndustry: "行业代码", TypeUSCC: "统一社会信用代码",
		TypeRegion: "行政区划代码", TypeLicence: "许可证编号", TypeIDNo: "身份证号码（加密）", TypeMobile: "手机号码（加密）",
	}[t]
}

// Field describes one field of a dataset.
type Field struct {
	Name      string            `json:"name"`     // column (for sealed types the base of <name>_enc/_idx/_mask)
	TitleZh   string            `json:"title_zh"` // Chinese title, also the first accepted source column title
	Type      FieldType         `json:"type"`
	Required  bool              `json:"required,omitempty"`   // an empty value quarantines the record
	CodeTable string            `json:"code_table,omitempty"` // TypeCode: code table name (ds_code_items.table_name)
	Enum      []string          `json:"enum,omitempty"`       // TypeEnum: allowed stored values
	Synonyms  map[string]string `json:"synonyms,omitempty"`   // TypeEnum: other spellings → stored value
	NotFuture bool              `json:"not_future,omitempty"` // a date after today quarantines the record
	Strict    bool              `json:"strict,omitempty"`     // identifier check errors quarantine (otherwise stored and left to quality rules)
	MaxLen    int               `json:"max_len,omitempty"`    // TypeText: longest accepted value in characters (default 500)
	Unit      string            `json:"unit,omitempty"`       // TypeDecimal: unit of the stored number, e.g. 万元
	Default   string            `json:"default,omitempty"`    // value used when the source has none
	Aliases   []string          `json:"aliases,omitempty"`    // further accepted source column titles
	Extra     bool              `json:"extra,omitempty"`      // stored in the dataset's JSON column "extra", not in a column of its own
	Derived   bool              `json:"derived,omitempty"`    // computed by the pipeline (e.g. call_date), not read from sources
}

// Column is the column that holds the field's displayable value: the masked copy for sealed
// fields, the field itself otherwise ("" for extra fields, which live in the JSON column).
func (f *Field) Column() string {
	switch {
	case f.Extra:
		return ""
	case f.Type.Sealed():
		return f.Name + "_mask"
	}
	return f.Name
}

// IndexColumn is the blind-index column of a sealed field (HMAC-SM3 of the normalised value;
// find rows by exact value with gm.BlindIndex(keys, purpose, value)).
func (f *Field) IndexColumn() string { return f.Name + "_idx" }

// IssueColumn of a sealed field holds the validator's first error code (e.g. "id_check") for an
// invalid value and is NULL for a valid one, so quality rules can check values they cannot read.
func (f *Field) IssueColumn() string { return f.Name + "_issue" }

// SealedColumn is the ciphertext column of a sealed field.
func (f *Field) SealedColumn() string { return f.Name + "_enc" }

// SealPurpose is the gm key purpose of a sealed field.
func (f *Field) SealPurpose() string {
	if f.Type == TypeMobile {
		return gm.PurposePhone
	}
	return gm.PurposeIDNo
}

// Dataset describes one dataset: its table, natural key, region column and fields.
type Dataset struct {
	Name         string   `json:"name"`          // CLI and API name: enterprise, licence, …
	TitleZh      string   `json:"title_zh"`      // 市场主体, …
	Description  string   `json:"description"`   // Chinese one-liner
	Table        string   `json:"table"`         // SQL table, e.g. ds_enterprise
	Key          []string `json:"key"`           // natural key columns (unique together)
	RegionColumn string   `json:"region_column"` // always "region_code": current GB/T 2260 code, used for data scope
	PeriodField  string   `json:"period_field"`  // date field placing a record in a period (events, dashboards)
	DateFields   []string `json:"date_fields"`   // every date / datetime field
	NameField    string   `json:"name_field"`    // field shown as the record's title
	ListFields   []string `json:"list_fields"`   // fields shown in record lists
	FilterFields []string `json:"filter_fields"` // enum / code / bool fields offered as list filters
	ExtraColumn  string   `json:"extra_column,omitempty"`
	Fields       []Field  `json:"fields"` // display order; includes the key and region fields

	// derive fills derived values and fallbacks after per-field parsing (e.g. region from the
	// credit code). It sees the parsed values by field name and may add issues.
	derive func(v *parsed)
	// regionFrom are the credit-code fields whose region can stand in for region_code.
	regionFrom []string
	titles     map[string]string // default mapping, normalised title → field
}

// System columns every dataset table has besides its fields.
const (
	ColID          = "id"              // surrogate key, used in URLs
	ColRegion      = "region_code"     // current GB/T 2260 code; data scope column
	ColSource      = "source"          // where the current version came from (file name, connector)
	ColRowHash     = "row_hash"        // hash of the normalised values; unchanged rows are not rewritten
	ColFirstSeen   = "first_seen_at"   // TIMESTAMP of the first ingestion of the key
	ColLastUpdated = "last_updated_at" // TIMESTAMP of the last change of any value
	ColLastRun     = "last_run_id"     // ds_ingest_runs.id that last changed the row
	ColExtra       = "extra"           // JSON object of data-driven fields, where the dataset has them
)

// Field returns the field with the given name.
func (d *Dataset) Field(name string) (*Field, bool) {
	for i := range d.Fields {
		if d.Fields[i].Name == name {
			return &d.Fields[i], true
		}
	}
	return nil, false
}

// F returns the field with the given name, or nil (for templates).
func (d *Dataset) F(name string) *Field {
	f, _ := d.Field(name)
	return f
}

// IsKey reports whether field name is part of the natural key.
func (d *Dataset) IsKey(name string) bool { return slices.Contains(d.Key, name) }

// ReadPermission is the permission to read the dataset's records.
func (d *Dataset) ReadPermission() string { return "dataset." + d.Name + ".read" }

// StoredFields are the fields read from sources or derived (everything but nothing else).
func (d *Dataset) StoredFields() []Field { return d.Fields }

// columns lists the table's value columns in a fixed order (sealed fields expand to three;
// extra fields are absent, the JSON column is appended once).
func (d *Dataset) columns() []string {
	var out []string
	for _, f := range d.Fields {
		switch {
		case f.Extra:
		case f.Type.Sealed():
			out = append(out, f.SealedColumn(), f.IndexColumn(), f.Column(), f.IssueColumn())
		default:
			out = append(out, f.Name)
		}
	}
	if d.ExtraColumn != "" {
		out = append(out, d.ExtraColumn)
	}
	return out
}

// Columns are every column of the table: id, value columns, then the system columns.
func (d *Dataset) Columns() []string {
	out := append([]string{ColID}, d.columns()...)
	return append(out, ColSource, ColRowHash, ColFirstSeen, ColLastUpdated, ColLastRun)
}

var registry []*Dataset

// All returns every dataset in menu order.
func All() []*Dataset { return registry }

// Names returns every dataset name.
func Names() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.Name
	}
	return out
}

// Get returns the dataset named name.
func Get(name string) (*Dataset, bool) {
	for _, d := range registry {
		if d.Name == name {
			return d, true
		}
	}
	return nil, false
}

// register adds a dataset, filling the derived descriptor parts and checking it.
func register(d *Dataset) {
	d.RegionColumn = ColRegion
	for _, f := range d.Fields {
		if f.Type == TypeDate || f.Type == TypeDateTime {
			d.DateFields = append(d.DateFields, f.Name)
		}
		if f.Extra && d.ExtraColumn == "" {
			d.ExtraColumn = ColExtra
		}
	}
	if _, ok := d.Field(ColRegion); !ok {
		panic("dataset " + d.Name + ": no region_code field")
	}
	for _, k := range d.Key {
		f, ok := d.Field(k)
		if !ok || f.Extra || f.Type.Sealed() {
			panic(fmt.Sprintf("dataset %s: key %s must be a plain field", d.Name, k))
		}
		f.Required = true
		f.Strict = true
	}
	for _, list := range [][]string{d.ListFields, d.FilterFields, {d.PeriodField, d.NameField}, d.regionFrom} {
		for _, n := range list {
			if _, ok := d.Field(n); !ok && n != "" {
				panic(fmt.Sprintf("dataset %s: unknown field %s", d.Name, n))
			}
		}
	}
	if strings.ContainsAny(d.Table, " ;'\"") {
		panic("bad table name")
	}
	d.titleIndex()
	registry = append(registry, d)
}

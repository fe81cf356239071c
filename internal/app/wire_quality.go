package app

import (
	"context"
	"io/fs"
	"sync"

	"zhsj/internal/dataset"
	"zhsj/internal/quality"
)

// The data-quality module: rules as data, one scan per dataset, results history with failed
// rows by key, scores, drill-down, reports. It checks the datasets of the dataset registry.
func init() {
	wire("quality", 20, func(ctx context.Context, a *App) (module, fs.FS, error) {
		m, err := quality.New(a.DB, QualityCatalog(), quality.Options{Audit: a.Audit})
		if err != nil {
			return nil, nil, err
		}
		if err := m.Init(ctx, quality.BuiltinRules()); err != nil {
			return nil, nil, err
		}
		m.Jobs(a.Jobs.Register)
		a.Seeders = append(a.Seeders, m.Seeder())
		qualityModules.Store(a, m)
		return m, quality.Templates(), nil
	})
}

var qualityModules sync.Map // *App → *quality.Module

// Quality returns the app's data-quality module (the CLI's zhsj check runs it).
func (a *App) Quality() *quality.Module {
	m, _ := qualityModules.Load(a)
	qm, _ := m.(*quality.Module)
	return qm
}

// QualityCatalog adapts the dataset registry to the quality engine's descriptors: logical
// field names, the column holding each value (the masked copy for sealed personal fields, whose
// validity ingestion records in <field>_issue; the JSON column for data-driven fields), key,
// region and last-updated columns, and the maintained code tables.
func QualityCatalog() quality.Catalog {
	types := map[dataset.FieldType]string{
		dataset.TypeText: quality.TypeText, dataset.TypeInt: quality.TypeInt, dataset.TypeDecimal: quality.TypeDecimal,
		dataset.TypeDate: quality.TypeDate, dataset.TypeDateTime: quality.TypeDateTime, dataset.TypeBool: quality.TypeBool,
		dataset.TypeEnum: quality.TypeEnum, dataset.TypeCode: quality.TypeCode, dataset.TypeIndustry: quality.TypeText,
		dataset.TypeUSCC: quality.TypeUSCC, dataset.TypeRegion: quality.TypeRegion, dataset.TypeLicence: quality.TypeText,
		dataset.TypeIDNo: quality.TypeIDNo, dataset.TypeMobile: quality.TypeText,
	}
	cat := quality.Catalog{Codes: quality.CodeTables{Table: "ds_code_items", Name: "table_name", Code: "code", Enabled: "enabled"}}
	for _, d := range dataset.All() {
		qd := quality.Dataset{Name: d.Name, Title: d.TitleZh, Table: d.Table, Key: d.Key, Region: d.RegionColumn,
			Updated: dataset.ColLastUpdated, ReadPermission: d.ReadPermission()}
		for _, f := range d.Fields {
			c := quality.Column{Name: f.Name, Title: f.TitleZh, Type: types[f.Type], CodeTable: f.CodeTable, Enum: f.Enum,
				Required: f.Required, NotFuture: f.NotFuture}
			if f.Extra {
				c.JSON = d.ExtraColumn
			}
			if c.Type == "" {
				c.Type = quality.TypeText
			}
			if f.Type.Sealed() {
				c.Column, c.Issue, c.Sealed = f.Column(), f.IssueColumn(), true
			}
			qd.Columns = append(qd.Columns, c)
		}
		qd.Columns = append(qd.Columns,
			quality.Column{Name: dataset.ColFirstSeen, Title: "首次入库时间", Type: quality.TypeDateTime},
			quality.Column{Name: dataset.ColLastUpdated, Title: "最近更新时间", Type: quality.TypeDateTime})
		cat.Datasets = append(cat.Datasets, qd)
	}
	return cat
}

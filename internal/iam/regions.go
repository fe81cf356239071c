package iam

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"fmt"
	"strings"

	"zhsj/internal/store"
)

//go:embed data/gbt2260-shaanxi.csv
var regionsCSV []byte

// ProvinceCode is Shaanxi's GB/T 2260 code, the root of every jurisdiction.
const ProvinceCode = "610000"

// Region is one GB/T 2260 division as the bureau reports it.
type Region struct {
	Code          string `db:"code" json:"code"`
	Name          string `db:"name" json:"name"`
	Level         string `db:"level" json:"level"` // province | city | county
	ParentCode    string `db:"parent_code" json:"parent_code"`
	ReportingUnit string `db:"reporting_unit" json:"reporting_unit"`
	Path          string `db:"path" json:"-"`
}

// UnitNames are the display names of the 12 reporting units where they differ from GB/T 2260.
var UnitNames = map[string]string{"610403": "杨凌示范区", "610581": "韩城市"}

// ParseRegions reads the embedded GB/T 2260 table and computes each region's path along the
// reporting hierarchy: 杨凌示范区 (610403) and 韩城市 (610581) are units of their own directly
// under the province, so a 咸阳 or 渭南 jurisdiction does not include them.
func ParseRegions() ([]Region, error) {
	rows, err := csv.NewReader(bytes.NewReader(regionsCSV)).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []Region
	for i, r := range rows {
		if i == 0 {
			continue
		}
		if len(r) != 5 {
			return nil, fmt.Errorf("gbt2260 line %d: want 5 columns", i+1)
		}
		reg := Region{Code: r[0], Name: r[1], Level: r[2], ParentCode: r[3], ReportingUnit: r[4]}
		switch {
		case reg.Level == "province":
			reg.Path = "/" + reg.Code + "/"
		case reg.Level == "city" || reg.Code == reg.ReportingUnit:
			reg.Path = "/" + ProvinceCode + "/" + reg.Code + "/"
		default:
			reg.Path = "/" + ProvinceCode + "/" + reg.ReportingUnit + "/" + reg.Code + "/"
		}
		out = append(out, reg)
	}
	return out, nil
}

// LoadRegions inserts or refreshes the region table; safe to run at every start.
func LoadRegions(ctx context.Context, db *store.DB) error {
	regs, err := ParseRegions()
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *store.Tx) error {
		for i, r := range regs {
			var parent any
			if r.ParentCode != "" {
				parent = r.ParentCode
			}
			_, err := tx.Exec(ctx, `INSERT INTO regions(code, name, level, parent_code, reporting_unit, path, sort) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, parent_code = excluded.parent_code,
				reporting_unit = excluded.reporting_unit, path = excluded.path, sort = excluded.sort`,
				r.Code, r.Name, r.Level, parent, r.ReportingUnit, r.Path, i)
			if err != nil {
				return fmt.Errorf("region %s: %w", r.Code, err)
			}
		}
		return nil
	})
}

// RegionPath returns the stored path of a region code.
func RegionPath(ctx context.Context, q store.Q, code string) (string, error) {
	var p string
	err := q.Get(ctx, &p, `SELECT path FROM regions WHERE code = ?`, code)
	if err == store.ErrNotFound {
		return "", fmt.Errorf("行政区划代码 %s 不存在", code)
	}
	return p, err
}

// RegionWithin reports whether region code lies inside the jurisdiction rooted at root.
func RegionWithin(ctx context.Context, q store.Q, code, root string) (bool, error) {
	p, err := RegionPath(ctx, q, code)
	if err != nil {
		return false, err
	}
	rp, err := RegionPath(ctx, q, root)
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(p, rp), nil
}

// ListRegions returns the regions inside the jurisdiction rooted at root, in table order.
func ListRegions(ctx context.Context, q store.Q, root string) ([]Region, error) {
	rp, err := RegionPath(ctx, q, root)
	if err != nil {
		return nil, err
	}
	var out []Region
	err = q.Select(ctx, &out, `SELECT code, name, level, COALESCE(parent_code, '') AS parent_code, COALESCE(reporting_unit, '') AS reporting_unit, path
		FROM regions WHERE path LIKE ? ORDER BY sort`, rp+"%")
	return out, err
}

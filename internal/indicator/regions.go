package indicator

import (
	"sync"

	"zhsj/internal/iam"
)

// Region is one division as indicators see it: its level in the reporting hierarchy
// (province → 12 reporting units → counties) and the unit it rolls up to.
type Region struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"` // province | unit | county
	Unit  string `json:"unit"`  // reporting unit ('610000' for the province itself)
	Path  string `json:"-"`
	Sort  int    `json:"-"`
}

// regionTable is the embedded GB/T 2260 table (the same one iam loads into the database).
type regionTable struct {
	byCode   map[string]*Region
	units    []*Region            // the 12 reporting units in table order
	byUnit   map[string][]*Region // county-level codes of each unit, the unit's own code first
	ordered  []*Region
	loadErr  error
	loadOnce sync.Once
}

var regions regionTable

func (t *regionTable) load() error {
	t.loadOnce.Do(func() {
		rs, err := iam.ParseRegions()
		if err != nil {
			t.loadErr = err
			return
		}
		t.byCode = map[string]*Region{}
		t.byUnit = map[string][]*Region{}
		for i, r := range rs {
			reg := &Region{Code: r.Code, Name: r.Name, Path: r.Path, Sort: i, Unit: r.ReportingUnit}
			if n, ok := iam.UnitNames[r.Code]; ok {
				reg.Name = n
			}
			switch {
			case r.Level == "province":
				reg.Level, reg.Unit = LevelProvince, iam.ProvinceCode
			case r.Level == "city" || r.Code == r.ReportingUnit:
				reg.Level = LevelUnit
				t.units = append(t.units, reg)
			default:
				reg.Level = LevelCounty
			}
			t.byCode[reg.Code] = reg
			t.ordered = append(t.ordered, reg)
		}
		for _, r := range t.ordered {
			if r.Level != LevelProvince {
				t.byUnit[r.Unit] = append(t.byUnit[r.Unit], r)
			}
		}
	})
	return t.loadErr
}

// RegionByCode returns a region of the embedded table.
func RegionByCode(code string) (*Region, bool) {
	if regions.load() != nil {
		return nil, false
	}
	r, ok := regions.byCode[code]
	return r, ok
}

// Units returns the twelve reporting units in table order.
func Units() []*Region {
	regions.load()
	return regions.units
}

// unitOf is the reporting unit a stored region code rolls up to (the code itself for the
// province and for codes outside the table).
func unitOf(code string) string {
	if r, ok := RegionByCode(code); ok && r.Level != LevelProvince {
		return r.Unit
	}
	return code
}

// atLevel maps a stored (county-level) region code to its code at level.
func atLevel(code, level string) string {
	switch level {
	case LevelProvince:
		return iam.ProvinceCode
	case LevelUnit:
		return unitOf(code)
	}
	return code
}

// countyCodes are the stored region codes that roll up to unit u (its own code included).
func countyCodes(u string) []string {
	regions.load()
	out := []string{u}
	for _, r := range regions.byUnit[u] {
		if r.Code != u {
			out = append(out, r.Code)
		}
	}
	return out
}

// LevelOf is the level a region is read at: the province, a reporting unit or a county.
func LevelOf(code string) string {
	if code == iam.ProvinceCode {
		return LevelProvince
	}
	if r, ok := RegionByCode(code); ok {
		return r.Level
	}
	return LevelCounty
}

// Child is one region a value is broken down into, with the level its values are read at.
type Child struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"`
}

// Children are the regions one level below code: the reporting units (and 省本级) under the
// province, the counties (and 市本级) of a unit, or the county itself.
func Children(code string) []Child {
	regions.load()
	switch LevelOf(code) {
	case LevelProvince:
		out := make([]Child, 0, len(regions.units)+1)
		for _, u := range regions.units {
			out = append(out, Child{Code: u.Code, Name: u.Name, Level: LevelUnit})
		}
		return append(out, Child{Code: iam.ProvinceCode, Name: "省本级", Level: LevelUnit})
	case LevelUnit:
		var out []Child
		for _, r := range regions.byUnit[code] {
			name := r.Name
			if r.Code == code && len(regions.byUnit[code]) > 1 {
				name += "本级"
			}
			out = append(out, Child{Code: r.Code, Name: name, Level: LevelCounty})
		}
		// The unit's own code (市本级) last.
		if len(out) > 1 && out[0].Code == code {
			out = append(out[1:], out[0])
		}
		return out
	}
	r, _ := RegionByCode(code)
	name := code
	if r != nil {
		name = r.Name
	}
	return []Child{{Code: code, Name: name, Level: LevelCounty}}
}

// RegionName returns the display name of a code.
func RegionName(code string) string {
	if r, ok := RegionByCode(code); ok {
		return r.Name
	}
	return code
}

package dataset

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Mapping maps source column names to field names. A field name of "-" ignores the column.
// Columns not in a mapping are matched by the dataset's default mapping: the field's English
// name (also camelCase), its Chinese title and its aliases, ignoring width, case, spaces and a
// trailing bracketed unit such as "（万元）" (which then sets the value's unit).
type Mapping map[string]string

// titleKey normalises a column title for matching.
func titleKey(s string) string {
	s = width.Narrow.String(strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF")))
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || r == '_' || r == '-' || r == '*' || r == ':' || r == '：':
			prevLower = false
			continue
		case unicode.IsUpper(r) && r < 0x80:
			if prevLower {
				b.WriteByte('_') // camelCase → snake, then dropped below like other separators
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
			continue
		}
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		b.WriteRune(r)
	}
	return strings.ReplaceAll(b.String(), "_", "")
}

// splitUnit cuts a trailing bracketed part: "注册资本(万元)" → "注册资本", "万元".
func splitUnit(k string) (string, string) {
	if strings.HasSuffix(k, ")") {
		if i := strings.LastIndexByte(k, '('); i > 0 {
			return k[:i], k[i+1 : len(k)-1]
		}
	}
	return k, ""
}

// titleIndex returns the dataset's default mapping: normalised title → field name.
func (d *Dataset) titleIndex() map[string]string {
	if d.titles != nil {
		return d.titles
	}
	idx := map[string]string{}
	for _, f := range d.Fields {
		if f.Derived {
			continue
		}
		for _, t := range append([]string{f.Name, f.TitleZh}, f.Aliases...) {
			k := titleKey(t)
			if prev, dup := idx[k]; dup && prev != f.Name {
				panic(fmt.Sprintf("dataset %s: column title %q maps to %s and %s", d.Name, t, prev, f.Name))
			}
			idx[k] = f.Name
		}
	}
	d.titles = idx
	return idx
}

// MatchColumn returns the field a source column maps to by default, and the unit named in
// the title's brackets ("" when none).
func (d *Dataset) MatchColumn(col string) (field, unit string) {
	idx := d.titleIndex()
	k := titleKey(col)
	if f, ok := idx[k]; ok {
		_, u := splitUnit(k)
		return f, u
	}
	base, u := splitUnit(k)
	if f, ok := idx[base]; ok {
		return f, u
	}
	return "", ""
}

// colMap is a resolved mapping of one source's columns.
type colMap struct {
	fields  []int    // column index → field index in ds.Fields, -1 when ignored
	units   []string // column index → unit from the title
	ignored []string // columns matched to no field
}

// resolve maps columns (in order) to fields. Several columns may feed one field; the first
// non-empty one wins.
func (d *Dataset) resolve(cols []string, m Mapping, cm *colMap) error {
	for i := len(cm.fields); i < len(cols); i++ {
		c := cols[i]
		name, unit := "", ""
		if f, ok := m[c]; ok {
			name = f
			if name != "-" {
				if _, ok := d.Field(name); !ok {
					return fmt.Errorf("映射中的字段 %q 不是数据集“%s”的字段", name, d.TitleZh)
				}
			}
			_, unit = splitUnit(titleKey(c))
		} else {
			name, unit = d.MatchColumn(c)
		}
		fi := -1
		if name != "" && name != "-" {
			for j := range d.Fields {
				if d.Fields[j].Name == name && !d.Fields[j].Derived {
					fi = j
				}
			}
		}
		if fi < 0 && name != "-" && strings.TrimSpace(c) != "" {
			cm.ignored = append(cm.ignored, c)
		}
		cm.fields = append(cm.fields, fi)
		cm.units = append(cm.units, unit)
	}
	return nil
}

// missingRequired lists required fields that no column provides and that cannot be filled
// otherwise (default value, derivation, region from the credit code).
func (d *Dataset) missingRequired(cm *colMap) []string {
	have := map[int]bool{}
	for _, fi := range cm.fields {
		if fi >= 0 {
			have[fi] = true
		}
	}
	var out []string
	for i, f := range d.Fields {
		if !f.Required || have[i] || f.Default != "" || f.Derived {
			continue
		}
		if f.Name == ColRegion {
			derivable := false
			for _, rf := range d.regionFrom {
				for j := range d.Fields {
					if d.Fields[j].Name == rf && have[j] {
						derivable = true
					}
				}
			}
			if derivable {
				continue
			}
		}
		names := append([]string{f.TitleZh}, f.Aliases...)
		if len(names) > 4 {
			names = names[:4]
		}
		out = append(out, fmt.Sprintf("%s（可用列名：%s 或 %s）", f.TitleZh, strings.Join(names, "、"), f.Name))
	}
	sort.Strings(out)
	return out
}

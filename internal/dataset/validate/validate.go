// Package validate checks and normalises the identifiers and values found in market-regulation
// data: unified social credit codes (GB 32100-2015), citizen ID numbers (GB 11643-1999),
// GB/T 2260 region codes, industrial product licence numbers, mobile numbers and dates.
//
// Every validator returns a Result. Errors make a value invalid; warnings flag values that are
// acceptable but worth a data-quality note. Issue codes are stable English identifiers; messages
// are Chinese and meant for end users.
package validate

import (
	"strings"
	"unicode"
)

// Issue is one problem found in a value.
type Issue struct {
	Code    string `json:"code"`    // stable snake_case identifier, e.g. "uscc_check_char"
	Message string `json:"message"` // Chinese, for display
}

// Result is the outcome of validating one value.
type Result struct {
	Valid      bool              `json:"valid"`
	Normalized string            `json:"normalized,omitempty"` // canonical form; set only when Valid
	Errors     []Issue           `json:"errors,omitempty"`
	Warnings   []Issue           `json:"warnings,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
}

// Issue codes. They are part of the API: rules and stored results refer to them.
const (
	CodeUSCCEmpty         = "uscc_empty"
	CodeUSCCLength        = "uscc_length"
	CodeUSCCCharset       = "uscc_charset"
	CodeUSCCRegDept       = "uscc_reg_dept"
	CodeUSCCEntityType    = "uscc_entity_type"
	CodeUSCCRegionFormat  = "uscc_region_format"
	CodeUSCCRegionUnknown = "uscc_region_unknown"
	CodeUSCCOrgCheck      = "uscc_org_check"
	CodeUSCCCheckChar     = "uscc_check_char"
	CodeUSCCLegacy        = "uscc_legacy"

	CodeIDEmpty         = "id_empty"
	CodeIDLength        = "id_length"
	CodeIDFormat        = "id_format"
	CodeIDCheck         = "id_check"
	CodeIDBirthInvalid  = "id_birth_invalid"
	CodeIDBirthFuture   = "id_birth_future"
	CodeIDBirthTooEarly = "id_birth_too_early"
	CodeIDRegionInvalid = "id_region_invalid"
	CodeIDRegionUnknown = "id_region_unknown"
	CodeIDLegacy        = "id_legacy"

	CodeRegionEmpty           = "region_empty"
	CodeRegionFormat          = "region_format"
	CodeRegionInvalidProvince = "region_invalid_province"
	CodeRegionUnknown         = "region_unknown"
	CodeRegionHistorical      = "region_historical"
	CodeRegionOutside         = "region_outside_shaanxi"

	CodeLicenceEmpty    = "licence_empty"
	CodeLicenceFormat   = "licence_format"
	CodeLicenceProvince = "licence_province"

	CodeMobileEmpty  = "mobile_empty"
	CodeMobileFormat = "mobile_format"
	CodeMobileLength = "mobile_length"
	CodeMobilePrefix = "mobile_prefix"

	CodeDateEmpty      = "date_empty"
	CodeDateFormat     = "date_format"
	CodeDateInvalid    = "date_invalid"
	CodeDateOutOfRange = "date_out_of_range"
	CodeDateFuture     = "date_future"
)

// Keys used in Result.Extra.
const (
	ExtraLegacy        = "legacy"         // "true" for 15-digit registration or ID numbers
	ExtraRegion        = "region"         // region code as written in the value
	ExtraRegionCurrent = "region_current" // current Shaanxi code of a current or historical code
	ExtraRegionName    = "region_name"    // name of the region code as written
	ExtraRegionScope   = "region_scope"   // shaanxi | national | outside_shaanxi | unknown
	ExtraRegionLevel   = "level"          // province | city | county
	ExtraParentCode    = "parent_code"    // GB/T 2260 parent
	ExtraReportingUnit = "reporting_unit" // one of the 12 reporting-unit codes
	ExtraUnitName      = "unit_name"      // reporting-unit display name
	ExtraOldCode       = "old_code"       // historical region code that was mapped
	ExtraOldName       = "old_name"       // its former name
	ExtraRegDept       = "reg_dept"       // USCC position 1
	ExtraEntityType    = "entity_type"    // USCC positions 1–2, e.g. "91"
	ExtraEntityName    = "entity_name"    // e.g. 企业
	ExtraOrgCode       = "org_code"       // USCC positions 9–17
	ExtraBirthDate     = "birth_date"     // YYYY-MM-DD
	ExtraSex           = "sex"            // SexMale | SexFemale
	ExtraID18          = "id18"           // 18-digit form of a 15-digit ID
	ExtraProvince      = "province"       // licence province abbreviation
	ExtraIssuer        = "issuer"         // licence issuer: provincial | national
	ExtraIndustry      = "industry"       // licence industry code
	ExtraProduct       = "product"        // licence product code
	ExtraSerial        = "serial"         // licence serial
	ExtraHasTime       = "has_time"       // "true" when a date carried a time of day
	ExtraDateSource    = "source"         // "excel_serial" for Excel day numbers
)

// Values of Extra["region_scope"].
const (
	scopeShaanxi  = "shaanxi"
	scopeNational = "national"
	scopeOutside  = "outside_shaanxi"
	scopeUnknown  = "unknown"
	extraTrue     = "true"
)

func (r *Result) addError(code, msg string) {
	r.Errors = append(r.Errors, Issue{Code: code, Message: msg})
}

func (r *Result) addWarning(code, msg string) {
	r.Warnings = append(r.Warnings, Issue{Code: code, Message: msg})
}

func (r *Result) set(k, v string) {
	if r.Extra == nil {
		r.Extra = map[string]string{}
	}
	r.Extra[k] = v
}

// HasError reports whether r carries an error with the given code.
func (r Result) HasError(code string) bool { return hasIssue(r.Errors, code) }

// HasWarning reports whether r carries a warning with the given code.
func (r Result) HasWarning(code string) bool { return hasIssue(r.Warnings, code) }

func hasIssue(list []Issue, code string) bool {
	for _, i := range list {
		if i.Code == code {
			return true
		}
	}
	return false
}

// finish sets Valid and Normalized from the collected errors.
func (r Result) finish(normalized string) Result {
	r.Valid = len(r.Errors) == 0
	if r.Valid {
		r.Normalized = normalized
	} else {
		r.Normalized = ""
	}
	return r
}

func fail(code, msg string) Result {
	var r Result
	r.addError(code, msg)
	return r
}

// fold maps full-width ASCII variants to ASCII, the ideographic space to a space, common dash
// look-alikes to '-', drops zero-width characters and trims surrounding white space.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch {
		case c >= 0xFF01 && c <= 0xFF5E:
			c -= 0xFEE0
		case c == 0x3000 || c == 0x00A0:
			c = ' '
		case c == 0x2010 || c == 0x2011 || c == 0x2012 || c == 0x2013 || c == 0x2014 || c == 0x2212 || c == 0xFE63:
			c = '-'
		case c == 0x200B || c == 0x200C || c == 0x200D || c == 0x2060 || c == 0xFEFF:
			continue
		}
		b.WriteRune(c)
	}
	return strings.TrimFunc(b.String(), unicode.IsSpace)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote shows a user-supplied fragment in a message, shortened.
func quote(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return "“" + s + "”"
}

package iam

import (
	"strings"

	"zhsj/internal/dataset/validate"
)

// NormalizeIDNo checks a citizen identity number (身份证号, GB 11643: length, birth date,
// region prefix and the ISO 7064 MOD 11-2 check character) and returns its canonical form:
// full-width characters folded, surrounding space trimmed, a lower-case x upper-cased, and an
// old 15-digit number converted to its 18-digit form, so that the same person gives the same
// blind index however the number was written. The error message is for people (Chinese).
//
// Single sign-on binds partner users by it (sso.RuleIDNo), so both sides normalise here.
func NormalizeIDNo(s string) (string, error) {
	r := validate.CitizenID(s)
	if !r.Valid {
		msgs := make([]string, 0, len(r.Errors))
		for _, e := range r.Errors {
			msgs = append(msgs, e.Message)
		}
		if len(msgs) == 0 {
			msgs = append(msgs, "身份证号码无效")
		}
		return "", idNoError(strings.Join(msgs, "；"))
	}
	if id18 := r.Extra[validate.ExtraID18]; id18 != "" {
		return id18, nil
	}
	return r.Normalized, nil
}

type idNoError string

func (e idNoError) Error() string { return string(e) }

// MaskIDNo shows the first six (the region) and last four characters of a normalised ID
// number, as the data hub masks ID numbers: 610102********1234.
func MaskIDNo(id string) string {
	if len(id) < 15 {
		return ""
	}
	return id[:6] + strings.Repeat("*", len(id)-10) + id[len(id)-4:]
}

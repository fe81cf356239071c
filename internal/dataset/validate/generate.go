package validate

import (
	"fmt"
	"strings"
	"time"
)

// MakeUSCC builds an 18-character unified social credit code from the registration department
// (e.g. '9'), entity category (e.g. '1'), six-digit region code and the 8-character body of the
// organisation code, computing the GB 11714 check digit (position 17) and the GB 32100 check
// character (position 18). Letters are upper-cased. It panics on malformed input; it is meant for
// tests and demo data.
func MakeUSCC(regCode byte, typeCode byte, region string, orgBody string) string {
	head := strings.ToUpper(string([]byte{regCode, typeCode})) + region
	orgBody = strings.ToUpper(orgBody)
	if len(region) != 6 || !isDigits(region) {
		panic(fmt.Sprintf("validate.MakeUSCC: region %q is not 6 digits", region))
	}
	if len(orgBody) != 8 {
		panic(fmt.Sprintf("validate.MakeUSCC: organisation body %q is not 8 characters", orgBody))
	}
	body := head + orgBody
	body += string(orgCheck(orgBody))
	vals := make([]int, 17)
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccCharset, body[i])
		if v < 0 {
			panic(fmt.Sprintf("validate.MakeUSCC: %q is not in the GB 32100 character set", body[i]))
		}
		vals[i] = v
	}
	return body + string(usccCheck(vals))
}

// MakeCitizenID builds an 18-digit citizen ID number for a six-digit region code and birth date.
// seq (taken mod 1000) is the 3-digit order code; its last digit is adjusted by one, if needed,
// to be odd for males and even for females. It panics on a malformed region.
func MakeCitizenID(region string, birth time.Time, seq int, male bool) string {
	if len(region) != 6 || !isDigits(region) {
		panic(fmt.Sprintf("validate.MakeCitizenID: region %q is not 6 digits", region))
	}
	seq %= 1000
	if seq < 0 {
		seq += 1000
	}
	if (seq%2 == 1) != male {
		seq ^= 1
	}
	body := fmt.Sprintf("%s%04d%02d%02d%03d", region, birth.Year(), int(birth.Month()), birth.Day(), seq)
	if len(body) != 17 {
		panic(fmt.Sprintf("validate.MakeCitizenID: birth year %d out of range", birth.Year()))
	}
	return body + string(idCheck(body))
}

package quality

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"zhsj/internal/dataset/validate"
)

// Validators that need Go logic are pushed down into SQL as functions with the same name and
// meaning on both databases, so that every row-level rule of a dataset is one expression in
// one scan:
//
//	zhsj_uscc_valid(text)   GB 32100-2015 unified social credit code (legacy 15-digit accepted)
//	zhsj_id_valid(text)     GB 11643-1999 citizen ID number (check digit, birth date, province)
//	zhsj_region_valid(text) GB/T 2260 region code (current and historical Shaanxi codes)
//
// On SQLite they are Go functions registered with the driver (below) that give exactly the
// verdict of internal/dataset/validate; an allocation-free fast path handles the usual
// upper-case ASCII input and anything else falls back to the validator itself. On PostgreSQL
// they are SQL functions created by migration 0020 (inlined by the planner on the fast path);
// TestSQLFunctionsMatchValidators checks both against the validators on a generated corpus.
// Values NULL give NULL, so rules treat them as not applicable.
func init() {
	det := func(name string, f func(string) bool) {
		sqlite.MustRegisterFunction(name, &sqlite.FunctionImpl{NArgs: 1, Deterministic: true, VolatileArgs: true,
			Scalar: func(ctx *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
				s, ok := textArg(args[0])
				if !ok {
					return nil, nil
				}
				return f(s), nil
			}})
	}
	det("zhsj_uscc_valid", usccValid)
	det("zhsj_id_valid", idValid)
	det("zhsj_region_valid", regionValid)
	// zhsj_today() is today's date in Beijing as YYYY-MM-DD, the form dates are stored in
	// (CURRENT_DATE is the UTC date on SQLite and the session's on PostgreSQL).
	sqlite.MustRegisterFunction("zhsj_today", &sqlite.FunctionImpl{NArgs: 0,
		Scalar: func(ctx *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			return time.Now().In(validate.CST).Format(time.DateOnly), nil
		}})
	// regexp(pattern, value) backs SQLite's "value REGEXP pattern" (Go RE2 syntax).
	sqlite.MustRegisterFunction("regexp", &sqlite.FunctionImpl{NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: func(ctx *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			p, ok1 := textArg(args[0])
			s, ok2 := textArg(args[1])
			if !ok1 || !ok2 {
				return nil, nil
			}
			re, err := compileCached(p)
			if err != nil {
				return nil, err
			}
			return re.MatchString(s), nil
		}})
	sqlite.MustRegisterFunction("zhsj_qagg", &sqlite.FunctionImpl{NArgs: -1, VolatileArgs: true,
		MakeAggregate: func(ctx sqlite.FunctionContext) (sqlite.AggregateFunction, error) { return &scanAgg{}, nil }})
}

func textArg(v driver.Value) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

var reCache sync.Map // pattern → *regexp.Regexp

func compileCached(p string) (*regexp.Regexp, error) {
	if v, ok := reCache.Load(p); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	reCache.Store(strings.Clone(p), re)
	return re, nil
}

// usccCharset and the weights are GB 32100-2015's (the validator's, for the fast path).
const usccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

var (
	usccValue   [256]int8 // charset value, -1 outside
	usccPrefix  [256][256]bool
	provinceOK  [100]bool
	idWeights   = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	regionMemo  sync.Map // six-digit code → bool
	regionCount int64
	regionMu    sync.Mutex
)

func init() {
	for i := range usccValue {
		usccValue[i] = -1
	}
	for i := 0; i < len(usccCharset); i++ {
		usccValue[usccCharset[i]] = int8(i)
	}
	// The department/category table lives in the validator: ask it once per pair.
	for i := 0; i < len(usccCharset); i++ {
		for j := 0; j < len(usccCharset); j++ {
			a, b := usccCharset[i], usccCharset[j]
			r := validate.USCC(string([]byte{a, b}) + strings.Repeat("0", 16))
			usccPrefix[a][b] = !r.HasError(validate.CodeUSCCRegDept) && !r.HasError(validate.CodeUSCCEntityType)
		}
	}
	for p := 10; p < 100; p++ {
		provinceOK[p] = validate.RegionCode(strconv.Itoa(p) + "0000").Valid
	}
}

// plain reports whether s consists only of bytes in [0-9A-Z] (plus X handled by callers).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// usccValid is validate.USCC(s).Valid.
func usccValid(s string) bool {
	if !plain(s) {
		return validate.USCC(s).Valid
	}
	if len(s) == 15 && digits(s) {
		return true
	}
	if len(s) != 18 {
		return false
	}
	sum := 0
	for i := 0; i < 18; i++ {
		v := usccValue[s[i]]
		if v < 0 {
			return false
		}
		if i < 17 {
			sum += int(v) * usccWeights[i]
		}
	}
	if !usccPrefix[s[0]][s[1]] || !digits(s[2:8]) {
		return false
	}
	return usccCharset[(31-sum%31)%31] == s[17]
}

// idValid is validate.CitizenID(s).Valid.
func idValid(s string) bool {
	if !plain(s) {
		return validate.CitizenID(s).Valid
	}
	var birth string
	switch len(s) {
	case 18:
		if !digits(s[:17]) || !(s[17] >= '0' && s[17] <= '9' || s[17] == 'X') {
			return false
		}
		sum := 0
		for i := 0; i < 17; i++ {
			sum += int(s[i]-'0') * idWeights[i]
		}
		if "10X98765432"[sum%11] != s[17] {
			return false
		}
		birth = s[6:14]
	case 15:
		if !digits(s) {
			return false
		}
		birth = "19" + s[6:12]
	default:
		return false
	}
	if !provinceOK[int(s[0]-'0')*10+int(s[1]-'0')] {
		return false
	}
	y, _ := strconv.Atoi(birth[:4])
	m, _ := strconv.Atoi(birth[4:6])
	d, _ := strconv.Atoi(birth[6:])
	if m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, validate.CST)
	if t.Day() != d || t.Month() != time.Month(m) {
		return false
	}
	return !t.After(time.Now().In(validate.CST))
}

const maxRegionMemo = 100000

// regionValid is validate.RegionCode(s).Valid, memoised for six-digit input (a dataset holds a
// few hundred distinct codes).
func regionValid(s string) bool {
	if len(s) != 6 || !digits(s) {
		return validate.RegionCode(s).Valid
	}
	if v, ok := regionMemo.Load(s); ok {
		return v.(bool)
	}
	ok := validate.RegionCode(s).Valid
	regionMu.Lock()
	if regionCount < maxRegionMemo {
		regionCount++
		regionMemo.Store(strings.Clone(s), ok)
	}
	regionMu.Unlock()
	return ok
}

// scanAgg is SQLite's side of the one-scan evaluation of a dataset's row-level rules: an
// aggregate over every row that counts, per region and rule, the rows each rule applies to and
// the rows that fail it, and keeps the first failing rows of each rule up to its cap. SQLite has
// no hash aggregation, so GROUP BY region would sort the whole table; this does it in one pass.
//
// Arguments: config JSON, region, one mask per chunk of up to rulesPerMask rules (two bits per
// rule: applies, fails), then — for failing rows only, else NULL — a JSON array of the key
// values followed by the value columns. It returns the scanResult as JSON.
type scanAgg struct {
	cfg   *scanConfig
	res   *scanResult
	index map[string]*regionCounts
}

// scanConfig describes the argument layout of zhsj_qagg.
type scanConfig struct {
	Rules  int      `json:"rules"`
	Chunks int      `json:"chunks"`
	Keys   int      `json:"keys"`
	Vals   int      `json:"vals"`
	Caps   []int    `json:"caps"`
	RVals  [][]int  `json:"rvals"`  // per rule, indexes into the value columns
	VNames []string `json:"vnames"` // names of the value columns
}

const rulesPerMask = 30

// regionCounts are the per-rule counts of one region: checked[i], failed[i].
type regionCounts struct {
	Rows    int64   `json:"rows"`
	Checked []int64 `json:"checked"`
	Failed  []int64 `json:"failed"`
}

// sample is one failing row kept for drill-down.
type sample struct {
	Key    []string           `json:"key"`
	Region string             `json:"region"`
	Vals   map[string]*string `json:"vals,omitempty"`
}

// scanResult is what one scan of a dataset yields.
type scanResult struct {
	Regions map[string]*regionCounts `json:"regions"`
	Samples [][]sample               `json:"samples"`
}

func (a *scanAgg) Step(ctx *sqlite.FunctionContext, args []driver.Value) error {
	if a.cfg == nil {
		s, _ := textArg(args[0])
		var c scanConfig
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return fmt.Errorf("zhsj_qagg config: %w", err)
		}
		if len(args) != 3+c.Chunks || len(c.Caps) != c.Rules || len(c.RVals) != c.Rules || len(c.VNames) != c.Vals {
			return fmt.Errorf("zhsj_qagg: %d arguments do not match the config", len(args))
		}
		a.cfg = &c
		a.res = &scanResult{Regions: map[string]*regionCounts{}, Samples: make([][]sample, c.Rules)}
		a.index = a.res.Regions
	}
	c := a.cfg
	region, _ := textArg(args[1])
	rc := a.index[region]
	if rc == nil {
		rc = &regionCounts{Checked: make([]int64, c.Rules), Failed: make([]int64, c.Rules)}
		a.index[strings.Clone(region)] = rc
	}
	rc.Rows++
	var cells []any // the failing row's key and values, decoded on first need
	for ch := 0; ch < c.Chunks; ch++ {
		m, _ := args[2+ch].(int64)
		base := ch * rulesPerMask
		for m != 0 {
			b := lowBit(m)
			i := base + b/2
			if b%2 == 0 {
				rc.Checked[i]++
				m &^= 1 << b
				continue
			}
			m &^= 1 << b
			rc.Failed[i]++
			if len(a.res.Samples[i]) >= c.Caps[i] {
				continue
			}
			if cells == nil {
				s, ok := textArg(args[2+c.Chunks])
				dec := json.NewDecoder(strings.NewReader(s))
				dec.UseNumber()
				if !ok || dec.Decode(&cells) != nil || len(cells) != c.Keys+c.Vals {
					return fmt.Errorf("zhsj_qagg: bad row values")
				}
			}
			a.res.Samples[i] = append(a.res.Samples[i], a.sampleOf(i, region, cells))
		}
	}
	return nil
}

func (a *scanAgg) sampleOf(rule int, region string, cells []any) sample {
	c := a.cfg
	s := sample{Region: strings.Clone(region), Key: make([]string, c.Keys)}
	for i := 0; i < c.Keys; i++ {
		if v := jsonCell(cells[i]); v != nil {
			s.Key[i] = *v
		}
	}
	if len(c.RVals[rule]) > 0 {
		s.Vals = map[string]*string{}
		for _, vi := range c.RVals[rule] {
			s.Vals[c.VNames[vi]] = jsonCell(cells[c.Keys+vi])
		}
	}
	return s
}

// jsonCell turns a decoded json_array element into its text.
func jsonCell(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		s = string(b)
	}
	return &s
}

func lowBit(m int64) int { return bits.TrailingZeros64(uint64(m)) }

func (a *scanAgg) WindowInverse(ctx *sqlite.FunctionContext, args []driver.Value) error {
	return fmt.Errorf("zhsj_qagg is not a window function")
}

func (a *scanAgg) WindowValue(ctx *sqlite.FunctionContext) (driver.Value, error) {
	res := a.res
	if res == nil {
		res = &scanResult{Regions: map[string]*regionCounts{}}
	}
	b, err := json.Marshal(res)
	return string(b), err
}

func (a *scanAgg) Final(ctx *sqlite.FunctionContext) {}

package quality

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// corpus builds credit codes, ID numbers and region codes: valid ones from the generators and
// mutations of them (one character changed, lower case, surrounding or full-width characters,
// legacy lengths, impossible dates, unknown regions).
func corpus(n int) (usccs, ids, regions []string) {
	rng := rand.New(rand.NewSource(7))
	regionPool := []string{"610102", "610113", "610302", "610403", "610581", "611026", "610121", "612102", "619999", "110101",
		"990101", "610000", "000000", "61010", "6101021", "61O102", " 610102", "６１０１０２", "100000", "440524"}
	const cs = "0123456789ABCDEFGHJKLMNPQRTUWXYZIOSVabcx-"
	mutate := func(s string) string {
		b := []byte(s)
		switch rng.Intn(9) {
		case 0:
			b[rng.Intn(len(b))] = cs[rng.Intn(len(cs))]
		case 1:
			return strings.ToLower(s)
		case 2:
			return " " + s + "\u3000"
		case 3:
			return strings.Map(func(r rune) rune {
				if r < 0x7f && r > 0x20 {
					return r + 0xFEE0
				}
				return r
			}, s)
		case 4:
			return s[:len(s)-1]
		case 5:
			return s + "0"
		case 6:
			if len(s) > 8 {
				return s[:6] + s[8:]
			}
		case 7:
			i := rng.Intn(len(b) - 1)
			b[i], b[i+1] = b[i+1], b[i]
		}
		return string(b)
	}
	for i := 0; i < n; i++ {
		reg := regionPool[rng.Intn(8)]
		body := fmt.Sprintf("%08d", rng.Intn(1e8))
		if rng.Intn(3) == 0 {
			body = "MA" + body[:6]
		}
		dept := []byte("9915NY")[rng.Intn(6)]
		typ := []byte("1239")[rng.Intn(4)]
		u := validate.MakeUSCC(dept, typ, reg, body)
		usccs = append(usccs, u, mutate(u))
		birth := time.Date(1900+rng.Intn(130), time.Month(1+rng.Intn(12)), 1+rng.Intn(31), 0, 0, 0, 0, time.UTC)
		id := validate.MakeCitizenID(regionPool[rng.Intn(10)], birth, rng.Intn(1000), rng.Intn(2) == 0)
		ids = append(ids, id, mutate(id), id[:6]+id[8:17])
		regions = append(regions, regionPool[rng.Intn(len(regionPool))], mutate(regionPool[rng.Intn(10)]))
	}
	usccs = append(usccs, "", " ", "123456789012345", "91610000MA6TG1XX8Q", strings.Repeat("9", 18))
	ids = append(ids, "", "11010519491231002X", "440524188001010014", "610102199001011234", "11010519491231002x", "110105194902300021")
	regions = append(regions, "", "61", "abcdef")
	return
}

// TestSQLFunctionsMatchValidators checks that zhsj_uscc_valid, zhsj_id_valid and
// zhsj_region_valid give exactly the validators' verdicts on both databases.
func TestSQLFunctionsMatchValidators(t *testing.T) {
	t.Parallel()
	usccs, ids, regions := corpus(1500)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := New(db, Catalog{}, Options{}); err != nil {
			t.Fatal(err)
		}
		m, _ := New(db, Catalog{}, Options{})
		if err := m.Init(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			fn     string
			values []string
			want   func(string) bool
		}{
			{"zhsj_uscc_valid", usccs, func(s string) bool { return validate.USCC(s).Valid }},
			{"zhsj_id_valid", ids, func(s string) bool { return validate.CitizenID(s).Valid }},
			{"zhsj_region_valid", regions, func(s string) bool { return validate.RegionCode(s).Valid }},
			{"engine:region", regions, func(s string) bool { return validate.RegionCode(s).Valid }},
		} {
			mismatches, valid := 0, 0
			for start := 0; start < len(c.values); start += 500 {
				chunk := c.values[start:min(start+500, len(c.values))]
				expr := c.fn + "(v)"
				if c.fn == "engine:region" {
					expr = regionValidExpr(db.Dialect(), "v")
				}
				q := "SELECT v, " + expr + " FROM (" + strings.TrimPrefix(strings.Repeat(" UNION ALL SELECT ?", len(chunk)), " UNION ALL") + ") s(v)"
				if db.Dialect() == store.SQLite {
					q = "WITH s(v) AS (" + strings.TrimPrefix(strings.Repeat(" UNION ALL SELECT ?", len(chunk)), " UNION ALL") + ") SELECT v, " + expr + " FROM s"
				} else {
					q = strings.Replace(q, "SELECT ?", "SELECT CAST(? AS TEXT)", -1)
				}
				args := make([]any, len(chunk))
				for i, v := range chunk {
					args[i] = v
				}
				rows, err := db.Query(ctx, q, args...)
				if err != nil {
					t.Fatalf("%s: %v", c.fn, err)
				}
				for rows.Next() {
					var v string
					var got bool
					if err := rows.Scan(&v, &got); err != nil {
						t.Fatal(err)
					}
					if got {
						valid++
					}
					if want := c.want(v); got != want {
						mismatches++
						if mismatches < 10 {
							t.Errorf("%s(%q) = %v, validator says %v", c.fn, v, got, want)
						}
					}
				}
				rows.Close()
			}
			if valid == 0 || valid == len(c.values) {
				t.Errorf("%s: corpus not mixed (%d of %d valid)", c.fn, valid, len(c.values))
			}
		}
		// NULL stays NULL: not applicable.
		var n *bool
		if err := db.QueryRow(ctx, `SELECT zhsj_uscc_valid(NULL)`).Scan(&n); err != nil || n != nil {
			t.Errorf("NULL: %v %v", n, err)
		}
	})
}

// TestFastPathsMatchValidators checks the Go fast paths on many more values than the SQL test.
func TestFastPathsMatchValidators(t *testing.T) {
	t.Parallel()
	usccs, ids, regions := corpus(20000)
	for _, s := range usccs {
		if usccValid(s) != validate.USCC(s).Valid {
			t.Fatalf("usccValid(%q)", s)
		}
	}
	for _, s := range ids {
		if idValid(s) != validate.CitizenID(s).Valid {
			t.Fatalf("idValid(%q)", s)
		}
	}
	for _, s := range regions {
		if regionValid(s) != validate.RegionCode(s).Valid {
			t.Fatalf("regionValid(%q)", s)
		}
	}
}

func FuzzUSCCFastPath(f *testing.F) {
	for _, s := range []string{"91610000MA6TG1XX8Q", "123456789012345", validate.MakeUSCC('9', '1', "610102", "MA000001")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if usccValid(s) != validate.USCC(s).Valid {
			t.Fatalf("usccValid(%q)", s)
		}
		if idValid(s) != validate.CitizenID(s).Valid {
			t.Fatalf("idValid(%q)", s)
		}
	})
}

// TestTodayIsBeijingDate: zhsj_today() gives the Beijing date on both databases (CURRENT_DATE
// is the UTC date on SQLite, the session's on PostgreSQL: a day off between 00:00 and 08:00).
func TestTodayIsBeijingDate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m, _ := New(db, Catalog{}, Options{})
		if err := m.Init(ctx, nil); err != nil {
			t.Fatal(err)
		}
		before := time.Now().In(validate.CST).Format(time.DateOnly)
		var got string
		if err := db.Get(ctx, &got, `SELECT zhsj_today()`); err != nil {
			t.Fatal(err)
		}
		after := time.Now().In(validate.CST).Format(time.DateOnly)
		if got != before && got != after {
			t.Errorf("zhsj_today() = %s, Beijing date %s", got, before)
		}
		if db.Dialect() != store.Postgres {
			return
		}
		// Whatever the session's time zone: at any hour but 17–18 in Beijing one of these two
		// zones is on another date, which CURRENT_DATE would give.
		for _, zone := range []string{"Pacific/Kiritimati", "America/Anchorage"} {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = '`+zone+`'`); err != nil {
					return err
				}
				return tx.Get(ctx, &got, `SELECT zhsj_today()`)
			})
			now := time.Now().In(validate.CST).Format(time.DateOnly)
			if err != nil || (got != before && got != now) {
				t.Errorf("session zone %s: zhsj_today() = %s (%v), Beijing date %s", zone, got, err, now)
			}
		}
	})
}

package dataset

import (
	"strings"
	"testing"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// TestSearchBySealedValue: the record search finds sealed ID and mobile numbers by their
// exact value (through the blind index, normalised as ingestion normalises), never by a part
// of them, and only within the caller's scope.
func TestSearchBySealedValue(t *testing.T) {
	t.Parallel()
	ebike := "整车编码,品牌,登记日期,所有人身份证号,联系电话,行政区划代码\n" +
		"F001,雅迪,2024-01-02," + idYT + ",13912345678,610113\n" +
		"F002,爱玛,2024-01-03,,13800000000,610302\n"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ingest(t, m, "ent.csv", "enterprise", toCSV(entHeader, entRows()[:5]))
		ingest(t, m, "ebike.csv", "ebike", ebike)
		prov, bj := principal(t, db, "prov", "610000"), principal(t, db, "bj", "610300")
		search := func(t *testing.T, who string, ds, q string) []string {
			t.Helper()
			p := prov
			if who == "bj" {
				p = bj
			}
			d, _ := Get(ds)
			recs, total, err := m.ListRecords(ctx, p, d, RecordFilter{Q: q}, web.Page{Page: 1, Size: 50})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range recs {
				keys = append(keys, r.Values[d.Key[0]].(string))
			}
			if total != len(keys) {
				t.Fatalf("total %d, page %v", total, keys)
			}
			return keys
		}
		for _, c := range []struct {
			who, ds, q, want string
		}{
			{"prov", "enterprise", idYT, usccYT},
			{"prov", "enterprise", strings.ToLower(idYT), usccYT}, // x is read as X
			{"prov", "enterprise", idWrong, usccCZ},               // stored as written, flagged
			{"prov", "enterprise", idYT[:14], ""},                 // no search by part
			{"bj", "enterprise", idYT, ""},                        // out of scope
			{"prov", "ebike", idYT, "F001"},
			{"prov", "ebike", "13800000000", "F002"},
			{"bj", "ebike", "13800000000", "F002"},
			{"prov", "ebike", "1380000", ""},
			{"prov", "enterprise", "西安雁塔", usccYT}, // names still match by part
		} {
			got := strings.Join(search(t, c.who, c.ds, c.q), ",")
			if got != c.want {
				t.Errorf("%s searching %s for %q: got %q, want %q", c.who, c.ds, c.q, got, c.want)
			}
		}
	})
}

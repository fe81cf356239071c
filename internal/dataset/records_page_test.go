package dataset

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"testing"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// TestPagesThroughIDs: a county's rows, spread over the table, are listed through their ids
// (pageIDs) with the same pages, in the same order, as a plain query; a scope without rows,
// and a page past the end, answer empty with the right total.
func TestPagesThroughIDs(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"统一社会信用代码", "企业名称", "主体类型", "成立日期", "行政区划代码", "登记状态"})
	for i := 0; i < 1500; i++ {
		region := "610102" // 新城区: the bulk
		if i%50 == 7 {
			region = "610113" // 雁塔区: 30 rows spread over the table
		}
		w.Write([]string{validate.MakeUSCC('9', '1', region, fmt.Sprintf("T%07d", i)), fmt.Sprintf("稀疏测试%d有限公司", i), "1130", "2010-01-01", region, "存续"})
	}
	w.Flush()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ingest(t, m, "sparse.csv", "enterprise", b.String())
		d, _ := Get("enterprise")
		list := func(region string, f RecordFilter, page, size int) ([]int64, int) {
			t.Helper()
			recs, total, err := m.ListRecords(ctx, principal(t, db, "u"+region, region), d, f, web.Page{Page: page, Size: size})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			return ids, total
		}
		var want []int64
		if err := db.Select(ctx, &want, `SELECT id FROM ds_enterprise WHERE region_code = '610113' ORDER BY id DESC`); err != nil || len(want) != 30 {
			t.Fatalf("雁塔区 rows: %d %v", len(want), err)
		}
		var got []int64
		for page := 1; page <= 3; page++ {
			ids, total := list("610113", RecordFilter{}, page, 12)
			if total != 30 || len(ids) != min(12, 30-(page-1)*12) {
				t.Fatalf("page %d: %v of %d", page, ids, total)
			}
			got = append(got, ids...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("雁塔区 pages %v, want %v", got, want)
		}
		// With a filter too, and for the province (many rows: the plain query).
		if ids, total := list("610113", RecordFilter{Q: "稀疏测试7有限公司"}, 1, 10); total != 1 || len(ids) != 1 {
			t.Fatalf("search in 雁塔区: %v of %d", ids, total)
		}
		if ids, total := list("610000", RecordFilter{}, 2, 100); total != 1500 || len(ids) != 100 || ids[0] <= ids[99] {
			t.Fatalf("province page 2: %d ids of %d", len(ids), total)
		}
		if ids, total := list("610302", RecordFilter{}, 1, 10); total != 0 || ids != nil {
			t.Fatalf("宝鸡 (no rows): %v of %d", ids, total)
		}
		if ids, total := list("610113", RecordFilter{}, 4, 10); total != 30 || ids != nil {
			t.Fatalf("past the end: %v of %d", ids, total)
		}
		// A text search in a region holding most of the table reads the table in order on
		// SQLite (largeScope), with the same answer.
		for _, c := range []struct {
			region string
			large  bool
		}{{"610102", true}, {"610100", true}, {"610113", false}, {"610000", false}} {
			large, err := m.largeScope(ctx, principal(t, db, "u"+c.region, c.region), d)
			if want := c.large && db.Dialect() == store.SQLite; err != nil || large != want {
				t.Errorf("largeScope(%s) = %v %v, want %v", c.region, large, err, want)
			}
		}
		var wantIDs []int64
		db.Select(ctx, &wantIDs, `SELECT id FROM ds_enterprise WHERE region_code = '610102' AND name LIKE '%测试14%' ORDER BY id DESC`)
		if ids, total := list("610102", RecordFilter{Q: "测试14"}, 1, 100); total != len(wantIDs) || total < 100 || !slices.Equal(ids, wantIDs[:100]) {
			t.Fatalf("search in 新城区: %d of %d, want %d", len(ids), total, len(wantIDs))
		}
	})
}

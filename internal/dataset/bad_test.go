package dataset

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestBadFiles runs every file of testdata/bad (see its README) and checks the outcome:
// refused with a clear Chinese reason and nothing written, or committed with the bad
// records quarantined by reason.
func TestBadFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, encoding, dataset                string
		status                                 string
		read, upserted, unchanged, quarantined int64
		errContains, noteContains              string
		issues                                 []string
	}{
		{file: "gbk.csv", status: StatusCommitted, read: 3, upserted: 3},
		{file: "gbk.csv", encoding: "utf-8", status: StatusFailed, errContains: "GBK"},
		{file: "bom.csv", status: StatusCommitted, read: 2, upserted: 2},
		{file: "quoted-newlines.csv", status: StatusCommitted, read: 3, upserted: 3},
		{file: "missing-columns.csv", status: StatusFailed, errContains: "缺少必需的列：企业名称"},
		{file: "extra-columns.csv", status: StatusCommitted, read: 2, upserted: 2, noteContains: "备注、内部编号"},
		{file: "invalid-codes.csv", status: StatusCommitted, read: 5, upserted: 1, quarantined: 4,
			issues: []string{validate.CodeUSCCCheckChar, validate.CodeUSCCLength, validate.CodeRegionUnknown, IssueRegionOutside}},
		{file: "duplicate-keys.csv", status: StatusCommitted, read: 4, upserted: 2, unchanged: 1, quarantined: 1, issues: []string{IssueDuplicateKey}},
		{file: "future-dates.csv", status: StatusCommitted, read: 2, upserted: 1, quarantined: 1, issues: []string{validate.CodeDateFuture}},
		{file: "truncated.csv", status: StatusCommitted, read: 4, upserted: 3, quarantined: 1, issues: []string{IssueUnparseable}},
		{file: "truncated-row.csv", status: StatusCommitted, read: 4, upserted: 3, quarantined: 1, issues: []string{IssueUnparseable}},
		{file: "empty.csv", status: StatusFailed, errContains: "文件为空"},
		{file: "header-only.csv", status: StatusCommitted},
		{file: "truncated.json", status: StatusCommitted, read: 3, upserted: 2, quarantined: 1, issues: []string{IssueUnparseable}},
		{file: "bad-line.ndjson", status: StatusCommitted, read: 3, upserted: 2, quarantined: 1, issues: []string{IssueUnparseable}},
		{file: "good.xlsx", status: StatusCommitted, read: 3, upserted: 3},
		{file: "truncated.xlsx", status: StatusFailed, errContains: "无法打开 Excel 文件（文件损坏"},
		{file: "binary.csv", status: StatusFailed, errContains: "不是文本格式"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ds, _ := Get("enterprise")
		for _, c := range cases {
			before := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`)
			f, err := os.Open(filepath.Join("testdata", "bad", c.file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Ingest(ctx, f, Options{Dataset: "enterprise", SourceName: c.file, Encoding: c.encoding})
			f.Close()
			name := c.file + "/" + c.encoding
			if res == nil {
				t.Errorf("%s: no result: %v", name, err)
				continue
			}
			if res.Status != c.status || (err != nil) != (c.status == StatusFailed) {
				t.Errorf("%s: status %s err %v, want %s", name, res.Status, err, c.status)
				continue
			}
			if c.status == StatusFailed {
				if !strings.Contains(res.Error, c.errContains) {
					t.Errorf("%s: error %q, want %q", name, res.Error, c.errContains)
				}
				if after := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`); after != before {
					t.Errorf("%s: a refused file wrote %d rows", name, after-before)
				}
				var ev FailedEvent
				lastEvent(t, db, EventFailed, &ev)
				if ev.RunID != res.RunID {
					t.Errorf("%s: no failed event", name)
				}
				continue
			}
			// Reruns of the same content find it unchanged: judge new rows only the first time.
			if res.Read != c.read || res.Quarantined != c.quarantined || res.Upserted+res.Unchanged != c.upserted+c.unchanged {
				t.Errorf("%s: %+v, want read %d upserted %d unchanged %d quarantined %d", name, res, c.read, c.upserted, c.unchanged, c.quarantined)
			}
			if c.noteContains != "" && !strings.Contains(strings.Join(res.Notes, "\n"), c.noteContains) {
				t.Errorf("%s: notes %v", name, res.Notes)
			}
			rows, _, _ := m.ListQuarantine(ctx, principal(t, db, "p", "610000"), ds, QuarantineFilter{RunID: res.RunID}, pageAll)
			got := map[string]bool{}
			for _, r := range rows {
				for _, e := range r.Errors {
					got[e.Code] = true
					if e.Message == "" {
						t.Errorf("%s: issue without a message: %+v", name, e)
					}
				}
			}
			for _, want := range c.issues {
				if !got[want] {
					t.Errorf("%s: no quarantine reason %s (have %v)", name, want, got)
				}
			}
		}
		// The quoted newline survived; the unparseable truncated record keeps its raw text.
		var addr string
		db.Get(ctx, &addr, `SELECT address FROM ds_enterprise WHERE name = '引号“测试”有限公司'`)
		if addr != "西安市雁塔区\n科技路 2 号\n3 单元" {
			t.Errorf("quoted newline address %q", addr)
		}
		rows, _, _ := m.ListQuarantine(ctx, principal(t, db, "p", "610000"), ds, QuarantineFilter{Q: ""}, pageAll)
		found := false
		for _, r := range rows {
			if strings.Contains(r.Values[rawKey], "截断有") {
				found = true
			}
		}
		if !found {
			t.Error("truncated record's raw text not kept")
		}
	})
}

// TestLargeFileStreams ingests a 50 MB file generated here (not committed) and checks that it
// is streamed: the heap stays far below the file size. Not parallel: the heap measured is the
// whole test process's, so it runs while no other test does.
func TestLargeFileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB")
	}
	path := filepath.Join(t.TempDir(), "large.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	w.Write([]string{"统一社会信用代码", "企业名称", "所属区域", "经营范围"})
	scope := strings.Repeat("技术开发、技术咨询、技术服务；", 1200) // ≈ 54 000 bytes, 18 000 characters
	rows := 0
	for size := int64(0); size < 50<<20; rows++ {
		rec := []string{validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("L%07d", rows)), fmt.Sprintf("大文件%d有限公司", rows), "雁塔区", scope}
		w.Write(rec)
		size += int64(len(scope) + 60)
	}
	w.Flush()
	bw.Flush()
	f.Close()
	st, _ := os.Stat(path)
	if st.Size() < 50<<20 {
		t.Fatalf("file is %d bytes", st.Size())
	}
	db := storetest.SQLite(t)
	m := newModule(t, db)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	in, _ := os.Open(path)
	defer in.Close()
	res, err := m.Ingest(ctx, in, Options{Dataset: "enterprise", SourceName: "large.csv", BytesTotal: st.Size()})
	close(stop)
	wg.Wait()
	if err != nil || res.Upserted != int64(rows) || res.Quarantined != 0 {
		t.Fatalf("large file: %+v %v", res, err)
	}
	if p := peak.Load(); p > 40<<20 {
		t.Errorf("heap in use peaked at %d MB for a %d MB file: not streamed", p>>20, st.Size()>>20)
	} else {
		t.Logf("%d rows, %d MB, heap peak %d MB", rows, st.Size()>>20, p>>20)
	}
}

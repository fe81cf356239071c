package dataset

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// Characters outside GBK that GB18030 encodes in four bytes, and two that it encodes in two.
// (䶮 U+4DAE is FE 9F in GB18030-2005 and in golang.org/x/text; characters whose mapping
// GB18030-2022 changed, such as U+E5E5 and U+9FB4, are left out on purpose.)
const (
	gbFour = "𠀀㐀𪚥𫠝ḿ" // U+20000, U+3400, U+2A6A5, U+2B81D, U+1E3F: four bytes each
	gbTwo  = "䶮€"    // U+4DAE (FE 9F), U+20AC (A2 E3)
)

func gb18030(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type gbEnt struct {
	USCC    string `db:"uscc"`
	Name    string `db:"name"`
	Legal   string `db:"legal_rep"`
	Address string `db:"address"`
}

func gbRows(t testing.TB, db *store.DB) map[string]gbEnt {
	t.Helper()
	var got []gbEnt
	if err := db.Select(ctx, &got, `SELECT uscc, name, COALESCE(legal_rep, '') AS legal_rep, COALESCE(address, '') AS address FROM ds_enterprise`); err != nil {
		t.Fatal(err)
	}
	out := map[string]gbEnt{}
	for _, e := range got {
		out[e.USCC] = e
	}
	return out
}

// TestGB18030FourByte loads a GB18030 CSV holding four-byte characters (CJK extension A and B,
// a Latin letter outside GBK) with the encoding detected and declared: every character is
// stored exactly, on both databases.
func TestGB18030FourByte(t *testing.T) {
	t.Parallel()
	header := []string{"统一社会信用代码", "企业名称", "法定代表人", "住所", "所属区域"}
	want := []gbEnt{
		{validate.MakeUSCC('9', '1', "610113", "GB180301"), gbFour + "科技有限公司", "刘" + gbTwo, "西安市" + gbFour + "路1号"},
		{validate.MakeUSCC('9', '1', "610113", "GB180302"), "𠀀", "𪚥", "ḿ"}, // a four-byte character alone in a field
		{validate.MakeUSCC('9', '1', "610113", "GB180303"), "陕西" + gbTwo + "商行", "张三", "雁塔区" + strings.Repeat("𫠝", 40)},
	}
	var rows [][]string
	for _, w := range want {
		rows = append(rows, []string{w.USCC, w.Name, w.Legal, w.Address, "610113"})
	}
	text := toCSV(header, rows)
	content := gb18030(t, text)
	if bytes.Contains(content, []byte("\xEF\xBB\xBF")) || bytes.IndexByte(content, 0) >= 0 {
		t.Fatal("unexpected encoded content")
	}
	if !bytes.Contains(content, []byte{0x95, 0x32, 0x82, 0x36}) { // U+20000 is four bytes
		t.Fatalf("U+20000 not encoded in four bytes")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		for _, c := range []struct{ encoding, source string }{
			{"", "GBK/GB18030（自动识别）"},
			{"auto", "GBK/GB18030（自动识别）"},
			{"gb18030", "GBK/GB18030"},
			{"GBK", "GBK/GB18030"}, // GBK is read as GB18030, its superset
		} {
			if _, err := db.Exec(ctx, `DELETE FROM ds_enterprise`); err != nil {
				t.Fatal(err)
			}
			res, err := m.Ingest(ctx, bytes.NewReader(content), Options{Dataset: "enterprise", SourceName: "gb18030.csv", Encoding: c.encoding})
			if err != nil || res.Status != StatusCommitted || res.Read != 3 || res.Upserted != 3 || res.Quarantined != 0 {
				t.Fatalf("encoding %q: %+v %v", c.encoding, res, err)
			}
			if !strings.Contains(res.Source, c.source) {
				t.Errorf("encoding %q: source %q, want %q", c.encoding, res.Source, c.source)
			}
			got := gbRows(t, db)
			for _, w := range want {
				if got[w.USCC] != w {
					t.Errorf("encoding %q: stored %+q, want %+q", c.encoding, got[w.USCC], w)
				}
			}
		}
		// A GBK (code page 936) file writes € as the single byte 0x80: it is read as €.
		cp936, err := simplifiedchinese.GBK.NewEncoder().String(toCSV(header, [][]string{{want[2].USCC, want[2].Name, "张三", "雁塔区", "610113"}}))
		if err != nil || !strings.Contains(cp936, "\x80") {
			t.Fatalf("cp936: %v", err)
		}
		for _, enc := range []string{"", "gbk"} {
			res, err := m.Ingest(ctx, strings.NewReader(cp936), Options{Dataset: "enterprise", SourceName: "cp936.csv", Encoding: enc})
			if err != nil || res.Read != 1 || res.Quarantined != 0 {
				t.Fatalf("cp936 %q: %+v %v", enc, res, err)
			}
			if got := gbRows(t, db)[want[2].USCC]; got.Name != want[2].Name || got.Address != "雁塔区" {
				t.Errorf("cp936 %q: stored %+q", enc, got)
			}
		}
		// Declared UTF-8 it is refused, not stored garbled.
		res, err := m.Ingest(ctx, bytes.NewReader(content), Options{Dataset: "enterprise", SourceName: "gb18030.csv", Encoding: "utf-8"})
		if err == nil || res.Status != StatusFailed || !strings.Contains(res.Error, "GBK") {
			t.Errorf("GB18030 declared UTF-8: %+v %v", res, err)
		}
	})
}

// TestGB18030FourByteAcrossBuffers: a four-byte character cut by the 64 KiB boundary of the
// detection window and read buffer (also a boundary of the decoder's 4 KiB chunks) is decoded
// whole, in every record of a file larger than the window.
func TestGB18030FourByteAcrossBuffers(t *testing.T) {
	t.Parallel()
	const window = 64 << 10
	header := []string{"统一社会信用代码", "企业名称", "住所", "所属区域"}
	build := func(pad int) ([]byte, []gbEnt) {
		var want []gbEnt
		var rows [][]string
		for i := 0; i < 2500; i++ {
			w := gbEnt{USCC: validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("B%07d", i)),
				Name: fmt.Sprintf("%s企业%d", strings.Repeat("𠀀", 1+i%3), i), Address: "㐀" + strings.Repeat("路", i%5) + "𪚥"}
			if i == 0 {
				w.Address += strings.Repeat("1", pad)
			}
			want = append(want, w)
			rows = append(rows, []string{w.USCC, w.Name, w.Address, "雁塔区"})
		}
		return gb18030(t, toCSV(header, rows)), want
	}
	seq := gb18030(t, "𠀀")
	content, _ := build(0)
	// Shift the records so that one U+20000 starts two bytes before the boundary.
	last := bytes.LastIndex(content[:window-2+1], seq)
	pad := window - 2 - last
	content, want := build(pad)
	if !bytes.Equal(content[window-2:window+2], seq) {
		t.Fatalf("no four-byte character across the boundary (pad %d)", pad)
	}
	if len(content) < 2*window {
		t.Fatalf("file of %d bytes is too small", len(content))
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		for _, enc := range []string{"", "gb18030"} {
			res, err := m.Ingest(ctx, bytes.NewReader(content), Options{Dataset: "enterprise", SourceName: "big.csv", Encoding: enc})
			if err != nil || res.Status != StatusCommitted || res.Read != int64(len(want)) || res.Quarantined != 0 {
				t.Fatalf("encoding %q: %+v %v", enc, res, err)
			}
			got := gbRows(t, db)
			bad := 0
			for _, w := range want {
				if g := got[w.USCC]; g.Name != w.Name || g.Address != w.Address {
					if bad++; bad <= 3 {
						t.Errorf("encoding %q: stored %+q, want %+q", enc, g, w)
					}
				}
			}
			if bad > 0 || len(got) != len(want) {
				t.Fatalf("encoding %q: %d of %d records differ, %d stored", enc, bad, len(want), len(got))
			}
		}
	})
}

// TestGBKAfterTheDetectionWindow: the encoding is decided on the first 64 KiB. A file whose
// first 64 KiB is plain ASCII (English column names, romanised names) and whose later rows are
// GBK is read as UTF-8; those later rows are not stored garbled but quarantined with a reason
// that says to import the file again as GBK, and the rest is stored.
func TestGBKAfterTheDetectionWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		var b bytes.Buffer
		b.WriteString("uscc,name,region_code\n")
		i := 0
		for ; b.Len() < 70<<10; i++ {
			fmt.Fprintf(&b, "%s,Qiye %d Youxian Gongsi,610102\n", validate.MakeUSCC('9', '1', "610102", fmt.Sprintf("%08d", i)), i)
		}
		ascii := i
		for ; i < ascii+3; i++ {
			b.WriteString(validate.MakeUSCC('9', '1', "610102", fmt.Sprintf("%08d", i)) + ",")
			b.Write(gb18030(t, fmt.Sprintf("西安测试企业%d有限公司", i)))
			b.WriteString(",610102\n")
		}
		res := ingest(t, m, "late-gbk.csv", "enterprise", b.String())
		if res.Read != int64(ascii+3) || res.Upserted != int64(ascii) || res.Quarantined != 3 {
			t.Fatalf("result %+v, want %d read, %d stored, 3 quarantined", res, ascii+3, ascii)
		}
		var errs []string
		if err := db.Select(ctx, &errs, `SELECT errors FROM ds_quarantine WHERE dataset = 'enterprise' ORDER BY line_no`); err != nil {
			t.Fatal(err)
		}
		if len(errs) != 3 {
			t.Fatalf("quarantine %v", errs)
		}
		for _, e := range errs {
			if !strings.Contains(e, IssueBadEncoding) || !strings.Contains(e, "GBK") {
				t.Errorf("quarantine reason %s", e)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise WHERE name NOT LIKE 'Qiye %'`); n != 0 {
			t.Fatalf("%d rows stored with other names", n)
		}
	})
}
